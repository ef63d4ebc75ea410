"""From one MQTT message to stored readings and dead letters: the pure heart of ingest.

:func:`decode_message` never raises on a payload: whatever is wrong becomes a
:class:`DeadLetter` with a stable reason, and the good readings of a partly bad message are kept.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ingest.nodes import NodeRegistry, RegisteredNode
from sensors import Quality, Reading, make_readings
from sensors.codecs import (
    CodecError,
    Decoded,
    decode_chirpstack_v4,
    decode_native,
    decode_senml,
    decode_tts_v3,
    parse_json,
    tts_dev_eui,
)
from sensors.profiles import ProfileLibrary
from sensors.topics import Format, Route, route

__all__ = ["MAX_PAYLOAD_BYTES", "DeadLetter", "MessageResult", "decode_message"]

# Larger payloads are refused before parsing: a node's flash backlog in one message is a few tens
# of KiB, and parsing megabytes of hostile JSON would stall the whole ingest batch.
MAX_PAYLOAD_BYTES = 256 * 1024
# How much of a refused payload is kept in its dead letter.
_DEAD_PAYLOAD_BYTES = 4096
# A message's refusals become one letter; it lists the first of them and counts all by reason, so a
# message with 10,000 unknown keys is one line of the log and one republish, not 10,000.
MAX_LISTED_REFUSALS = 20


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A refused message or reading, with what is needed to understand and replay it."""

    reason: str
    detail: str
    topic: str
    received_ms: int
    node_id: str = ""
    payload: bytes = b""
    sample: dict[str, Any] | None = None
    # When one letter stands for several refusals of one message: how many per reason, and the
    # first MAX_LISTED_REFUSALS after the first (reason, detail and sample each).
    counts: Mapping[str, int] | None = None
    more: tuple[dict[str, Any], ...] = ()

    @property
    def reasons(self) -> Mapping[str, int]:
        """How many refusals of each reason this letter stands for."""
        return self.counts or {self.reason: 1}

    def to_json(self) -> str:
        """One JSON object: reason, detail, topic, time, node, and the payload or the refused sample
        (with ``counts`` and ``refused`` when the message was refused in several places)."""
        body: dict[str, Any] = {
            "reason": self.reason,
            "detail": self.detail,
            "topic": self.topic,
            "received_ms": self.received_ms,
            "node_id": self.node_id,
        }
        if self.sample is not None:
            body["sample"] = self.sample
        if self.counts is not None:
            body["counts"] = dict(self.counts)
            body["refused"] = list(self.more)
            listed = 1 + len(self.more)
            if sum(self.counts.values()) > listed:
                body["refused_not_listed"] = sum(self.counts.values()) - listed
        if self.payload:
            try:
                body["payload"] = self.payload.decode()
            except UnicodeDecodeError:
                body["payload_b64"] = base64.b64encode(self.payload).decode()
            if len(self.payload) >= _DEAD_PAYLOAD_BYTES:
                body["payload_truncated"] = True
        return json.dumps(body, default=repr)


@dataclass(slots=True)
class MessageResult:
    """What one message yielded."""

    format: str = "unknown"
    readings: list[Reading] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    skipped: int = 0

    @property
    def implausible(self) -> int:
        """How many of the readings are flagged implausible."""
        return sum(1 for r in self.readings if r.quality is Quality.IMPLAUSIBLE)


def _jsonable(value: object) -> object:
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
    return repr(value)[:200]


