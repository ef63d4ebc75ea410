"""The registry: cooperatives, farmers, fields, weather stations and nodes, each caller seeing only
their scope; admins and cooperative managers (their own cooperative) change it, by the write rules of
:mod:`services.registry`. A new or changed node is picked up by ingest within seconds; a new or
changed field is forecast at the next recomputation (``POST /v1/forecasts/recompute`` or the schedule).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from api.deps import CommodityFilter, PrincipalDep, SessionDep, StateDep, field_in_scope
from api.schemas import (
    FLEET_DOCUMENT_BODY,
    CooperativeCreate,
    CooperativePublic,
    CooperativeUpdate,
    FarmerCreate,
    FarmerPublic,
    FarmerUpdate,
    FieldCreate,
    FieldPublic,
    FieldUpdate,
    ImportResult,
    StationCreate,
    StationPublic,
)
from services import registry
from services.access import Role, require
from storage.db import Cooperative, Farmer, Field, Station

router = APIRouter(prefix="/v1", tags=["registry"])
_READ: dict[int | str, dict[str, Any]] = {403: {}, 404: {}}
_OUTSIDE = {"description": "Outside your role or cooperative"}
_WRITE: dict[int | str, dict[str, Any]] = {403: _OUTSIDE, 404: {}, 409: {}, 422: {}}
_COOP_FILTER = Query(max_length=128, description="Only this cooperative's rows")
_OVERWRITE = Query(description="Also replace rows people changed through the API since (kept otherwise).")


def _changes(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True, exclude_none=True)


# --- cooperatives -------------------------------------------------------------------------------


@router.get("/cooperatives", response_model=list[CooperativePublic])
def list_cooperatives(session: SessionDep, principal: PrincipalDep) -> list[Cooperative]:
    """Cooperatives in the caller's scope."""
    return registry.cooperatives(session, principal)


@router.get("/cooperatives/{coop_id}", response_model=CooperativePublic, responses=_READ)
def get_cooperative(coop_id: str, session: SessionDep, principal: PrincipalDep) -> Cooperative:
    """One cooperative."""
    return registry.in_coop_scope(session, principal, Cooperative, coop_id, "id")


@router.post("/cooperatives", response_model=CooperativePublic, status_code=201, responses=_WRITE)
def create_cooperative(body: CooperativeCreate, session: SessionDep, principal: PrincipalDep) -> Cooperative:
    """Add a cooperative (admin)."""
    return registry.create_cooperative(session, principal, body.model_dump())


@router.patch("/cooperatives/{coop_id}", response_model=CooperativePublic, responses=_WRITE)
def update_cooperative(
    coop_id: str, body: CooperativeUpdate, session: SessionDep, principal: PrincipalDep
) -> Cooperative:
    """Change a cooperative's name or kind (admin, or its manager)."""
    registry.may_write(principal, coop_id)  # before the lookup: "not yours to change", not "not in scope"
    coop = registry.in_coop_scope(session, principal, Cooperative, coop_id, "id")
    return registry.update_cooperative(session, principal, coop, _changes(body))


