"""The embedded broker says why it refused a client (issue 40). Found on main: it refused an
anonymous publisher with nothing in ``broker.log``."""

from __future__ import annotations

import time
from pathlib import Path

import paho.mqtt.client as mqtt

from panen.broker import EmbeddedBroker
from panen.devservices import free_port


def _connect(port: int, username: str | None, client_id: str) -> int:
    """The broker's answer to a connection (0: accepted)."""
    answers: list[int] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    if username is not None:
        client.username_pw_set(username, "x")
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.append(reason.value)
    client.connect("127.0.0.1", port)
    client.loop_start()
    deadline = time.monotonic() + 10
    while not answers and time.monotonic() < deadline:
        time.sleep(0.05)
    client.loop_stop()
    client.disconnect()
    assert answers, "no answer from the broker"
    return answers[0]


def test_a_refused_client_is_named_in_the_broker_log(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    broker = EmbeddedBroker("127.0.0.1", free_port(), log_file=log)
    broker.start()
    try:
        assert _connect(broker.port, None, "anonymous-sensor") != 0
        assert _connect(broker.port, "oro-oro-ombo-n01", "oro-oro-ombo-n01") == 0
    finally:
        broker.stop()
    text = log.read_text()
    assert "refused client 'anonymous-sensor' from 127.0.0.1" in text, text
    assert "no user name" in text
    assert "oro-oro-ombo-n01" not in text  # an admitted client is not logged
