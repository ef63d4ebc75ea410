"""MQTT topics, payload formats and broker URLs: defined once, for ingest, the simulator, the API and
the CLI alike.

- :class:`Format`: the payload formats panen reads (native JSON, SenML, The Things Stack v3,
  ChirpStack v4), whose values are the registry's ``node.format`` names;
- topic templates (:func:`uplink_topic`, :func:`status_topic`, :func:`tts_uplink_topic`,
  :func:`chirpstack_uplink_topic`, :func:`dead_letter_topic`), the filters ingest subscribes to
  (:func:`subscriptions`) and the routing of a topic to its format (:func:`route`);
- :class:`MqttTarget` and :func:`parse_mqtt_url`: where a broker is and how to log in.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs, unquote, urlsplit

from paho.mqtt.enums import MQTTProtocolVersion

__all__ = [
    "CHIRPSTACK_ROOT",
    "DEAD_LETTER_ROOT",
    "LORAWAN_FORMATS",
    "MQTT_NATIVE_FORMATS",
    "TTS_ROOT",
    "Format",
    "MqttTarget",
    "Route",
    "chirpstack_uplink_topic",
    "dead_letter_topic",
    "node_topic_root",
    "parse_mqtt_url",
    "route",
    "status_topic",
    "subscriptions",
    "tts_uplink_topic",
    "uplink_topic",
]

DEAD_LETTER_ROOT = "panen/v1/_dead"
# The topic trees of the LoRaWAN network servers' MQTT integrations.
TTS_ROOT = "v3"
CHIRPSTACK_ROOT = "application"


class Format(StrEnum):
    """Payload formats ingest understands."""

    NATIVE = "native"
    SENML = "senml"
    TTS_V3 = "tts-v3"
    CHIRPSTACK_V4 = "chirpstack-v4"


# Nodes that speak MQTT themselves (and so have broker users of their own), and LoRaWAN nodes,
# whose network server relays their uplinks and which are found by DevEUI.
MQTT_NATIVE_FORMATS = frozenset({Format.NATIVE, Format.SENML})
LORAWAN_FORMATS = frozenset({Format.TTS_V3, Format.CHIRPSTACK_V4})


def node_topic_root(coop_id: str, node_id: str, prefix: str = "") -> str:
    """``panen/v1/{coop}/{node}``: the topics a native or SenML node may publish below."""
    return f"{prefix}panen/v1/{coop_id}/{node_id}"


def uplink_topic(fmt: Format | str, coop_id: str, node_id: str, prefix: str = "") -> str:
    """Where a native (``…/up``) or SenML (``…/senml``) node publishes its readings."""
    leaf = {Format.NATIVE: "up", Format.SENML: "senml"}[Format(fmt)]
    return f"{node_topic_root(coop_id, node_id, prefix)}/{leaf}"


def status_topic(coop_id: str, node_id: str, prefix: str = "") -> str:
    """A live node's ``online`` / ``offline`` (last will) status topic."""
    return f"{node_topic_root(coop_id, node_id, prefix)}/status"


def tts_uplink_topic(app_id: str, tenant: str, device_id: str, prefix: str = "") -> str:
    """Where The Things Stack v3 publishes a device's uplink."""
    return f"{prefix}{TTS_ROOT}/{app_id}@{tenant}/devices/{device_id}/up"


def chirpstack_uplink_topic(app_id: str, dev_eui: str, prefix: str = "", event: str = "up") -> str:
    """Where ChirpStack v4 publishes a device's event (``up`` or ``status``)."""
    return f"{prefix}{CHIRPSTACK_ROOT}/{app_id}/device/{dev_eui}/event/{event}"


