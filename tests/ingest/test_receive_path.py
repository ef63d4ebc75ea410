"""Ingest's lean receive path (``ingest.client.BufferedClient``): every PUBLISH comes out as paho
would have decoded it, whatever the protocol, properties, sizes and the way TCP cuts the stream;
every other packet still reaches paho's own handler, in order.

Packets are encoded by paho itself (its ``_send_publish`` writing to a real socket pair), so the
oracle is not ours; and a real Mosquitto delivers a stream of every size across the 64 KiB reads.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.client import BrokerConnection, BufferedClient, ConnectionSettings, Publish
from ingest.nodes import NodeRegistry
from ingest.pipeline import decode_message
from panen.devservices import MosquittoServer
from sensors.topics import MqttTarget

PINGRESP = b"\xd0\x00"


@contextmanager
def _pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def _encoded(
    protocol: MQTTProtocolVersion, topic: str, payload: bytes, qos: int, mid: int, props: Properties | None
) -> bytes:
    """The PUBLISH packet paho's own encoder writes for these fields."""
    encoder = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=protocol)
    with _pair() as (a, b):
        encoder._sock = a  # type: ignore[assignment]
        encoder._send_publish(
            mid, topic.encode(), payload, qos, info=mqtt.MQTTMessageInfo(mid), properties=props
        )
        while encoder.want_write():
            encoder.loop_write()
        encoder._sock = None
        b.setblocking(False)
        out = bytearray()
        while True:
            try:
                chunk = b.recv(1 << 20)
            except BlockingIOError:
                break
            out += chunk
    return bytes(out)


def _properties(
    content_type: str | None, user: list[tuple[str, str]], expiry: int | None
) -> Properties | None:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if content_type is not None:
        props.ContentType = content_type
    if user:
        props.UserProperty = user
    if expiry is not None:
        props.MessageExpiryInterval = expiry
    return props


TOPICS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00+#"),
    min_size=1,
    max_size=60,
)
MESSAGES = st.lists(
    st.tuples(
        TOPICS,
        st.binary(max_size=3000) | st.binary(min_size=70_000, max_size=70_100),
        st.sampled_from([0, 1]),
        st.integers(min_value=1, max_value=65_535),
        st.none() | st.text(max_size=20),
        st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=3),
        st.none() | st.integers(min_value=0, max_value=2**32 - 1),
        st.booleans(),  # a PINGRESP after this message
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    messages=MESSAGES,
    v5=st.booleans(),
    cuts=st.lists(st.integers(min_value=1, max_value=70_000), min_size=1, max_size=30),
)
def test_publishes_come_out_as_paho_encoded_them_however_tcp_cuts_the_stream(
    messages: list[tuple[str, bytes, int, int, str | None, list[tuple[str, str]], int | None, bool]],
    v5: bool,
    cuts: list[int],
) -> None:
    protocol = MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311
    stream = bytearray()
    expected: list[Publish] = []
    pings = 0
    for topic, payload, qos, mid, content_type, user, expiry, ping in messages:
        props = _properties(content_type, user, expiry) if v5 else None
        stream += _encoded(protocol, topic, payload, qos, mid, props)
        expected.append(Publish(topic, payload, mid if qos else 0, qos))
        if ping:
            stream += PINGRESP
            pings += 1
    client = BufferedClient(CallbackAPIVersion.VERSION2, protocol=protocol)
    got: list[Publish] = []
    handed: list[int] = []  # how many publishes each call handed on
    client.on_publishes = lambda ps: (got.extend(ps), handed.append(len(ps)))
    pongs = 0

    def pingresp() -> MQTTErrorCode:
        nonlocal pongs
        pongs += 1
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    client._handle_pingresp = pingresp  # type: ignore[method-assign]
    with _pair() as (tx, rx):
        rx.setblocking(False)
        client._sock = rx  # type: ignore[assignment]
        pos, i = 0, 0
        while pos < len(stream):
            step = cuts[i % len(cuts)]
            i += 1
            tx.sendall(stream[pos : pos + step])
            pos += step
            while client._packet_read() == MQTTErrorCode.MQTT_ERR_SUCCESS:
                pass
        client._sock = None
    assert got == expected
    assert pongs == pings
    assert all(n > 0 for n in handed)


def _read_once(client: BufferedClient, data: bytes) -> MQTTErrorCode:
    """``data`` arrives on the client's socket; one ``_packet_read``'s answer."""
    with _pair() as (tx, rx):
        rx.setblocking(False)
        client._sock = rx  # type: ignore[assignment]
        tx.sendall(data)
        try:
            return client._packet_read()
        finally:
            client._sock = None


