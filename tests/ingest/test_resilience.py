"""Ingest loses nothing: kill -9, a store outage, garbage in the stream, a shared group of workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.nodes import NodeRegistry
from panen.devservices import InfluxServer, MosquittoServer
from storage import TimeSeriesStore
from storage.influx import InfluxStore
from storage.sqlite import SqliteStore
from tests.ingest.helpers import (
    T0,
    dead_letters,
    native,
    publish,
    registry,
    running,
    stored,
    wait_acknowledged,
    wait_for,
)

NODES = ["n0", "n1", "n2", "n3"]


def stream(prefix: str, count: int) -> list[tuple[str, bytes]]:
    """``count`` native messages of 5 readings each, spread over four nodes, every reading distinct."""
    return [(f"{prefix}/panen/v1/c1/{NODES[i % 4]}/up", native(i, NODES[i % 4])) for i in range(count)]


def ingest_process(
    port: int, data_dir: Path, prefix: str, env: dict[str, str], *extra: str
) -> subprocess.Popen[bytes]:
    registry_file = data_dir / "registry.yaml"
    registry_file.write_text(
        yaml.safe_dump({"nodes": [{"id": n, "coop": "c1", "site": f"f{n[1:]}"} for n in NODES]})
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "panen",
            "ingest",
            "--metrics-port",
            "0",
            "--topic-prefix",
            f"{prefix}/",
            *extra,
        ],
        env={
            **os.environ,
            "PANEN_MQTT_URL": f"mqtt://127.0.0.1:{port}",
            "PANEN_DATA_DIR": str(data_dir),
            "PANEN_REGISTRY_FILE": str(registry_file),
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_subscribed(port: int, prefix: str, proc: subprocess.Popen[bytes]) -> None:
    """Wait until the ingest process reacts to a probe message (dead-lettered as an unknown node)."""
    from tests.ingest.helpers import publish as send

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        send(port, [(f"{prefix}/panen/v1/c1/probe/up", b"{}")], qos=0)
        time.sleep(0.3)
        if proc.stderr is not None and os.get_blocking(proc.stderr.fileno()):
            os.set_blocking(proc.stderr.fileno(), False)
        try:
            chunk = proc.stderr.read() if proc.stderr else b""
        except BlockingIOError:
            chunk = b""
        if chunk and b"connected to" in chunk:
            time.sleep(0.3)  # SUBACK follows CONNACK
            return
    raise AssertionError("ingest process did not connect")


@pytest.mark.parametrize("kind", ["sqlite", "influx"])
def test_kill_9_mid_stream_then_restart_stores_every_reading_once(
    kind: str,
    mosquitto_server: MosquittoServer,
    influx_server: InfluxServer,
    topic_prefix: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    env: dict[str, str] = {}
    store: TimeSeriesStore
    if kind == "influx":
        influx: InfluxStore = request.getfixturevalue("influx_store")
        env = {"PANEN_INFLUX_URL": influx_server.url, "PANEN_INFLUX_DB": influx.database}
        store = influx
    else:
        store = SqliteStore(tmp_path / "timeseries.sqlite3")
    messages = stream(topic_prefix, 20_000)
    client_id = ["--client-id", f"kill9-{topic_prefix}"]
    proc = ingest_process(mosquitto_server.port, tmp_path, topic_prefix, env, *client_id)
    wait_subscribed(mosquitto_server.port, topic_prefix, proc)
    publisher = threading.Thread(
        target=publish, args=(mosquitto_server.port, messages), kwargs={"rate_per_s": 4000}
    )
    publisher.start()
    wait_for(lambda: stored(store, NODES) > 10_000, 30, "a quarter of the stream stored")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    at_kill = stored(store, NODES)
    assert at_kill < 100_000, "the stream should still be running at the kill"
    publisher.join(60)
    proc = ingest_process(mosquitto_server.port, tmp_path, topic_prefix, env, *client_id)
    try:
        wait_for(lambda: stored(store, NODES) >= 100_000, 60, "every reading after the restart")
        time.sleep(1.0)  # anything extra would arrive now
        readings = [r for n in NODES for r in store.raw(start_ms=0, end_ms=2**62, node_id=n)]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    assert len(readings) == 100_000
    assert len({(r.node_id, r.metric, r.ts_ms) for r in readings}) == 100_000
    assert {r.ts_ms for r in readings} == {T0 + i * 1000 for i in range(20_000)}


def test_influx_down_10_s_during_a_stream_loses_nothing_and_drains_the_spool(
    mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    server = InfluxServer(tmp_path / "influxd")
    server.start()
    server.create_database()
    store = InfluxStore(server.url, timeout_s=5)
    try:
        with running(store, registry(), mosquitto_server.port, tmp_path / "ingest", topic_prefix) as service:
            messages = stream(topic_prefix, 8_000)  # 16 s at 500 messages/s
            publisher = threading.Thread(
                target=publish, args=(mosquitto_server.port, messages), kwargs={"rate_per_s": 500}
            )
            publisher.start()
            time.sleep(3)
            server.stop()
            time.sleep(10)
            spooled = service.spool.readings
            server.start()
            publisher.join(60)
            wait_for(
                lambda: service.spool.readings == 0 and stored(store, NODES) >= 40_000, 60, "spool drained"
            )
            assert spooled > 0, "the outage should have sent readings to the spool"
            assert service.metrics.spool_readings._value.get() == 0
        assert stored(store, NODES) == 40_000
        assert not list((tmp_path / "ingest" / "spool").glob("segment-*"))
    finally:
        store.close()
        server.stop()


GARBAGE_KINDS = {
    "random_bytes": "bad_json",
    "truncated_json": "bad_json",
    "nan_value": "nan",
    "huge": "too_large",
    "unknown_node": "unknown_node",
    "future": "future_timestamp",
    "wrong_topic": "bad_topic",
}


def garbage(kind: str, i: int, prefix: str, noise: bytes) -> tuple[str, bytes]:
    topic = f"{prefix}/panen/v1/c1/n1/up"
    if kind == "random_bytes":
        return topic, b"\xff" + noise
    if kind == "truncated_json":
        return topic, native(i, "n1")[: 5 + len(noise) % 20]
    if kind == "nan_value":
        return topic, f'{{"ts": {T0 + i}, "values": {{"air_temp_c": NaN}}}}'.encode()
    if kind == "huge":
        return topic, b'{"ts": 1, "values": {"x": "' + b"a" * (300 * 1024) + b'"}}'
    if kind == "unknown_node":
        return f"{prefix}/panen/v1/c1/intruder/up", native(i, "n1")
    if kind == "future":
        return topic, json.dumps(
            {"ts": int(time.time() * 1000) + 3 * 86_400_000, "values": {"air_temp_c": 1}}
        ).encode()
    return f"{prefix}/panen/v1/c1//up", native(i, "n1")  # matches panen/v1/+/+/up with an empty node


# Each example runs a real broker round trip: few examples, and no shrinking (a failure prints its example).
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    kinds=st.lists(st.sampled_from(sorted(GARBAGE_KINDS)), min_size=20, max_size=40),
    noise=st.binary(min_size=1, max_size=64),
)
def test_garbage_mixed_into_a_stream_is_dead_lettered_with_the_right_reason(
    kinds: list[str],
    noise: bytes,
    mosquitto_server: MosquittoServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    prefix = f"garbage-{time.monotonic_ns()}"
    data_dir = tmp_path_factory.mktemp("garbage")
    sqlite_store = SqliteStore(data_dir / "ts.sqlite3")
    valid = stream(prefix, 10 * len(kinds))  # 10 % garbage
    messages = list(valid)
    for n, kind in enumerate(kinds):
        messages.insert((n * 11) % len(messages), garbage(kind, 100_000 + n, prefix, noise))
    with running(sqlite_store, registry(), mosquitto_server.port, data_dir, prefix) as service:
        publish(mosquitto_server.port, messages)
        wait_for(lambda: stored(sqlite_store, NODES) >= len(valid) * 5, 30, "valid readings")
        wait_for(lambda: len(dead_letters(data_dir)) >= len(kinds), 10, "dead letters")
        assert service.connected
    assert stored(sqlite_store, NODES) == len(valid) * 5
    assert Counter(d["reason"] for d in dead_letters(data_dir)) == Counter(GARBAGE_KINDS[k] for k in kinds)


def test_two_workers_in_a_shared_group_split_the_stream(
    influx_store: InfluxStore, mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    reg = registry()
    group = f"g{topic_prefix[-6:]}"
    with (
        running(
            influx_store,
            reg,
            mosquitto_server.port,
            tmp_path / "a",
            topic_prefix,
            name="a",
            shared_group=group,
        ) as a,
        running(
            influx_store,
            reg,
            mosquitto_server.port,
            tmp_path / "b",
            topic_prefix,
            name="b",
            shared_group=group,
        ) as b,
    ):
        publish(mosquitto_server.port, stream(topic_prefix, 4_000))
        wait_for(lambda: stored(influx_store, NODES) >= 20_000, 30, "every reading")
        time.sleep(0.5)
        by_a = a.metrics.readings_stored._value.get()
        by_b = b.metrics.readings_stored._value.get()
    assert stored(influx_store, NODES) == 20_000
    # Each message went to exactly one worker: together they stored each reading once.
    assert by_a + by_b == 20_000
    assert by_a > 0
    assert by_b > 0


def test_bad_credentials_stop_ingest_with_a_clear_message(tmp_path: Path) -> None:
    from panen.devservices import find_binary

    passwd = tmp_path / "passwd"
    subprocess.run(
        [find_binary("mosquitto_passwd", "mosquitto"), "-c", "-b", str(passwd), "ingest", "right"], check=True
    )
    broker = MosquittoServer(tmp_path / "mq", extra_config=f"password_file {passwd}")
    broker.config_path.write_text(
        broker.config_path.read_text().replace("allow_anonymous true", "allow_anonymous false")
    )
    broker.start()
    try:
        (tmp_path / "reg.yaml").write_text("nodes: []\n")
        proc = subprocess.run(
            [sys.executable, "-m", "panen", "ingest", "--metrics-port", "0"],
            env={
                **os.environ,
                "PANEN_MQTT_URL": f"mqtt://ingest:wrong@127.0.0.1:{broker.port}",
                "PANEN_DATA_DIR": str(tmp_path / "data"),
                "PANEN_REGISTRY_FILE": str(tmp_path / "reg.yaml"),
            },
            capture_output=True,
            timeout=30,
        )
    finally:
        broker.stop()
    assert proc.returncode == 3
    assert b"PANEN_MQTT_URL" in proc.stderr
    assert b"refused" in proc.stderr


def test_registry_reload_admits_a_new_node(tmp_path: Path) -> None:
    path = tmp_path / "reg.yaml"
    path.write_text("nodes: [{id: a, coop: c, site: f}]\n")
    reg = NodeRegistry(path=path)
    assert reg.by_id("b") is None
    time.sleep(0.01)
    path.write_text(
        "nodes: [{id: a, coop: c, site: f}, {id: b, coop: c, site: g, format: tts-v3, dev_eui: AB01}]\n"
    )
    os.utime(path, (time.time() + 1, time.time() + 1))
    assert reg.refresh()
    assert reg.by_dev_eui("ab01") == reg.by_id("b")


def test_broker_restart_mid_stream_then_every_later_reading_is_stored(
    tmp_path: Path, sqlite_store: SqliteStore
) -> None:
    """Ingest reads the socket through a buffer: after a reconnect nothing of the old connection may
    be read as the new one's (a corrupt stream would drop the connection or mis-decode)."""
    broker = MosquittoServer(tmp_path / "mq")
    broker.start()
    try:
        with running(sqlite_store, registry(), broker.port, tmp_path / "ingest", "rs") as service:
            publish(
                broker.port, [(f"rs/panen/v1/c1/n{i % 4}/up", native(i, f"n{i % 4}")) for i in range(4000)]
            )
            wait_for(lambda: stored(sqlite_store, ["n0", "n1", "n2", "n3"]) == 20_000, 60, "first half")
            broker.stop()
            wait_for(lambda: not service.connected, 20, "ingest to notice")
            broker.start()
            wait_for(
                lambda: service.connected and service.subscribed.is_set(), 60, "reconnect and resubscribe"
            )
            time.sleep(0.5)
            publish(
                broker.port,
                [(f"rs/panen/v1/c1/n{i % 4}/up", native(i, f"n{i % 4}")) for i in range(4000, 8000)],
            )
            wait_for(lambda: stored(sqlite_store, ["n0", "n1", "n2", "n3"]) == 40_000, 60, "second half")
            assert dead_letters(tmp_path / "ingest") == []
    finally:
        broker.stop()


