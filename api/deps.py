"""Request dependencies as ``Annotated`` aliases: the app state, a registry session, the caller."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import sys
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Annotated, Any, ParamSpec, TypeVar, cast

import anyio
import anyio.to_thread
from fastapi import Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from sensors.profiles import ProfileLibrary
from services.access import (
    FieldScope,
    Principal,
    Recent,
    TokenCache,
    check_field,
    check_filters,
    commodity_named,
    field_in_scope,
    field_scope,
    require,
    resolve,
    row_in_scope,
)
from services.forecasting import ForecastService
from services.notify.outbox import NotifyConfig
from services.planning import Planning
from services.refresh import Platform, RefreshResult, refresh
from services.registry_import import FleetImporter
from storage import TimeSeriesStore
from storage.sqlite import SqliteStore

__all__ = [
    "AppState",
    "CommodityFilter",
    "PrincipalDep",
    "SessionDep",
    "StateDep",
    "check_filters",
    "field_in_scope",
    "principal_of",
    "require",
    "row_in_scope",
    "scoped_field",
]


log = logging.getLogger("panen.api")
P = ParamSpec("P")
T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
# Worker threads the read routes (a field's readings, the field page) use at once. Few: the event loop
# needs the GIL to answer, and every runnable worker competes with it. Under bench.api's 50
# connections (SQLite, 2 cores), the latest readings' p99 was 180 ms with anyio's default 40 threads,
# 160 ms with 8 and 90 ms with 4, at 1.4x the requests/s; a season's daily series 330 ms, 350 ms and
# 270 ms. Other routes keep anyio's pool, so a slow write or import never waits behind reads.
READ_THREADS = 4
# On the embedded SQLite store a read is this process's own CPU, so one thread does them one after
# another, with the interpreter switching threads every 20 ms rather than 5 (serve_tuning): alternated
# with 4 threads and 5 ms under bench.api (2 cores, 50 connections), the daily series' p99 was 128
# and 189 ms against 262 and 296, the latest readings' 58 and 63 against 87 and 119, the field page
# 168 pages/s against 118 (bench.notify). A store on a server (InfluxDB) keeps 4: its reads mostly
# wait for the server, which one thread would do one at a time.
READ_THREADS_EMBEDDED = 1
SWITCH_INTERVAL_EMBEDDED_S = 0.02


def read_threads(store: TimeSeriesStore) -> int:
    """How many read routes run at once over ``store`` (see :data:`READ_THREADS_EMBEDDED`)."""
    return READ_THREADS_EMBEDDED if isinstance(store, SqliteStore) else READ_THREADS


def serve_tuning(store: TimeSeriesStore) -> None:
    """Tune this process's interpreter to serve reads of ``store`` (``panen api`` calls it; the
    switch interval is the whole process's, so nothing else does)."""
    if isinstance(store, SqliteStore):
        sys.setswitchinterval(SWITCH_INTERVAL_EMBEDDED_S)


def settle_heap() -> None:
    """Collect the garbage of the last refresh, then freeze what is still alive (the forecasts, the
    caches, the modules) out of the cyclic collector's way (:func:`gc.freeze`).

    A full collection walks every tracked object: with a refreshed fleet's ~200k, bench.notify's
    field page under 50 connections (SQLite, 2 cores) met one every ~10 s, a 120-160 ms stop of every
    request in flight, the pages' p99. Frozen, the full passes walk only what requests keep, a few
    hundred objects. Unfrozen first, so that the cycles of the run this one replaced are collected,
    not kept for good: one full collection a refresh instead."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class SingleFlight:
    """Concurrent lookups of one key share one: the first starts it, the others wait for its answer.

    The registry's caches (:class:`services.access.Recent`) keep an entry 10 s; when a busy token's
    entry expired, every request in flight with it missed at once and looked it up itself: under
    bench.api's 50 connections, up to 50 registry queries at once every 10 s, for one answer."""

    def __init__(self) -> None:
        self._pending: dict[tuple[asyncio.AbstractEventLoop, Hashable], asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, lookup: Callable[[], Awaitable[T]]) -> T:
        """``await lookup()``, or the answer of the one for ``key`` already under way. A waiter that
        is cancelled (its client went away) does not cancel the lookup the others wait for."""
        slot = (asyncio.get_running_loop(), key)  # a future belongs to its event loop
        pending = self._pending.get(slot)
        if pending is None:
            pending = asyncio.ensure_future(lookup())
            self._pending[slot] = pending
            pending.add_done_callback(lambda _: self._pending.pop(slot, None))
        return cast(T, await asyncio.shield(pending))


