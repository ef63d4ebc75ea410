"""Harvest records: what Coosae bought; the forecast engine learns from them. Checked against the
crop, corrected and voided with an audit trail, never deleted (see :mod:`services.harvests`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response
from sqlalchemy import select

from api.deps import PrincipalDep, SessionDep, field_in_scope
from api.schemas import HarvestRecordCorrection, HarvestRecordCreate, HarvestRecordPublic, HarvestRecordVoid
from services import InvalidInput, harvests, submissions
from storage.db import Field, HarvestRecord

router = APIRouter(prefix="/v1/harvest-records", tags=["harvest records"])
RecordId = Annotated[int, Path(ge=1, le=2**62)]
_WRITE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such record."},
    422: {"description": "The record cannot be true."},
}


@contextlib.contextmanager
def _as_problems() -> Iterator[None]:
    """The harvest service's errors as the API answers them: 404 for no such record, 422 otherwise."""
    try:
        yield
    except harvests.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except InvalidInput as exc:
        raise HTTPException(422, str(exc)) from exc


@router.post("", response_model=HarvestRecordPublic, status_code=201, responses=_WRITE)
def create(
    body: HarvestRecordCreate,
    session: SessionDep,
    principal: PrincipalDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=100,
            description="Any unique string of yours (a UUID): the same key again answers 200 with the "
            "record the first request made, and stores nothing new (a retry after a lost answer)",
        ),
    ] = None,
) -> HarvestRecord:
    """Record a harvest: Coosae's purchases (offtaker, admin), a cooperative's manager on its fields, a
    farmer on their own. Refused when it cannot be true of the field: a date before planting, a year
    after it or in the future, or tonnes per hectare outside the crop's range. With an
    ``Idempotency-Key`` a retry is answered with the record already made (200,
    ``Idempotent-Replayed: true``), never a second record."""
    if not principal.sees_all:
        field = field_in_scope(session, principal, body.field_id)
        if not harvests.may_record(principal, field):
            raise HTTPException(403, f"field {field.id!r} is not yours to record a harvest of")
    with _as_problems():
        key = submissions.key_for(principal, idempotency_key, "harvest_record", **body.model_dump())
        done = harvests.record(
            session,
            field_id=body.field_id,
            harvest_date=body.harvest_date,
            tonnes=body.tonnes,
            grade=body.grade,
            by=principal.name,
            key=key,
        )
    if done.again:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return done.row


@router.post(
    "/{record_id}/corrections", response_model=HarvestRecordPublic, status_code=201, responses=_WRITE
)
def correct(
    record_id: RecordId, body: HarvestRecordCorrection, session: SessionDep, principal: PrincipalDep
) -> HarvestRecord:
    """Correct a record: a new record that supersedes it; the old one is voided with the reason and
    kept. Coosae and the admin correct any record; a farmer their own field's, a cooperative's manager
    the cooperative's, within 7 days of its recording (``services.harvests.may_amend``)."""
    with _as_problems():
        return harvests.correct(
            session,
            record_id,
            reason=body.reason,
            by=principal,
            harvest_date=body.harvest_date,
            tonnes=body.tonnes,
            grade=body.grade,
        )


@router.post("/{record_id}/void", response_model=HarvestRecordPublic, responses=_WRITE)
def void(
    record_id: RecordId, body: HarvestRecordVoid, session: SessionDep, principal: PrincipalDep
) -> HarvestRecord:
    """Void a record: kept with who, when and why; forecasts stop learning from it. Who may: as for a
    correction."""
    with _as_problems():
        return harvests.void(session, record_id, reason=body.reason, by=principal)


@router.get("", response_model=list[HarvestRecordPublic])
def list_records(
    session: SessionDep,
    principal: PrincipalDep,
    field_id: str | None = None,
    include_voided: Annotated[bool, Query(description="Also the voided and corrected ones.")] = False,
) -> list[HarvestRecord]:
    """Harvest records of the fields in the caller's scope (by default only those in force)."""
    if field_id is not None:
        field_in_scope(session, principal, field_id)
    query = select(HarvestRecord).join(Field).order_by(HarvestRecord.id)
    if (scope := principal.field_filter()) is not None:
        query = query.where(scope)
    if field_id is not None:
        query = query.where(HarvestRecord.field_id == field_id)
    if not include_voided:
        query = query.where(HarvestRecord.voided_at.is_(None))
    return list(session.scalars(query))
