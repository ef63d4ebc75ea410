"""The embedded MQTT broker (amqtt), for running panen with nothing installed.

amqtt speaks MQTT 3.1.1 only, so everything panen runs against it uses 3.1.1
(``PANEN_MQTT_PROTOCOL=3.1.1``): ingest keeps its persistent session with ``clean_session=False``
and still acknowledges each message only once its readings are durable; what 3.1.1 lacks is the
Receive Maximum (amqtt does not cap unacknowledged messages) and shared subscriptions (one ingest
process). Clients must give a user name (any, without a password check): amqtt keeps no offline
queue for anonymous sessions. The production broker is Mosquitto (``deploy/mosquitto/``).

One weakness to know: amqtt waits a fixed 5 s for a subscriber's PUBACK and then forgets the
message (logging "Timeout waiting for PUBACK"). The message has been delivered, and ingest still
stores and acknowledges it, but amqtt would not redeliver it if ingest died before storing it.
During the demo's backfill, ingest's acknowledgements can lag more than 5 s behind amqtt's sends,
so its log (``data/logs/broker.log``) shows such timeouts. Mosquitto waits as long as it takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import threading
from pathlib import Path
from typing import Any

__all__ = ["BrokerStartError", "EmbeddedBroker", "port_in_use"]

log = logging.getLogger("panen.broker")


class BrokerStartError(RuntimeError):
    """The embedded broker could not start (e.g. its port is taken)."""


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on (host, port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno in (errno.EADDRINUSE, errno.EACCES)
    return False


class _LateAckFilter(logging.Filter):
    """Counts amqtt's reports of acknowledgements slower than its 5 s, instead of logging each (a
    backfill produced over a million lines)."""

    _MARKS = (
        "Timeout waiting for PUBACK",
        "Received PUBACK for unknown pending",
        "Task failed and will be skipped",
    )

    def __init__(self) -> None:
        super().__init__()
        self.late = 0

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(mark in message for mark in self._MARKS):
            self.late += message.startswith("Timeout")
            return False
        return True


class EmbeddedBroker:
    """amqtt on its own event loop in a daemon thread of this process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, *, log_file: Path | None = None) -> None:
        """Configure, listening on ``host:port``; :meth:`start` opens the port. amqtt's own log goes to
        ``log_file`` (default: this process's logging) at WARNING and above."""
        self.host, self.port = host, port
        self.log_file = log_file
        self._late = _LateAckFilter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._thread: threading.Thread | None = None

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                # A user name is required (and makes sessions persistent); passwords are not checked:
                # the broker listens on loopback only, for the demo.
                # amqtt's anonymous-auth check, saying in broker.log why it refused a client.
                "panen.broker_auth.NamedClientsOnly": {"allow_anonymous": False},
            },
        }

    def start(self, timeout_s: float = 15.0) -> None:
        """Start and return once the port accepts connections.

        Raises:
            BrokerStartError: the port is taken or amqtt failed to start.
        """
        if port_in_use(self.host, self.port):
            raise BrokerStartError(f"port {self.port} on {self.host} is already in use")
        from amqtt.broker import Broker

        # amqtt logs every connection at INFO, and a warning for every acknowledgement slower than its
        # fixed 5 s (see the module docstring): keep that out of the demo's console.
        # A handler, not a logger, filter: amqtt logs through child loggers (amqtt.mqtt...).
        handler: logging.Handler = (
            logging.FileHandler(self.log_file) if self.log_file is not None else logging.StreamHandler()
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(self._late)
        for name in ("amqtt", "transitions", "panen.broker_auth"):
            logger = logging.getLogger(name)
            logger.setLevel(logging.WARNING)
            logger.addHandler(handler)
            logger.propagate = False
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def boot() -> None:
            self._broker = Broker(self._config(), loop=loop)
            await self._broker.start()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(boot())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="panen-broker", daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s):
            raise BrokerStartError(f"the embedded broker did not start within {timeout_s:g} s")
        if failure:
            raise BrokerStartError(f"the embedded broker failed to start: {failure[0]}") from failure[0]
        log.info("embedded MQTT broker (amqtt, MQTT 3.1.1) on %s:%d", self.host, self.port)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Shut the broker down (connected clients are disconnected)."""
        loop, broker = self._loop, self._broker
        if loop is None or broker is None or not loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
        with contextlib.suppress(Exception):
            future.result(timeout_s)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._late.late:
            logging.getLogger("amqtt").warning(
                "%d acknowledgements arrived after amqtt's fixed 5 s timeout (delivered and stored, but "
                "amqtt would not have redelivered them had ingest failed)",
                self._late.late,
            )

    @property
    def late_acks(self) -> int:
        """Acknowledgements amqtt reported as later than its 5 s timeout."""
        return self._late.late
