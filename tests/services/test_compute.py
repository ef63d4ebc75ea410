"""Forecasts on a real Dask ``LocalCluster`` with two worker processes (issue 21): the same forecast
as in-process, field for field and member for member, and a complete run when a worker is killed
with SIGKILL mid-run."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from distributed import Client, LocalCluster

from firmware_sim.fleet import batu_fleet
from services.compute import ComputeFailed, DaskCompute
from services.forecasting import ForecastRun, ForecastService
from services.registry_import import import_document
from storage import local_day
from storage.db.engine import open_registry, sqlite_url
from storage.sqlite import SqliteStore
from tests.season import NOW_MS, load_season

TODAY = local_day(NOW_MS)
FLEET = batu_fleet(anchor=TODAY).subset(4, 6)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


@pytest.fixture
def service_parts(tmp_path: Path) -> tuple[SqliteStore, object]:
    store = SqliteStore(tmp_path / "ts.sqlite3")
    sessions = open_registry(sqlite_url(tmp_path / "registry.sqlite3"))
    with sessions() as session:
        import_document(session, FLEET)
    load_season(store, FLEET, days=40)
    return store, sessions


def _same(a: ForecastRun, b: ForecastRun) -> None:
    assert a.forecasts.keys() == b.forecasts.keys()
    for field_id, fa in a.forecasts.items():
        fb = b.forecasts[field_id]
        assert fa.harvest_date_p50 == fb.harvest_date_p50, field_id
        assert fa.members_harvest_date == fb.members_harvest_date, field_id
        np.testing.assert_array_equal(fa.members_tonnes, fb.members_tonnes)


def test_a_cluster_forecasts_exactly_what_one_process_does(
    cluster: LocalCluster, service_parts: tuple
) -> None:
    store, sessions = service_parts
    here = ForecastService(store, sessions, members=20).run(TODAY)
    seen: list[tuple[int, int]] = []
    remote = DaskCompute(cluster.scheduler_address, progress=lambda done, total: seen.append((done, total)))
    try:
        there = ForecastService(store, sessions, members=20, compute=remote, chunk_fields=5).run(TODAY)
    finally:
        remote.close()
    assert len(here.forecasts) == len(FLEET.fields) == 24
    _same(here, there)
    assert seen[-1] == (5, 5)  # five chunks, each reported


def test_a_worker_killed_mid_run_still_yields_a_complete_run(
    cluster: LocalCluster, service_parts: tuple
) -> None:
    store, sessions = service_parts
    here = ForecastService(store, sessions, members=20).run(TODAY)
    with Client(cluster.scheduler_address) as client:
        pids = list(client.run(os.getpid).values())
    killed: list[int] = []

    def kill_one(done: int, _total: int) -> None:
        if done == 2 and not killed:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    remote = DaskCompute(cluster.scheduler_address, progress=kill_one)
    try:
        there = ForecastService(store, sessions, members=20, compute=remote, chunk_fields=1).run(TODAY)
    finally:
        remote.close()
    assert killed
    _same(here, there)


def test_a_chunk_failing_on_every_try_fails_the_run_saying_which(cluster: LocalCluster) -> None:
    def boom(item: int) -> int:
        if item == 3:
            raise ValueError("a record the engine cannot use")
        return item

    remote = DaskCompute(cluster.scheduler_address, retries=1)
    try:
        assert remote.map(lambda x: x * 2, [1, 2, 3]) == [2, 4, 6]
        with pytest.raises(ComputeFailed, match=r"chunk 3 of 4 failed after 2 tries.*cannot use"):
            remote.map(boom, [1, 2, 3, 4])
    finally:
        remote.close()


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    remote = DaskCompute("tcp://127.0.0.1:9", timeout_s=2)
    with pytest.raises(ComputeFailed, match="cannot reach the Dask scheduler"):
        remote.map(abs, [1])
