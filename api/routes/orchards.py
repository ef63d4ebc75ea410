"""Orchard records: what farmers and managers see in an apple or keprok orchard (defoliation,
flowering, fruit counts, thinning); the forecast of the orchard's crop rests on them. Checked against
the orchard, voided with an audit trail, never deleted (see :mod:`services.orchards`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import PrincipalDep, SessionDep, field_in_scope
from api.schemas import HarvestRecordVoid, OrchardEventCreate, OrchardEventPublic
from services import InvalidInput, NotFound, harvests, orchards
from storage.db import OrchardEvent

router = APIRouter(prefix="/v1/fields/{field_id}/events", tags=["orchards"])
EventId = Annotated[int, Path(ge=1, le=2**62)]
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "The field is not yours to record."},
    404: {"description": "No such field or record."},
    422: {"description": "The record cannot be true of the orchard."},
}


@router.get("", response_model=list[OrchardEventPublic])
def list_events(
    field_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    include_void: Annotated[bool, Query(description="Include voided records")] = False,
) -> list[OrchardEvent]:
    """An orchard's records, oldest first (anyone who may see the field)."""
    field_in_scope(session, principal, field_id)
    return orchards.events(session, field_id, include_void=include_void)


@router.post("", response_model=OrchardEventPublic, status_code=201, responses=_WRITE)
def create_event(
    field_id: str, body: OrchardEventCreate, session: SessionDep, principal: PrincipalDep
) -> OrchardEvent:
    """Record what happened in an orchard: the admin, Coosae, the cooperative's manager, or the
    orchard's farmer. Refused when it cannot be true of the orchard: not an orchard crop, a day in the
    future or before the trees were planted, a keprok defoliated, a count without its numbers."""
    field = field_in_scope(session, principal, field_id)
    if not harvests.may_record(principal, field):
        raise HTTPException(403, f"field {field_id!r} is not yours to record")
    try:
        return orchards.record(
            session,
            field=field,
            kind=body.kind,
            day=body.day,
            by=principal.name,
            fruits_per_tree=body.fruits_per_tree,
            trees_sampled=body.trees_sampled,
            note=body.note,
        )
    except InvalidInput as exc:
        raise HTTPException(422, str(exc)) from exc


@router.post("/{event_id}/void", response_model=OrchardEventPublic, responses=_WRITE)
def void_event(
    field_id: str, event_id: EventId, body: HarvestRecordVoid, session: SessionDep, principal: PrincipalDep
) -> OrchardEvent:
    """Void a wrong record (whoever may record one), keeping it with who, when and why."""
    field = field_in_scope(session, principal, field_id)
    if not harvests.may_record(principal, field):
        raise HTTPException(403, f"field {field_id!r} is not yours to record")
    try:
        return orchards.void(session, field_id, event_id, reason=body.reason, by=principal.name)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except InvalidInput as exc:
        raise HTTPException(422, str(exc)) from exc
