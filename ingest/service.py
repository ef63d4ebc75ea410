"""The ingest service: MQTT → decode → validate → batch → store (or spool), at least once.

Threads and their jobs:

- **network** (the caller of :meth:`IngestService.run`): the only thread that touches the paho
  client. It connects with a persistent session (``clean_start=False`` plus a Session Expiry
  Interval, without which the broker keeps nothing), resubscribes on every connect, reconnects with
  exponential backoff and jitter, and stops for good on bad credentials. Each message is decoded in
  the ``on_message`` callback and queued unacknowledged (``manual_ack=True``).
- **flusher**: at ``batch_readings`` readings, at ``batch_age_s``, or as soon as no message has
  arrived for ``batch_idle_s`` (a burst is over: waiting longer only delays it), writes the batch to the store
  (or, if the store is down or the spool is not empty, appends it to the fsynced spool), records its
  dead letters, and only then hands the batch's acknowledgements back to the network thread, which
  sends them in arrival order. A crash at any point therefore loses nothing: unacknowledged messages
  are redelivered, and writes are idempotent.
- **replayer**: while the spool holds readings, writes them to the store oldest first.

The broker must let enough messages be in flight unacknowledged for batching to work: ingest asks
for a Receive Maximum of ``receive_maximum`` (MQTT v5), which Mosquitto 2 follows for v5 clients
(measured: the same drain rate with its default ``max_inflight_messages 20`` and with 0; that cap
binds MQTT 3.1.1 clients). Raise ``max_queued_messages`` (default 1,000) so a persistent session
can hold a backlog while ingest is away; see deploy/mosquitto/mosquitto.conf.
"""

from __future__ import annotations

import logging
import queue
import random
import ssl
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.deadletters import DeadLetterLog
from ingest.metrics import STATS_MEASUREMENT, IngestMetrics
from ingest.pipeline import DeadLetter, MessageResult, decode_message
from ingest.registry import NodeRegistry, RegistryError
from ingest.spool import Spool, SpoolFull
from ingest.topics import dead_letter_topic, subscriptions
from sensors import Reading
from storage import StoreError, StoreRejected, TimeSeriesStore

__all__ = ["BrokerAuthError", "IngestConfig", "IngestService", "MqttTarget", "parse_mqtt_url"]

log = logging.getLogger("panen.ingest")

# MQTT v5 CONNACK reason codes that retrying cannot fix: bad user name or password, not authorised,
# client identifier not valid, banned.
_FATAL_CONNACK = {0x85, 0x86, 0x87, 0x8A}
_PUBACK = struct.Struct("!BBH")  # fixed header (PUBACK, remaining length 2), packet identifier


class BrokerAuthError(Exception):
    """The broker refused our credentials or client id; retrying will not help."""


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


class _BufferedClient(mqtt.Client):
    """paho's client reading the socket 64 KiB at a time.

    paho reads each packet with several small ``recv`` calls (its fixed header byte by byte, then the
    rest). Every call releases and retakes Python's GIL, and while the flusher thread formats a
    batch each retake waits for it: the network thread spent its time waiting, not reading. One
    ``recv`` of what is there, served from a buffer, leaves a handful of GIL hand-overs per batch.
    (paho's ``_sock_recv`` is private API; paho is pinned below 3.)
    """

    _rbuf: bytes = b""
    _rpos: int = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(65536)  # raises BlockingIOError when nothing is there
            if not data:
                return data  # the broker closed the connection
            self._rbuf, self._rpos = data, 0
        chunk = self._rbuf[self._rpos : self._rpos + bufsize]
        self._rpos += len(chunk)
        return chunk

    def buffered(self) -> bool:
        """Whether read bytes wait in the buffer."""
        return self._rpos < len(self._rbuf)

    def ack_all(self, mids: Sequence[int]) -> None:
        """Acknowledge QoS 1 messages with one socket write for all their PUBACKs.

        ``ack`` per message costs two system calls (paho's wake-up byte and a send), and each
        releases the GIL; under CPU contention every retake can wait a switch interval.
        A PUBACK without reason code or properties is valid in MQTT 3.1.1 and 5 alike.
        """
        if mids:
            packet = b"".join(_PUBACK.pack(0x40, 2, mid) for mid in mids)
            self._packet_queue(0x40, packet, 0, 0)

    def reconnect(self) -> MQTTErrorCode:
        # A new socket: bytes left from the old connection must not be read as the new one's.
        self._rbuf, self._rpos = b"", 0
        return super().reconnect()


