"""Ingest's MQTT connection: paho with a persistent MQTT v5 session, reconnects, and acknowledgements.

Only the network thread (the caller of :meth:`BrokerConnection.loop`) touches the paho client.
Other threads hand it work through :meth:`BrokerConnection.call_soon` (paho writes to the socket
directly when called from another thread). The connection asks for a persistent session
(``clean_start=False`` plus a Session Expiry Interval, without which the broker keeps nothing),
resubscribes on every connect, reconnects with capped, jittered back-off, and stops for good on
refused credentials.

The broker must let enough messages be in flight unacknowledged for batching to work: ingest asks
for a Receive Maximum of ``receive_maximum`` (MQTT v5), which Mosquitto 2 follows for v5 clients
(measured: the same drain rate with its default ``max_inflight_messages 20`` and with 0; that cap
binds MQTT 3.1.1 clients). Raise ``max_queued_messages`` (default 1,000) so a persistent session
can hold a backlog while ingest is away; see deploy/mosquitto/mosquitto.conf.
"""

from __future__ import annotations

import logging
import queue
import ssl
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.errors import BrokerAuthError
from ingest.retry import retrying
from sensors.topics import MqttTarget

if TYPE_CHECKING:
    from paho.mqtt.client import _InPacket  # paho's own type of it, for type checking only

__all__ = ["BrokerConnection", "BufferedClient", "ConnectionSettings", "Publish"]

log = logging.getLogger("panen.ingest")

# MQTT v5 CONNACK reason codes that retrying cannot fix: bad user name or password, not authorised,
# client identifier not valid, banned.
_FATAL_CONNACK = {0x85, 0x86, 0x87, 0x8A}
_PUBACK = struct.Struct("!BBH")  # fixed header (PUBACK, remaining length 2), packet identifier


class Publish(NamedTuple):
    """One PUBLISH packet as ingest needs it: no properties, no :class:`paho.mqtt.client.MQTTMessage`."""

    topic: str
    payload: bytes
    mid: int  # packet identifier (0 at QoS 0)
    qos: int


class BufferedClient(mqtt.Client):
    """paho's client with a lean receive path: the socket read 64 KiB at a time, every complete packet
    in the buffer handled in one call, and PUBLISH packets framed here instead of by paho.

    paho reads each packet with several small ``recv`` calls (its fixed header byte by byte), and
    builds a ``Properties`` object and an ``MQTTMessage`` for every PUBLISH: together about 35 µs of
    the 55 µs a message that a bare paho v5 subscriber costs (``bench.ingest --split``). Here a
    PUBLISH at QoS 0 or 1 is cut out of the buffer (MQTT 5.0 §3.3, 3.1.1 §3.3: topic, packet
    identifier, v5's properties skipped; ingest reads none of them and asks for no topic aliases)
    and handed on, one list per read, to ``on_publishes``. Every other packet (CONNACK, SUBACK,
    PINGRESP, DISCONNECT, PUBACK of our own publishes, a QoS 2 PUBLISH) goes to paho's own handler,
    in order. (``_packet_read``, ``_packet_handle``, ``_in_packet`` and ``_packet_queue`` are
    paho's private API; paho is pinned below 3 and a test drives every packet type through here.)
    """

    on_publishes: Callable[[list[Publish]], None] | None = None
    _rbuf: bytearray
    _v5: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As :class:`paho.mqtt.client.Client`."""
        super().__init__(*args, **kwargs)
        self._rbuf = bytearray()
        self._v5 = self._protocol == mqtt.MQTTv5

    def buffered(self) -> bool:
        """Whether a whole packet (or a malformed one) waits in the buffer: ``select`` would not see it."""
        try:
            return _framed(self._rbuf, 0) is not None
        except MalformedPacket:
            return True

    def _packet_read(self) -> MQTTErrorCode:
        # One recv of what is there, then every complete packet in the buffer.
        buf = self._rbuf
        if not self.buffered():
            try:
                data = self._sock_recv(65536)
            except BlockingIOError:
                return MQTTErrorCode.MQTT_ERR_AGAIN
            except OSError as err:
                log.debug("failed to receive on socket: %s", err)
                return MQTTErrorCode.MQTT_ERR_CONN_LOST
            if not data:
                return MQTTErrorCode.MQTT_ERR_CONN_LOST
            buf += data
            with self._msgtime_mutex:
                self._last_bytes_received = time.monotonic()
        publishes: list[Publish] = []
        pos, end = 0, len(buf)
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        try:
            while pos < end:
                frame = _framed(buf, pos)
                if frame is None:
                    break
                body, stop = frame
                command = buf[pos]
                pos = stop
                if command >> 4 == 3 and command & 0x06 != 0x04 and self.on_publishes is not None:
                    publishes.append(self._publish(command, buf, body, stop))
                    continue
                if publishes:  # in order: what came before this packet is handed on first
                    self._hand_on(publishes)
                    publishes = []
                rc = self._handle_other(command, buf[body:stop])
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
        except MalformedPacket as exc:
            log.warning("malformed packet from the broker: %s", exc)
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        finally:
            del buf[:pos]
        if publishes:
            self._hand_on(publishes)
        return rc

    def _hand_on(self, publishes: list[Publish]) -> None:
        if self.on_publishes is not None:
            self.on_publishes(publishes)

    def _publish(self, command: int, buf: bytearray, at: int, stop: int) -> Publish:
        """The PUBLISH whose variable header starts at ``at`` and which ends at ``stop``."""
        topic_end = at + 2 + ((buf[at] << 8) | buf[at + 1]) if stop - at >= 2 else stop + 1
        qos = (command >> 1) & 0x03
        body = topic_end + 2 if qos else topic_end
        if body > stop:
            raise MalformedPacket("PUBLISH shorter than its topic and packet identifier")
        mid = ((buf[topic_end] << 8) | buf[topic_end + 1]) if qos else 0
        if self._v5:
            length = _varint(buf, body, stop)
            if length is None or length[1] + length[0] > stop:
                raise MalformedPacket("PUBLISH properties run past the packet")
            body = length[1] + length[0]
        # An invalid UTF-8 topic cannot be routed: it becomes a bad_topic dead letter, not a crash.
        topic = buf[at + 2 : topic_end].decode("utf-8", "replace")
        return Publish(topic, bytes(buf[body:stop]), mid, qos)

    def _handle_other(self, command: int, packet: bytearray) -> MQTTErrorCode:
        """A packet the lean path does not handle, by paho's own code."""
        self._in_packet = _in_packet(command, packet)
        try:
            return self._packet_handle()
        finally:
            self._in_packet = _in_packet(0, bytearray())

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
        self._rbuf.clear()
        return super().reconnect()


