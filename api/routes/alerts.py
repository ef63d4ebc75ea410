"""Alerts: list and filter within one's scope, acknowledge, evaluate now."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from api.deps import PrincipalDep, SessionDep, StateDep, check_filters, require
from services.access import Principal, Role
from services.alerts import ALERT_KINDS
from services.alerts import acknowledge as acknowledge_alert
from services.refresh import evaluate_all_alerts
from storage import db
from storage.db import Alert

# Ids are 64-bit in every registry database: a larger one is a 422, not a database error.
RowId = Annotated[int, Path(ge=1, le=2**62)]
router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

KINDS = ALERT_KINDS


class AlertPublic(BaseModel):
    """An alert."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    subject: str
    coop_id: str | None = Field(description="null for alerts about no one cooperative (contract_at_risk)")
    field_id: str | None
    severity: str
    message: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    active: bool
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None


def _scoped(principal: PrincipalDep, session: SessionDep) -> Select[Alert]:
    query = select(Alert).order_by(Alert.id)
    if principal.role is Role.COOP_MANAGER:
        query = query.where(Alert.coop_id == principal.coop_id)
    elif (scope := principal.field_filter()) is not None:
        # Farmers see alerts about their fields; managers also see their cooperative's stations and nodes.
        query = query.where(Alert.field_id.in_(select(db.Field.id).where(scope)))
    return query


@router.get("", response_model=list[AlertPublic])
def list_alerts(
    session: SessionDep,
    principal: PrincipalDep,
    kind: Annotated[str | None, Query(description=f"One of {', '.join(KINDS)}")] = None,
    coop_id: Annotated[str | None, Query(max_length=128)] = None,
    active: Annotated[bool | None, Query(description="Only active (true) or cleared (false) alerts")] = True,
) -> list[Alert]:
    """Alerts in the caller's scope, newest last."""
    if kind is not None and kind not in KINDS:
        raise HTTPException(422, f"kind must be one of {', '.join(KINDS)}")
    check_filters(session, principal, coop_id=coop_id)
    query = _scoped(principal, session)
    if kind is not None:
        query = query.where(Alert.kind == kind)
    if coop_id is not None:
        query = query.where(Alert.coop_id == coop_id)
    if active is not None:
        query = query.where(Alert.active == active)
    return list(session.scalars(query))


def alert_in_scope(session: Session, principal: Principal, alert_id: int) -> Alert:
    """The alert, if the caller may see it (403 to a scoped caller whether or not it exists)."""
    alert = session.scalars(_scoped(principal, session).where(Alert.id == alert_id)).first()
    if alert is None:
        raise HTTPException(404 if principal.sees_all else 403, f"alert {alert_id} is not in your scope")
    return alert


@router.post("/{alert_id}/acknowledge", response_model=AlertPublic)
def acknowledge(alert_id: RowId, session: SessionDep, principal: PrincipalDep) -> Alert:
    """Mark an alert as seen (it stays active until its cause is gone)."""
    return acknowledge_alert(session, principal, alert_in_scope(session, principal, alert_id))


@router.post("/evaluate", response_model=dict[str, int])
def evaluate(principal: PrincipalDep, state: StateDep) -> dict[str, int]:
    """Evaluate the alert rules now (offtaker, admin); returns active alerts per kind."""
    require(principal, Role.OFFTAKER, Role.ADMIN)
    return evaluate_all_alerts(state)
