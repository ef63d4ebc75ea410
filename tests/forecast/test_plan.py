"""The purchase plan adds up (issue 36): over any forecasts, every total's expected tonnes is the sum of
its cells', and a harvest forecast before the plan's first week is overdue, counted, never dropped."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.crops import load_crops
from forecast.engine import FieldForecast
from forecast.plan import ALL_COOPS, purchase_plan

START = dt.date(2026, 12, 2)  # a Wednesday: the first week began two days before
COMMODITIES = ("potato", "cabbage", "tomato", "chili")


def _forecast(
    i: int,
    commodity: str,
    coop: str,
    days: list[int | None],
    tonnes: list[float],
    died: list[bool] | None = None,
) -> FieldForecast:
    return FieldForecast(
        field_id=f"f{i}", coop_id=coop, commodity=commodity, issued=START,
        harvest_date_p10=None, harvest_date_p50=None, harvest_date_p90=None,
        yield_t_ha_p10=0.0, yield_t_ha_p50=0.0, yield_t_ha_p90=0.0,
        tonnes_p10=0.0, tonnes_p50=0.0, tonnes_p90=0.0,
        water_stress_so_far=0.0, depletion_mm=0.0, raw_mm=0.0, days_to_irrigation=None, days_observed=0,
        members_harvest_date=[None if d is None else START + dt.timedelta(days=d) for d in days],
        members_tonnes=np.array(tonnes), yield_factor=1.0,
        members_died=None if died is None else np.array(died),
    )  # fmt: skip


MEMBERS = 12
fields = st.lists(
    st.tuples(
        st.sampled_from(COMMODITIES),
        st.sampled_from(["c1", "c2", "c3"]),
        st.lists(st.one_of(st.none(), st.integers(-40, 90)), min_size=MEMBERS, max_size=MEMBERS),
        st.lists(st.floats(0, 60, allow_nan=False), min_size=MEMBERS, max_size=MEMBERS),
        st.one_of(st.none(), st.lists(st.booleans(), min_size=MEMBERS, max_size=MEMBERS)),
    ),
    min_size=0,
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(spec=fields, weeks=st.integers(1, 12))
def test_every_total_is_the_sum_of_its_cells(
    spec: list[tuple[str, str, list[int | None], list[float], list[bool] | None]], weeks: int
) -> None:
    forecasts = [_forecast(i, c, coop, d, t, dead) for i, (c, coop, d, t, dead) in enumerate(spec)]
    cells = purchase_plan(forecasts, start=START, weeks=weeks)
    totals = purchase_plan(forecasts, start=START, weeks=weeks, by_coop=False)
    by_total = {(r.commodity, r.iso_week): r for r in totals}
    summed: dict[tuple[str, str], float] = {}
    dead: dict[tuple[str, str], float] = {}
    for r in cells:
        summed[(r.commodity, r.iso_week)] = summed.get((r.commodity, r.iso_week), 0.0) + r.tonnes_expected
        dead[(r.commodity, r.iso_week)] = dead.get((r.commodity, r.iso_week), 0.0) + r.crop_death_tonnes
        assert r.tonnes_p10 <= r.tonnes_p50 <= r.tonnes_p90
        assert 0.0 <= r.overdue_tonnes <= r.tonnes_expected + 1e-9
        assert 0.0 <= r.crop_death_tonnes <= r.tonnes_expected + 1e-9
    assert set(by_total) == set(summed)
    for key, total in by_total.items():
        assert total.coop_id == ALL_COOPS
        assert total.tonnes_expected == pytest.approx(summed[key], abs=1e-3 * (1 + len(cells)))
        assert total.crop_death_tonnes == pytest.approx(dead[key], abs=1e-3 * (1 + len(cells)))
    # Nothing due by the plan's last week is dropped: the weeks hold every member's tonnes that fall
    # before the end of the last week, the overdue ones included.
    last_day = START - dt.timedelta(days=START.weekday()) + dt.timedelta(weeks=weeks)
    expected_in_plan = 0.0
    for f in forecasts:
        window = max(1, load_crops()[f.commodity].harvest_window_days)
        for day, t in zip(f.members_harvest_date, f.members_tonnes, strict=True):
            if day is not None and t > 0:
                inside = sum(day + dt.timedelta(days=k) < last_day for k in range(window))
                expected_in_plan += t * inside / window / MEMBERS
    assert sum(r.tonnes_expected for r in totals) == pytest.approx(
        expected_in_plan, abs=1e-3 * (1 + len(totals))
    )


def test_a_harvest_forecast_before_this_week_is_overdue_not_dropped() -> None:
    late = _forecast(0, "potato", "c1", [-20] * MEMBERS, [10.0] * MEMBERS)
    on_time = _forecast(1, "potato", "c1", [9] * MEMBERS, [4.0] * MEMBERS)
    rows = purchase_plan([late, on_time], start=START, weeks=4)
    first = next(r for r in rows if r.iso_week == "2026-W49")
    assert first.tonnes_expected == pytest.approx(10.0)
    assert first.overdue_tonnes == pytest.approx(10.0)
    assert sum(r.tonnes_expected for r in rows) == pytest.approx(14.0)
    assert all(r.overdue_tonnes == 0 for r in rows if r.iso_week != "2026-W49")


def test_a_week_whose_median_is_zero_still_shows_what_it_expects() -> None:
    # Two members in twelve begin lifting the field this Monday, the others in a month: the week's P50
    # is 0, its expected tonnes what those two lift in it.
    window = load_crops()["potato"].harvest_window_days
    field = _forecast(0, "potato", "c1", [-2, -2] + [30] * (MEMBERS - 2), [10.0] * MEMBERS)
    week = next(r for r in purchase_plan([field], start=START, weeks=2) if r.iso_week == "2026-W49")
    assert week.tonnes_p50 == 0.0
    assert week.tonnes_expected == pytest.approx(10.0 * 2 / MEMBERS * min(window, 7) / window, abs=1e-3)


def test_a_week_says_how_much_of_it_is_what_drought_killed_crops_had_built() -> None:
    """Issue 38 put crop death in the forecasts: a dead member's tonnes are what its crop had built, on
    its death's day, and the plan counted them with the rest, overdue if the death was past, with no
    word that they may never be offered. Each cell now says how much of it they are."""
    died = [True] * 4 + [False] * (MEMBERS - 4)
    # Four members die 20 days ago with 1.2 t built; the others harvest 10 t in two weeks.
    field = _forecast(0, "potato", "c1", [-20] * 4 + [9] * (MEMBERS - 4), [1.2] * 4 + [10.0] * 8, died)
    well = _forecast(1, "potato", "c1", [-20] * MEMBERS, [3.0] * MEMBERS)  # late, alive: not death's
    rows = {r.iso_week: r for r in purchase_plan([field, well], start=START, weeks=4)}
    first = rows["2026-W49"]
    assert first.crop_death_tonnes == pytest.approx(1.2 * 4 / MEMBERS)
    assert first.tonnes_expected == pytest.approx(3.0 + 1.2 * 4 / MEMBERS)
    assert sum(r.crop_death_tonnes for r in rows.values()) == pytest.approx(1.2 * 4 / MEMBERS)
    assert all(r.crop_death_tonnes == 0 for week, r in rows.items() if week != "2026-W49")