def decode_message(
    topic: str,
    payload: bytes | bytearray,
    *,
    arrival_ms: int,
    registry: NodeRegistry,
    prefix: str = "",
    profiles: ProfileLibrary | None = None,
) -> MessageResult:
    """Decode, attribute and validate one message. Never raises on bad input.

    Args:
        topic: The MQTT topic the message arrived on.
        payload: The raw payload.
        arrival_ms: When ingest received it [ms since epoch, UTC]; also the "now" for validation.
        registry: Node registry for attribution and LoRaWAN profiles.
        prefix: Topic prefix ingest subscribed with (stripped before routing).
        profiles: LoRaWAN device profiles (default: the shipped library).
    """
    result = MessageResult()
    refusals: list[tuple[str, str, dict[str, Any] | None]] = []

    def dead(reason: str, detail: str, node_id: str = "") -> MessageResult:
        result.dead.append(
            DeadLetter(reason, detail, topic, arrival_ms, node_id, bytes(payload[:_DEAD_PAYLOAD_BYTES]))
        )
        return result

    where = route(topic, prefix)
    if where is None:
        return dead(
            "bad_topic", f"topic {topic[:120]!r} is not a panen, TTS v3 or ChirpStack v4 uplink topic"
        )
    result.format = where.format.value
    if len(payload) > MAX_PAYLOAD_BYTES:
        return dead("too_large", f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        message = parse_json(payload)
        node = _attribute(where, message, registry)
        decoded = _decode(where, node, message, arrival_ms, profiles)
    except CodecError as exc:
        return dead(exc.reason, exc.detail, where.node_id)
    except RecursionError:
        return dead("bad_payload", "payload nests too deeply", where.node_id)
    result.skipped = decoded.skipped
    result.readings, refused = make_readings(
        node.node_id, node.coop_id, node.site_id, decoded.samples, arrival_ms
    )
    if decoded.problems or refused:  # the common message has neither
        refusals += [(p.reason, p.detail, None) for p in decoded.problems]
        for (metric, value, ts_ms), rejection in refused:
            sample = {"metric": _jsonable(metric), "value": _jsonable(value), "ts": _jsonable(ts_ms)}
            refusals.append((rejection.reason.value, rejection.detail, sample))
        result.dead.append(_letter(refusals, topic, arrival_ms, node.node_id, payload))
    if not result.readings and not result.dead and not result.skipped:
        # Nothing to store and nothing wrong in detail: still say so, it is a firmware bug to see.
        dead("empty", "message carries no readings", node.node_id)
    return result


def _letter(
    refusals: list[tuple[str, str, dict[str, Any] | None]],
    topic: str,
    arrival_ms: int,
    node_id: str,
    payload: bytes | bytearray,
) -> DeadLetter:
    """One letter for all of a message's refusals: the first in full, the rest counted and listed."""
    reason, detail, sample = refusals[0]
    if len(refusals) == 1:
        return DeadLetter(reason, detail, topic, arrival_ms, node_id, sample=sample)
    counts: dict[str, int] = {}
    for r, _, _ in refusals:
        counts[r] = counts.get(r, 0) + 1
    summary = ", ".join(f"{r} × {n}" for r, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    more = tuple(
        {"reason": r, "detail": d, **({"sample": s} if s is not None else {})}
        for r, d, s in refusals[1 : MAX_LISTED_REFUSALS + 1]
    )
    return DeadLetter(
        reason,
        f"{detail}; {len(refusals)} refusals in this message ({summary})",
        topic,
        arrival_ms,
        node_id,
        bytes(payload[:_DEAD_PAYLOAD_BYTES]),
        sample,
        counts,
        more,
    )


def _attribute(where: Route, message: Any, registry: NodeRegistry) -> RegisteredNode:
    """The registered node that sent the message (raises ``unknown_node``)."""
    if where.format in (Format.NATIVE, Format.SENML):
        node = registry.by_id(where.node_id)
        if node is None:
            raise CodecError("unknown_node", f"node {where.node_id[:60]!r} is not registered")
        if node.coop_id != where.coop_id:
            raise CodecError(
                "unknown_node", f"node {where.node_id[:60]!r} is registered to another cooperative"
            )
        return node
    eui = where.dev_eui if where.format is Format.CHIRPSTACK_V4 else tts_dev_eui(message)
    if not eui:
        raise CodecError("bad_payload", "LoRaWAN uplink carries no DevEUI")
    node = registry.by_dev_eui(eui)
    if node is None:
        raise CodecError("unknown_node", f"no node is registered with DevEUI {eui[:40]!r}")
    return node


def _decode(
    where: Route, node: RegisteredNode, message: Any, arrival_ms: int, profiles: ProfileLibrary | None
) -> Decoded:
    if where.format is Format.NATIVE:
        return decode_native(message, arrival_ms=arrival_ms)
    if where.format is Format.SENML:
        return decode_senml(message, now_ms=arrival_ms)
    if where.format is Format.TTS_V3:
        return decode_tts_v3(message, profile=node.profile, profiles=profiles)
    return decode_chirpstack_v4(message, event=where.event, profile=node.profile, profiles=profiles)
