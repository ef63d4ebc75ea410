"""The embedded MQTT broker (amqtt), for running panen with nothing installed.

amqtt speaks MQTT 3.1.1 only, so everything panen runs against it uses 3.1.1
(``PANEN_MQTT_PROTOCOL=3.1.1``): ingest keeps its persistent session with ``clean_session=False``
and still acknowledges each message only once its readings are durable; what 3.1.1 lacks is the
Receive Maximum (amqtt does not cap unacknowledged messages) and shared subscriptions (one ingest
process). Clients must give a user name (any, without a password check): amqtt keeps no offline
queue for anonymous sessions. The production broker is Mosquitto (``deploy/mosquitto/``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import threading
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


class EmbeddedBroker:
    """amqtt on its own event loop in a daemon thread of this process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        """Configure, listening on ``host:port``; :meth:`start` opens the port."""
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._thread: threading.Thread | None = None

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                # A user name is required (and makes sessions persistent); passwords are not checked:
                # the broker listens on loopback only, for the demo.
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False},
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

        # amqtt logs every connection at INFO; keep the demo's console for what matters.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
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
