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

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.errors import BrokerAuthError
from ingest.retry import retrying
from sensors.topics import MqttTarget

__all__ = ["BrokerConnection", "BufferedClient", "ConnectionSettings"]

log = logging.getLogger("panen.ingest")

# MQTT v5 CONNACK reason codes that retrying cannot fix: bad user name or password, not authorised,
# client identifier not valid, banned.
_FATAL_CONNACK = {0x85, 0x86, 0x87, 0x8A}
_PUBACK = struct.Struct("!BBH")  # fixed header (PUBACK, remaining length 2), packet identifier


class BufferedClient(mqtt.Client):
    """paho's client reading the socket 64 KiB at a time, and acknowledging many messages in one write.

    paho reads each packet with several small ``recv`` calls (its fixed header byte by byte, then the
    rest). Every call releases and retakes Python's GIL, and while the flusher thread formats a
    batch each retake waits for it: the network thread spent its time waiting, not reading. One
    ``recv`` of what is there, served from a buffer, leaves a handful of GIL hand-overs per batch.
    (paho's ``_sock_recv`` and ``_packet_queue`` are private API; paho is pinned below 3.)
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

    ``on_message(msg)`` is called on that thread for every message; ``on_state(connected)`` when the
    connection goes up or down. :attr:`generation` counts connections: acknowledgements of an
    earlier connection must be dropped (the broker redelivers those messages).
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        on_message: Callable[[mqtt.MQTTMessage], None],
        on_state: Callable[[bool], None],
        stop: threading.Event,
    ) -> None:
        """Prepare the client; nothing connects until :meth:`loop`."""
        self.settings = settings
        self._on_message_cb = on_message
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
        client.on_message = lambda _c, _u, msg: self._on_message_cb(msg)
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
