"""The field page: server-rendered HTML for a farmer's own fields (a manager's: their cooperative's),
in Bahasa Indonesia, for a cheap phone on a poor connection.

Every action is a form, so the page works without JavaScript (with it, :mod:`api.routes.offline`
keeps it useful without signal); no web fonts, no images but one inline SVG chart: a page is
a few kilobytes. Sign-in is a personal link or a one-time code sent over the person's own channel
(:mod:`services.notify.signin`); the session is a cookie holding an expiring API token of exactly
the person's role and scope, so the page sees what the API would show that token and nothing more.
An API token as ``Authorization: Bearer`` works too. Forms posted with the cookie carry a CSRF token
derived from the session.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from api.deps import AppState, SessionDep, StateDep
from api.drawfield import draw_field
from api.fieldpage import (
    COMMODITY,
    HTML_RESPONSES,
    Visitor,
    VisitorDep,
    field_of,
    form_target,
    recording_target,
    refused,
    render,
)
from services import InvalidInput, OutOfScope, orchards, submissions
from services import harvests as harvest_service
from services.access import Principal, Role
from services.alerts import acknowledge
from services.fieldbook import set_planting_date
from services.numbers import parse_amount
from storage.db import Alert, Field

router = APIRouter(prefix="/f", tags=["field page"])
_HTML = HTML_RESPONSES


def _fields(session: SessionDep, principal: Principal) -> list[Field]:
    query = select(Field).order_by(Field.id)
    if (scope := principal.field_filter()) is not None:
        query = query.where(scope)
    return list(session.scalars(query.limit(500)))


@router.get("", response_class=HTMLResponse, responses=_HTML)
def my_fields(request: Request, session: SessionDep, state: StateDep, who: VisitorDep) -> Response:
    """The visitor's fields, each with its open alerts."""
    if who is None:
        return RedirectResponse("/f/masuk", 303)
    fields = _fields(session, who.principal)
    ids = [f.id for f in fields]
    open_alerts: dict[str, int] = {}
    for alert in session.scalars(select(Alert).where(Alert.active, Alert.field_id.in_(ids))):
        open_alerts[alert.field_id or ""] = open_alerts.get(alert.field_id or "", 0) + 1
    return render(
        request, "fields.html", fields=fields, open_alerts=open_alerts, commodity=COMMODITY, who=who
    )


@router.get("/{field_id}", response_class=HTMLResponse, responses=_HTML)
async def field_page(field_id: str, request: Request, state: StateDep, who: VisitorDep) -> Response:
    """One field: soil moisture against the irrigation threshold, open alerts, the harvest forecast,
    the nodes, and forms to record a planting and a harvest."""
    if who is None:
        return RedirectResponse("/f/masuk", 303)
    # One trip to a read thread for the whole page (issue 42: a sync route with a session dependency
    # took three, each a wait for the GIL behind the other requests' work).
    return await state.read(_draw, request, state, who, field_id)


def _draw(request: Request, state: AppState, who: Visitor, field_id: str) -> Response:
    with state.sessions() as session:
        return draw_field(request, session, state, who, field_of(session, who, field_id))


@router.post("/{field_id}/panen", response_class=HTMLResponse, responses=_HTML)
def record_harvest(
    field_id: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    who: VisitorDep,
    harvest_date: Annotated[dt.date, Form()],
    kg: Annotated[str, Form(max_length=30)],
    grade: Annotated[str, Form(pattern="^[ABC]$")] = "A",
    csrf: Annotated[str, Form(max_length=64)] = "",
    submission: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Record a harvest of the field, in kilograms written as the farmer writes them (``1.500``,
    ``750,5``)."""
    target = recording_target(session, who, field_id, csrf)
    if isinstance(target, Response):
        return target
    who, row = target
    try:
        tonnes = parse_amount(kg) / 1000  # 1.500 kg as Indonesians write it (services/numbers.py)
        # The form's own key: sent twice (a retry after a lost answer), it is saved once.
        asked = {"field_id": row.id, "harvest_date": harvest_date, "tonnes": tonnes, "grade": grade}
        key = submissions.key_for(who.principal, submission or None, "harvest_record", **asked)
        done = harvest_service.record(
            session, field_id=row.id, harvest_date=harvest_date, tonnes=tonnes, grade=grade,
            by=who.principal.name, key=key,
        )  # fmt: skip
    except InvalidInput as exc:
        session.rollback()
        return draw_field(request, session, state, who, row, 422, error=refused("Panen", exc))
    return RedirectResponse(f"/f/{row.id}?ok={'sudah' if done.again else 'panen'}", 303)


@router.post("/{field_id}/tanam", response_class=HTMLResponse, responses=_HTML)
def record_planting(
    field_id: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    who: VisitorDep,
    planting_date: Annotated[dt.date, Form()],
    commodity: Annotated[str | None, Form(max_length=40)] = None,
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Record the day the field was planted (a new season), and its crop if it changed (a rotation)."""
    target = form_target(session, who, field_id, csrf)
    if isinstance(target, Response):
        return target
    who, row = target
    if who.principal.role is Role.OFFTAKER:
        raise OutOfScope(
            "Coosae reads fields; their plantings are the farmer's and the cooperative's to record"
        )
    try:
        set_planting_date(session, row, planting_date, by=who.principal.name, commodity=commodity)
    except InvalidInput as exc:
        session.rollback()
        return draw_field(request, session, state, who, row, 422, error=refused("Tanggal tanam", exc))
    return RedirectResponse(f"/f/{row.id}?ok=tanam", 303)


@router.post("/{field_id}/kebun", response_class=HTMLResponse, responses=_HTML)
def record_orchard_event(
    field_id: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    who: VisitorDep,
    kind: Annotated[str, Form(max_length=20)],
    day: Annotated[dt.date, Form()],
    fruits_per_tree: Annotated[float | None, Form(ge=0, le=orchards.MAX_FRUITS_PER_TREE)] = None,
    trees_sampled: Annotated[int | None, Form(ge=1, le=10_000)] = None,
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Record what happened in an orchard: a defoliation, a bloom, a fruit count, a thinning."""
    target = recording_target(session, who, field_id, csrf)
    if isinstance(target, Response):
        return target
    who, row = target
    try:
        orchards.record(
            session, field=row, kind=kind, day=day, by=who.principal.name,
            fruits_per_tree=fruits_per_tree, trees_sampled=trees_sampled,
        )  # fmt: skip
    except InvalidInput as exc:
        session.rollback()
        return draw_field(request, session, state, who, row, 422, error=refused("Catatan", exc))
    return RedirectResponse(f"/f/{row.id}?ok=kebun", 303)


@router.post("/{field_id}/peringatan/{alert_id}", responses=_HTML)
def acknowledge_alert(
    field_id: str,
    alert_id: int,
    session: SessionDep,
    who: VisitorDep,
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Mark an alert of the field as seen."""
    target = form_target(session, who, field_id, csrf)
    if isinstance(target, Response):
        return target
    who, row = target
    alert = session.get(Alert, alert_id) if 0 < alert_id < 2**62 else None
    if alert is None or alert.field_id != row.id:
        raise OutOfScope(f"alert {alert_id} is not one of field {row.id!r}'s")
    acknowledge(session, who.principal, alert)
    return RedirectResponse(f"/f/{row.id}?ok=dibaca", 303)
