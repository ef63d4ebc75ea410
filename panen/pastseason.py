"""The demo's past season: a track record on first start (issue 36).

A new platform has no harvest records, so its track record (``/v1/forecasts/skill``, the plan's
``skill_*`` columns) would say "no harvest record yet" for months. The demo lives through the season
before the current one first, as the platform would have:

1. the fleet is registered with that season's plantings (:data:`SEASON_BEFORE_DAYS` earlier);
2. the forecast service forecasts every field as of each week of that season (a hindcast, stamped with
   the day it is as of), from what the store holds then: no readings (the simulator backfills only the
   current season), so these forecasts run on the weather generator and the crop library alone, and
   the track record is that of a platform without sensors; it says so in its numbers;
3. the simulator's truths of that season (its own crop model and weather, which the forecast never
   sees) are entered as harvest records, through the same checks a farmer's record passes;
4. the fleet is registered again with the current plantings; the records stay, as purchase history.

Orchards are left out: their seasons follow recorded events, not a planting date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rich.console import Console
from sqlalchemy import func, select

from firmware_sim.environment import simulate
from services import InvalidInput, harvests
from services.forecasting import ForecastService
from services.registry_import import import_document
from storage import TimeSeriesStore, local_day_start_ms
from storage.db import Field, HarvestRecord
from storage.db.engine import open_registry
from storage.fleetfile import Fleet

__all__ = ["SEASON_BEFORE_DAYS", "PastSeason", "seed_past_season"]

# Batu's vegetable fields carry two crops a year (musim hujan and musim kemarau, docs/sources.md §4).
SEASON_BEFORE_DAYS = 182
HINDCAST_EVERY_DAYS = 7  # each lead (60, 30, 14 days) is within the track record's 4-day window of one
_ORCHARDS = ("apple", "citrus")


@dataclass(frozen=True)
class PastSeason:
    """What the demo entered of the season before."""

    records: int
    refused: int
    hindcasts: int


def seed_past_season(
    registry_url: str, store: TimeSeriesStore, fleet: Fleet, *, today: dt.date, seed: int, console: Console
) -> PastSeason | None:
    """Live through the season before ``fleet``'s (see the module docstring) and leave the registry
    with ``fleet``'s plantings; None (nothing done) when the registry has harvest records already."""
    sessions = open_registry(registry_url)
    with sessions() as session:
        if session.scalar(select(func.count()).select_from(HarvestRecord)):
            return None
    before = fleet.shifted(fleet.anchor - dt.timedelta(days=SEASON_BEFORE_DAYS))
    planted = {f.id: f.planting_date for f in fleet.fields}
    # The simulator's season before: its truths only (its weather drawn with another seed: another year).
    env = simulate(before, start=today - dt.timedelta(days=2), end=today, seed=seed + 1, hourly_from=today)
    truths = [
        t
        for t in env.truths
        if t.commodity not in _ORCHARDS
        and t.harvest_date is not None
        and t.harvest_date < planted[t.field_id]
    ]
    with sessions() as session:
        import_document(session, before)
    hindcasts = 0
    if truths:
        # Half the members of a live forecast: the season before is a demo's preamble (28 runs), and 25
        # members still give its P10-P90.
        service = ForecastService(store, sessions, members=25, seed=seed)
        first = min(t.harvest_date for t in truths if t.harvest_date) - dt.timedelta(days=60 + 3)
        last = min(today, max(t.harvest_date for t in truths if t.harvest_date) - dt.timedelta(days=14 - 3))
        days = [first + dt.timedelta(days=i) for i in range(0, (last - first).days + 1, HINDCAST_EVERY_DAYS)]
        console.print(f"the season before: {len(days)} weekly hindcasts of {len(before.fields)} fields ...")
        for day in days:
            service.run(day, issued_ms=local_day_start_ms(day) + 12 * 3_600_000)
            hindcasts += 1
    records = refused = 0
    with sessions() as session:
        for t in truths:
            assert t.harvest_date is not None
            if session.get(Field, t.field_id) is None:
                continue
            try:
                harvests.record(
                    session, field_id=t.field_id, harvest_date=t.harvest_date, tonnes=round(t.tonnes, 3),
                    grade="A", by=f"Petani {t.field_id} (the season before)",
                )  # fmt: skip
                records += 1
            except InvalidInput:
                refused += 1
        import_document(session, fleet)
    return PastSeason(records, refused, hindcasts)