@router.delete("/cooperatives/{coop_id}", status_code=204, responses=_WRITE)
def delete_cooperative(coop_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Remove a cooperative with nothing left in it (admin)."""
    require(principal, Role.ADMIN)
    coop = registry.in_coop_scope(session, principal, Cooperative, coop_id, "id")
    registry.delete_cooperative(session, principal, coop)
    return Response(status_code=204)


# --- farmers ------------------------------------------------------------------------------------


@router.get("/farmers", response_model=list[FarmerPublic])
def list_farmers(
    session: SessionDep, principal: PrincipalDep, coop_id: Annotated[str | None, _COOP_FILTER] = None
) -> list[Farmer]:
    """Farmers in the caller's scope (a farmer sees only themself)."""
    return registry.farmers(session, principal, coop_id)


@router.get("/farmers/{farmer_id}", response_model=FarmerPublic, responses=_READ)
def get_farmer(farmer_id: str, session: SessionDep, principal: PrincipalDep) -> Farmer:
    """One farmer."""
    return registry.farmer_in_scope(session, principal, farmer_id)


@router.post("/farmers", response_model=FarmerPublic, status_code=201, responses=_WRITE)
def create_farmer(body: FarmerCreate, session: SessionDep, principal: PrincipalDep) -> Farmer:
    """Add a member farmer (admin, or the cooperative's manager)."""
    return registry.create_farmer(session, principal, body.model_dump())


@router.patch("/farmers/{farmer_id}", response_model=FarmerPublic, responses=_WRITE)
def update_farmer(farmer_id: str, body: FarmerUpdate, session: SessionDep, principal: PrincipalDep) -> Farmer:
    """Change a farmer's name."""
    farmer = registry.farmer_in_scope(session, principal, farmer_id)
    return registry.update_farmer(session, principal, farmer, _changes(body))


@router.delete("/farmers/{farmer_id}", status_code=204, responses=_WRITE)
def delete_farmer(farmer_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Remove a farmer who holds no field, no contact and no working API token (their revoked and
    expired ones go with them)."""
    registry.delete_farmer(session, principal, registry.farmer_in_scope(session, principal, farmer_id))
    return Response(status_code=204)


# --- fields -------------------------------------------------------------------------------------


@router.get("/fields", response_model=list[FieldPublic])
def list_fields(
    session: SessionDep,
    principal: PrincipalDep,
    commodity: CommodityFilter,
    coop_id: Annotated[str | None, _COOP_FILTER] = None,
) -> list[Field]:
    """Fields in the caller's scope, optionally filtered."""
    return registry.fields(session, principal, coop_id=coop_id, commodity=commodity)


@router.get("/fields/{field_id}", response_model=FieldPublic, responses=_READ)
def get_field(field_id: str, session: SessionDep, principal: PrincipalDep) -> Field:
    """One field."""
    return field_in_scope(session, principal, field_id)


@router.post("/fields", response_model=FieldPublic, status_code=201, responses=_WRITE)
def create_field(body: FieldCreate, session: SessionDep, principal: PrincipalDep) -> Field:
    """Add a field with this season's crop (admin, or the cooperative's manager)."""
    return registry.create_field(session, principal, body.model_dump())


@router.patch("/fields/{field_id}", response_model=FieldPublic, responses=_WRITE)
def update_field(
    field_id: str, body: FieldUpdate, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> Field:
    """Change a field, e.g. record the next season's crop and planting date."""
    field = field_in_scope(session, principal, field_id)
    changed = registry.update_field(session, principal, field, body.model_dump(exclude_unset=True))
    state.fields.clear()  # its farmer may have changed: the readings' scope checks look again
    return changed


@router.delete("/fields/{field_id}", status_code=204, responses=_WRITE)
def delete_field(field_id: str, session: SessionDep, principal: PrincipalDep, state: StateDep) -> Response:
    """Remove a field with no harvest records and no nodes."""
    registry.delete_field(session, principal, field_in_scope(session, principal, field_id))
    state.fields.clear()
    return Response(status_code=204)


# --- weather stations ---------------------------------------------------------------------------


@router.get("/stations", response_model=list[StationPublic])
def list_stations(session: SessionDep, principal: PrincipalDep) -> list[Station]:
    """Weather stations of the cooperatives in the caller's scope."""
    return registry.stations(session, principal)


@router.post("/stations", response_model=StationPublic, status_code=201, responses=_WRITE)
def create_station(body: StationCreate, session: SessionDep, principal: PrincipalDep) -> Station:
    """Add a weather station (admin, or the cooperative's manager)."""
    return registry.create_station(session, principal, body.model_dump())


@router.delete("/stations/{station_id}", status_code=204, responses=_WRITE)
def delete_station(station_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Remove a weather station with no nodes."""
    station = registry.in_coop_scope(session, principal, Station, station_id, "coop_id")
    registry.delete_station(session, principal, station)
    return Response(status_code=204)


# --- fleet import -------------------------------------------------------------------------------


@router.post(
    "/registry/import",
    response_model=ImportResult,
    responses={403: {}, 409: {}, 413: {}, 422: {}},
    openapi_extra=FLEET_DOCUMENT_BODY,
)
async def import_registry(
    request: Request,
    principal: PrincipalDep,
    state: StateDep,
    overwrite: Annotated[bool, _OVERWRITE] = False,
) -> ImportResult:
    """Insert or update cooperatives, fields, stations and nodes from a fleet file (admin). Importing
    the same file twice changes nothing; harvest records and tokens are never touched."""
    require(principal, Role.ADMIN)
    body = await request.body()  # at most MAX_DOCUMENT_BYTES: api.limits.BodyLimit refused more
    result = ImportResult(**await state.importer.run(state.sessions, body, overwrite=overwrite))
    state.fields.clear()
    return result
