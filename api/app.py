"""The FastAPI application: mounts the routers, installs problem details, holds the wiring."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import importlib.metadata
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry, Counter, Histogram, make_asgi_app
from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.deps import AppState
from api.httpcache import ConditionalGet
from api.limits import MIB, BodyLimit
from api.routes import (
    alerts,
    amend,
    contacts,
    contracts,
    edits,
    forecasts,
    harvests,
    health,
    nodes,
    offline,
    orchards,
    outbox,
    pages,
    prices,
    profiles,
    readings,
    registry,
    signin,
)
from api.schemas import Problem
from sensors.profiles import ProfileLibrary, shipped_profiles
from services.forecasting import ForecastService
from services.notify.outbox import NotifyConfig, Sender
from services.refresh import RefreshScheduler
from services.registry_import import MAX_DOCUMENT_BYTES
from services.watch import PlatformCollector, delivery_timer
from storage import TimeSeriesStore

__all__ = ["create_app"]

log = logging.getLogger("panen.api")

DESCRIPTION = """
panen turns field-sensor readings from Kota Batu's village cooperatives into harvest forecasts and a
purchase plan for Coosae. Authenticate with `Authorization: Bearer <token>` (`panen token create`).
Errors are RFC 9457 problem details.
"""


class _MetricsMiddleware:
    """Counts requests and times them per route, as plain ASGI.

    Starlette's BaseHTTPMiddleware (``@app.middleware("http")``) left the server unresponsive after
    clients dropped connections mid-request (seen under wrk: every load after the first got no
    answers); a plain ASGI middleware only watches the messages go by.
    """

    def __init__(self, app: ASGIApp, *, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.requests.labels(route, str(status)).inc()
            self.latency.labels(route).observe(time.perf_counter() - started)


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {problems.PROBLEM: {"schema": Problem.model_json_schema()}},
    }


# Every status any route may answer, documented on every route: the API's contract says what a
# client can meet, and schemathesis checks that nothing else comes back.
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: _problem("The request is malformed."),
    401: _problem("No API token, or an unknown or revoked one."),
    403: _problem("The token's role or scope does not reach this."),
    404: _problem("No such row (for callers who see everything)."),
    405: _problem("The method is not allowed here (see Allow)."),
    409: _problem("The change conflicts with the registry."),
    413: _problem("The request body is too large."),
    422: _problem("The request fails a check; the detail says which."),
    500: _problem("The server failed; the detail names a request id its log repeats."),
    502: _problem("The time-series store refused the request."),
    503: _problem("The store is unavailable, or a forecast refresh failed."),
}


class _MetricsGate:
    """``/metrics`` is no business of the internet: loopback clients (a Prometheus beside the API,
    the demo), or a bearer token when one is configured; anyone else gets a 403 problem."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._allowed(scope):
            response = problems.problem(
                403, "metrics need PANEN_METRICS_TOKEN as a bearer token, or loopback"
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers") or [])
        if self.token:
            given = headers.get(b"authorization", b"").decode(errors="replace")
            return hmac.compare_digest(given, f"Bearer {self.token}")
        client = scope.get("client") or ("", 0)
        return client[0] in ("127.0.0.1", "::1", "testclient")


def _observe(app: FastAPI) -> CollectorRegistry:
    """Count every request by route and status, and time it by route; returns the metrics' registry."""
    metrics = CollectorRegistry()
    requests = Counter(
        "panen_api_requests", "API requests by route and status", ["route", "status"], registry=metrics
    )
    latency = Histogram(
        "panen_api_request_seconds",
        "API request latency by route",
        ["route"],
        registry=metrics,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
    )
    app.add_middleware(_MetricsMiddleware, requests=requests, latency=latency)
    return metrics


# A personal sign-in or confirmation link's path, whose last segment is its secret.
_LINK_PATH = re.compile(r"(/f/masuk/|/f/pastikan/)(?!kode\b|tautan\b)[^/?\s]+")


class HideLinkSecrets(logging.Filter):
    """Writes a sign-in or confirmation link's secret as ``…`` in uvicorn's access log (issue 37: a
    HEAD answered 405 logged a link still valid, for whoever reads the logs to use)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's path argument; every record passes."""
        if isinstance(record.args, tuple):
            record.args = tuple(_LINK_PATH.sub(r"\1…", a) if isinstance(a, str) else a for a in record.args)
        return True


def hide_link_secrets() -> None:
    """Install :class:`HideLinkSecrets` on uvicorn's access logger, once."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, HideLinkSecrets) for f in access.filters):
        access.addFilter(HideLinkSecrets())


# Every router, in the order their paths are matched.
_ROUTERS = (
    health.router,
    registry.router,
    nodes.router,
    readings.router,
    forecasts.router,
    harvests.router,
    orchards.router,
    alerts.router,
    contracts.router,
    prices.router,
    edits.router,
    profiles.router,
    contacts.router,
    outbox.router,
    signin.router,  # before pages: /f/masuk is not a field
    offline.router,  # nor /f/sw.js
    pages.router,
    amend.router,
)


def create_app(
    store: TimeSeriesStore,
    sessions: sessionmaker[Session],
    forecasts_service: ForecastService | None = None,
    *,
    refresh_every_s: float | None = None,
    device_profiles: ProfileLibrary | None = None,
    metrics_token: str | None = None,
    notify: NotifyConfig | None = None,
    send_notifications: bool = False,
    freeze_heap: bool = False,
) -> FastAPI:
    """Build the app over a store and a registry session factory.

    ``/metrics`` answers loopback clients, or anyone sending ``Authorization: Bearer
    <metrics_token>`` when one is set (``PANEN_METRICS_TOKEN``). Nodes may name the
    ``device_profiles`` (default: the shipped library). With ``refresh_every_s``, forecasts and
    alerts are recomputed in a background thread at start and then at that interval (the API
    answers meanwhile, from the previous run). Alerts' messages follow ``notify`` (links, policy,
    channels); with ``send_notifications`` the outbox's sender runs in a background thread too.
    With ``freeze_heap`` (``panen api``: the process is the app's alone), each refresh ends in
    :func:`api.deps.settle_heap`.
    """
    state = AppState(
        store,
        sessions,
        forecasts_service or ForecastService(store, sessions),
        device_profiles or shipped_profiles(),
        notify,
        freeze_heap=freeze_heap,
    )

    hide_link_secrets()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        scheduler = RefreshScheduler(state.refresh, refresh_every_s) if refresh_every_s else None
        sender = Sender(sessions, state.notify, on_sent=delivered) if send_notifications else None
        if scheduler is not None:
            scheduler.start()
        if sender is not None:
            sender.start()
        yield
        # Wait for a cycle or a delivery in progress: the store and registry are closed next.
        if scheduler is not None:
            await asyncio.to_thread(scheduler.stop)
        if sender is not None:
            await asyncio.to_thread(sender.stop)
        await asyncio.to_thread(state.importer.close)

    version = importlib.metadata.version("panen")
    # /docs and /redoc load Swagger UI and ReDoc from the installed package: a cooperative's office
    # without internet, or behind a proxy, still reads its API's docs (issue 39).
    app = FastAPIOffline(
        title="panen API", version=version, description=DESCRIPTION, lifespan=lifespan, responses=_PROBLEMS
    )
    app.state.panen = state
    problems.install(app)
    for router in _ROUTERS:
        app.include_router(router)
    # Inside gzip, so that a tag is the body's and not its encoding's. gzip at level 6: the field page's
    # 7 KB reach a 2G phone as ~2 KB; level 9 costs more CPU for a few bytes more.
    app.add_middleware(ConditionalGet)
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=6)
    delivered = _expose_metrics(app, state, metrics_token)
    # Added last, so it runs first: nothing reads a body before its size is checked.
    app.add_middleware(BodyLimit, default_bytes=MIB, per_path={"/v1/registry/import": MAX_DOCUMENT_BYTES})
    return app


def _expose_metrics(app: FastAPI, state: AppState, token: str | None) -> Callable[[str, float], None]:
    """``/metrics``: HTTP requests, and what the platform's state says beyond HTTP (issue 40: alerts,
    the outbox, the fleet, the forecasts); returns what the sender calls after each delivery (the
    latency histogram's observer)."""
    metrics = _observe(app)
    metrics.register(PlatformCollector(state))
    delivered = delivery_timer(metrics)
    # /metrics itself answers (a plain scrape of it got a 307 to /metrics/ and nothing), and so does
    # /metrics/ for the scrapers configured that way.
    exposition = _MetricsGate(make_asgi_app(registry=metrics), token)
    app.router.routes.append(Route("/metrics", exposition, include_in_schema=False))
    app.mount("/metrics", exposition)
    return delivered
