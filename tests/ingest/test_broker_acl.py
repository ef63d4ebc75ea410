"""`panen broker-config` on a real Mosquitto: anonymous refused, a node publishes only to its own
topics, ingest reads and stores what the node may send."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from ingest.service import IngestConfig, IngestService
from panen.cli import app
from panen.devservices import MosquittoServer
from panen.settings import get_settings
from sensors.topics import MqttTarget
from services.broker_config import hash_password
from storage.fleetfile import node_password
from storage.sqlite import SqliteStore
from tests.ingest.helpers import native, wait_for

SECRET = "acl-test-secret"


@pytest.fixture
def secured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MosquittoServer]:
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(
        "nodes:\n"
        "  - {id: n0, coop: c1, site: f0}\n"
        "  - {id: n1, coop: c1, site: f1}\n"
        "  - {id: lse, coop: c1, site: f2, format: tts-v3, dev_eui: a84041000000b002,\n"
        "     profile: dragino-lse01}\n"
    )
    monkeypatch.setenv("PANEN_FLEET_SECRET", SECRET)
    monkeypatch.setenv("PANEN_MQTT_URL", "mqtt://ingest:ingest-pw@127.0.0.1:1883")
    monkeypatch.setenv("PANEN_REGISTRY_FILE", str(nodes))
    get_settings.cache_clear()
    out = tmp_path / "broker"
    secrets = tmp_path / "node-passwords.csv"
    result = CliRunner().invoke(
        app, ["broker-config", str(out), "--fleet-file", str(nodes), "--node-passwords", str(secrets)]
    )
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    passwd = (out / "passwd").read_text()
    assert "ingest-pw" not in passwd
    assert SECRET not in passwd
    assert {line.split(":")[0] for line in passwd.splitlines()} == {"ingest", "n0", "n1"}
    assert f"n0,c1,n0,{node_password('n0', SECRET)}" in secrets.read_text()
    assert secrets.stat().st_mode & 0o077 == 0
    server = MosquittoServer(
        tmp_path / "mq",
        extra_config=f"allow_anonymous false\npassword_file {out / 'passwd'}\nacl_file {out / 'acl'}\n",
    )
    server.start()
    yield server
    server.stop()


def _client(port: int, user: str | None, password: str | None) -> tuple[mqtt.Client, list[object]]:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{time.time_ns()}", protocol=mqtt.MQTTv5
    )
    if user:
        client.username_pw_set(user, password)
    events: list[object] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: events.append(("connack", reason))
    client.on_publish = lambda _c, _u, mid, reason, _p: events.append(("puback", mid, reason))
    client.connect("127.0.0.1", port)
    client.loop_start()
    wait_for(lambda: any(e[0] == "connack" for e in events), 10, "CONNACK")  # type: ignore[index]
    return client, events


def test_hash_is_mosquittos() -> None:
    # Checked against `mosquitto_passwd -b` (Mosquitto 2.0.11) for user alice, password "secret".
    import base64

    salt = base64.b64decode("FXgjgOY6kZp9HFJ2")
    assert hash_password("secret", salt=salt) == (
        "$7$101$FXgjgOY6kZp9HFJ2$tYsZMj9nldzN0B67dtaiUsn8UVHOnMlsSyf+OTUMeg3shIiRZmdeAwhKCjMXjVBsTZX1PQ6+Bv7h3nlb/rmYLw=="
    )


def test_nodes_publish_only_to_their_own_topics(secured: MosquittoServer, tmp_path: Path) -> None:
    from tests.ingest.helpers import registry

    anonymous, events = _client(secured.port, None, None)
    assert events[0][1].is_failure  # type: ignore[index,union-attr]
    anonymous.loop_stop()
    wrong, events = _client(secured.port, "n0", "not-the-password")
    assert events[0][1].is_failure  # type: ignore[index,union-attr]
    wrong.loop_stop()

    store = SqliteStore(tmp_path / "ts.sqlite3")
    cfg = IngestConfig(
        mqtt=MqttTarget("127.0.0.1", secured.port, "ingest", "ingest-pw"),
        data_dir=tmp_path / "ingest",
        batch_age_s=0.05,
    )
    service = IngestService(cfg, store=store, registry=registry(nodes=2))
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        assert service.subscribed.wait(10)
        node, events = _client(secured.port, "n0", node_password("n0", SECRET))
        assert not events[0][1].is_failure  # type: ignore[index,union-attr]
        own = node.publish("panen/v1/c1/n0/up", native(1, "n0"), qos=1)
        other = node.publish("panen/v1/c1/n1/up", native(2, "n1"), qos=1)
        wait_for(lambda: len([e for e in events if e[0] == "puback"]) == 2, 10, "both PUBACKs")
        acks = {e[1]: e[2] for e in events if e[0] == "puback"}  # type: ignore[index]
        assert not acks[own.mid].is_failure  # type: ignore[union-attr]
        assert acks[other.mid].is_failure  # type: ignore[union-attr]
        assert str(acks[other.mid]) == "Not authorized"
        wait_for(lambda: len(store.raw(start_ms=0, end_ms=2**62, node_id="n0")) == 5, 20, "n0 stored")
        time.sleep(0.5)  # anything n1's topic carried would be stored by now
        assert store.raw(start_ms=0, end_ms=2**62, node_id="n1") == []
        node.loop_stop()
    finally:
        service.stop()
        thread.join(20)
        store.close()