def redelivered(port: int, client_id: str) -> list[str]:
    """Topics the broker still holds for ``client_id``'s persistent session (resumed for 2 s)."""
    topics: list[str] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, msg: topics.append(msg.topic)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 60
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    try:
        time.sleep(2)
    finally:
        client.loop_stop()
        client.disconnect()
    return topics


def test_every_stored_message_is_acknowledged_to_the_broker(
    tmp_path: Path, sqlite_store: SqliteStore, mosquitto_server: MosquittoServer, topic_prefix: str
) -> None:
    """Acknowledgements go out batched (one write for a batch's PUBACKs): the broker must count every
    message as delivered, so the session holds nothing to redeliver once ingest has stopped."""
    started = time.time()
    with running(sqlite_store, registry(), mosquitto_server.port, tmp_path, topic_prefix) as service:
        publish(mosquitto_server.port, stream(topic_prefix, 3_000))
        wait_for(lambda: stored(sqlite_store, NODES) == 15_000, 60, "every reading")
        wait_acknowledged(service)
        assert service.metrics.last_stored._value.get() >= started
        client_id = service.config.client_id
    assert redelivered(mosquitto_server.port, client_id) == []


def test_a_lone_message_is_flushed_when_the_stream_pauses_not_at_the_batch_age(
    tmp_path: Path, sqlite_store: SqliteStore, mosquitto_server: MosquittoServer, topic_prefix: str
) -> None:
    """A node reporting every 15 minutes sends one message at a time: it must not wait for a full
    batch or the batch age (set to 60 s here), only for the stream to pause (20 ms)."""
    with running(
        sqlite_store, registry(), mosquitto_server.port, tmp_path, topic_prefix, batch_age_s=60.0
    ) as service:
        publish(mosquitto_server.port, [(f"{topic_prefix}/panen/v1/c1/n0/up", native(0))])
        wait_for(lambda: stored(sqlite_store, ["n0"]) == 5, 20, "the lone message's readings")
        assert service.metrics.write_seconds._sum.get() > 0


