"""Hours of outage in seconds: back-off bounds come from settings, so thousands of retries happen
in a test (issue 15, findings 1 and 2)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ingest.service import IngestConfig, IngestService
from ingest.spool import Spool
from panen.devservices import InfluxServer, MosquittoServer, free_port
from sensors import Reading
from sensors.topics import MqttTarget
from storage.influx import InfluxStore
from storage.sqlite import SqliteStore
from tests.ingest.helpers import T0, publish, registry, running, stored, wait_for

# 2**1024 overflows a float: the uncapped exponent of the old back-off died at attempt 1,024,
# which at the default 0.5-30 s is about 4.3 hours of outage and here takes a second.
TINY = {"backoff_min_s": 1e-4, "backoff_max_s": 1e-3}


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_a_broker_unreachable_for_thousands_of_retries_does_not_kill_ingest(tmp_path: Path) -> None:
    cfg = IngestConfig(MqttTarget("127.0.0.1", free_port()), tmp_path, client_id="lonely", **TINY)
    service = IngestService(cfg, store=SqliteStore(tmp_path / "ts.sqlite3"), registry=registry())
    failed: list[BaseException] = []

    def run() -> None:
        try:
            service.run()
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_for(lambda: service.broker.attempts > 3_000, 60, "3,000 connection attempts")
    assert thread.is_alive(), failed
    service.stop()
    thread.join(10)
    assert failed == []


def test_ingest_stores_the_spool_when_influxdb_returns_after_thousands_of_failed_replays(
    mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    influx = InfluxServer(tmp_path / "influxd")
    influx.start()
    influx.create_database()
    store = InfluxStore(influx.url, database="panen")
    try:
        influx.stop()  # down for the night
        messages = [(f"{topic_prefix}/panen/v1/c1/n{i % 4}/up", _native(i)) for i in range(40)]
        with running(store, registry(), mosquitto_server.port, tmp_path, topic_prefix, **TINY) as ingest:
            publish(mosquitto_server.port, messages)
            wait_for(lambda: ingest.spool.readings == 40, 20, "40 readings spooled")
            wait_for(lambda: ingest.sink.replay_failures > 3_000, 60, "3,000 failed replays")
            assert "ingest-replayer" in _threads()
            influx.start()  # morning: the power is back
            wait_for(lambda: ingest.spool.readings == 0, 30, "the spool replayed")
            assert stored(store, ["n0", "n1", "n2", "n3"]) == 40
    finally:
        store.close()
        influx.stop()


def _native(i: int) -> bytes:
    return f'{{"ts": {T0 + i * 1000}, "values": {{"air_temp_c": {i}.5}}}}'.encode()


def test_a_restart_with_a_spool_past_80_percent_replays_it(
    tmp_path: Path, mosquitto_server: MosquittoServer
) -> None:
    batch = [Reading(f"n{i % 4}", "c1", f"f{i % 4}", "air_temp_c", float(i), T0 + i) for i in range(50)]
    probe = Spool(tmp_path / "probe", max_bytes=10**9)
    probe.append(batch)
    spool = Spool(tmp_path / "spool", max_bytes=probe.bytes * 10)
    for k in range(9):  # 90 % full, as a kill -9 during a long store outage leaves it
        spool.append([r._replace(ts_ms=r.ts_ms + k * 1000) for r in batch])
    store = SqliteStore(tmp_path / "ts.sqlite3")
    with running(
        store,
        registry(),
        mosquitto_server.port,
        tmp_path,
        f"full-{time.monotonic_ns()}",
        spool_max_bytes=probe.bytes * 10,
    ) as ingest:
        wait_for(lambda: ingest.spool.readings == 0, 20, "the spool replayed")
    assert stored(store, ["n0", "n1", "n2", "n3"]) == 450