def _varint(buf: bytearray, at: int, stop: int) -> tuple[int, int] | None:
    """MQTT's Variable Byte Integer at ``at``: (value, the index after it), or None if it runs past
    ``stop`` before it ends. Raises :class:`MalformedPacket` past 4 bytes."""
    value = shift = 0
    for i in range(at, min(at + 4, stop)):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i + 1
        shift += 7
    if stop - at >= 4:
        raise MalformedPacket("variable byte integer longer than 4 bytes")
    return None


def _framed(buf: bytearray, pos: int) -> tuple[int, int] | None:
    """Where the packet at ``pos`` has its body and where it ends, or None while it is incomplete."""
    length = _varint(buf, pos + 1, len(buf))  # the remaining length, after the fixed header's byte
    if length is None:
        return None
    stop = length[1] + length[0]
    return (length[1], stop) if stop <= len(buf) else None


def _in_packet(command: int, packet: bytearray) -> _InPacket:
    """paho's record of the packet being read, for ``packet`` read whole (command 0: none)."""
    return {
        "command": command,
        "have_remaining": 1 if command else 0,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": len(packet),
        "packet": packet,
        "to_process": 0,
        "pos": 0,
    }


@dataclass(frozen=True)
class ConnectionSettings:
    """How to hold the broker connection (see :class:`ingest.service.IngestConfig`)."""

    mqtt: MqttTarget
    client_id: str
    subscriptions: tuple[str, ...]
    receive_maximum: int
    session_expiry_s: int
    keepalive_s: int
    backoff_min_s: float
    backoff_max_s: float


class _Unconnected(Exception):
    """No connection was made (refused, unreachable, or dropped before the broker accepted us)."""


