"""Real receivers for notification tests: an HTTP server taking Apprise's JSON webhooks and an SMTP
server (aiosmtpd), each on a free loopback port, recording what arrives. The webhook can be taken
down and brought back on the same port (a channel outage), and can answer slowly (a sender can then
be killed mid-delivery)."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from panen.devservices import free_port


@dataclass
class Received:
    """One request or mail as it arrived."""

    key: str
    title: str
    body: str
    at: float = field(default_factory=time.monotonic)


class WebhookReceiver:
    """``http://127.0.0.1:<port>/hook``: records each POST's Idempotency-Key and JSON."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.port = free_port()
        self.delay_s = delay_s
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> WebhookReceiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
                with owner._lock:
                    owner.received.append(
                        Received(
                            self.headers.get("Idempotency-Key", ""),
                            payload.get("title", ""),
                            payload.get("message", ""),
                        )
                    )
                time.sleep(owner.delay_s)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def keys(self) -> list[str]:
        with self._lock:
            return [r.key for r in self.received]


class SmtpReceiver:
    """An SMTP server on ``127.0.0.1:<port>`` that keeps every message."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.recipients: list[str] = []
        owner = self

        class Handler:
            async def handle_DATA(self, _server: object, _session: object, envelope: Any) -> str:
                msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
                part = msg.get_body(preferencelist=("plain", "html"))
                text = part.get_content() if part is not None else ""
                owner.recipients.extend(envelope.rcpt_tos)
                owner.received.append(Received(msg.get("Idempotency-Key", ""), str(msg["Subject"]), text))
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    @property
    def apprise_url(self) -> str:
        """What PANEN_NOTIFY_SMTP_URL would say for this server."""
        return f"mailto://127.0.0.1:{self.port}?from=panen@example.org&mode=insecure"

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
