"""The purchase plan: tonnes per commodity × ISO week × cooperative.

Each ensemble member's harvest is spread over the crop's harvest window (tomato and chili are picked
for weeks; potato is lifted in days) and binned into ISO weeks; members are summed across fields
first and the percentiles taken last, so P90 of a sum is not a sum of P90s.

The headline of a cell is its **expected** tonnes, the mean over the members: it adds up, so cells
sum to every total (a week over cooperatives, a commodity over weeks), and the plan's 8 weeks hold
what the fields' forecasts hold for them. A cell's P50 does not add up: in most members a field is
harvested in one week only, so a week's P50 is often 0 while its P90 is the whole field (issue 36).
P10/P50/P90 stay as the range of each cell or total on its own, taken over members.

A harvest forecast before the plan's first week that has not been recorded is **overdue**: it is
still to be bought, so it counts in the first week (``overdue_tonnes`` says how much of it is late),
never dropped.

A member whose crop dies of drought (forecast.engine) ends its season on its death's day with what
the crop had built: that counts as the forecasts count it, and ``crop_death_tonnes`` says how much of
a cell's expected tonnes it is, tonnes a planner may not see at all (a field cleared, or abandoned).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from forecast.crops import load_crops
from forecast.engine import FieldForecast

__all__ = ["ALL_COOPS", "PlanRow", "iso_week", "plan_members", "purchase_plan"]


@dataclass(frozen=True)
class PlanRow:
    """Tonnes one cooperative is forecast to harvest of one commodity in one ISO week."""

    commodity: str
    iso_week: str
    coop_id: str
    tonnes_p10: float
    tonnes_p50: float
    tonnes_p90: float
    tonnes_expected: float = 0.0  # the mean over members: the headline, additive
    overdue_tonnes: float = 0.0  # expected tonnes of it that were due before the plan's first week
    crop_death_tonnes: float = 0.0  # expected tonnes of it from members whose crop died of drought


def iso_week(day: dt.date) -> str:
    """``2026-W49`` for a day (ISO 8601 week, Monday first)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


ALL_COOPS = "all"


def plan_members(
    forecasts: Sequence[FieldForecast],
    *,
    start: dt.date,
    weeks: int,
    by_coop: bool = True,
    count_overdue: bool = True,
) -> tuple[list[tuple[str, str]], list[str], NDArray[np.float64]]:
    """Member totals: (keys (commodity, coop), week labels, array (keys, weeks, members)) of tonnes.

    Harvests after the last of ``weeks`` ISO weeks from ``start``'s week, or without a date, are left
    out; harvests before the first week are overdue and count in it (see the module docstring). With
    ``by_coop=False`` every cooperative is summed into one key per commodity (coop
    :data:`ALL_COOPS`), member by member, so its percentiles are those of the total.
    """
    keys, labels, totals, _overdue, _dead = _binned(
        forecasts, start=start, weeks=weeks, by_coop=by_coop, count_overdue=count_overdue
    )
    return keys, labels, totals


def _binned(
    forecasts: Sequence[FieldForecast],
    *,
    start: dt.date,
    weeks: int,
    by_coop: bool,
    count_overdue: bool = True,
) -> tuple[list[tuple[str, str]], list[str], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """:func:`plan_members`, the overdue part of the first week (keys, members), and the part of each
    cell from members whose crop died (keys, weeks, members). Without ``count_overdue`` (a plan that
    starts after this week), harvests before its first week are left out: what is late is bought this
    week, not in the plan's first."""
    library = load_crops()
    first = _monday(start)
    labels = [iso_week(first + dt.timedelta(weeks=w)) for w in range(weeks)]

    def coop(f: FieldForecast) -> str:
        return f.coop_id if by_coop else ALL_COOPS

    keys = sorted({(f.commodity, coop(f)) for f in forecasts})
    index = {k: i for i, k in enumerate(keys)}
    members = max((f.members for f in forecasts), default=0)
    totals = np.zeros((len(keys), weeks, members))
    overdue = np.zeros((len(keys), members))
    dead = np.zeros_like(totals)
    if not forecasts or weeks < 1:
        return keys, labels, totals, overdue, dead
    # Arrays over fields x members, so the binning below is a few vectorised passes, not a loop per member.
    row = np.array([index[(f.commodity, coop(f))] for f in forecasts])
    window = np.array([max(1, library[f.commodity].harvest_window_days) for f in forecasts])
    day0 = np.array(
        [[(d - first).days if d is not None else -(10**6) for d in f.members_harvest_date] for f in forecasts]
    )
    tonnes = np.array([f.members_tonnes for f in forecasts], dtype=np.float64)
    has_day = np.array([[d is not None for d in f.members_harvest_date] for f in forecasts])
    died = np.array([f.member_deaths for f in forecasts])
    share = np.where(has_day & (tonnes > 0), tonnes / window[:, None], 0.0)
    member = np.broadcast_to(np.arange(members), day0.shape)
    rows = np.broadcast_to(row[:, None], day0.shape)
    for offset in range(int(window.max())):
        week_of = (day0 + offset) // 7
        ok = (offset < window)[:, None] & (week_of < weeks) & (share > 0)
        if not count_overdue:
            ok &= week_of >= 0
        late = ok & (week_of < 0)
        np.add.at(totals, (rows[ok], np.maximum(week_of[ok], 0), member[ok]), share[ok])
        np.add.at(overdue, (rows[late], member[late]), share[late])
        gone = ok & died
        np.add.at(dead, (rows[gone], np.maximum(week_of[gone], 0), member[gone]), share[gone])
    return keys, labels, totals, overdue, dead


def purchase_plan(
    forecasts: Sequence[FieldForecast],
    *,
    start: dt.date,
    weeks: int = 8,
    by_coop: bool = True,
    count_overdue: bool = True,
) -> list[PlanRow]:
    """Rows for every commodity × week × cooperative with any forecast harvest (see module docstring);
    with ``by_coop=False``, one row per commodity × week for all cooperatives together; without
    ``count_overdue``, harvests before the first week are left out (a plan starting next week)."""
    keys, labels, totals, overdue, dead = _binned(
        forecasts, start=start, weeks=weeks, by_coop=by_coop, count_overdue=count_overdue
    )
    rows = []
    for k, (commodity, coop) in enumerate(keys):
        for w, label in enumerate(labels):
            member_tonnes = totals[k, w]
            if not member_tonnes.any():
                continue
            p10, p50, p90 = np.percentile(member_tonnes, [10, 50, 90])
            late = float(overdue[k].mean()) if w == 0 else 0.0
            rows.append(
                PlanRow(
                    commodity,
                    label,
                    coop,
                    round(float(p10), 3),
                    round(float(p50), 3),
                    round(float(p90), 3),
                    round(float(member_tonnes.mean()), 3),
                    round(late, 3),
                    round(float(dead[k, w].mean()), 3),
                )
            )
    rows.sort(key=lambda r: (r.iso_week, r.commodity, r.coop_id))
    return rows
