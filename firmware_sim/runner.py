"""Running the fleet against a broker: backfill a past season, emit one round, or run live.

- **backfill**: what each node's flash would hold, published as fast as the broker takes it: native
  and SenML nodes send batches (``batch_samples`` wake-ups per message, their store-and-forward
  format); LoRaWAN nodes have no backlog, so their network server relays one uplink per wake-up.
  One publishing connection, QoS 1, at most 10,000 unacknowledged messages (paho's message ids
  wrap at 65,535).
- **once**: one wake-up of every node now.
- **live**: every node on its own MQTT connection with a last will on ``.../status``, waking on the
  simulated clock (``speed`` times real time); while its link is down a node keeps samples in a
  bounded flash buffer and sends them, with their original timestamps, when it is back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from numpy.typing import NDArray
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.environment import Environment, simulate
from firmware_sim.firmware import (
    FaultRates,
    NodeSamples,
    encode_chirpstack,
    encode_native,
    encode_senml,
    encode_tts,
    sample_fleet,
)
from sensors.topics import MQTT_NATIVE_FORMATS, Format, MqttTarget, status_topic, uplink_topic
from storage.fleetfile import Fleet, node_password

__all__ = [
    "Publisher",
    "SimRun",
    "backfill_messages",
    "last_wakeup_only",
    "prepare",
    "write_orchard_records",
    "write_truths",
]

log = logging.getLogger("panen.sim")
DAY_MS = 86_400_000
MAX_UNACKED = 10_000


@dataclass
class SimRun:
    """A prepared simulation: the world and every node's samples over a period."""

    fleet: Fleet
    env: Environment
    samples: list[NodeSamples]
    start_ms: int
    end_ms: int


def _ms(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * DAY_MS - 7 * 3_600_000


def prepare(
    fleet: Fleet,
    *,
    start_ms: int,
    end_ms: int,
    seed: int,
    faults: FaultRates | None = None,
    interval_min: int | None = None,
    horizon_days: int = 240,
) -> SimRun:
    """Simulate the world (crops until harvest, up to ``horizon_days`` past the end) and sample the nodes."""
    start_day = dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC).date() - dt.timedelta(days=1)
    end_day = dt.datetime.fromtimestamp(end_ms / 1000, dt.UTC).date() + dt.timedelta(days=2)
    env = simulate(
        fleet,
        start=start_day,
        end=end_day + dt.timedelta(days=horizon_days),
        seed=seed,
        hourly_from=start_day,
    )
    samples = sample_fleet(
        fleet, env, start_ms=start_ms, end_ms=end_ms, seed=seed, faults=faults, interval_min=interval_min
    )
    return SimRun(fleet, env, samples, start_ms, end_ms)


def last_wakeup_only(run: SimRun) -> SimRun:
    """The same run with each node's last wake-up only (``panen sim --once``: one uplink each, now)."""
    samples = [
        replace(
            s,
            true_ms=s.true_ms[-1:],
            device_ms=s.device_ms[-1:],
            values={m: v[-1:] for m, v in s.values.items()},
            link_up=s.link_up[-1:],
            corrupt=s.corrupt[-1:],
        )
        for s in run.samples
    ]
    return replace(run, samples=samples)


def write_orchard_records(run: SimRun, path: Path, *, until: dt.date) -> int:
    """Write what the orchards' growers recorded up to ``until`` (defoliation, flowering, fruit counts)
    as JSON: the records a farmer would enter, for the demo to enter. Returns how many."""
    rows = [
        {
            "field_id": r.field_id,
            "kind": r.kind,
            "day": r.day.isoformat(),
            "fruits_per_tree": r.fruits_per_tree,
            "trees_sampled": r.trees_sampled,
        }
        for r in run.env.orchard_records
        if r.day <= until
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"note": "orchard growers' records (published)", "records": rows}, indent=1))
    return len(rows)


