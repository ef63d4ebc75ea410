"""Scale benchmark: a forecast refresh's read of many fields' seasons from the daily tier (issue 42).

At a regency's or a province's scale a refresh cannot read every field's season from raw readings. This
fills an embedded (SQLite) store's daily tier as a season of rollups leaves it (``--fields`` fields, each
with soil moisture and air temperature from one node, ``--days`` days, rows written straight into the
tier: raw readings for 100,000 fields' seasons would be 3.5 billion rows) and marks it rolled up to now,
then times the refresh's read (``services.forecasting.SeasonReader``: every field's season, read in
parts, into arrays) in a fresh process, and prints its seconds and peak memory. ARCHITECTURE.md turns
these into how many fields one store serves per refresh interval. Then the next day's read, which
takes only what changed (``next_read_s``): the grid moved on a day, and a late reading in one field
of every hundred, on one day of the season.

Run: ``python -m bench.scale [--fields 100000] [--days 120]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from sensors import Reading
from services.forecasting import SeasonReader
from storage import local_day, local_day_start_ms
from storage.base import DAY_MS
from storage.sqlite import SqliteStore

METRICS = ("air_temp_c", "soil_vwc_pct")


def _rows(fields: int, first: dt.date, days: int) -> Iterator[tuple[object, ...]]:
    start = local_day_start_ms(first)
    for f in range(fields):
        site, node, coop = f"field-{f:06d}", f"node-{f:06d}", f"coop-{f // 1000:03d}"
        for metric in METRICS:
            for d in range(days):
                mean = 20.0 + (f + d) % 13
                yield (site, metric, start + d * DAY_MS, node, coop, mean - 4, mean + 4, mean * 144, 144)


def fill(path: Path, fields: int, days: int, today: dt.date) -> None:
    """The daily tier of ``fields`` fields over the ``days`` days before ``today``, rolled up to now."""
    SqliteStore(path).close()  # the schema
    conn = sqlite3.connect(path)
    insert = (
        "INSERT INTO rollup_day (site, metric, ts, node, coop, min, max, sum, count) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    batch: list[tuple[object, ...]] = []
    with conn:
        for row in _rows(fields, today - dt.timedelta(days=days), days):
            batch.append(row)
            if len(batch) >= 200_000:
                conn.executemany(insert, batch)
                batch = []
        conn.executemany(insert, batch)
        now = time.time_ns() // 1_000_000
        conn.execute("INSERT INTO store_meta (key, value) VALUES ('rolled_up_to', ?)", (now,))
    conn.close()


def read(path: Path, fields: int, days: int, today: dt.date) -> dict[str, float]:
    """The refresh's read, timed, with this process's peak memory (run it in a fresh process)."""
    store = SqliteStore(path)
    sites = [f"field-{f:06d}" for f in range(fields)]
    grid = [today - dt.timedelta(days=days - i) for i in range(days)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    reader = SeasonReader(store)
    series = reader.read(sites, grid)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    days_read = sum(int((~np.isnan(s.values[m]["mean"])).sum()) for s in series.values() for m in s.values)
    del series
    late = local_day_start_ms(grid[40]) + 3_600_000
    store.write(
        [
            Reading(f"node-{f:06d}", f"coop-{f // 1000:03d}", sites[f], METRICS[1], 31.0, late)
            for f in range(0, fields, 100)
        ]
    )
    started = time.perf_counter()
    reader.read(sites, [*grid[1:], today])
    next_s = time.perf_counter() - started
    store.close()
    return {
        "read_s": round(seconds, 2),
        "site_days": days_read,
        "peak_rss_mib": round(peak / 1024),
        "read_rss_mib": round((peak - before) / 1024),
        "next_read_s": round(next_s, 2),
        "next_site_days_read": reader.site_days_read,
        "next_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fields", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--read", type=Path, help=argparse.SUPPRESS)  # the timed read's own process
    args = parser.parse_args(argv)
    today = local_day(time.time_ns() // 1_000_000)
    if args.read is not None:
        print(json.dumps(read(args.read, args.fields, args.days, today)))
        return
    with tempfile.TemporaryDirectory(prefix="panen-bench-scale-") as tmp:
        path = Path(tmp) / "timeseries.sqlite3"
        print(f"filling the daily tier of {args.fields} fields ...", file=sys.stderr)
        started = time.perf_counter()
        fill(path, args.fields, args.days, today)
        fill_s = time.perf_counter() - started
        print("reading it as a refresh does ...", file=sys.stderr)
        command = [sys.executable, "-m", "bench.scale", "--fields", str(args.fields)]
        out = subprocess.run(
            [*command, "--days", str(args.days), "--read", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(out)
        size = path.stat().st_size
    fields_per_hour = args.fields / result["read_s"] * 3600 if result["read_s"] else float("inf")
    print(
        json.dumps(
            {
                "bench": "scale",
                "store": "sqlite",
                "fields": args.fields,
                "metrics": len(METRICS),
                "days": args.days,
                "fill_s": round(fill_s, 1),
                "tier_mib": round(size / 2**20),
                **result,
                "fields_read_per_hour": round(fields_per_hour),
            }
        )
    )


if __name__ == "__main__":
    main()
