"""Request dependencies as ``Annotated`` aliases: the app state, a registry session, the caller."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from forecast.crops import load_crops
from sensors.profiles import ProfileLibrary
from services.access import Principal, Role, TokenCache, resolve
from services.forecasting import ForecastService
from services.notify.outbox import NotifyConfig
from services.refresh import Platform
from storage import TimeSeriesStore
from storage.registry import Base, Cooperative, Field

__all__ = [
    "AppState",
    "PrincipalDep",
    "SessionDep",
    "StateDep",
    "check_filters",
    "field_in_scope",
    "principal_of",
    "require",
    "row_in_scope",
]


log = logging.getLogger("panen.api")
_Row = TypeVar("_Row", bound=Base)


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
    ) -> None:
        """Build the services over ``store`` and ``sessions``; nodes may name ``profiles``; alerts'
        messages follow ``notify``."""
        super().__init__(store, sessions, forecasts, notify=notify or NotifyConfig())
        self.tokens = TokenCache()
        self.profiles = profiles


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.panen
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A registry session for the request (see :func:`storage.registry.open_registry` for pool sizing)."""
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
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
    principal = state.tokens.get(token)
    if principal is None:
        principal = await run_in_threadpool(_resolve, state, token)
        if principal is not None:
            state.tokens.put(token, principal)
    return principal


def _resolve(state: AppState, token: str) -> Principal | None:
    with state.sessions() as session:
        return resolve(session, token)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(principal: Principal, *roles: Role) -> None:
    """403 unless the caller has one of ``roles``."""
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise HTTPException(403, f"this needs the role {allowed}; your token is {principal.role.value}")


def row_in_scope(
    session: Session, principal: Principal, model: type[_Row], ident: str, visible: Callable[[_Row], bool]
) -> _Row:
    """The registry row ``ident`` of ``model``, if ``visible`` to the caller.

    A row outside a scoped caller's reach answers 403 whether or not it exists, so ids of other
    farmers' fields (or other cooperatives' rows) cannot be probed; callers who see everything get
    404 for an unknown id.
    """
    row = session.get(model, ident)
    name = model.__tablename__
    if row is not None and visible(row):
        return row
    if principal.sees_all:
        raise HTTPException(404, f"no {name} {ident!r}")
    raise HTTPException(403, f"{name} {ident!r} is not in your scope")


def field_in_scope(session: Session, principal: Principal, field_id: str) -> Field:
    """The field, if the caller may see it (see :func:`row_in_scope`)."""
    return row_in_scope(session, principal, Field, field_id, principal.can_see_field)


def check_filters(
    session: Session, principal: Principal, *, coop_id: str | None = None, commodity: str | None = None
) -> None:
    """Refuse a list filter that cannot match: a mistyped commodity or cooperative would otherwise
    answer an empty list, which reads as "nothing there" (no alerts, nothing to harvest). 422 for a
    commodity that is not a crop of the library; a cooperative answers as a registry row does (404
    unknown, 403 outside a scoped caller's reach, see :func:`row_in_scope`)."""
    if commodity is not None and commodity not in load_crops():
        raise HTTPException(422, f"unknown commodity {commodity!r}: one of {', '.join(sorted(load_crops()))}")
    if coop_id is not None:
        row_in_scope(session, principal, Cooperative, coop_id, lambda c: principal.can_see_coop(c.id))
