"""Request dependencies as ``Annotated`` aliases: the app state, a registry session, the caller."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Principal, Role, TokenCache, resolve
from panen.alerts import contract_findings, evaluate_alerts
from panen.contracts import AT_RISK_BELOW, ContractService
from panen.forecasting import ForecastService
from storage import TimeSeriesStore
from storage.registry import Base, Field

__all__ = ["AppState", "PrincipalDep", "SessionDep", "StateDep", "field_in_scope", "require", "row_in_scope"]


log = logging.getLogger("panen.api")
_Row = TypeVar("_Row", bound=Base)


@dataclass
class AppState:
    """What the routes need, built once by :func:`api.app.create_app`."""

    store: TimeSeriesStore
    sessions: sessionmaker[Session]
    forecasts: ForecastService
    tokens: TokenCache = field(default_factory=TokenCache)
    last_refresh: dt.datetime | None = None
    contracts: ContractService = field(init=False)

    def __post_init__(self) -> None:
        self.contracts = ContractService(self.sessions, self.forecasts)

    def evaluate_alerts(self) -> dict[str, int]:
        """Evaluate every alert rule, including contracts at risk, on the latest forecasts."""
        run = self.forecasts.latest
        extra = contract_findings(self.contracts.report(run), AT_RISK_BELOW) if run is not None else []
        return evaluate_alerts(self.store, self.sessions, run, extra=extra)

    def refresh(self) -> dict[str, object]:
        """Recompute every forecast, then the alerts that depend on them."""
        run = self.forecasts.run()
        counts = self.evaluate_alerts()
        self.last_refresh = dt.datetime.now(dt.UTC)
        log.info(
            "forecasts for %d fields in %.1f s; active alerts %s", len(run.forecasts), run.seconds, counts
        )
        return {
            "issued": run.issued.isoformat(),
            "fields": len(run.forecasts),
            "seconds": run.seconds,
            "active_alerts": counts,
        }


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
    token = credentials.credentials
    principal = state.tokens.get(token)
    if principal is None:
        principal = await run_in_threadpool(_resolve, state, token)
        if principal is None:
            raise HTTPException(401, "the API token is unknown or revoked")
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
