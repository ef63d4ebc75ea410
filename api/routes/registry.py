"""Cooperatives and fields, each caller seeing only their scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.deps import PrincipalDep, SessionDep, field_in_scope
from api.schemas import CooperativePublic, FieldPublic
from storage.registry import Cooperative, Field

router = APIRouter(prefix="/v1", tags=["registry"])


@router.get("/cooperatives", response_model=list[CooperativePublic])
def list_cooperatives(session: SessionDep, principal: PrincipalDep) -> list[Cooperative]:
    """Cooperatives in the caller's scope."""
    query = select(Cooperative).order_by(Cooperative.id)
    if not principal.sees_all:
        query = query.where(Cooperative.id == principal.coop_id)
    return list(session.scalars(query))


@router.get("/fields", response_model=list[FieldPublic])
def list_fields(
    session: SessionDep,
    principal: PrincipalDep,
    coop_id: Annotated[
        str | None, Query(max_length=128, description="Only this cooperative's fields")
    ] = None,
    commodity: Annotated[str | None, Query(max_length=40, examples=["potato"])] = None,
) -> list[Field]:
    """Fields in the caller's scope, optionally filtered."""
    query = select(Field).order_by(Field.id)
    if (scope := principal.field_filter()) is not None:
        query = query.where(scope)
    if coop_id is not None:
        query = query.where(Field.coop_id == coop_id)
    if commodity is not None:
        query = query.where(Field.commodity == commodity)
    return list(session.scalars(query))


@router.get("/fields/{field_id}", response_model=FieldPublic, responses={403: {}, 404: {}})
def get_field(field_id: str, session: SessionDep, principal: PrincipalDep) -> Field:
    """One field."""
    return field_in_scope(session, principal, field_id)