class AppState(Platform):
    """What the routes need: the services of :class:`services.refresh.Platform`, a token cache and
    the device profiles."""

    def __init__(
        self,
        store: TimeSeriesStore,
        sessions: sessionmaker[Session],
        forecasts: ForecastService,
        profiles: ProfileLibrary,
        notify: NotifyConfig | None = None,
        *,
        freeze_heap: bool = False,
    ) -> None:
        """Build the services over ``store`` and ``sessions``; nodes may name ``profiles``; alerts'
        messages follow ``notify``; with ``freeze_heap``, each refresh ends in :func:`settle_heap`."""
        super().__init__(store, sessions, forecasts, notify=notify or NotifyConfig())
        self.freeze_heap = freeze_heap
        self.tokens = TokenCache()
        self.fields: Recent[str, FieldScope] = Recent()  # scope checks of cheap reads: scoped_field
        self.lookups = SingleFlight()  # a miss of either cache is looked up once, however many wait
        self.profiles = profiles
        self.importer = FleetImporter()
        self.planning = Planning(store, sessions, self.forecasts, self.contracts)
        self._reads: tuple[asyncio.AbstractEventLoop, anyio.CapacityLimiter] | None = None

    def refresh(self) -> RefreshResult:
        """One refresh cycle (:func:`services.refresh.refresh`), then :func:`settle_heap` with
        ``freeze_heap`` (a failed cycle too: its garbage is collected all the same)."""
        try:
            return refresh(self)
        finally:
            if self.freeze_heap:
                settle_heap()

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in one of the read routes' worker threads (:func:`read_threads`)."""
        loop = asyncio.get_running_loop()
        if self._reads is None or self._reads[0] is not loop:  # a limiter belongs to its event loop
            self._reads = (loop, anyio.CapacityLimiter(read_threads(self.store)))
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=self._reads[1])


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.panen
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A registry session for the request (see :func:`storage.db.engine.open_registry` for pool sizing)."""
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def commodity_filter(
    commodity: Annotated[
        str | None,
        Query(
            max_length=40,
            description="Only this commodity: a crop of the library (potato) or its Indonesian name",
            examples=["potato"],
        ),
    ] = None,
) -> str | None:
    """A list's commodity filter, in the library's name whichever name was typed. Async: a sync
    dependency runs in a worker thread, and the plan's cached answer is meant to need none (a thread
    hop per request tripled the plan's p99 at 50 connections, 36 ms to 158-186 ms in bench.api)."""
    return None if commodity is None else commodity_named(commodity)


CommodityFilter = Annotated[str | None, Depends(commodity_filter)]
_bearer = HTTPBearer(auto_error=False, description="An API token from `panen token create`.")


async def current_principal(
    state: StateDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    # Async, and the registry is read only on a cache miss: a request for a cached answer (the
    # purchase plan) then needs no worker thread at all.
    if credentials is None:
        raise HTTPException(401, "send an API token as 'Authorization: Bearer <token>'")
    principal = await principal_of(state, credentials.credentials)
    if principal is None:
        raise HTTPException(401, "the API token is unknown or revoked")
    return principal


async def principal_of(state: AppState, token: str) -> Principal | None:
    """The principal of ``token`` (a bearer token or the field page's session), from the token cache
    or, on a miss, the registry; None for an unknown, revoked or expired one."""
    return await _cached(state, state.tokens, token, lambda: run_in_threadpool(_resolve, state, token))


async def _cached(
    state: AppState, cache: Recent[K, V], key: K, fetch: Callable[[], Awaitable[V | None]]
) -> V | None:
    """``cache``'s entry for ``key``, or on a miss what ``fetch()`` finds (kept when found; misses
    in flight together share one fetch, :class:`SingleFlight`)."""
    value = cache.get(key)
    if value is not None:
        return value

    async def look_up() -> V | None:
        found = await fetch()
        if found is not None:
            cache.put(key, found)
        return found

    return await state.lookups.run((cache, key), look_up)


def _resolve(state: AppState, token: str) -> Principal | None:
    with state.sessions() as session:
        return resolve(session, token)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def scoped_field(state: AppState, principal: Principal, field_id: str) -> FieldScope:
    """The field if the caller may see it (as :func:`field_in_scope`), from the field cache or, on a
    miss, the registry. For reads that need nothing else of the registry (a field's readings): with
    the scope cached, they make one trip to a worker thread, for the store (issue 42: the check was
    a registry query and a worker thread of its own per request, more than the latest readings'
    query itself)."""
    scope = await _cached(state, state.fields, field_id, lambda: state.read(_field_scope, state, field_id))
    return check_field(principal, field_id, scope)


def _field_scope(state: AppState, field_id: str) -> FieldScope | None:
    with state.sessions() as session:
        return field_scope(session, field_id)
