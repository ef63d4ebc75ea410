"""MQTT topics ingest subscribes to, and the routing of a topic to its payload format."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["DEAD_LETTER_ROOT", "Format", "Route", "dead_letter_topic", "route", "subscriptions"]

DEAD_LETTER_ROOT = "panen/v1/_dead"


class Format(StrEnum):
    """Payload formats ingest understands."""

    NATIVE = "native"
    SENML = "senml"
    TTS_V3 = "tts-v3"
    CHIRPSTACK_V4 = "chirpstack-v4"


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


def route(topic: str, prefix: str = "") -> Route | None:
    """The route of ``topic``, or ``None`` if it is not one of ours (after removing ``prefix``)."""
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
