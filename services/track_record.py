"""How good past forecasts were: the track record beside every forecast (issue 19).

For every field's season of harvest records (not voided; the picks of a multi-pick crop summed from
the first pick's day, as learning takes them: :func:`services.forecasting.per_season`), the forecast of
its field that was issued nearest to 60, 30 and 14 days before the harvest (within
:data:`WINDOW_DAYS` of that lead) is compared with what was harvested. Per commodity × cooperative × lead:

- tonnes: MAPE (mean of ``|P50 − actual| / actual``) and bias (mean of ``(P50 − actual) / actual``,
  positive when forecasts were too high);
- harvest date: MAE and bias [days] of the P50 date;
- P10–P90 coverage of tonnes and of dates: the share of harvests inside the range (0.8 is honest);
- the number of records and the seasons (harvest years) they come from.

With fewer than :data:`MIN_RECORDS` records a row says so (``note``) and carries no figure: three
lucky harvests are not a track record. The forecasts are those the store kept (``storage.Series``'s
``forecast`` points, every refresh), so nothing new is recorded for this.
"""

from __future__ import annotations

import datetime as dt
import time
import weakref
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.access import Principal
from services.forecasting import SeasonHarvest, per_season
from storage import Series, SeriesPoint, TimeSeriesStore, local_day, local_day_start_ms
from storage.db import Field, HarvestRecord

__all__ = [
    "LEADS",
    "MIN_RECORDS",
    "Pairing",
    "Skill",
    "pairings",
    "pooled",
    "sentence",
    "skill_table",
    "summarise",
]

