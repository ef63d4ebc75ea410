"""How many read routes run at once: one at a time on the embedded SQLite store, whose reads are the API
process's own CPU, and four on InfluxDB, whose reads mostly wait for the server (issue 42)."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

from api.deps import AppState, serve_tuning
from sensors.profiles import shipped_profiles
from services.forecasting import ForecastService
from storage import TimeSeriesStore
from storage.db.engine import open_registry, sqlite_url


def _most_at_once(store: TimeSeriesStore, tmp_path: Path) -> int:
    sessions = open_registry(sqlite_url(tmp_path / "registry.sqlite3"))
    state = AppState(store, sessions, ForecastService(store, sessions), shipped_profiles())
    lock = threading.Lock()
    running, most = 0, 0

    def read() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)  # a read waiting on its store
        with lock:
            running -= 1

    async def many() -> None:
        await asyncio.gather(*(state.read(read) for _ in range(12)))

    asyncio.run(many())
    return most


def test_reads_of_the_embedded_store_run_one_at_a_time(sqlite_store: TimeSeriesStore, tmp_path: Path) -> None:
    assert _most_at_once(sqlite_store, tmp_path) == 1


def test_reads_of_influxdb_wait_for_it_together(influx_store: TimeSeriesStore, tmp_path: Path) -> None:
    assert _most_at_once(influx_store, tmp_path) == 4


def test_only_the_embedded_store_lengthens_the_switch_interval(
    sqlite_store: TimeSeriesStore, influx_store: TimeSeriesStore
) -> None:
    before = sys.getswitchinterval()
    try:
        serve_tuning(influx_store)
        assert sys.getswitchinterval() == before
        serve_tuning(sqlite_store)
        assert sys.getswitchinterval() == 0.02
    finally:
        sys.setswitchinterval(before)