def write_truths(run: SimRun, path: Path) -> None:
    """Write the crop truths (true harvest dates and yields) as JSON; never published over MQTT."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "field_id": t.field_id,
            "coop_id": t.coop_id,
            "commodity": t.commodity,
            "planting_date": t.planting_date.isoformat(),
            "maturity_date": t.maturity_date.isoformat() if t.maturity_date else None,
            "harvest_date": t.harvest_date.isoformat() if t.harvest_date else None,
            "yield_t_ha": t.yield_t_ha,
            "area_ha": t.area_ha,
            "tonnes": t.tonnes,
        }
        for t in run.env.truths
    ]
    path.write_text(
        json.dumps({"note": "simulator truths: never shown to the forecast engine", "fields": rows}, indent=1)
    )


def _garbage(rng: np.random.Generator) -> bytes:
    return bytes(rng.integers(0, 256, int(rng.integers(5, 60)), dtype=np.uint8))


Message = tuple[int, str, bytes, int]


def node_messages(
    s: NodeSamples,
    *,
    batch_samples: int,
    prefix: str,
    rng: np.random.Generator,
    idx: NDArray[np.int_] | None = None,
) -> Iterator[Message]:
    """(time, topic, payload, qos) of what a node sends for wake-ups ``idx`` (default: all), in its format.

    A native or SenML node offline keeps sampling into flash and sends the backlog at its next
    uplink, so every wake-up is sent. LoRaWAN uplinks without link are lost at the radio, and their
    network servers relay at QoS 0 (The Things Stack offers nothing else); nodes publish at QoS 1.
    """
    wakeups = np.arange(len(s.true_ms)) if idx is None else np.asarray(idx)
    if s.node.format in MQTT_NATIVE_FORMATS:
        topic = uplink_topic(s.node.format, s.coop_id, s.node.id, prefix)
        encode = encode_native if s.node.format == Format.NATIVE else encode_senml
        for k in range(0, len(wakeups), batch_samples):
            batch = wakeups[k : k + batch_samples]
            payload = _garbage(rng) if s.corrupt[batch].any() else encode(s, batch)
            yield int(s.true_ms[batch[-1]]), topic, payload, 1
        return
    encoder = encode_tts if s.node.format == Format.TTS_V3 else encode_chirpstack
    for i in wakeups[s.link_up[wakeups]]:
        topic, payload = encoder(s, int(i))
        yield int(s.true_ms[i]), prefix + topic, _garbage(rng) if s.corrupt[i] else payload, 0


def backfill_messages(
    run: SimRun, *, batch_samples: int = 24, prefix: str = "", seed: int = 0
) -> list[Message]:
    """Every backfill message of the run, ordered by the time it carries (so progress means time)."""
    rng = np.random.default_rng(seed)
    messages = [
        m for s in run.samples for m in node_messages(s, batch_samples=batch_samples, prefix=prefix, rng=rng)
    ]
    messages.sort(key=lambda m: m[0])
    return messages


class Publisher:
    """One QoS 1 publishing connection with a cap on unacknowledged messages."""

    def __init__(self, broker: MqttTarget, client_id: str) -> None:
        """Connect (raises ``ConnectionError`` with the broker's reason on refusal)."""
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=broker.paho_protocol
        )
        # The cap on unacknowledged messages is ours (``publish``): capped, paho rescans every
        # in-flight message on each PUBACK, which made publishing a backfill quadratic.
        self.client.max_inflight_messages_set(0)
        if broker.username:
            self.client.username_pw_set(broker.username, broker.password)
        connected = threading.Event()
        self._refused: str | None = None

        def on_connect(_c: object, _u: object, _f: object, reason: object, _p: object) -> None:
            if getattr(reason, "is_failure", False):
                self._refused = str(reason)
            connected.set()

        self.client.on_connect = on_connect
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if not connected.wait(10) or self._refused:
            self.client.loop_stop()
            raise ConnectionError(
                f"broker {broker.host}:{broker.port} refused {client_id}: {self._refused or 'no answer'}"
            )
        self._pending: list[mqtt.MQTTMessageInfo] = []

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Publish, waiting for the oldest acknowledgement when too many are outstanding."""
        self._pending.append(self.client.publish(topic, payload, qos=qos))
        if len(self._pending) >= MAX_UNACKED:
            self._pending = [p for p in self._pending if not p.is_published()]
            while len(self._pending) >= MAX_UNACKED // 2:
                self._pending.pop(0).wait_for_publish(60)

    def close(self) -> None:
        """Wait for every acknowledgement, then disconnect."""
        for info in self._pending:
            info.wait_for_publish(60)
        self.client.disconnect()
        self.client.loop_stop()


def publish_all(
    broker: MqttTarget, messages: list[Message], *, progress: Callable[[int], None] | None = None
) -> int:
    """Publish ``messages`` on one connection; returns how many."""
    pub = Publisher(broker, f"panen-sim-backfill-{time.time_ns()}")
    try:
        for n, (_, topic, payload, qos) in enumerate(messages, 1):
            pub.publish(topic, payload, qos=qos)
            if progress and n % 2000 == 0:
                progress(2000)
    finally:
        pub.close()
    if progress:
        progress(len(messages) % 2000)
    return len(messages)


def node_credentials(fleet: Fleet, secret: str) -> dict[str, str]:
    """MQTT password of every node (see :func:`firmware_sim.fleet.node_password`)."""
    nodes = [f.node.id for f in fleet.fields] + [s.node.id for s in fleet.stations]
    return {n: node_password(n, secret) for n in nodes}


def _settled(message: mqtt.MQTTMessageInfo) -> bool:
    """Published, or refused by paho (the connection dropped: the broker's session or the node's
    next uplink carries on); paho raises on asking a refused message whether it is published."""
    try:
        return message.is_published()
    except RuntimeError:
        return True


def run_live(
    run: SimRun,
    broker: MqttTarget,
    *,
    speed: float,
    prefix: str = "",
    node_auth_secret: str | None = None,
    flash_samples: int = 2_000,
    stop: threading.Event | None = None,
    on_round: Callable[[int], None] | None = None,
) -> None:
    """Run the fleet on a simulated clock from ``run.start_ms`` at ``speed`` × real time until ``stop``.

    The simulated clock never passes the wall clock: a run started in the past catches up at
    ``speed`` and then goes on in real time, so no node ever reports a reading from the future
    (ingest would refuse it, and a sped-up demo stopped ingesting after ~25 minutes that way).

    Native and SenML nodes each hold their own MQTT connection (client id = node id, a retained
    ``online`` status and a last will ``offline`` on ``panen/v1/{coop}/{node}/status``) and, with
    ``node_auth_secret``, log in as themselves. LoRaWAN uplinks go through one connection per network
    server. A wake-up without link is kept in a flash buffer of ``flash_samples`` (oldest dropped
    when full) and sent with its original timestamp at the next wake-up with link.
    """
    stop = stop or threading.Event()
    live = _Live(run, prefix, flash_samples, _connect_nodes(run, broker, prefix, node_auth_secret))
    gateway = Publisher(broker, f"panen-sim-network-server-{time.time_ns()}")
    started = time.monotonic()
    try:
        while not stop.is_set():
            sim_now = run.start_ms + int((time.monotonic() - started) * 1000 * speed)
            sim_now = min(sim_now, time.time_ns() // 1_000_000)  # never ahead of the clock
            last_round = sim_now >= run.end_ms
            sent = live.round(min(sim_now, run.end_ms), gateway)
            if on_round:
                on_round(sent)
            if last_round:
                break
            stop.wait(0.2)
    finally:
        gateway.close()
        live.close()


def _connect_nodes(
    run: SimRun, broker: MqttTarget, prefix: str, node_auth_secret: str | None
) -> dict[str, mqtt.Client]:
    """One MQTT connection per native or SenML node, with its retained status and last will."""
    clients: dict[str, mqtt.Client] = {}
    for s in run.samples:
        if s.node.format not in MQTT_NATIVE_FORMATS:
            continue
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=s.node.id, protocol=broker.paho_protocol)
        status = status_topic(s.coop_id, s.node.id, prefix)
        c.will_set(status, b'{"status": "offline"}', qos=1, retain=True)
        if node_auth_secret is not None:
            c.username_pw_set(s.node.id, node_password(s.node.id, node_auth_secret))
        elif broker.username:
            c.username_pw_set(broker.username, broker.password)
        c.reconnect_delay_set(1, 60)
        # The online status goes out on every connect: published before the connection is up, it
        # would fail (and a node only reports once it has a link).
        c.on_connect = lambda cl, _u, _f, _rc, _p, topic=status: cl.publish(
            topic, b'{"status": "online"}', qos=1, retain=True
        )
        c.connect_async(broker.host, broker.port)
        c.loop_start()
        clients[s.node.id] = c
    return clients


class _Live:
    """The nodes of a live run: where each is in its wake-ups, its flash buffer, what is in flight."""

    def __init__(self, run: SimRun, prefix: str, flash_samples: int, clients: dict[str, mqtt.Client]) -> None:
        self.run = run
        self.prefix = prefix
        self.flash_samples = flash_samples
        self.clients = clients
        self.rng = np.random.default_rng(0)
        self.cursor = {s.node.id: 0 for s in run.samples}
        self.flash: dict[str, list[int]] = {s.node.id: [] for s in run.samples}
        self.in_flight: list[mqtt.MQTTMessageInfo] = []

    def round(self, sim_now: int, gateway: Publisher) -> int:
        """Send every wake-up due by ``sim_now``; returns how many messages went out."""
        sent = 0
        for s in self.run.samples:
            k0 = self.cursor[s.node.id]
            k1 = int(np.searchsorted(s.true_ms, sim_now, side="right"))
            if k1 <= k0:
                continue
            self.cursor[s.node.id] = k1
            if s.node.format not in MQTT_NATIVE_FORMATS:
                for _, topic, payload, qos in node_messages(
                    s, batch_samples=1, prefix=self.prefix, rng=self.rng, idx=np.arange(k0, k1)
                ):
                    gateway.publish(topic, payload, qos=qos)
                    sent += 1
                continue
            sent += self._from_flash(s, k0, k1)
        return sent

    def _from_flash(self, s: NodeSamples, k0: int, k1: int) -> int:
        buffer = self.flash[s.node.id]
        client = self.clients[s.node.id]
        sent = 0
        for k in range(k0, k1):
            buffer.append(k)
            del buffer[: -self.flash_samples]
            # No radio link, or no broker connection yet (a live run that starts in the past has
            # wake-ups due at once): the node keeps them in flash for later.
            if not s.link_up[k] or not client.is_connected():
                continue
            batch = np.asarray(buffer)
            buffer.clear()
            for _, topic, payload, qos in node_messages(
                s, batch_samples=len(batch), prefix=self.prefix, rng=self.rng, idx=batch
            ):
                self.in_flight.append(client.publish(topic, payload, qos=qos))
                sent += 1
            self.in_flight[:] = [m for m in self.in_flight if not _settled(m)]
        return sent

    def close(self) -> None:
        """Wait (10 s at most) for what the nodes sent to reach the broker, then disconnect them."""
        deadline = time.monotonic() + 10
        for message in self.in_flight:
            with contextlib.suppress(RuntimeError, ValueError):
                message.wait_for_publish(max(0.1, deadline - time.monotonic()))
        for c in self.clients.values():
            c.disconnect()
            c.loop_stop()
