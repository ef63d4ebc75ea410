"""The ingest service: batching, its threads and its lifecycle, over :mod:`ingest.client` (the broker
connection) and :mod:`ingest.sink` (store, spool, dead letters).

Threads and their jobs:

- **network** (the caller of :meth:`IngestService.run`): :meth:`ingest.client.BrokerConnection.loop`.
  The messages of each socket read are decoded together and queued, unacknowledged, as one chunk
  (one lock taken per read, not per message).
- **flusher**: at ``batch_readings`` readings, at ``batch_age_s``, or as soon as no message has
  arrived for ``batch_idle_s`` (a burst is over: waiting longer only delays it), makes the batch
  durable (:meth:`ingest.sink.Sink.persist`), records its dead letters, and only then hands the
  batch's acknowledgements back to the network thread, which sends them in arrival order. A crash
  at any point therefore loses nothing: unacknowledged messages are redelivered, and writes are
  idempotent.
- **replayer**: while the spool holds readings, writes them to the store oldest first.
- **registry watch**: the node registry and the device profiles, reloaded on change;
- **stats**: counters into the store's ``ingest`` series for dashboards.
"""

from __future__ import annotations

import collections
import gc
import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.client import BrokerConnection, ConnectionSettings, Publish
from ingest.deadletters import DeadLetterLog
from ingest.errors import BrokerAuthError, RegistryError
from ingest.metrics import IngestMetrics
from ingest.nodes import NodeRegistry
from ingest.outages import Outage, Outages
from ingest.pipeline import DeadLetter, MessageResult, decode_message
from ingest.sink import Sink
from ingest.spool import Spool
from ingest.supervisor import Health, IngestUnhealthy, Supervisor
from sensors.profiles import SHIPPED_DIR, ProfileLibrary
from sensors.topics import MqttTarget, dead_letter_topic, subscriptions
from storage import StoreError, TimeSeriesStore

__all__ = ["BrokerAuthError", "IngestConfig", "IngestService", "IngestUnhealthy", "quiet_collector"]

log = logging.getLogger("panen.ingest")


def quiet_collector() -> None:
    """Keep Python's cyclic garbage collector out of ingest's way, once it has started up.

    What start-up made (modules, the registry) stays for the process's life: frozen, it is no longer
    scanned. And a collection per 10,000 new objects rather than 700: a message makes ~15, all freed
    by reference counting with their batch (they hold no cycles). Together 1.7 µs less per message
    (decoding random payloads with ~2,000 messages alive: 8.0 → 6.3 µs), as with the collector off.
    For ``panen ingest``'s own process only: it changes the whole interpreter.
    """
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