def test_an_unwritable_dead_letter_log_costs_its_lines_not_the_stream(
    tmp_path: Path, sqlite_store: SqliteStore, mosquitto_server: MosquittoServer, topic_prefix: str
) -> None:
    """A full or broken disk under the dead-letter log must not stop ingest: the valid readings are
    stored and every message acknowledged (a small Receive Maximum makes a stall show at once)."""
    (tmp_path / "deadletters.jsonl").mkdir()  # opening it for append fails, as on a broken disk
    messages = [
        (f"{topic_prefix}/panen/v1/c1/{'ghost' if i % 3 == 0 else f'n{i % 4}'}/up", native(i, f"n{i % 4}"))
        for i in range(600)
    ]
    valid = sum(1 for topic, _ in messages if "/ghost/" not in topic)
    with running(
        sqlite_store, registry(), mosquitto_server.port, tmp_path, topic_prefix, receive_maximum=50
    ) as service:
        publish(mosquitto_server.port, messages)
        wait_for(lambda: stored(sqlite_store, NODES) == valid * 5, 30, "every valid reading")
        wait_acknowledged(service)
        assert service.metrics.dead_letters.labels("unknown_node")._value.get() == 200
        assert service.metrics.dead_log_errors._value.get() > 0


def test_a_failed_batch_is_redelivered_through_a_new_connection(
    tmp_path: Path, sqlite_store: SqliteStore, mosquitto_server: MosquittoServer, topic_prefix: str
) -> None:
    """A bug failing a batch after its readings were stored leaves its messages unacknowledged; the
    broker redelivers them only on a new connection, so ingest reconnects. (The failure is injected:
    no real service produces it.)"""
    with running(sqlite_store, registry(), mosquitto_server.port, tmp_path, topic_prefix) as service:
        counter = service.metrics.readings_implausible
        real_inc = counter.inc
        failures = []

        def failing_inc(amount: float = 1) -> None:
            if not failures:
                failures.append(amount)
                raise RuntimeError("injected")
            real_inc(amount)

        counter.inc = failing_inc  # type: ignore[method-assign]
        first_connect = service.metrics.last_connect._value.get()
        publish(mosquitto_server.port, stream(topic_prefix, 500))
        wait_for(lambda: service.metrics.last_connect._value.get() > first_connect, 20, "a reconnect")
        wait_for(lambda: stored(sqlite_store, NODES) == 2_500, 30, "every reading")
        wait_for(lambda: service.connected, 20, "the new connection")
        wait_acknowledged(service)
    assert failures
    # Nothing is left for the session to redeliver once ingest stopped.
    assert redelivered(mosquitto_server.port, service.config.client_id) == []
