"""Store benchmark: 500k readings into each adapter, then a season of daily aggregates for 240 fields.

The season ends today, and its read is timed with the tiers filled as in production: on InfluxDB the
backfill does what the continuous queries do live (every day but the last week rolled up), then the
refresh's maintenance; on SQLite the maintenance. The readings arrive late (all at once), so InfluxDB
marks their days, and the backfill and maintenance clear the marks: the state a live season reaches
(issue 42).

Also measures, in the same run and on the same server, raw line-protocol writes (pre-formatted
lines, 5k points per request) so the InfluxDB adapter can be compared with what the server itself
takes. Run: ``python -m bench.store [--readings N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from panen.devservices import InfluxServer
from sensors import Reading
from storage import TimeSeriesStore, local_day, local_day_start_ms
from storage.influx import InfluxStore
from storage.retention import Retention
from storage.sqlite import SqliteStore

FIELDS = 240
METRICS = ("air_temp_c", "soil_vwc_pct")
SEASON_DAYS = 120
BATCH = 5_000  # ingest's flush size
NOW_MS = time.time_ns() // 1_000_000
START_DAY = local_day(NOW_MS) - dt.timedelta(days=SEASON_DAYS - 1)


def make_readings(total: int) -> list[Reading]:
    """``total`` readings spread evenly over 240 fields, two metrics and a 120-day season."""
    per_series = total // (FIELDS * len(METRICS))
    step_ms = SEASON_DAYS * 86_400_000 // per_series
    t0 = local_day_start_ms(START_DAY)
    return [
        Reading(
            f"node-{f:03d}",
            f"coop-{f // 10:02d}",
            f"field-{f:03d}",
            metric,
            15.0 + (i % 97) * 0.1,
            t0 + i * step_ms,
        )
        for i in range(per_series)
        for f in range(FIELDS)
        for metric in METRICS
    ]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def write_all(store: TimeSeriesStore, readings: Sequence[Reading]) -> None:
    for i in range(0, len(readings), BATCH):
        store.write(readings[i : i + BATCH])


def daily_query_ms(store: TimeSeriesStore, repeats: int = 5) -> tuple[float, int]:
    end_day = local_day(local_day_start_ms(START_DAY) + (SEASON_DAYS - 1) * 86_400_000)
    sites = [f"field-{f:03d}" for f in range(FIELDS)]
    results: list[int] = []

    def run() -> None:
        results.append(
            len(store.daily(site_ids=sites, metrics=METRICS, start_day=START_DAY, end_day=end_day))
        )

    times = [timed(run) * 1000 for _ in range(repeats)]
    return statistics.median(times), results[-1]


def raw_line_protocol_points_s(server: InfluxServer, readings: Sequence[Reading]) -> float:
    """Pre-formatted line protocol, 5k points per uncompressed request: the server's own pace."""
    httpx.post(f"{server.url}/query", data={"q": 'CREATE DATABASE "rawlp"'}).raise_for_status()
    lines = [
        f"{r.metric},coop={r.coop_id},node={r.node_id},site={r.site_id} "
        f"value={r.value!r},quality=0i {r.ts_ms}"
        for r in readings
    ]
    bodies = ["\n".join(lines[i : i + BATCH]) for i in range(0, len(lines), BATCH)]
    with httpx.Client(base_url=server.url, timeout=60) as client:

        def send() -> None:
            for body in bodies:
                client.post(
                    "/write", params={"db": "rawlp", "precision": "ms"}, content=body
                ).raise_for_status()

        return len(lines) / timed(send)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=500_000)
    args = parser.parse_args(argv)
    readings = make_readings(args.readings)
    n = len(readings)
    out: dict[str, object] = {"bench": "store", "readings": n, "fields": FIELDS, "season_days": SEASON_DAYS}
    with tempfile.TemporaryDirectory(prefix="panen-bench-") as tmp:
        server = InfluxServer(Path(tmp) / "influxd")
        server.start()
        try:
            print(f"raw line protocol baseline ({n} points) ...", file=sys.stderr)
            out["influx_raw_line_protocol_points_s"] = round(raw_line_protocol_points_s(server, readings))
            server.create_database()  # every tier kept forever: readings of any age are taken
            influx = InfluxStore(server.url, retention=Retention(None, None))  # as the database is
            print("InfluxDB adapter write ...", file=sys.stderr)
            out["influx_write_readings_s"] = round(n / timed(lambda: write_all(influx, readings)))
            print("InfluxDB rollup (the continuous queries' work, as a backfill) ...", file=sys.stderr)
            season = local_day_start_ms(START_DAY)
            # The backfill, then the refresh's maintenance: days past the raw window are the tier's.
            out["influx_rollup_s"] = round(
                timed(lambda: influx.rollup(start_ms=season, end_ms=NOW_MS, now_ms=NOW_MS))
                + timed(lambda: influx.maintain(now_ms=NOW_MS)),
                1,
            )
            out["influx_daily_query_ms"], out["influx_daily_rows"] = daily_query_ms(influx)
            influx.close()
        finally:
            server.stop()
        sqlite = SqliteStore(Path(tmp) / "ts.sqlite3")
        print("SQLite adapter write ...", file=sys.stderr)
        out["sqlite_write_readings_s"] = round(n / timed(lambda: write_all(sqlite, readings)))
        out["sqlite_maintain_s"] = round(timed(lambda: sqlite.maintain(now_ms=NOW_MS)), 1)
        out["sqlite_daily_query_ms"], out["sqlite_daily_rows"] = daily_query_ms(sqlite)
        sqlite.close()
    out["influx_adapter_vs_raw_line_protocol"] = round(
        float(out["influx_write_readings_s"]) / float(out["influx_raw_line_protocol_points_s"]),  # type: ignore[arg-type]
        3,
    )
    for key in ("influx_daily_query_ms", "sqlite_daily_query_ms"):
        out[key] = round(float(out[key]), 1)  # type: ignore[arg-type]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
