"""The audit of registry edits that change what is forecast (:mod:`services.audit`): who changed a
field's crop, area, tree count or planting date, when, and what it was before."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import PrincipalDep, SessionDep
from api.schemas import RegistryEditPublic
from services import audit
from services.access import check_filters, field_in_scope
from storage.db import RegistryEdit

router = APIRouter(prefix="/v1/registry", tags=["registry"])


@router.get("/edits", response_model=list[RegistryEditPublic], responses={403: {}, 404: {}})
def list_edits(
    session: SessionDep,
    principal: PrincipalDep,
    field_id: Annotated[str | None, Query(max_length=128)] = None,
    coop_id: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[RegistryEdit]:
    """Edits of fields' forecast inputs (crop, variety, planting date, area, tree count, soil, place),
    newest first, each with who, when and every changed value before and after; within the caller's
    scope (a farmer their fields, a manager their cooperative's, Coosae and admins everyone's). A
    field or cooperative filter outside that scope is refused as the row would be; Coosae and admins
    may ask for a field that is gone (its delete is in the audit)."""
    if field_id is not None and not principal.sees_all:
        field_in_scope(session, principal, field_id)
    check_filters(session, principal, coop_id=coop_id)
    return audit.edits(session, principal, field_id=field_id, coop_id=coop_id, limit=limit)