@dataclass
class IngestConfig:
    """Everything one ingest process needs to know (see ``panen ingest --help``)."""

    mqtt: MqttTarget
    data_dir: Path
    # Where this process keeps its spool and dead letters, under data_dir ("": data_dir itself). Each
    # of `panen ingest --workers N` has its own: two processes must never append to one spool.
    state_subdir: str = ""
    client_id: str = "panen-ingest"
    topic_prefix: str = ""
    shared_group: str | None = None
    batch_readings: int = 5_000
    # A steady stream never pauses for batch_idle_s: its readings wait up to this long (at 2k msg/s,
    # publish-to-stored p99 was 336 ms with 0.25 s). A backlog's batches fill by size long before.
    batch_age_s: float = 0.1
    # Flush early once the stream pauses this long: a node's lone message is stored in ~20 ms, not
    # 250, and the end of a burst is not held back. At most 1/batch_idle_s extra writes a second.
    batch_idle_s: float = 0.02
    # Enough unacknowledged messages for two full batches of one-reading messages in flight.
    receive_maximum: int = 10_000
    session_expiry_s: int = 7 * 24 * 3600
    keepalive_s: int = 30
    spool_max_bytes: int = 1024**3
    deadletter_max_bytes: int = 64 * 1024**2
    # No letter stays in the local log longer than this (the counts by reason live in Prometheus).
    deadletter_max_age_s: float = 7 * 86_400
    publish_dead_letters: bool = True
    # Republished letters per reason: a burst, then a steady rate; the rest are only logged and counted.
    dead_letter_publish_burst: int = 100
    dead_letter_publish_per_s: float = 10.0
    registry_refresh_s: float = 5.0
    stats_every_s: float = 15.0
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0
    # Supervision (ingest/supervisor.py): how often threads are checked, how long ingest may stay
    # unhealthy before it stops for its service manager to restart it, and how long a non-empty
    # spool may go without replay progress while the store answers.
    health_check_every_s: float = 5.0
    health_grace_s: float = 60.0
    replay_stall_s: float = 120.0
    # Degraded, not dead (ingest/outages.py): a store write waiting this long makes the store "slow";
    # the broker away this long makes it "unreachable" (a reconnect's blink is not news).
    store_slow_s: float = 10.0
    broker_away_s: float = 5.0
    # Less free space than this on the spool's disk is "disk full" before an append fails: room for
    # a few hundred of the largest batches (5,000 readings, ~0.3 MB in the spool).
    disk_min_free_bytes: int = 64 * 1024**2
    subscriptions: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.shared_group and self.mqtt.protocol != "5":
            raise ValueError("shared groups need MQTT v5; this broker is configured for 3.1.1")
        if not self.subscriptions:
            self.subscriptions = subscriptions(self.topic_prefix, self.shared_group)

    def connection(self) -> ConnectionSettings:
        """What :class:`ingest.client.BrokerConnection` needs of this configuration."""
        return ConnectionSettings(
            mqtt=self.mqtt,
            client_id=self.client_id,
            subscriptions=tuple(self.subscriptions),
            receive_maximum=self.receive_maximum,
            session_expiry_s=self.session_expiry_s,
            keepalive_s=self.keepalive_s,
            backoff_min_s=self.backoff_min_s,
            backoff_max_s=self.backoff_max_s,
        )


@dataclass(slots=True)
class _Chunk:
    """The messages of one socket read, decoded; acknowledged together once their batch is durable."""

    generation: int  # the connection they came on
    acks: list[int]  # packet ids of the QoS 1 messages (QoS 0 needs none; QoS 2 is not subscribed)
    results: list[MessageResult]


class _PerReasonRate:
    """A token bucket per dead-letter reason: ``burst`` at once, then ``per_s`` a second."""

    def __init__(self, burst: int, per_s: float) -> None:
        self.burst = burst
        self.per_s = per_s
        self._buckets: dict[str, tuple[float, float]] = {}  # reason -> (tokens, when)

    def allow(self, reason: str) -> bool:
        now = time.monotonic()
        tokens, then = self._buckets.get(reason, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.per_s)
        allowed = tokens >= 1.0
        self._buckets[reason] = (tokens - 1.0 if allowed else tokens, now)
        return allowed