def test_a_pingresp_between_publishes_is_paho_s_and_keeps_their_order() -> None:
    stream = (
        _encoded(MQTTProtocolVersion.MQTTv5, "a", b"1", 1, 7, None)
        + PINGRESP
        + _encoded(MQTTProtocolVersion.MQTTv5, "b", b"2", 1, 8, None)
    )
    client = BufferedClient(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    events: list[object] = []
    client.on_publishes = lambda ps: events.append([p.topic for p in ps])
    client._handle_pingresp = lambda: events.append("pingresp") or MQTTErrorCode.MQTT_ERR_SUCCESS  # type: ignore[method-assign,func-returns-value]
    assert _read_once(client, stream) == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert events == [["a"], "pingresp", ["b"]]


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x32\xff\xff\xff\xff\x01",  # a remaining length of five bytes
        b"\x32\x03\x00\x09a",  # a topic longer than the packet
        b"\x32\x03\x00\x01a",  # QoS 1 without its packet identifier
    ],
)
def test_a_malformed_packet_is_a_protocol_error_not_a_crash(garbage: bytes) -> None:
    client = BufferedClient(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.on_publishes = lambda ps: None
    assert _read_once(client, garbage) == MQTTErrorCode.MQTT_ERR_PROTOCOL


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_real_broker_s_stream_arrives_whole_across_reads(
    mosquitto_server: MosquittoServer, topic_prefix: str, protocol: str
) -> None:
    """Messages of every size from 0 B to 200 KiB at QoS 0 and 1, with v5 properties, through
    Mosquitto: each arrives once, byte for byte, in order per QoS."""
    target = MqttTarget("127.0.0.1", mosquitto_server.port, protocol=protocol)
    got: list[Publish] = []
    stop = threading.Event()
    connection = BrokerConnection(
        ConnectionSettings(
            mqtt=target,
            client_id=f"rx-{topic_prefix}-{protocol}",
            subscriptions=(f"{topic_prefix}/#",),
            receive_maximum=1000,
            session_expiry_s=60,
            keepalive_s=30,
            backoff_min_s=0.05,
            backoff_max_s=0.2,
        ),
        on_publishes=lambda ps: (got.extend(ps), connection.client.ack_all([p.mid for p in ps if p.qos])),
        on_state=lambda _up: None,
        stop=stop,
    )
    loop = threading.Thread(target=connection.loop)
    loop.start()
    try:
        assert connection.subscribed.wait(10)
        sizes = [0, 1, 100, 65_535, 65_536, 65_537, 200_000] + [150] * 500
        sent = []
        infos = []
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.connect("127.0.0.1", mosquitto_server.port)
        pub.loop_start()
        props = _properties("application/json", [("k", "v")], 3600)
        for i, size in enumerate(sizes):
            payload = bytes([i % 251]) * size
            qos = i % 2
            topic = f"{topic_prefix}/n{i % 7}/ü"
            sent.append(Publish(topic, payload, 0, qos))
            infos.append(pub.publish(topic, payload, qos=qos, properties=props))
        for info in infos:
            info.wait_for_publish(10)
        pub.loop_stop()
        pub.disconnect()
        deadline = time.monotonic() + 20
        while len(got) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(10)
        connection.close()
    for qos in (0, 1):  # a QoS 0 message may pass a queued QoS 1 one; each QoS keeps its order
        assert [(p.topic, p.payload) for p in got if p.qos == qos] == [
            (p.topic, p.payload) for p in sent if p.qos == qos
        ]
    assert len(got) == len(sent)
    assert all(p.mid > 0 for p in got if p.qos == 1)


def test_a_topic_that_is_not_utf8_becomes_a_dead_letter_not_a_crash() -> None:
    """A broker that let an invalid UTF-8 topic through (MQTT forbids it): the receive path reads it
    with replacement characters and the pipeline refuses it with a reason, keeping its topic."""
    encoder = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    with _pair() as (a, b):
        encoder._sock = a  # type: ignore[assignment]
        encoder._send_publish(
            9,
            b"panen/v1/c1/\xff\xfe/up",
            b'{"values": {"air_temp_c": 20.0}}',
            1,
            info=mqtt.MQTTMessageInfo(9),
        )
        while encoder.want_write():
            encoder.loop_write()
        encoder._sock = None
        packet = b.recv(1 << 16)
    client = BufferedClient(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    got: list[Publish] = []
    client.on_publishes = got.extend
    assert _read_once(client, packet) == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert [(p.topic, p.mid) for p in got] == [("panen/v1/c1/\ufffd\ufffd/up", 9)]
    result = decode_message(
        got[0].topic, got[0].payload, arrival_ms=1_784_000_000_000, registry=NodeRegistry([])
    )
    assert result.readings == []
    assert [(d.reason, d.topic) for d in result.dead] == [("unknown_node", "panen/v1/c1/\ufffd\ufffd/up")]
