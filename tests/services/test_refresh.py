"""The refresh cycle (forecasts → contracts → alerts) as a plain function and as ``panen refresh``,
on SQLite and on a real InfluxDB, with no API and no TestClient."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from firmware_sim.fleet import batu_fleet
from panen.devservices import InfluxServer
from services.forecasting import ForecastService
from services.refresh import Platform, RefreshScheduler, refresh
from services.registry_import import import_document
from storage import Series, TimeSeriesStore, local_day
from storage.db import Alert, Contract
from storage.db.engine import open_registry, sqlite_url
from storage.influx import InfluxStore
from storage.sqlite import SqliteStore
from tests.season import NOW_MS, load_season

TODAY = local_day(NOW_MS)
FLEET = batu_fleet(anchor=TODAY).subset(2, 3)


def _registry(path: Path) -> str:
    url = sqlite_url(path)
    with open_registry(url)() as session:
        import_document(session, FLEET)
        session.add(
            Contract(
                buyer="Kutai Timur",
                commodity=FLEET.fields[0].commodity,
                tonnes=10_000,  # far more than six fields grow: at risk
                first_day=TODAY,
                last_day=TODAY + dt.timedelta(days=120),
                price_idr_per_kg=9_000,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
        session.commit()
    return url


def test_one_cycle_writes_forecasts_the_plan_and_alert_states(store: TimeSeriesStore, tmp_path: Path) -> None:
    url = _registry(tmp_path / "registry.sqlite3")
    load_season(store, FLEET)
    sessions = open_registry(url)
    platform = Platform(store, sessions, ForecastService(store, sessions, members=20))
    result = refresh(platform)
    assert result.fields == len(FLEET.fields)
    assert platform.last_refresh == result
    since = NOW_MS - 60_000
    stored = store.forecasts(start_ms=since, end_ms=NOW_MS + 3_600_000)
    assert sorted({p.site_id for p in stored}) == sorted(f.id for f in FLEET.fields)
    assert store.series(Series.PLAN, start_ms=since, end_ms=NOW_MS + 3_600_000)
    states = store.series(Series.ALERT, start_ms=since, end_ms=NOW_MS + 3_600_000)
    with sessions() as session:
        active = list(session.scalars(select(Alert).where(Alert.active)))
    counts: dict[str, int] = {}
    for a in active:
        counts[a.kind] = counts.get(a.kind, 0) + 1
    assert counts == result.active_alerts
    assert counts.get("contract_at_risk") == 1  # the contracts step ran between forecasts and alerts
    assert {(p.tags["subject"], next(iter(p.values))) for p in states} == {
        (a.subject, a.kind) for a in active
    }


def test_the_next_run_reads_only_what_changed_and_forecasts_as_a_whole_read(
    store: TimeSeriesStore, tmp_path: Path
) -> None:
    """Issue 42: the refresh read every field's whole season each hour. Its next run reads the days
    that changed (on InfluxDB at least the days still read raw) and forecasts what a new service,
    reading everything, forecasts."""
    sessions = open_registry(_registry(tmp_path / "registry.sqlite3"))
    load_season(store, FLEET)
    service = ForecastService(store, sessions, members=20)
    service.run(TODAY)
    whole = service._seasons.site_days_read
    again = service.run(TODAY)
    assert service._seasons.site_days_read <= whole // 10
    fresh = ForecastService(store, sessions, members=20).run(TODAY)
    assert again.forecasts.keys() == fresh.forecasts.keys()
    for field_id, f in fresh.forecasts.items():
        g = again.forecasts[field_id]
        assert (g.harvest_date_p50, g.tonnes_p50, g.days_observed) == (
            f.harvest_date_p50,
            f.tonnes_p50,
            f.days_observed,
        )


def test_a_failed_cycle_does_not_stop_the_schedule() -> None:
    runs: list[int] = []
    done = threading.Event()

    def cycle() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("the store fell over")
        if len(runs) == 3:
            done.set()

    scheduler = RefreshScheduler(cycle, every_s=0.01)
    scheduler.start()
    try:
        assert done.wait(10)
    finally:
        scheduler.stop()
    assert runs[:3] == [0, 1, 2]


def test_stopping_waits_for_the_cycle_in_progress() -> None:
    """The API closes the store after its lifespan: a cycle still writing to a SQLite store then had
    its connection closed under it from another thread, and the process died (a segfault in a test
    worker, seen after test_api's refresh test)."""
    started, finished = threading.Event(), threading.Event()

    def cycle() -> None:
        started.set()
        time.sleep(0.5)  # a cycle's writes
        finished.set()

    scheduler = RefreshScheduler(cycle, every_s=3600)
    scheduler.start()
    assert started.wait(10)
    assert scheduler.stop()
    assert finished.is_set()
    assert scheduler.stop()  # stopping twice is harmless


def test_a_cycle_that_outlasts_the_wait_is_reported() -> None:
    release = threading.Event()
    scheduler = RefreshScheduler(lambda: release.wait(10), every_s=3600)
    scheduler.start()
    try:
        assert not scheduler.stop(timeout_s=0.2)
    finally:
        release.set()
    assert scheduler.stop()


@pytest.mark.parametrize("kind", ["sqlite", "influx"])
def test_panen_refresh_runs_a_cycle_without_the_api(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANEN_")}
    env["PANEN_DATA_DIR"] = str(tmp_path)
    _registry(tmp_path / "registry.sqlite3")  # the data directory's default registry
    if kind == "sqlite":
        store: TimeSeriesStore = SqliteStore(tmp_path / "timeseries.sqlite3")
    else:
        server: InfluxServer = request.getfixturevalue("influx_server")
        name = f"refresh_{os.getpid()}_{tmp_path.name[-8:]}".replace("-", "_")
        server.create_database(name)
        env |= {"PANEN_INFLUX_URL": server.url, "PANEN_INFLUX_DB": name}
        store = InfluxStore(server.url, database=name)
    try:
        load_season(store, FLEET)
        done = subprocess.run(
            [sys.executable, "-m", "panen", "refresh", "--members", "20"],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert answer["fields"] == len(FLEET.fields)
        assert answer["active_alerts"].get("contract_at_risk") == 1
        stored = store.forecasts(start_ms=NOW_MS - 60_000, end_ms=NOW_MS + 3_600_000)
        assert sorted({p.site_id for p in stored}) == sorted(f.id for f in FLEET.fields)
    finally:
        store.close()


def test_panen_refresh_says_when_the_store_is_unreachable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANEN_")}
    env |= {"PANEN_DATA_DIR": str(tmp_path), "PANEN_INFLUX_URL": "http://127.0.0.1:9"}
    _registry(tmp_path / "registry.sqlite3")
    done = subprocess.run(
        [sys.executable, "-m", "panen", "refresh"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "refresh failed" in done.stderr
