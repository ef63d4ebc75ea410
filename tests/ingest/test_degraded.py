"""Every outage ingest waits out is seen on ``/healthz`` and in the metrics, and clears by itself
(issue 35): the store unreachable, the store hung, the disk full, the spool over its bound, the
broker away. Each test breaks a real service (influxd stopped or SIGSTOPped, mosquitto stopped, a
tmpfs filled) and mends it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ingest.health import serve
from ingest.service import IngestService
from panen.devservices import InfluxServer, MosquittoServer
from storage.influx import InfluxStore
from tests.ingest.helpers import native, publish, registry, running, stored, wait_for
from tests.ingest.test_disk_full import SmallDisk, small_disk  # noqa: F401 (a fixture)

FAST = {"health_check_every_s": 0.1, "backoff_min_s": 0.05, "backoff_max_s": 0.3}


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[InfluxServer]:
    """An influxd of the test's own, with the database made: the test may stop or freeze it."""
    server = InfluxServer(tmp_path / "influxd")
    server.start()
    server.create_database()
    yield server
    server.resume()
    server.stop()


@contextmanager
def watched(service: IngestService) -> Iterator[Callable[[], dict[str, object]]]:
    """``/healthz`` of ``service``, served as ``panen ingest`` serves it; yields a reader."""
    server = serve("127.0.0.1", 0, service.metrics.registry, lambda: service.health)

    def read() -> dict[str, object]:
        r = httpx.get(f"http://127.0.0.1:{server.server_port}/healthz", timeout=5)
        body: dict[str, object] = r.json()
        assert r.status_code == 200, body  # degraded is not dead: no restart would help
        return body

    try:
        yield read
    finally:
        server.shutdown()


def _degraded_for(read: Callable[[], dict[str, object]], reason: str) -> Callable[[], bool]:
    def check() -> bool:
        body = read()
        degraded = body["degraded"]
        assert isinstance(degraded, list)
        return body["status"] == "degraded" and any(str(r).startswith(reason) for r in degraded)

    return check


def _gauge(service: IngestService, reason: str) -> float:
    value: float = (
        service.metrics.registry.get_sample_value("panen_ingest_degraded", {"reason": reason}) or 0.0
    )
    return value


def _send(port: int, prefix: str, first: int, count: int) -> None:
    publish(port, [(f"{prefix}/panen/v1/c1/n0/up", native(first + i)) for i in range(count)])