@dataclass(frozen=True, slots=True)
class Route:
    """What a topic says about its message.

    Attributes:
        format: The payload format.
        coop_id: Cooperative named in the topic (native and SenML only).
        node_id: Node named in the topic (native, SenML) or "" (LoRaWAN: found by DevEUI).
        dev_eui: DevEUI in the topic (ChirpStack), lower-case, or "".
        event: ChirpStack event (``up`` or ``status``), else "up".
    """

    format: Format
    coop_id: str = ""
    node_id: str = ""
    dev_eui: str = ""
    event: str = "up"


_SUBSCRIPTIONS = (
    "panen/v1/+/+/up",
    "panen/v1/+/+/senml",
    "v3/+/devices/+/up",
    "application/+/device/+/event/up",
    "application/+/device/+/event/status",
)


def subscriptions(prefix: str = "", shared_group: str | None = None) -> list[str]:
    """Topic filters to subscribe to; ``prefix`` (e.g. ``"site-a/"``) is put before each one."""
    filters = [prefix + f for f in _SUBSCRIPTIONS]
    if shared_group:
        filters = [f"$share/{shared_group}/{f}" for f in filters]
    return filters


def dead_letter_topic(reason: str, prefix: str = "") -> str:
    """Where a dead letter of ``reason`` is republished."""
    return f"{prefix}{DEAD_LETTER_ROOT}/{reason}"


@functools.lru_cache(maxsize=65_536)
def route(topic: str, prefix: str = "") -> Route | None:
    """The route of ``topic``, or ``None`` if it is not one of ours (after removing ``prefix``).

    Cached: a fleet's nodes publish on the same topics again and again, and a flood of new topics
    only evicts the oldest. (A :class:`Route` is frozen.)
    """
    if prefix:
        if not topic.startswith(prefix):
            return None
        topic = topic[len(prefix) :]
    parts = topic.split("/")
    n = len(parts)
    if n == 5 and parts[0] == "panen" and parts[1] == "v1" and parts[2] and parts[3] and parts[2] != "_dead":
        if parts[4] == "up":
            return Route(Format.NATIVE, coop_id=parts[2], node_id=parts[3])
        if parts[4] == "senml":
            return Route(Format.SENML, coop_id=parts[2], node_id=parts[3])
    if n == 5 and parts[0] == "v3" and parts[2] == "devices" and parts[4] == "up":
        return Route(Format.TTS_V3)
    chirpstack = n == 6 and parts[0] == "application" and parts[2] == "device" and parts[4] == "event"
    if chirpstack and parts[5] in ("up", "status") and parts[3]:
        return Route(Format.CHIRPSTACK_V4, dev_eui=parts[3].lower(), event=parts[5])
    return None


@dataclass(frozen=True)
class MqttTarget:
    """Where the broker is and how to log in."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    # "5" (default) or "3.1.1" for brokers without MQTT v5, such as the embedded amqtt.
    protocol: str = "5"

    @property
    def paho_protocol(self) -> MQTTProtocolVersion:
        """paho's protocol constant."""
        return MQTTProtocolVersion.MQTTv5 if self.protocol == "5" else MQTTProtocolVersion.MQTTv311


def parse_mqtt_url(url: str) -> MqttTarget:
    """``mqtt://user:pass@host:1883`` or ``mqtts://…:8883`` (TLS) into a :class:`MqttTarget`.

    ``?protocol=3.1.1`` selects MQTT 3.1.1 for brokers without v5 (the default is 5).

    Raises:
        ValueError: the URL is not an MQTT URL; the message says what is wrong.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT URL {url!r} must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"MQTT URL {url!r} names no host")
    query = parse_qs(parts.query)
    protocol = query.pop("protocol", ["5"])[-1]
    if protocol not in ("5", "3.1.1"):
        raise ValueError(f"MQTT URL {url!r}: protocol must be 5 or 3.1.1, not {protocol!r}")
    if query:
        raise ValueError(f"MQTT URL {url!r}: unknown parameter(s) {sorted(query)}; only 'protocol' is known")
    tls = parts.scheme in ("mqtts", "ssl")
    return MqttTarget(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
        protocol=protocol,
    )
