"""Ingest's HTTP endpoint: Prometheus ``/metrics`` and ``/healthz`` (200, or 503 with the reasons), on
one port (``--metrics-port``), so a load balancer, Docker's healthcheck or a person with curl can ask."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from ingest.supervisor import Health

__all__ = ["serve"]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every 15 s are not news."""


def serve(host: str, port: int, registry: CollectorRegistry, health: Callable[[], Health]) -> WSGIServer:
    """Serve ``/metrics`` and ``/healthz`` in a daemon thread; returns the server (``server_port``).

    Raises:
        OSError: the port is taken.
    """
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            now = health()
            body = json.dumps(now.as_json()).encode()
            status = "200 OK" if now.ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        result: Iterable[bytes] = metrics(environ, start_response)
        return result

    server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="ingest-http", daemon=True).start()
    return server
