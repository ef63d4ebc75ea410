"""The real broker the tests use answers MQTT v5 with QoS 1 (paho-mqtt 2.x)."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from panen.devservices import MosquittoServer


def test_mosquitto_round_trip_qos1(mosquitto_server: MosquittoServer, topic_prefix: str) -> None:
    got: list[bytes] = []
    subscribed = threading.Event()
    received = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_message = lambda c, u, msg: (got.append(msg.payload), received.set())
    sub.connect("127.0.0.1", mosquitto_server.port)
    sub.subscribe(f"{topic_prefix}/#", qos=1)
    sub.loop_start()
    assert subscribed.wait(5)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", mosquitto_server.port)
    pub.loop_start()
    pub.publish(f"{topic_prefix}/x", b"halo", qos=1).wait_for_publish(5)
    assert received.wait(5)
    assert got == [b"halo"]
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