LEADS = (60, 30, 14)
MIN_RECORDS = 3
WINDOW_DAYS = 4  # a forecast issued up to this many days either side of the lead counts for it
_EPOCH = dt.date(1970, 1, 1)
_DAY_MS = 86_400_000
# Each store's final pairings, per harvest record (see pairings).
_MEMO: weakref.WeakKeyDictionary[TimeSeriesStore, dict[tuple[object, ...], tuple[Pairing, ...]]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class Pairing:
    """One harvest and the forecast issued ``lead_days`` before it."""

    field_id: str
    coop_id: str
    commodity: str
    lead_days: int
    harvest_date: dt.date
    tonnes: float
    issued: dt.date
    tonnes_p10: float
    tonnes_p50: float
    tonnes_p90: float
    date_p10: dt.date | None
    date_p50: dt.date | None
    date_p90: dt.date | None


@dataclass(frozen=True)
class Skill:
    """The track record of one commodity × cooperative × lead; figures are ``None`` with a ``note``
    when there are too few records."""

    commodity: str
    coop_id: str
    lead_days: int
    records: int
    seasons: tuple[int, ...]
    tonnes_mape: float | None
    tonnes_bias: float | None
    date_mae_days: float | None
    date_bias_days: float | None
    tonnes_coverage: float | None
    date_coverage: float | None
    note: str = ""


def _day(value: float | None) -> dt.date | None:
    if value is None or value != value:
        return None
    return _EPOCH + dt.timedelta(days=int(value))


def pairings(store: TimeSeriesStore, session: Session, principal: Principal | None = None) -> list[Pairing]:
    """Every (harvest record, lead) with a forecast issued near that lead, in the caller's scope."""
    fields = {f.id: f for f in session.scalars(select(Field))}
    records = list(
        session.scalars(
            select(HarvestRecord).where(HarvestRecord.voided_at.is_(None)).order_by(HarvestRecord.id)
        )
    )
    by_field: dict[str, list[HarvestRecord]] = defaultdict(list)
    for record in records:
        field = fields.get(record.field_id)
        if field is not None and (principal is None or principal.can_see_coop(field.coop_id)):
            by_field[record.field_id].append(record)
    out: list[Pairing] = []
    now_ms = time.time_ns() // 1_000_000
    memo = _MEMO.setdefault(store, {})
    for field_id, records_of_field in sorted(by_field.items()):
        field = fields[field_id]
        # One harvest per field and season, its picks summed from the first pick's day, as learning
        # takes them: a chili pick against the season's forecast read as a 125-217 % error (issue 38).
        for harvest in per_season(records_of_field):
            key = (field_id, harvest.harvest_date, harvest.tonnes, harvest.records)
            found = memo.get(key)
            if found is None:
                found = _record_pairings(store, field, harvest)
                # Forecasts are stored as they are issued, so once the last lead's window has passed
                # no forecast can join it: the pairings are kept, and a track record over seasons of
                # records does not read every refresh's forecasts again on every request.
                last_window_end = local_day_start_ms(harvest.harvest_date - dt.timedelta(days=min(LEADS)))
                if last_window_end + WINDOW_DAYS * _DAY_MS < now_ms:
                    memo[key] = found
            out += found
    return out


def _record_pairings(store: TimeSeriesStore, field: Field, harvest: SeasonHarvest) -> tuple[Pairing, ...]:
    """One season's harvest's pairings: at each lead, the forecast of its field issued nearest to it,
    of the crop that forecast was for."""
    out = []
    for lead in LEADS:
        # Only the points within the window: a field's forecasts of every refresh (every 15 minutes
        # in the demo) over the 64 days before a harvest are tens of thousands of rows.
        target = local_day_start_ms(harvest.harvest_date - dt.timedelta(days=lead))
        window = WINDOW_DAYS * _DAY_MS
        points = store.forecasts(start_ms=target - window, end_ms=target + window + 1, site_ids=[field.id])
        near = [p for p in points if "tonnes_p50" in p.values]
        if not near:
            continue
        p = min(near, key=lambda q: (abs(q.ts_ms - target), -q.ts_ms))
        v = p.values
        # The crop and cooperative the forecast was for: a field's next season may be another crop
        # (PATCH /v1/fields), and last season's potato harvest is not this season's cabbage's record.
        out.append(
            Pairing(
                field.id,
                p.coop_id or field.coop_id,
                p.commodity or field.commodity,
                lead,
                harvest.harvest_date,
                harvest.tonnes,
                local_day(p.ts_ms),
                v.get("tonnes_p10", v["tonnes_p50"]),
                v["tonnes_p50"],
                v.get("tonnes_p90", v["tonnes_p50"]),
                _day(v.get("harvest_day_p10")),
                _day(v.get("harvest_day_p50")),
                _day(v.get("harvest_day_p90")),
            )
        )
    return tuple(out)


def summarise(pairs: Iterable[Pairing]) -> list[Skill]:
    """The track record per commodity × cooperative × lead, ordered so."""
    groups: dict[tuple[str, str, int], list[Pairing]] = defaultdict(list)
    for p in pairs:
        groups[(p.commodity, p.coop_id, p.lead_days)].append(p)
    out = []
    for (commodity, coop_id, lead), group in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[0][1], -kv[0][2])
    ):
        seasons = tuple(sorted({p.harvest_date.year for p in group}))
        if len(group) < MIN_RECORDS:
            out.append(
                Skill(
                    commodity, coop_id, lead, len(group), seasons, None, None, None, None, None, None,
                    f"too few harvest records ({len(group)} < {MIN_RECORDS}) for a track record",
                )
            )  # fmt: skip
            continue
        weighed = [p for p in group if p.tonnes > 0]
        ape = [abs(p.tonnes_p50 - p.tonnes) / p.tonnes for p in weighed]
        bias = [(p.tonnes_p50 - p.tonnes) / p.tonnes for p in weighed]
        dated = [p for p in group if p.date_p50 is not None]
        errors = [(p.date_p50 - p.harvest_date).days for p in dated]  # type: ignore[operator]
        ranged = [p for p in group if p.date_p10 is not None and p.date_p90 is not None]
        out.append(
            Skill(
                commodity,
                coop_id,
                lead,
                len(group),
                seasons,
                sum(ape) / len(ape) if ape else None,
                sum(bias) / len(bias) if bias else None,
                sum(abs(e) for e in errors) / len(errors) if errors else None,
                sum(errors) / len(errors) if errors else None,
                sum(p.tonnes_p10 <= p.tonnes <= p.tonnes_p90 for p in group) / len(group),
                (
                    sum(p.date_p10 <= p.harvest_date <= p.date_p90 for p in ranged) / len(ranged)  # type: ignore[operator]
                    if ranged
                    else None
                ),
            )
        )
    return out