class IngestService:
    """One ingest process. Call :meth:`run` (blocks) and :meth:`stop` (from any thread or a signal)."""

    def __init__(
        self,
        config: IngestConfig,
        *,
        store: TimeSeriesStore,
        registry: NodeRegistry,
        metrics: IngestMetrics | None = None,
    ) -> None:
        """Prepare the service; nothing connects until :meth:`run`."""
        self.config = config
        self.store = store
        self.registry = registry
        # The shipped device profiles and the operator's own, reloaded with the node registry.
        self.profiles = ProfileLibrary([SHIPPED_DIR, config.data_dir / "profiles"])
        self.metrics = metrics or IngestMetrics()
        self._stop = threading.Event()
        self.outages = Outages(self.metrics.registry)
        self._broker_away_since: float | None = time.monotonic()  # not connected yet
        state = config.data_dir / config.state_subdir
        state.mkdir(parents=True, exist_ok=True)
        self.sink = Sink(
            store,
            Spool(state / "spool", max_bytes=config.spool_max_bytes),
            DeadLetterLog(
                state / "deadletters.jsonl",
                max_bytes=config.deadletter_max_bytes,
                max_age_s=config.deadletter_max_age_s,
            ),
            self.metrics,
            self._stop,
            (config.backoff_min_s, config.backoff_max_s),
            self.outages,
            store_slow_s=config.store_slow_s,
        )
        self.spool = self.sink.spool
        self.dead_log = self.sink.dead_log
        self._cond = threading.Condition()
        self._pending: list[_Chunk] = []
        self._pending_messages = 0
        self._pending_readings = 0
        self._oldest_pending = 0.0
        self._newest_pending = 0.0
        self._flushing = 0  # messages taken by the flusher and not yet acknowledged
        self.metrics.pending.set_function(lambda: self._pending_messages + self._flushing)
        self.broker = BrokerConnection(
            config.connection(), on_publishes=self._on_publishes, on_state=self._on_state, stop=self._stop
        )
        self.subscribed = self.broker.subscribed
        # Used on the network thread only (in acknowledge), so it needs no lock.
        self._republish = _PerReasonRate(config.dead_letter_publish_burst, config.dead_letter_publish_per_s)
        self._unhealthy: IngestUnhealthy | None = None
        self._spool_waiting_since: float | None = None
        self.supervisor = self._supervisor()

    # ---- messages and batches ------------------------------------------------------------------

    def _on_state(self, connected: bool) -> None:
        self.metrics.connected.set(1 if connected else 0)
        if connected:
            self.metrics.last_connect.set_to_current_time()
            self._broker_away_since = None
            self.outages.end(Outage.BROKER_UNREACHABLE)
        elif self._broker_away_since is None:
            self._broker_away_since = time.monotonic()

    def _decode(self, publish: Publish, arrival_ms: int) -> MessageResult:
        try:
            return decode_message(
                publish.topic,
                publish.payload,
                arrival_ms=arrival_ms,
                registry=self.registry,
                prefix=self.config.topic_prefix,
                profiles=self.profiles,
            )
        except Exception as exc:  # a bug of ours must not take ingest down on one payload
            log.exception("decoding a message on %s failed", publish.topic)
            result = MessageResult()
            result.dead.append(
                DeadLetter(
                    "internal_error",
                    f"{type(exc).__name__}: {exc}",
                    publish.topic,
                    arrival_ms,
                    payload=publish.payload[:4096],
                )
            )
            return result

    def _on_publishes(self, publishes: list[Publish]) -> None:
        arrival_ms = time.time_ns() // 1_000_000  # they came in one read
        decode = self._decode
        results = [decode(p, arrival_ms) for p in publishes]
        acks = [p.mid for p in publishes if p.qos == 1]
        size = sum([len(r.readings) + len(r.dead) for r in results])
        now = time.monotonic()
        with self._cond:
            self._newest_pending = now
            first = not self._pending
            if first:
                self._oldest_pending = now
            self._pending.append(_Chunk(self.broker.generation, acks, results))
            self._pending_messages += len(results)
            self._pending_readings += size
            # Wake the flusher when a batch starts (it sleeps while there is none) and when full.
            if first or self._pending_readings >= self.config.batch_readings:
                self._cond.notify()

    def _take_batch(self, final: bool, heartbeat: Callable[[], None]) -> list[_Chunk]:
        with self._cond:
            cfg = self.config
            while not self._stop.is_set() and not final:
                heartbeat()
                if not self._pending:
                    self._cond.wait(cfg.batch_age_s)
                    continue
                now = time.monotonic()
                age, idle = now - self._oldest_pending, now - self._newest_pending
                if (
                    self._pending_readings >= cfg.batch_readings
                    or age >= cfg.batch_age_s
                    or idle >= cfg.batch_idle_s
                ):
                    break
                self._cond.wait(min(cfg.batch_age_s - age, cfg.batch_idle_s - idle))
            batch, self._pending, self._pending_readings = self._pending, [], 0
            self._flushing += self._pending_messages
            self._pending_messages = 0
            return batch

    def _flusher(self, heartbeat: Callable[[], None]) -> None:
        while True:
            stopping = self._stop.is_set()
            heartbeat()
            batch = self._take_batch(stopping, heartbeat)
            if batch:
                try:
                    self._process(batch, heartbeat)
                except Exception:
                    # A bug of ours. The broker redelivers unacknowledged messages only on a new
                    # connection, and until then they hold Receive Maximum slots: reconnect, or
                    # enough failed batches would stop the stream.
                    log.exception("a batch failed; reconnecting so that the broker redelivers its messages")
                    with self._cond:
                        self._flushing -= sum(len(c.results) for c in batch)
                    self.broker.call_soon(self.broker.client.disconnect)
            if stopping:
                return

    def _process(self, batch: Sequence[_Chunk], heartbeat: Callable[[], None] = lambda: None) -> None:
        results = [r for chunk in batch for r in chunk.results]
        # Counted per batch: per message it showed in profiles.
        for fmt, count in collections.Counter([r.format for r in results]).items():
            self.metrics.messages.labels(fmt).inc(count)
        readings = [x for r in results for x in r.readings]
        letters = [d for r in results for d in r.dead]
        if not self.sink.persist(readings, heartbeat):
            return  # stopping before the readings were durable: leave the messages unacknowledged
        if letters:
            self.sink.log_dead(letters)
            for letter in letters:
                for reason, count in letter.reasons.items():
                    self.metrics.dead_letters.labels(reason).inc(count)
        self.metrics.readings_implausible.inc(sum(r.implausible for r in results))
        generation = self.broker.generation
        acks = [mid for chunk in batch if chunk.generation == generation for mid in chunk.acks]
        publish = self.config.publish_dead_letters

        def acknowledge() -> None:
            with self._cond:
                self._flushing -= len(results)
            # Messages of an earlier connection are redelivered by the broker; acking them here
            # could hit a reused packet id.
            if self.broker.generation != generation:
                return
            self.broker.client.ack_all(acks)
            if publish:
                for letter in letters:
                    if not self._republish.allow(letter.reason):
                        self.metrics.dead_letters_unpublished.labels(letter.reason).inc()
                        continue
                    self.broker.client.publish(
                        dead_letter_topic(letter.reason, self.config.topic_prefix), letter.to_json(), qos=0
                    )

        self.broker.call_soon(acknowledge)

    # ---- the other threads ----------------------------------------------------------------------

    def _stats(self, heartbeat: Callable[[], None]) -> None:
        # Dashboards read only the store, so the counters Prometheus scrapes are also written there.
        while not self._stop.wait(self.config.stats_every_s):
            heartbeat()
            try:
                self.dead_log.expire()
            except OSError as exc:
                log.warning("cannot expire old dead letters: %s", exc)
            point = self.metrics.stats_point(self.config.client_id, time.time_ns() // 1_000_000)
            try:
                self.store.write_series([point])
            except StoreError as exc:
                log.debug("cannot write ingest stats: %s", exc)

    def _registry_watch(self, heartbeat: Callable[[], None]) -> None:
        while not self._stop.wait(self.config.registry_refresh_s):
            heartbeat()
            try:
                if self.registry.refresh():
                    log.info("node registry reloaded: %d nodes", len(self.registry))
            except RegistryError as exc:
                log.error("%s; keeping the previous registry", exc)
            if self.profiles.refresh():
                log.info("device profiles reloaded: %s", ", ".join(self.profiles.names()))

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up."""
        return self.broker.connected.is_set()

    def _supervisor(self) -> Supervisor:
        cfg = self.config
        waits = 2 * cfg.backoff_max_s + 30  # the longest a thread sleeps between turns, and a margin
        supervisor = Supervisor(
            registry=self.metrics.registry,
            stop=self._stop,
            check_every_s=cfg.health_check_every_s,
            grace_s=cfg.health_grace_s,
            extra_checks=(self._replay_progress,),
            degraded=self._degraded,
            on_fatal=self._fail,
        )
        supervisor.add("ingest-network", None, stale_after_s=waits + cfg.keepalive_s)
        supervisor.add("ingest-flusher", self._flusher, stale_after_s=waits)
        supervisor.add("ingest-replayer", self.sink.replay_forever, stale_after_s=waits)
        supervisor.add("ingest-registry", self._registry_watch, stale_after_s=3 * cfg.registry_refresh_s + 60)
        supervisor.add("ingest-stats", self._stats, stale_after_s=3 * cfg.stats_every_s + 60)
        return supervisor

    def _degraded(self) -> tuple[str, ...]:
        """The outages under way, after updating those found by looking (a slow store, the broker)."""
        self.sink.check_slow()
        self._check_disk()
        away = self._broker_away_since
        if away is not None and time.monotonic() - away > self.config.broker_away_s:
            target = self.config.mqtt
            self.outages.begin(
                Outage.BROKER_UNREACHABLE,
                f"no connection to {target.host}:{target.port}; nodes' messages wait in the broker "
                "or on the nodes",
            )
        return self.outages.describe()

    def _check_disk(self) -> None:
        try:
            free = shutil.disk_usage(self.spool.directory).free
        except OSError:
            return
        minimum = self.config.disk_min_free_bytes
        if free < minimum:
            self.outages.begin(
                Outage.DISK_FULL,
                f"{free / 1024**2:.1f} MiB free on the spool's disk ({self.spool.directory}), "
                f"under {minimum / 1024**2:.1f} MiB",
            )
        elif not self.sink.append_failing:
            self.outages.end(Outage.DISK_FULL)

    def _replay_progress(self) -> str | None:
        """A reason when the spool has held readings for ``replay_stall_s`` without any replayed while
        the store answers (a replay that is stuck, not a store that is down)."""
        if len(self.spool) == 0:
            self._spool_waiting_since = None
            return None
        now = time.monotonic()
        if self._spool_waiting_since is None:
            self._spool_waiting_since = now
        since = max(self._spool_waiting_since, self.sink.last_replay_progress)
        if now - since <= self.config.replay_stall_s:
            return None
        try:
            self.store.ping()
        except StoreError:
            return None  # the store is down: waiting is right
        return (
            f"the spool holds {self.spool.readings} readings and none was replayed for "
            f"{now - since:.0f} s while the store answers"
        )

    def _fail(self, exc: IngestUnhealthy) -> None:
        self._unhealthy = exc
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    @property
    def health(self) -> Health:
        """Ingest's health as of the last check (``/healthz``)."""
        return self.supervisor.health

    def run(self) -> None:
        """Run until :meth:`stop`; flush, acknowledge and disconnect before returning.

        Raises:
            BrokerAuthError: the broker refused the credentials.
            IngestUnhealthy: ingest stayed unhealthy past its grace period (restart it).
        """
        supervisor = self.supervisor
        supervisor.start()
        try:
            self.broker.loop(supervisor.heartbeat("ingest-network"))
        finally:
            self._stop.set()
            with self._cond:
                self._cond.notify_all()
            flusher = supervisor.thread("ingest-flusher")
            if flusher is not None:
                flusher.join()  # the final flush queues its acknowledgements
            self.broker.close()
            for worker in supervisor.threads():
                if worker is not flusher:
                    worker.join(timeout=5)
        if self.broker.fatal is not None:
            raise self.broker.fatal
        if self._unhealthy is not None:
            raise self._unhealthy

    def stop(self) -> None:
        """Ask :meth:`run` to finish (safe from signal handlers and other threads)."""
        self._stop.set()