class BrokerConnection:
    """The broker connection, driven by one thread through :meth:`loop`.

    ``on_publishes(publishes)`` is called on that thread with the messages of each read, in order of
    arrival; ``on_state(connected)`` when the
    connection goes up or down. :attr:`generation` counts connections: acknowledgements of an
    earlier connection must be dropped (the broker redelivers those messages).
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        on_publishes: Callable[[list[Publish]], None],
        on_state: Callable[[bool], None],
        stop: threading.Event,
    ) -> None:
        """Prepare the client; nothing connects until :meth:`loop`."""
        self.settings = settings
        self._on_publishes = on_publishes
        self._on_state = on_state
        self._stop = stop
        self.generation = 0
        self.attempts = 0  # failed connection attempts, for tests and logs
        self.fatal: BrokerAuthError | None = None
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._actions: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        self.client = self._make_client()

    def _make_client(self) -> BufferedClient:
        target = self.settings.mqtt
        client = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.settings.client_id,
            protocol=target.paho_protocol,
            # 3.1.1's persistent session; v5 asks for it at connect (clean_start and session expiry).
            clean_session=None if target.protocol == "5" else False,
            manual_ack=True,
        )
        if target.username is not None:
            client.username_pw_set(target.username, target.password)
        if target.tls:
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publishes = self._on_publishes
        client.on_subscribe = self._on_subscribe
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry_s
        props.ReceiveMaximum = min(self.settings.receive_maximum, 65_535)
        return props

    def _on_connect(
        self, client: mqtt.Client, _userdata: object, flags: mqtt.ConnectFlags, reason: object, _props: object
    ) -> None:
        target = self.settings.mqtt
        code = getattr(reason, "value", 0)
        if getattr(reason, "is_failure", False):
            if code in _FATAL_CONNACK:
                self.fatal = BrokerAuthError(
                    f"broker {target.host}:{target.port} refused client "
                    f"{self.settings.client_id!r}: {reason}. Check PANEN_MQTT_URL's user and password."
                )
                self._stop.set()
            log.error("broker refused the connection: %s", reason)
            return
        self.generation += 1
        self.connected.set()
        self._on_state(True)
        log.info(
            "connected to %s:%d as %s (session %s)",
            target.host,
            target.port,
            self.settings.client_id,
            "resumed" if flags.session_present else "new",
        )
        # Resubscribe on every connect: a broker that lost its state has lost our subscriptions too.
        client.subscribe([(topic, 1) for topic in self.settings.subscriptions])

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
        self.connected.clear()
        self.subscribed.clear()
        self._on_state(False)
        if not self._stop.is_set():
            log.warning("disconnected from broker: %s", reason)

    def call_soon(self, action: Callable[[], object]) -> None:
        """Run ``action`` on the network thread (the only one that may touch the client)."""
        self._actions.put(action)

    def run_actions(self) -> None:
        """Run the actions handed over so far (network thread only)."""
        while True:
            try:
                action = self._actions.get_nowait()
            except queue.Empty:
                return
            action()

    def loop(self, heartbeat: Callable[[], None] = lambda: None) -> None:
        """Connect, read and reconnect until the stop event is set (the network thread's body);
        ``heartbeat`` is called on every turn of the read loop and every connection attempt.

        Failed connects are retried with the back-off of :mod:`ingest.retry`; once a connection has
        been made, a later loss starts the back-off afresh (after one short pause, so a broker that
        accepts and drops at once cannot make this spin).
        """
        first = True
        while not self._stop.is_set():
            target = self.settings.mqtt
            retry = retrying(
                on=_Unconnected,
                min_s=self.settings.backoff_min_s,
                max_s=self.settings.backoff_max_s,
                stop=self._stop,
                log=log,
                what=f"connecting to broker {target.host}:{target.port}",
                attempts=self._count_attempt,
            )
            try:
                retry(self._session, first, heartbeat)
            except _Unconnected:
                return  # stopped while retrying
            first = False
            if not self._stop.is_set():
                self._stop.wait(self.settings.backoff_min_s)

    def _count_attempt(self) -> None:
        self.attempts += 1

    def _session(self, first: bool, heartbeat: Callable[[], None]) -> None:
        """One connection: connect and read until it breaks or we stop. Raises :class:`_Unconnected`
        if no connection was made (retry with back-off); returns if one was made and then lost."""
        generation = self.generation
        heartbeat()
        try:
            self._connect(first)
        except (OSError, mqtt.WebsocketConnectionError) as exc:
            raise _Unconnected(str(exc)) from exc
        client = self.client
        while not self._stop.is_set():
            heartbeat()
            rc = client.loop(timeout=0.02)
            # Packets already read into the buffer: select() would not see them.
            while rc == mqtt.MQTT_ERR_SUCCESS and client.buffered() and not self._stop.is_set():
                rc = client.loop_read()
            self.run_actions()
            if rc != mqtt.MQTT_ERR_SUCCESS:
                if self.generation == generation:
                    raise _Unconnected(mqtt.error_string(rc))
                log.warning("connection lost (%s); reconnecting", mqtt.error_string(rc))
                return

    def _connect(self, first: bool) -> None:
        target = self.settings.mqtt
        if not first:
            self.client.reconnect()
        elif target.protocol == "5":
            self.client.connect(
                target.host,
                target.port,
                keepalive=self.settings.keepalive_s,
                clean_start=False,
                properties=self._connect_properties(),
            )
        else:
            self.client.connect(target.host, target.port, keepalive=self.settings.keepalive_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """After :meth:`loop` returned: send what is queued (the last acks), disconnect, flush the socket."""
        if not self.connected.is_set():
            return
        self.run_actions()
        self.client.disconnect()
        deadline = time.monotonic() + timeout_s
        while self.client.want_write() and time.monotonic() < deadline:
            self.client.loop_write()