def test_a_store_that_is_down_is_degraded_then_healthy_when_it_returns(
    influx: InfluxServer, mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    store = InfluxStore(influx.url, timeout_s=2)
    try:
        with (
            running(store, registry(), mosquitto_server.port, tmp_path, topic_prefix, **FAST) as ingest,
            watched(ingest) as read,
        ):
            wait_for(lambda: read()["status"] == "ok", 15, "healthy at start")
            influx.stop()
            _send(mosquitto_server.port, topic_prefix, 0, 20)
            wait_for(_degraded_for(read, "store_unreachable"), 20, "store_unreachable on /healthz")
            assert _gauge(ingest, "store_unreachable") == 1
            errors = ingest.metrics.registry.get_sample_value
            _send(mosquitto_server.port, topic_prefix, 20, 20)
            wait_for(
                lambda: (errors("panen_ingest_replay_errors_total", {"kind": "StoreUnavailable"}) or 0) >= 3,
                20,
                "replays counted",
            )
            influx.start()
            wait_for(lambda: read()["status"] == "ok", 30, "healthy again")
            assert _gauge(ingest, "store_unreachable") == 0
            assert stored(store, ["n0"]) == 200
            assert (
                ingest.metrics.registry.get_sample_value("panen_ingest_seconds_since_last_store_write") < 10
            )
    finally:
        store.close()


def test_a_hung_store_is_slow_then_healthy_when_it_answers(
    influx: InfluxServer, mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    store = InfluxStore(influx.url, timeout_s=30)
    config = {**FAST, "store_slow_s": 1.0}
    try:
        with (
            running(store, registry(), mosquitto_server.port, tmp_path, topic_prefix, **config) as ingest,
            watched(ingest) as read,
        ):
            wait_for(lambda: read()["status"] == "ok", 15, "healthy at start")
            influx.pause()  # hung: the connection is open, nothing answers
            _send(mosquitto_server.port, topic_prefix, 0, 5)
            wait_for(_degraded_for(read, "store_slow"), 20, "store_slow on /healthz")
            assert _gauge(ingest, "store_slow") == 1
            influx.resume()
            wait_for(lambda: read()["status"] == "ok", 30, "healthy again")
            assert stored(store, ["n0"]) == 25
    finally:
        store.close()


def test_a_full_disk_is_degraded_then_healthy_when_space_returns(
    small_disk: SmallDisk,  # noqa: F811
    influx: InfluxServer,
    mosquitto_server: MosquittoServer,
    topic_prefix: str,
) -> None:
    store = InfluxStore(influx.url)
    config = {**FAST, "disk_min_free_bytes": 1024**2}
    try:
        data = small_disk.path / "ingest"
        with (
            running(store, registry(), mosquitto_server.port, data, topic_prefix, **config) as ingest,
            watched(ingest) as read,
        ):
            wait_for(lambda: read()["status"] == "ok", 15, "healthy at start")
            free = ingest.metrics.registry.get_sample_value("panen_ingest_spool_disk_free_bytes")
            assert free is not None
            assert 3 * 1024**2 < free <= 4 * 1024**2
            small_disk.fill(leave_bytes=64 * 1024)
            wait_for(_degraded_for(read, "disk_full"), 20, "disk_full on /healthz")
            assert _gauge(ingest, "disk_full") == 1
            _send(mosquitto_server.port, topic_prefix, 0, 5)  # the store is up: still stored
            wait_for(lambda: stored(store, ["n0"]) == 25, 20, "stored while the disk is full")
            small_disk.free()
            wait_for(lambda: read()["status"] == "ok", 20, "healthy again")
            assert _gauge(ingest, "disk_full") == 0
    finally:
        store.close()


def test_a_spool_at_its_bound_is_degraded_then_healthy_when_it_drains(
    influx: InfluxServer, mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    store = InfluxStore(influx.url, timeout_s=2)
    config = {**FAST, "spool_max_bytes": 4096}
    try:
        with (
            running(store, registry(), mosquitto_server.port, tmp_path, topic_prefix, **config) as ingest,
            watched(ingest) as read,
        ):
            wait_for(lambda: read()["status"] == "ok", 15, "healthy at start")
            influx.stop()
            _send(mosquitto_server.port, topic_prefix, 0, 200)  # ~50 KB of spool for a 4 KB bound
            wait_for(_degraded_for(read, "spool_full"), 30, "spool_full on /healthz")
            assert _gauge(ingest, "spool_full") == 1
            full = ingest.metrics.registry.get_sample_value(
                "panen_ingest_spool_append_errors_total", {"kind": "spool_full"}
            )
            assert full is not None
            assert full >= 1
            influx.start()
            wait_for(lambda: stored(store, ["n0"]) == 1000, 60, "every reading stored")
            wait_for(lambda: read()["status"] == "ok", 30, "healthy again")
    finally:
        store.close()


def test_a_broker_that_is_away_is_degraded_then_healthy_when_it_returns(
    tmp_path: Path, topic_prefix: str
) -> None:
    broker = MosquittoServer(tmp_path / "mosquitto")
    broker.start()
    store = InfluxStore("http://127.0.0.1:9", timeout_s=1)  # not needed here
    config = {**FAST, "broker_away_s": 0.5}
    try:
        with (
            running(store, registry(), broker.port, tmp_path / "ingest", topic_prefix, **config) as ingest,
            watched(ingest) as read,
        ):
            wait_for(lambda: _gauge(ingest, "broker_unreachable") == 0, 15, "connected")
            broker.stop()
            wait_for(_degraded_for(read, "broker_unreachable"), 20, "broker_unreachable on /healthz")
            assert _gauge(ingest, "broker_unreachable") == 1
            broker.start()
            wait_for(lambda: not any(str(r).startswith("broker") for r in read()["degraded"]), 30, "back")  # type: ignore[attr-defined]
            assert _gauge(ingest, "broker_unreachable") == 0
    finally:
        store.close()
        broker.stop()


def test_ingest_makes_the_retention_policies_a_bare_database_lacks(
    influx: InfluxServer, mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    """Pointed at a database made with a bare CREATE DATABASE, ingest sets it up as `panen store init`
    does and stores, instead of spooling forever."""
    httpx.post(f"{influx.url}/query", data={"q": 'CREATE DATABASE "bare"'}).raise_for_status()
    from tests.ingest.test_resilience import NODES, ingest_process, wait_subscribed

    env = {"PANEN_INFLUX_URL": influx.url, "PANEN_INFLUX_DB": "bare"}
    proc = ingest_process(mosquitto_server.port, tmp_path, topic_prefix, env)
    store = InfluxStore(influx.url, database="bare")
    now_ms = int(time.time() * 1000)  # within the raw tier's 90 days, which ingest sets up
    messages = [
        (
            f"{topic_prefix}/panen/v1/c1/{NODES[i % 4]}/up",
            json.dumps({"ts": now_ms - i * 1000, "values": {"air_temp_c": 20.0}}).encode(),
        )
        for i in range(40)
    ]
    try:
        wait_subscribed(mosquitto_server.port, topic_prefix, proc)
        publish(mosquitto_server.port, messages)
        wait_for(lambda: stored(store, NODES) == 40, 30, "stored in the bare database")
        assert store.missing_layout() is None
        assert not list((tmp_path / "spool").glob("segment-*"))
    finally:
        store.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_ingest_refuses_a_store_it_may_not_set_up_and_names_the_command(tmp_path: Path) -> None:
    """An InfluxDB with authentication on, and credentials that are not an administrator's."""
    server = InfluxServer(tmp_path / "influxd")
    server.config_path.write_text(
        server.config_path.read_text().replace(
            "log-enabled = false", "log-enabled = false\n  auth-enabled = true"
        )
    )
    server.start()
    try:
        q = f"{server.url}/query"
        httpx.post(
            q, data={"q": "CREATE USER admin WITH PASSWORD 'a' WITH ALL PRIVILEGES"}
        ).raise_for_status()
        httpx.post(
            q, data={"q": "CREATE USER farmer WITH PASSWORD 'f'"}, auth=("admin", "a")
        ).raise_for_status()
        env = {
            **os.environ,
            "PANEN_INFLUX_URL": server.url,
            "PANEN_INFLUX_DB": "panen",
            "PANEN_INFLUX_USER": "farmer",
            "PANEN_INFLUX_TOKEN": "f",
            "PANEN_DATA_DIR": str(tmp_path / "data"),
            "PANEN_MQTT_URL": "mqtt://127.0.0.1:9",
        }
        done = subprocess.run(
            [sys.executable, "-m", "panen", "ingest", "--metrics-port", "0"],
            env=env,
            capture_output=True,
            timeout=60,
        )
        out = done.stdout.decode() + done.stderr.decode()
        assert done.returncode == 2, out
        assert "panen store init" in out
    finally:
        server.stop()
