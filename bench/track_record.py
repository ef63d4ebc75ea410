"""Track-record benchmark: ``/v1/forecasts/skill``'s work on a season of kept forecasts.

The default fleet's fields in the embedded SQLite store, each with a forecast from every refresh
(``--every-hours``, default hourly; the demo refreshes every 15 minutes) over ``--days`` before one
harvest record per field; then the track record (``services.track_record.skill_table``) computed
twice, as a planner's first request and the next one, and the learning pairs the forecasting
service reads in every refresh (``ForecastService._records``).

Run: ``python -m bench.track_record [--every-hours 1] [--days 90]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from firmware_sim.fleet import batu_fleet
from services.forecasting import ForecastService
from services.registry_import import import_fleet
from services.track_record import pairings, skill_table
from storage import ForecastPoint, local_day_start_ms
from storage.db import Field, HarvestRecord
from storage.db.engine import open_registry, sqlite_url
from storage.sqlite import SqliteStore

VALUES = {
    "harvest_day_p10": 20700.0, "harvest_day_p50": 20705.0, "harvest_day_p90": 20710.0,
    "yield_t_ha_p10": 1.0, "yield_t_ha_p50": 2.0, "yield_t_ha_p90": 3.0,
    "tonnes_p10": 1.0, "tonnes_p50": 2.0, "tonnes_p90": 3.0,
    "water_stress": 0.1, "depletion_mm": 10.0, "raw_mm": 20.0, "yield_factor": 1.0, "date_bias_days": 3.0,
}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--every-hours", type=float, default=1.0)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args(argv)
    start = dt.date(2026, 6, 1)
    harvest = start + dt.timedelta(days=args.days)
    with tempfile.TemporaryDirectory() as tmp:
        fleet = batu_fleet(anchor=start)
        sessions = open_registry(sqlite_url(Path(tmp) / "registry.db"))
        with sessions() as session:
            import_fleet(session, fleet)
            session.commit()
        store = SqliteStore(Path(tmp) / "store.db")
        step = int(args.every_hours * 3_600_000)
        first = local_day_start_ms(start)
        written = 0
        started = time.perf_counter()
        for ts in range(first, local_day_start_ms(harvest), step):
            written += store.write_forecasts(
                ForecastPoint(f.id, fleet.coop_of(f.id).id, f.commodity, ts, VALUES) for f in fleet.fields
            )
        write_s = time.perf_counter() - started
        with sessions() as session:
            for f in fleet.fields:
                session.add(
                    HarvestRecord(
                        field_id=f.id, harvest_date=harvest, tonnes=2.0, recorded_at=dt.datetime.now(dt.UTC)
                    )
                )
            session.commit()
            started = time.perf_counter()
            rows = skill_table(store, session)
            first_s = time.perf_counter() - started
            started = time.perf_counter()
            skill_table(store, session)
            again_s = time.perf_counter() - started
            paired = len(pairings(store, session))
            harvests = list(session.scalars(select(HarvestRecord)))
            fields = {f.id: f for f in session.scalars(select(Field))}
        started = time.perf_counter()
        learnt = ForecastService(store, sessions)._records(harvests, fields)
        learn_s = time.perf_counter() - started
    print(
        json.dumps(
            {
                "bench": "track_record",
                "fields": len(fleet.fields),
                "forecast_points": written,
                "every_hours": args.every_hours,
                "days": args.days,
                "write_s": round(write_s, 1),
                "pairings": paired,
                "skill_rows": len(rows),
                "skill_first_s": round(first_s, 3),
                "skill_again_s": round(again_s, 3),
                "learning_records": len(learnt),
                "learning_pairs_s": round(learn_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
