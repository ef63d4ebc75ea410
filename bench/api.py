"""API benchmark: the default fleet (24 cooperatives × 10 fields) with 90 days of hourly simulated
readings in the embedded SQLite store, ``panen api`` in its own process, and wrk (Debian package
``wrk``) as the load from a second process on loopback: 50 concurrent connections for 10 s each on
the purchase plan, a field's daily series and a field's latest readings, once the API's first cycle
(forecasts, then the store's maintenance) has ended.

Run: ``python -m bench.api [--days 90] [--connections 50]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench.simdata import readings
from firmware_sim.fleet import batu_fleet
from firmware_sim.runner import prepare
from panen.devservices import free_port
from sensors import Reading
from services.access import Role, create_token
from services.registry_import import import_fleet
from storage import local_day
from storage.db.engine import open_registry, sqlite_url
from storage.sqlite import SqliteStore


def _ms(text: str) -> float:
    found = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise ValueError(f"wrk printed a latency I cannot read: {text!r}")
    value, unit = found.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(url: str, token: str, connections: int, seconds: int) -> dict[str, float]:
    """Requests/s and p50/p99 latency [ms] of wrk against ``url``."""
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    if rps == 0:
        print(out, file=sys.stderr)
    # Anchored to the "Latency Distribution" lines: a "+/- Stdev" column can also end in "50%".
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)\s*$", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)\s*$", out, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": round(rps, 1),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop a server started by a bench: SIGTERM, 30 s, then SIGKILL."""
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def main(argv: Sequence[str] | None = None) -> None:

    # Long: a benchmark's steps in the order it runs them, read top to bottom like a lab protocol.
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("this benchmark needs wrk: apt-get install -y wrk")
    now_ms = time.time_ns() // 1_000_000
    today = local_day(now_ms)
    fleet = batu_fleet(anchor=today)
    with tempfile.TemporaryDirectory(prefix="panen-bench-api-") as tmp:
        data = Path(tmp)
        print("simulating and storing a season of readings ...", file=sys.stderr)
        run = prepare(fleet, start_ms=now_ms - args.days * 86_400_000, end_ms=now_ms, seed=8, interval_min=60)
        store = SqliteStore(data / "timeseries.sqlite3")
        batch: list[Reading] = []
        written = 0
        for reading in readings(run.samples):
            batch.append(reading)
            if len(batch) >= 100_000:
                written += store.write(batch)
                batch = []
        written += store.write(batch)
        store.close()
        sessions = open_registry(sqlite_url(data / "registry.sqlite3"))
        with sessions() as session:
            import_fleet(session, fleet)
            admin = create_token(session, name="bench", role=Role.OFFTAKER)
            field = fleet.fields[0].id
            farmer = create_token(session, name="petani", role=Role.FARMER, farmer_id=f"{field}-farmer")
        start_day = (today - dt.timedelta(days=args.days)).isoformat()
        targets = {
            "purchase_plan": ("/v1/purchase-plan?weeks=8", admin),
            "field_daily": (
                f"/v1/fields/{field}/daily?metric=soil_vwc_pct&metric=air_temp_c&start_day={start_day}",
                farmer,
            ),
            "latest_readings": (f"/v1/fields/{field}/readings/latest", farmer),
        }
        results: dict[str, dict[str, float]] = {}
        forecast_s = 0.0
        # One fresh server per endpoint, so that no endpoint is measured on caches or pools another one
        # warmed. (The server once stopped answering after a load: abandoned requests leaked registry
        # connections, fixed in 1f09106 and tested with 80 abandoning clients. A server taking several
        # wrk runs in a row, including 200 connections with 1 s timeouts, answered every later one.)
        for name, (path, token) in targets.items():
            port = free_port()
            server = subprocess.Popen(
                [sys.executable, "-m", "panen", "api", "--port", str(port), "--refresh-minutes", "600"],
                env={**os.environ, "PANEN_DATA_DIR": tmp, "PANEN_LOG_LEVEL": "warning"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            base = f"http://127.0.0.1:{port}"
            try:
                started = time.monotonic()
                # The first cycle runs at start, in the background: the forecasts, then the store's
                # maintenance (on SQLite, the rollup of the whole season's readings). Loading before
                # it ended measured the endpoints against that rollup: half the CPU samples of the
                # daily series' run were in SqliteStore.rollup (py-spy, issue 42). The steady state is
                # what a farmer meets; an hourly cycle rolls up an hour of readings.
                while True:
                    try:
                        r = httpx.get(f"{base}/ready", timeout=30)
                        if r.status_code == 200 and r.json().get("forecasts_refreshed"):
                            break
                    except (httpx.HTTPError, ValueError):
                        pass
                    if time.monotonic() - started > 300:
                        raise RuntimeError("API did not come up")
                    time.sleep(0.5)
                forecast_s = round(time.monotonic() - started, 1)
                probe = httpx.get(base + path, headers={"Authorization": f"Bearer {token}"}, timeout=60)
                if probe.status_code != 200:
                    raise RuntimeError(f"{name}: {probe.status_code} {probe.text[:300]}")
                print(f"load {name} ...", file=sys.stderr)
                results[name] = wrk(base + path, token, args.connections, args.seconds)
            finally:
                stop(server)
    out = {
        "bench": "api",
        "fields": len(fleet.fields),
        "readings": written,
        "days": args.days,
        "connections": args.connections,
        "first_forecast_s": forecast_s,
    }
    for name, result in results.items():
        for key, value in result.items():
            out[f"{name}_{key}"] = value
    print(json.dumps(out))


if __name__ == "__main__":
    main()