def skill_table(store: TimeSeriesStore, session: Session, principal: Principal | None = None) -> list[Skill]:
    """The track record the caller may see: every commodity × cooperative of its fields at every
    lead, a pair with no harvest record yet saying so (``records`` 0)."""
    rows = {(k.commodity, k.coop_id, k.lead_days): k for k in summarise(pairings(store, session, principal))}
    recorded: dict[tuple[str, str], int] = defaultdict(int)
    query = select(Field.commodity, Field.coop_id).join(HarvestRecord, HarvestRecord.field_id == Field.id)
    for commodity, coop_id in session.execute(query.where(HarvestRecord.voided_at.is_(None))):
        recorded[(commodity, coop_id)] += 1
    for commodity, coop_id in {(c, co) for c, co in session.execute(select(Field.commodity, Field.coop_id))}:
        if principal is not None and not principal.can_see_coop(coop_id):
            continue
        for lead in LEADS:
            if (commodity, coop_id, lead) in rows:
                continue
            empty = pooled([], commodity=commodity, coop_id=coop_id, lead_days=lead)
            n = recorded.get((commodity, coop_id), 0)
            if n:  # records there are, but no forecast was made about `lead` days before any of them
                empty = replace(
                    empty,
                    note=f"{n} harvest record{'s' if n > 1 else ''}, none with a forecast made about {lead} "
                    "days before it (forecasts are compared from the day panen first forecast the field)",
                )
            rows[(commodity, coop_id, lead)] = empty
    return [rows[k] for k in sorted(rows, key=lambda k: (k[0], k[1], -k[2]))]


def pooled(pairs: Iterable[Pairing], *, commodity: str, coop_id: str | None, lead_days: int) -> Skill:
    """The track record of one commodity at one lead, of one cooperative or (``None``) all of them."""
    chosen = [
        p
        for p in pairs
        if p.commodity == commodity and p.lead_days == lead_days and (coop_id is None or p.coop_id == coop_id)
    ]
    rows = summarise(replace(p, coop_id=coop_id or "all") for p in chosen)
    if rows:
        return rows[0]
    return Skill(
        commodity, coop_id or "all", lead_days, 0, (), None, None, None, None, None, None,
        "no harvest record yet to compare past forecasts with",
    )  # fmt: skip


def sentence(skill: Skill) -> str:
    """The track record in one line, as a planner reads it beside a P50."""
    if skill.tonnes_mape is None:
        return f"{skill.lead_days} days ahead: {skill.note}"
    seasons = ", ".join(map(str, skill.seasons))
    return (
        f"{skill.lead_days} days ahead, past forecasts of {skill.commodity} were within "
        f"±{skill.tonnes_mape:.0%} on average ({skill.records} harvests, {seasons}); "
        f"{skill.tonnes_coverage:.0%} of harvests fell inside P10–P90"
    )


def skill_points(store: TimeSeriesStore, session: Session, now_ms: int) -> list[SeriesPoint]:
    """The track record of every commodity × cooperative of the registry at every lead, as points of
    ``Series.SKILL`` for the supply-outlook dashboard: a pair without records carries ``records = 0``
    (the dashboard shows "no track record yet") and no figure."""
    points = []
    for k in skill_table(store, session):
        figures = {
            "records": float(k.records),
            "tonnes_mape": k.tonnes_mape,
            "tonnes_bias": k.tonnes_bias,
            "date_mae_days": k.date_mae_days,
            "date_bias_days": k.date_bias_days,
            "tonnes_coverage": k.tonnes_coverage,
            "date_coverage": k.date_coverage,
        }
        values = {name: float(v) for name, v in figures.items() if v is not None}
        tags = {"commodity": k.commodity, "coop": k.coop_id, "lead": str(k.lead_days)}
        points.append(SeriesPoint(Series.SKILL, tags, now_ms, values))
    return points
