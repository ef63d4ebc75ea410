"""Supervision: a thread that dies turns /healthz red with the reason, and green again once its
restart heals it; red past the grace period stops ingest with an error so that its service
manager restarts it (issue 15, supervision)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from ingest.health import serve
from ingest.service import IngestConfig, IngestService, IngestUnhealthy
from panen.devservices import MosquittoServer
from sensors import Reading
from sensors.topics import MqttTarget
from storage import StoreError
from storage.sqlite import SqliteStore
from tests.ingest.helpers import T0, registry, running, stored, wait_for

FAST = {"health_check_every_s": 0.1, "backoff_min_s": 0.05, "backoff_max_s": 0.2}


def _healthz(port: int) -> tuple[int, dict[str, object]]:
    r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    return r.status_code, r.json()


def _break_replay_once(service: IngestService) -> threading.Event:
    """The spool's replay raises a bug of ours once (a fake: no real service makes ingest's own code
    fail), and the spool holds readings for the restarted replayer to store."""
    broke = threading.Event()
    real = service.spool.replay

    def replay(write):  # type: ignore[no-untyped-def]
        if not broke.is_set():
            broke.set()
            raise RuntimeError("a bug in replay")
        return real(write)

    service.spool.replay = replay  # type: ignore[method-assign]
    return broke


def test_healthz_goes_red_when_the_replayer_dies_and_green_after_its_restart_heals_it(
    mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "ts.sqlite3")
    with running(store, registry(), mosquitto_server.port, tmp_path, topic_prefix, **FAST) as ingest:
        server = serve("127.0.0.1", 0, ingest.metrics.registry, lambda: ingest.health)
        port = server.server_port
        try:
            wait_for(lambda: _healthz(port)[0] == 200, 10, "healthy at start")
            broke = _break_replay_once(ingest)
            ingest.spool.append([Reading("n0", "c1", "f0", "air_temp_c", 18.0, T0)])
            assert broke.wait(10)
            started = time.monotonic()
            wait_for(lambda: _healthz(port)[0] == 503, 60, "red")
            red_after = time.monotonic() - started
            _status, body = _healthz(port)
            reasons = body["reasons"]
            assert isinstance(reasons, list)
            assert any("ingest-replayer" in r and "RuntimeError: a bug in replay" in r for r in reasons)
            wait_for(lambda: _healthz(port)[0] == 200, 30, "green after the restart")
            assert stored(store, ["n0"]) == 1
            assert red_after < 60
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            assert 'panen_ingest_thread_heartbeat_timestamp_seconds{thread="ingest-replayer"}' in metrics
            assert "panen_ingest_healthy 1.0" in metrics
        finally:
            server.shutdown()


def test_unhealthy_past_the_grace_period_stops_ingest_with_an_error(
    mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    cfg = IngestConfig(
        MqttTarget("127.0.0.1", mosquitto_server.port),
        tmp_path,
        client_id=f"doomed-{topic_prefix}",
        topic_prefix=f"{topic_prefix}/",
        health_grace_s=1.0,
        **FAST,  # type: ignore[arg-type]
    )
    service = IngestService(cfg, store=SqliteStore(tmp_path / "ts.sqlite3"), registry=registry())

    def always_broken(write):  # type: ignore[no-untyped-def]
        raise RuntimeError("broken for good")

    service.spool.replay = always_broken  # type: ignore[method-assign]
    service.spool.append([Reading("n0", "c1", "f0", "air_temp_c", 18.0, T0)])
    started = time.monotonic()
    with pytest.raises(IngestUnhealthy, match="broken for good"):
        service.run()
    assert time.monotonic() - started < 30


def test_a_replay_making_no_progress_while_the_store_answers_is_unhealthy(
    mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "ts.sqlite3")
    with running(
        store, registry(), mosquitto_server.port, tmp_path, topic_prefix, replay_stall_s=0.5, **FAST
    ) as ingest:
        stuck = threading.Event()

        def hangs(write):  # type: ignore[no-untyped-def]
            stuck.wait(30)  # a replay stuck in a call that never returns
            raise StoreError("gave up")

        ingest.spool.replay = hangs  # type: ignore[method-assign]
        ingest.spool.append([Reading("n0", "c1", "f0", "air_temp_c", 18.0, T0)])
        try:
            wait_for(lambda: not ingest.health.ok, 20, "red")
            assert any("none was replayed" in r for r in ingest.health.reasons)
        finally:
            stuck.set()
