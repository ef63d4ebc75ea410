"""Store benchmark: 500k readings into each adapter, then a season of daily aggregates for 240 fields.

The season ends today, and its read is timed with the tiers filled as in production: on InfluxDB the
backfill does what the continuous queries do live (every day but the last week rolled up), then the
refresh's maintenance; on SQLite the maintenance. The readings arrive late (all at once), so InfluxDB
marks their days, and the backfill and maintenance clear the marks: the state a live season reaches
(issue 42).

Also measures, on the same server, raw line-protocol writes of the same points (pre-formatted lines,
5k points per request, into a database set up as ``panen store init`` does, so into the same 1-day
shards of the raw tier) so the InfluxDB adapter can be compared with what the server itself takes:
twice over, for readings that arrive live (their times within the last hour) and for the season's
backfill (every reading late, so the adapter also marks their days). The two writers alternate,
each round in the other order, each after influxd has finished the last one's compactions: written
one after the other, the second paid for the first's compactions (issue 42 measured 0.51x that
way). Run: ``python -m bench.store [--readings N] [--rounds R]``.
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

from bench.ingest import cpu_seconds
from panen.devservices import InfluxServer
from sensors import Reading
from storage import TimeSeriesStore, local_day, local_day_start_ms
from storage.influx import InfluxStore
from storage.retention import RAW_RP, Retention
from storage.sqlite import SqliteStore

FIELDS = 240
METRICS = ("air_temp_c", "soil_vwc_pct")
SEASON_DAYS = 120
BATCH = 5_000  # ingest's flush size
NOW_MS = time.time_ns() // 1_000_000
START_DAY = local_day(NOW_MS) - dt.timedelta(days=SEASON_DAYS - 1)


def make_readings(total: int, *, live: bool = False) -> list[Reading]:
    """``total`` readings spread evenly over 240 fields, two metrics and a 120-day season (``live``:
    over the last hour, as ingest writes them while they arrive)."""
    per_series = total // (FIELDS * len(METRICS))
    span_ms = 3_600_000 if live else SEASON_DAYS * 86_400_000
    step_ms = span_ms // per_series
    t0 = NOW_MS - span_ms if live else local_day_start_ms(START_DAY)
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


def wait_idle(server: InfluxServer) -> None:
    """Until influxd has used under 5 % of a core for a second: its compactions of the last writes
    done, so that they are not charged to the next writer."""
    assert server.pid is not None
    before = cpu_seconds([server.pid])
    while True:
        time.sleep(1.0)
        now = cpu_seconds([server.pid])
        if now - before < 0.05:
            return
        before = now


def raw_line_protocol_points_s(server: InfluxServer, database: str, readings: Sequence[Reading]) -> float:
    """Pre-formatted line protocol, 5k points per uncompressed request, into the raw tier of a
    database set up as the adapter's: the server's own pace."""
    server.create_database(database)
    lines = [
        f"{r.metric},coop={r.coop_id},node={r.node_id},site={r.site_id} "
        f"value={r.value!r},quality=0i {r.ts_ms}"
        for r in readings
    ]
    bodies = ["\n".join(lines[i : i + BATCH]) for i in range(0, len(lines), BATCH)]
    params = {"db": database, "precision": "ms", "rp": RAW_RP}
    with httpx.Client(base_url=server.url, timeout=60) as client:

        def send() -> None:
            for body in bodies:
                client.post("/write", params=params, content=body).raise_for_status()

        return len(lines) / timed(send)


def adapter_readings_s(server: InfluxServer, database: str, readings: Sequence[Reading]) -> float:
    """The same readings through :class:`InfluxStore`, 5k a write as ingest flushes them."""
    server.create_database(database)
    store = InfluxStore(server.url, database=database, retention=Retention(None, None))  # as the database is
    try:
        return len(readings) / timed(lambda: write_all(store, readings))
    finally:
        store.close()


def writes_vs_raw(
    server: InfluxServer, readings: Sequence[Reading], name: str, rounds: int
) -> tuple[float, float]:
    """The adapter's and raw line protocol's medians over ``rounds`` alternated rounds [points/s]."""
    adapter: list[float] = []
    raw: list[float] = []
    for i in range(rounds):
        for which in ("adapter", "raw")[:: 1 if i % 2 == 0 else -1]:
            wait_idle(server)
            print(f"{name} writes, round {i + 1}: {which} ...", file=sys.stderr)
            if which == "adapter":
                adapter.append(adapter_readings_s(server, f"{name}_adapter_{i}", readings))
            else:
                raw.append(raw_line_protocol_points_s(server, f"{name}_raw_{i}", readings))
    return statistics.median(adapter), statistics.median(raw)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=2, help="alternated rounds of each InfluxDB writer")
    args = parser.parse_args(argv)
    readings = make_readings(args.readings)
    n = len(readings)
    out: dict[str, object] = {"bench": "store", "readings": n, "fields": FIELDS, "season_days": SEASON_DAYS}
    with tempfile.TemporaryDirectory(prefix="panen-bench-") as tmp:
        server = InfluxServer(Path(tmp) / "influxd")
        server.start()
        try:
            live, live_raw = writes_vs_raw(
                server, make_readings(args.readings, live=True), "live", args.rounds
            )
            season, season_raw = writes_vs_raw(server, readings, "season", args.rounds)
            out |= {
                "influx_raw_line_protocol_points_s": round(live_raw),
                "influx_write_readings_s": round(live),
                "influx_adapter_vs_raw_line_protocol": round(live / live_raw, 3),
                "influx_backfill_raw_line_protocol_points_s": round(season_raw),
                "influx_backfill_write_readings_s": round(season),
                "influx_backfill_adapter_vs_raw_line_protocol": round(season / season_raw, 3),
            }
            # The last round's season, as the adapter wrote it: its tiers filled as in production.
            influx = InfluxStore(
                server.url, database=f"season_adapter_{args.rounds - 1}", retention=Retention(None, None)
            )
            print("InfluxDB rollup (the continuous queries' work, as a backfill) ...", file=sys.stderr)
            season_start = local_day_start_ms(START_DAY)
            # The backfill, then the refresh's maintenance: days past the raw window are the tier's.
            out["influx_rollup_s"] = round(
                timed(lambda: influx.rollup(start_ms=season_start, end_ms=NOW_MS, now_ms=NOW_MS))
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
    for key in ("influx_daily_query_ms", "sqlite_daily_query_ms"):
        out[key] = round(float(out[key]), 1)  # type: ignore[arg-type]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