@dataclass
class IngestConfig:
    """Everything one ingest process needs to know (see ``panen ingest --help``)."""

    mqtt: MqttTarget
    data_dir: Path
    client_id: str = "panen-ingest"
    topic_prefix: str = ""
    shared_group: str | None = None
    batch_readings: int = 5_000
    batch_age_s: float = 0.25
    # Flush early once the stream pauses this long: a node's lone message is stored in ~20 ms, not
    # 250, and the end of a burst is not held back. At most 1/batch_idle_s extra writes a second.
    batch_idle_s: float = 0.02
    # Enough unacknowledged messages for two full batches of one-reading messages in flight.
    receive_maximum: int = 10_000
    session_expiry_s: int = 7 * 24 * 3600
    keepalive_s: int = 30
    spool_max_bytes: int = 1024**3
    deadletter_max_bytes: int = 64 * 1024**2
    publish_dead_letters: bool = True
    registry_refresh_s: float = 5.0
    stats_every_s: float = 15.0
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0
    subscriptions: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.shared_group and self.mqtt.protocol != "5":
            raise ValueError("shared groups need MQTT v5; this broker is configured for 3.1.1")
        if not self.subscriptions:
            self.subscriptions = subscriptions(self.topic_prefix, self.shared_group)


@dataclass
class _Pending:
    generation: int
    mid: int
    qos: int
    result: MessageResult


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
        self.metrics = metrics or IngestMetrics()
        self.spool = Spool(config.data_dir / "spool", max_bytes=config.spool_max_bytes)
        self.dead_log = DeadLetterLog(
            config.data_dir / "deadletters.jsonl", max_bytes=config.deadletter_max_bytes
        )
        self.metrics.spool_capacity.set(config.spool_max_bytes)
        self._update_spool_metrics()
        self._stop = threading.Event()
        self._fatal: BaseException | None = None
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._pending_readings = 0
        self._oldest_pending = 0.0
        self._newest_pending = 0.0
        self._flushing = 0  # messages taken by the flusher and not yet acknowledged
        self.metrics.pending.set_function(lambda: len(self._pending) + self._flushing)
        self._actions: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        self._generation = 0
        self._connected = threading.Event()
        self.subscribed = threading.Event()
        self._spool_warned = False
        self._spool_high = False
        self._dead_log_warned = -60.0
        self._client = self._make_client()

    # ---- MQTT ------------------------------------------------------------------------------

    def _make_client(self) -> _BufferedClient:
        client = _BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id,
            protocol=self.config.mqtt.paho_protocol,
            # 3.1.1's persistent session; v5 asks for it at connect (clean_start and session expiry).
            clean_session=None if self.config.mqtt.protocol == "5" else False,
            manual_ack=True,
        )
        if self.config.mqtt.username is not None:
            client.username_pw_set(self.config.mqtt.username, self.config.mqtt.password)
        if self.config.mqtt.tls:
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s
        props.ReceiveMaximum = min(self.config.receive_maximum, 65_535)
        return props

    def _on_connect(
        self, client: mqtt.Client, _userdata: object, flags: mqtt.ConnectFlags, reason: object, _props: object
    ) -> None:
        code = getattr(reason, "value", 0)
        if getattr(reason, "is_failure", False):
            if code in _FATAL_CONNACK:
                self._fatal = BrokerAuthError(
                    f"broker {self.config.mqtt.host}:{self.config.mqtt.port} refused client "
                    f"{self.config.client_id!r}: {reason}. Check PANEN_MQTT_URL's user and password."
                )
                self._stop.set()
            log.error("broker refused the connection: %s", reason)
            return
        self._generation += 1
        self._connected.set()
        self.metrics.connected.set(1)
        self.metrics.last_connect.set_to_current_time()
        log.info(
            "connected to %s:%d as %s (session %s)",
            self.config.mqtt.host,
            self.config.mqtt.port,
            self.config.client_id,
            "resumed" if flags.session_present else "new",
        )
        # Resubscribe on every connect: a broker that lost its state has lost our subscriptions too.
        client.subscribe([(topic, 1) for topic in self.config.subscriptions])

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: object, _mid: int, reasons: list[ReasonCode], _props: object
    ) -> None:
        refused = [r for r in reasons if getattr(r, "is_failure", False)]
        if refused:
            log.error("broker refused %d of our subscriptions: %s", len(refused), refused)
        self.subscribed.set()

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: object, _flags: object, reason: object, _props: object
    ) -> None:
        self._connected.clear()
        self.subscribed.clear()
        self.metrics.connected.set(0)
        if not self._stop.is_set():
            log.warning("disconnected from broker: %s", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        arrival_ms = time.time_ns() // 1_000_000
        try:
            result = decode_message(
                msg.topic,
                msg.payload,
                arrival_ms=arrival_ms,
                registry=self.registry,
                prefix=self.config.topic_prefix,
            )
        except Exception as exc:  # a bug of ours must not take ingest down on one payload
            log.exception("decoding a message on %s failed", msg.topic)
            result = MessageResult()
            result.dead.append(
                DeadLetter(
                    "internal_error",
                    f"{type(exc).__name__}: {exc}",
                    msg.topic,
                    arrival_ms,
                    payload=bytes(msg.payload[:4096]),
                )
            )
        now = time.monotonic()
        with self._cond:
            self._newest_pending = now
            first = not self._pending
            if first:
                self._oldest_pending = now
            self._pending.append(_Pending(self._generation, msg.mid, msg.qos, result))
            self._pending_readings += len(result.readings) + len(result.dead)
            # Wake the flusher when a batch starts (it sleeps while there is none) and when full.
            if first or self._pending_readings >= self.config.batch_readings:
                self._cond.notify()

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog): spreads a fleet of reconnecting clients apart.
        ceiling = min(self.config.backoff_max_s, self.config.backoff_min_s * 2**attempt)
        return random.uniform(self.config.backoff_min_s / 2, ceiling)

    def _network_loop(self) -> None:
        client = self._client
        attempt = 0
        first = True
        while not self._stop.is_set():
            try:
                if first:
                    if self.config.mqtt.protocol == "5":
                        client.connect(
                            self.config.mqtt.host,
                            self.config.mqtt.port,
                            keepalive=self.config.keepalive_s,
                            clean_start=False,
                            properties=self._connect_properties(),
                        )
                    else:
                        client.connect(
                            self.config.mqtt.host, self.config.mqtt.port, keepalive=self.config.keepalive_s
                        )
                    first = False
                else:
                    client.reconnect()
            except (OSError, mqtt.WebsocketConnectionError) as exc:
                delay = self._backoff(attempt)
                attempt += 1
                log.warning(
                    "cannot reach broker %s:%d (%s); retry in %.1f s",
                    self.config.mqtt.host,
                    self.config.mqtt.port,
                    exc,
                    delay,
                )
                self._stop.wait(delay)
                continue
            while not self._stop.is_set():
                rc = client.loop(timeout=0.02)
                # Packets already read into the buffer: select() would not see them.
                while rc == mqtt.MQTT_ERR_SUCCESS and client.buffered() and not self._stop.is_set():
                    rc = client.loop_read()
                self._run_actions()
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    break
                if self._connected.is_set():
                    attempt = 0
            if self._stop.is_set():
                break
            delay = self._backoff(attempt)
            attempt += 1
            log.warning("connection lost (%s); reconnecting in %.1f s", mqtt.error_string(rc), delay)
            self._stop.wait(delay)

    def _run_actions(self) -> None:
        while True:
            try:
                action = self._actions.get_nowait()
            except queue.Empty:
                return
            action()

    # ---- batches -----------------------------------------------------------------------------

    def _take_batch(self, final: bool) -> list[_Pending]:
        with self._cond:
            cfg = self.config
            while not self._stop.is_set() and not final:
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
            self._flushing += len(batch)
            return batch

    def _flusher(self) -> None:
        while True:
            stopping = self._stop.is_set()
            batch = self._take_batch(final=stopping)
            if batch:
                try:
                    self._process(batch)
                except Exception:
                    # A bug of ours. The broker redelivers unacknowledged messages only on a new
                    # connection, and until then they hold Receive Maximum slots: reconnect, or
                    # enough failed batches would stop the stream.
                    log.exception("a batch failed; reconnecting so that the broker redelivers its messages")
                    with self._cond:
                        self._flushing -= len(batch)
                    self._actions.put(self._client.disconnect)
            if stopping:
                return

    def _process(self, batch: Sequence[_Pending]) -> None:
        formats: dict[str, int] = {}
        for p in batch:
            formats[p.result.format] = formats.get(p.result.format, 0) + 1
        for fmt, count in formats.items():  # counted per batch: per message it showed in profiles
            self.metrics.messages.labels(fmt).inc(count)
        readings = [r for p in batch for r in p.result.readings]
        letters = [d for p in batch for d in p.result.dead]
        if not self._persist(readings):
            return  # stopping before the readings were durable: leave the messages unacknowledged
        if letters:
            self._log_dead(letters)
            for letter in letters:
                self.metrics.dead_letters.labels(letter.reason).inc()
        self.metrics.readings_implausible.inc(sum(p.result.implausible for p in batch))
        generation = self._generation
        # QoS 2 is not subscribed; a QoS 0 message needs no acknowledgement.
        acks = [p.mid for p in batch if p.qos == 1 and p.generation == generation]
        publish = self.config.publish_dead_letters

        def acknowledge() -> None:
            with self._cond:
                self._flushing -= len(batch)
            # Messages of an earlier connection are redelivered by the broker; acking them here
            # could hit a reused packet id.
            if self._generation != generation:
                return
            self._client.ack_all(acks)
            if publish:
                for letter in letters:
                    self._client.publish(
                        dead_letter_topic(letter.reason, self.config.topic_prefix), letter.to_json(), qos=0
                    )

        self._actions.put(acknowledge)

    def _persist(self, readings: list[Reading]) -> bool:
        """Make the readings durable in the store or the spool; False only if stopping first."""
        if not readings:
            return True
        attempt = 0
        while True:
            if len(self.spool) == 0:
                try:
                    self._write_store(readings)
                    return True
                except StoreError as exc:
                    self.metrics.store_errors.labels(type(exc).__name__).inc()
                    log.warning("store write failed (%s); spooling %d readings", exc, len(readings))
            try:
                self.spool.append(readings)
                self._update_spool_metrics()
                return True
            except SpoolFull:
                if not self._spool_warned:
                    log.error(
                        "spool full (%d bytes): no longer acknowledging messages until the store is back; "
                        "the broker's session holds them",
                        self.spool.bytes,
                    )
                    self._spool_warned = True
            except OSError as exc:
                log.error("cannot append to the spool: %s", exc)
            if self._stop.is_set():
                return False
            self._stop.wait(self._backoff(attempt))
            attempt += 1

    def _write_store(self, readings: Sequence[Reading]) -> None:
        """Write, isolating readings the store itself rejects so the rest of the batch is kept."""
        started = time.perf_counter()
        try:
            self.store.write(readings)
        except StoreRejected as exc:
            if len(readings) == 1:
                reading = readings[0]
                letter = DeadLetter(
                    "store_rejected",
                    str(exc)[:500],
                    "",
                    time.time_ns() // 1_000_000,
                    reading.node_id,
                    sample={"metric": reading.metric, "value": reading.value, "ts": reading.ts_ms},
                )
                self._log_dead([letter])
                self.metrics.dead_letters.labels("store_rejected").inc()
                return
            half = len(readings) // 2
            self._write_store(readings[:half])
            self._write_store(readings[half:])
            return
        self.metrics.write_seconds.observe(time.perf_counter() - started)
        self.metrics.readings_stored.inc(len(readings))
        self.metrics.last_stored.set_to_current_time()

    def _log_dead(self, letters: Sequence[DeadLetter]) -> None:
        """Append to the local dead-letter log; a disk that refuses costs the log lines, not the stream.

        The letters are still counted and republished to ``panen/v1/_dead/...``. Failing the batch
        instead would leave its valid readings' messages unacknowledged and, batch after batch,
        stall ingest on a full disk.
        """
        try:
            self.dead_log.append(letters)
        except OSError as exc:
            self.metrics.dead_log_errors.inc()
            now = time.monotonic()
            if now - self._dead_log_warned >= 60:  # once a minute, not once a batch
                log.error("cannot write the dead-letter log %s: %s", self.dead_log.path, exc)
                self._dead_log_warned = now

    def _update_spool_metrics(self) -> None:
        self.metrics.spool_readings.set(self.spool.readings)
        self.metrics.spool_bytes.set(self.spool.bytes)
        # Say once that the spool is filling (not on every batch); say it again after it drained.
        share = self.spool.bytes / self.config.spool_max_bytes
        if share > 0.8 and not self._spool_high:
            log.error(
                "spool is %.0f%% full: the store has been refusing writes; at 100%% ingest stops "
                "acknowledging and the broker holds the messages",
                100 * share,
            )
            self._spool_high = True
        elif share < 0.5:
            self._spool_high = False

    def _replayer(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            if len(self.spool) == 0:
                self._stop.wait(0.5)
                continue
            try:
                done = self.spool.replay(self._write_store)
                self._spool_warned = False
                log.info("replayed %d spooled readings into the store", done)
                attempt = 0
            except StoreError as exc:
                self._stop.wait(self._backoff(attempt))
                attempt += 1
                log.debug("store still unavailable for replay: %s", exc)
            finally:
                self._update_spool_metrics()

    def _stats(self) -> None:
        # Dashboards read only InfluxDB, so the counters Prometheus scrapes are also written there.
        while not self._stop.wait(self.config.stats_every_s):
            point = self.metrics.stats_point(self.config.client_id, time.time_ns() // 1_000_000)
            try:
                self.store.write_forecasts([point], measurement=STATS_MEASUREMENT)
            except StoreError as exc:
                log.debug("cannot write ingest stats: %s", exc)

    def _registry_watch(self) -> None:
        while not self._stop.wait(self.config.registry_refresh_s):
            try:
                if self.registry.refresh():
                    log.info("node registry reloaded: %d nodes", len(self.registry))
            except RegistryError as exc:
                log.error("%s; keeping the previous registry", exc)

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up."""
        return self._connected.is_set()

    def run(self) -> None:
        """Run until :meth:`stop`; flush, acknowledge and disconnect before returning.

        Raises:
            BrokerAuthError: the broker refused the credentials.
        """
        workers = [
            threading.Thread(target=self._flusher, name="ingest-flusher", daemon=True),
            threading.Thread(target=self._replayer, name="ingest-replayer", daemon=True),
            threading.Thread(target=self._registry_watch, name="ingest-registry", daemon=True),
            threading.Thread(target=self._stats, name="ingest-stats", daemon=True),
        ]
        for worker in workers:
            worker.start()
        try:
            self._network_loop()
        finally:
            self._stop.set()
            with self._cond:
                self._cond.notify_all()
            workers[0].join()  # the final flush queues its acknowledgements
            if self._connected.is_set():
                self._run_actions()
                self._client.disconnect()
                deadline = time.monotonic() + 5
                while self._client.want_write() and time.monotonic() < deadline:
                    self._client.loop_write()
            for worker in workers[1:]:
                worker.join(timeout=5)
        if self._fatal is not None:
            raise self._fatal

    def stop(self) -> None:
        """Ask :meth:`run` to finish (safe from signal handlers and other threads)."""
        self._stop.set()
