"""Undoing a mistake from the field page (issue 39): a farmer voids or corrects a harvest record of
their own field within 7 days, with a reason, as the API allows (:func:`services.harvests.may_amend`).
The record is never deleted: a void keeps who, when and why; a correction is a new record naming the
old one."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import SessionDep, StateDep
from api.drawfield import draw_field
from api.fieldpage import HTML_RESPONSES, Visitor, VisitorDep, form_target, refused
from services import InvalidInput, OutOfScope
from services import harvests as harvest_service
from services.numbers import parse_amount
from storage.db import Field, HarvestRecord

router = APIRouter(prefix="/f", tags=["field page"])
RecordId = Annotated[int, Path(ge=1, le=2**62)]
Reason = Annotated[str, Form(max_length=500)]


def _target(
    session: Session, who: Visitor | None, field_id: str, record_id: int, csrf: str
) -> tuple[Visitor, Field] | Response:
    target = form_target(session, who, field_id, csrf)
    if isinstance(target, Response):
        return target
    record = session.get(HarvestRecord, record_id)
    if record is None or record.field_id != target[1].id:
        raise OutOfScope(f"catatan {record_id} bukan catatan lahan {field_id!r} / not this field's record")
    return target


@router.post("/{field_id}/panen/{record_id}/batal", response_class=HTMLResponse, responses=HTML_RESPONSES)
def void_record(
    field_id: str,
    record_id: RecordId,
    request: Request,
    session: SessionDep,
    state: StateDep,
    who: VisitorDep,
    reason: Reason = "",
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Void a harvest record of the field (recorded twice, or on the wrong field), with a reason."""
    target = _target(session, who, field_id, record_id, csrf)
    if isinstance(target, Response):
        return target
    who, row = target
    try:
        harvest_service.void(session, record_id, reason=reason, by=who.principal)
    except InvalidInput as exc:
        session.rollback()
        return draw_field(request, session, state, who, row, 422, error=refused("Pembatalan", exc))
    return RedirectResponse(f"/f/{row.id}?ok=batal", 303)


@router.post("/{field_id}/panen/{record_id}/ubah", response_class=HTMLResponse, responses=HTML_RESPONSES)
def correct_record(
    field_id: str,
    record_id: RecordId,
    request: Request,
    session: SessionDep,
    state: StateDep,
    who: VisitorDep,
    harvest_date: Annotated[dt.date, Form()],
    kg: Annotated[str, Form(max_length=30)] = "",
    reason: Reason = "",
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Correct a harvest record of the field (the weight or the day), with a reason: a new record
    replaces it and the old one is kept, voided."""
    target = _target(session, who, field_id, record_id, csrf)
    if isinstance(target, Response):
        return target
    who, row = target
    try:
        harvest_service.correct(
            session, record_id, reason=reason, by=who.principal, harvest_date=harvest_date,
            tonnes=parse_amount(kg) / 1000,
        )  # fmt: skip
    except InvalidInput as exc:
        session.rollback()
        return draw_field(request, session, state, who, row, 422, error=refused("Perbaikan", exc))
    return RedirectResponse(f"/f/{row.id}?ok=ubah", 303)
