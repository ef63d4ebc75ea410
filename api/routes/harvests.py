"""Harvest records: what Coosae bought; the forecast engine learns from them."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from api.deps import PrincipalDep, SessionDep, field_in_scope, require
from api.schemas import HarvestRecordCreate, HarvestRecordPublic
from services.access import Role
from storage.registry import Field, HarvestRecord

router = APIRouter(prefix="/v1/harvest-records", tags=["harvest records"])


@router.post("", response_model=HarvestRecordPublic, status_code=201)
def create(body: HarvestRecordCreate, session: SessionDep, principal: PrincipalDep) -> HarvestRecord:
    """Record a purchase (offtaker, admin)."""
    require(principal, Role.OFFTAKER, Role.ADMIN)
    field = session.get(Field, body.field_id)
    if field is None:
        raise HTTPException(422, f"field_id: no field {body.field_id!r}")
    if body.harvest_date < field.planting_date:
        raise HTTPException(
            422, f"harvest_date {body.harvest_date} is before the planting date {field.planting_date}"
        )
    record = HarvestRecord(
        field_id=body.field_id,
        harvest_date=body.harvest_date,
        tonnes=body.tonnes,
        grade=body.grade,
        recorded_at=dt.datetime.now(dt.UTC),
        recorded_by=principal.name,
    )
    session.add(record)
    session.commit()
    return record


@router.get("", response_model=list[HarvestRecordPublic])
def list_records(
    session: SessionDep, principal: PrincipalDep, field_id: str | None = None
) -> list[HarvestRecord]:
    """Harvest records of the fields in the caller's scope."""
    if field_id is not None:
        field_in_scope(session, principal, field_id)
    query = select(HarvestRecord).join(Field).order_by(HarvestRecord.id)
    if (scope := principal.field_filter()) is not None:
        query = query.where(scope)
    if field_id is not None:
        query = query.where(HarvestRecord.field_id == field_id)
    return list(session.scalars(query))
