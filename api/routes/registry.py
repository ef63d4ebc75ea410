"""The registry: cooperatives, farmers, fields, weather stations and nodes, each caller seeing only
their scope; admins and cooperative managers (their own cooperative) change it.

Writes follow three rules:

- a cooperative manager writes only inside their cooperative, and nothing moves between
  cooperatives (a field, farmer or node keeps its ``coop_id``; delete and create instead);
- a delete that would orphan something answers 409 and names what still depends on the row
  (harvest records are never deleted through the API: they are Coosae's purchase history);
- a new or changed field is forecast at the next recomputation (``POST /v1/forecasts/recompute``
  or the schedule); a new or changed node is picked up by ingest within seconds.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from api.deps import PrincipalDep, SessionDep, StateDep, check_filters, field_in_scope, require, row_in_scope
from api.schemas import (
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
    NodeCreate,
    NodePublic,
    NodeUpdate,
    StationCreate,
    StationPublic,
)
from sensors.profiles import ProfileLibrary
from sensors.topics import LORAWAN_FORMATS
from services import InvalidInput
from services.access import Principal, Role
from services.orchards import check_trees
from services.registry_import import ImportConflict, import_body
from storage.registry import (
    ApiToken,
    Base,
    Cooperative,
    Farmer,
    Field,
    HarvestRecord,
    Node,
    OrchardEvent,
    Station,
    mark_edited,
    site,
    site_kind,
)

log = logging.getLogger("panen.api")
router = APIRouter(prefix="/v1", tags=["registry"])
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Outside your role or cooperative"},
    404: {},
    409: {},
    422: {},
}
_T = TypeVar("_T", bound=Base)


def _may_write(principal: Principal, coop_id: str) -> None:
    """403 unless the caller is an admin, or the manager of ``coop_id``."""
    require(principal, Role.ADMIN, Role.COOP_MANAGER)
    if principal.role is Role.COOP_MANAGER and coop_id != principal.coop_id:
        raise HTTPException(403, f"cooperative {coop_id!r} is not yours to change")


def _existing_coop(session: Session, coop_id: str) -> Cooperative:
    coop = session.get(Cooperative, coop_id)
    if coop is None:
        raise HTTPException(422, f"coop_id: no cooperative {coop_id!r}")
    return coop


def _unique(session: Session, model: type[_T], ident: str) -> None:
    if session.get(model, ident) is not None:
        raise HTTPException(409, f"a {model.__tablename__} with id {ident!r} already exists")


@functools.cache
def _importer() -> ProcessPoolExecutor:
    """One process that parses and imports fleet documents, started on the first import (spawned:
    a fork of a threaded server is not safe)."""
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


def _unique_site(session: Session, ident: str) -> None:
    existing = site(session, ident)
    if existing is not None:
        kind = site_kind(existing)
        raise HTTPException(
            409, f"{ident!r} is already a {kind}'s id: fields and stations share one id space"
        )


def _apply(row: Base, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        setattr(row, key, value)


def _delete(session: Session, row: Base, what: str, dependants: dict[str, int]) -> Response:
    """Delete ``row`` and answer 204, or refuse (409) while rows still depend on it."""
    left = {k: n for k, n in dependants.items() if n}
    if left:
        listed = ", ".join(f"{n} {k}" for k, n in left.items())
        raise HTTPException(409, f"{what} still has {listed}; remove or move them first")
    session.delete(row)
    session.commit()
    return Response(status_code=204)


def _count(session: Session, model: type[Base], where: ColumnElement[bool]) -> int:
    return session.scalar(select(func.count()).select_from(model).where(where)) or 0


def _scoped(session: Session, principal: Principal, model: type[_T], ident: str, coop_id_of: str) -> _T:
    """A row the caller may see by its cooperative (the 403/404 rule of :func:`api.deps.row_in_scope`)."""
    return row_in_scope(
        session, principal, model, ident, lambda r: principal.can_see_coop(getattr(r, coop_id_of))
    )


# --- cooperatives -------------------------------------------------------------------------------


@router.get("/cooperatives", response_model=list[CooperativePublic])
def list_cooperatives(session: SessionDep, principal: PrincipalDep) -> list[Cooperative]:
    """Cooperatives in the caller's scope."""
    query = select(Cooperative).order_by(Cooperative.id)
    if not principal.sees_all:
        query = query.where(Cooperative.id == principal.coop_id)
    return list(session.scalars(query))


@router.get("/cooperatives/{coop_id}", response_model=CooperativePublic, responses={403: {}, 404: {}})
def get_cooperative(coop_id: str, session: SessionDep, principal: PrincipalDep) -> Cooperative:
    """One cooperative."""
    return _scoped(session, principal, Cooperative, coop_id, "id")


@router.post("/cooperatives", response_model=CooperativePublic, status_code=201, responses=_WRITE)
def create_cooperative(body: CooperativeCreate, session: SessionDep, principal: PrincipalDep) -> Cooperative:
    """Add a cooperative (admin)."""
    require(principal, Role.ADMIN)
    _unique(session, Cooperative, body.id)
    coop = Cooperative(**body.model_dump())
    mark_edited(coop, principal.name)
    session.add(coop)
    session.commit()
    return coop


@router.patch("/cooperatives/{coop_id}", response_model=CooperativePublic, responses=_WRITE)
def update_cooperative(
    coop_id: str, body: CooperativeUpdate, session: SessionDep, principal: PrincipalDep
) -> Cooperative:
    """Change a cooperative's name or kind (admin, or its manager)."""
    _may_write(principal, coop_id)
    coop = _scoped(session, principal, Cooperative, coop_id, "id")
    _apply(coop, body.model_dump(exclude_unset=True, exclude_none=True))
    mark_edited(coop, principal.name)
    session.commit()
    return coop


@router.delete("/cooperatives/{coop_id}", status_code=204, responses=_WRITE)
def delete_cooperative(coop_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Remove a cooperative with nothing left in it (admin)."""
    require(principal, Role.ADMIN)
    coop = _scoped(session, principal, Cooperative, coop_id, "id")
    return _delete(
        session,
        coop,
        f"cooperative {coop_id!r}",
        {
            "fields": _count(session, Field, Field.coop_id == coop_id),
            "farmers": _count(session, Farmer, Farmer.coop_id == coop_id),
            "stations": _count(session, Station, Station.coop_id == coop_id),
            "nodes": _count(session, Node, Node.coop_id == coop_id),
            "API tokens": _count(session, ApiToken, ApiToken.coop_id == coop_id),
        },
    )


# --- farmers ------------------------------------------------------------------------------------


@router.get("/farmers", response_model=list[FarmerPublic])
def list_farmers(
    session: SessionDep,
    principal: PrincipalDep,
    coop_id: Annotated[str | None, Query(max_length=128)] = None,
) -> list[Farmer]:
    """Farmers in the caller's scope (a farmer sees only themself)."""
    check_filters(session, principal, coop_id=coop_id)
    query = select(Farmer).order_by(Farmer.id)
    if principal.role is Role.FARMER:
        query = query.where(Farmer.id == principal.farmer_id)
    elif not principal.sees_all:
        query = query.where(Farmer.coop_id == principal.coop_id)
    if coop_id is not None:
        query = query.where(Farmer.coop_id == coop_id)
    return list(session.scalars(query))


def _farmer(session: Session, principal: Principal, farmer_id: str) -> Farmer:
    def visible(f: Farmer) -> bool:
        # A farmer sees only themself; others see their cooperative's farmers.
        return principal.can_see_coop(f.coop_id) and (
            principal.role is not Role.FARMER or f.id == principal.farmer_id
        )

    return row_in_scope(session, principal, Farmer, farmer_id, visible)


@router.get("/farmers/{farmer_id}", response_model=FarmerPublic, responses={403: {}, 404: {}})
def get_farmer(farmer_id: str, session: SessionDep, principal: PrincipalDep) -> Farmer:
    """One farmer."""
    return _farmer(session, principal, farmer_id)


@router.post("/farmers", response_model=FarmerPublic, status_code=201, responses=_WRITE)
def create_farmer(body: FarmerCreate, session: SessionDep, principal: PrincipalDep) -> Farmer:
    """Add a member farmer (admin, or the cooperative's manager)."""
    _may_write(principal, body.coop_id)
    _existing_coop(session, body.coop_id)
    _unique(session, Farmer, body.id)
    farmer = Farmer(**body.model_dump())
    session.add(farmer)
    session.commit()
    return farmer


@router.patch("/farmers/{farmer_id}", response_model=FarmerPublic, responses=_WRITE)
def update_farmer(farmer_id: str, body: FarmerUpdate, session: SessionDep, principal: PrincipalDep) -> Farmer:
    """Change a farmer's name."""
    farmer = _farmer(session, principal, farmer_id)
    _may_write(principal, farmer.coop_id)
    _apply(farmer, body.model_dump(exclude_unset=True, exclude_none=True))
    session.commit()
    return farmer


@router.delete("/farmers/{farmer_id}", status_code=204, responses=_WRITE)
def delete_farmer(farmer_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Remove a farmer who holds no field and no API token."""
    farmer = _farmer(session, principal, farmer_id)
    _may_write(principal, farmer.coop_id)
    return _delete(
        session,
        farmer,
        f"farmer {farmer_id!r}",
        {
            "fields": _count(session, Field, Field.farmer_id == farmer_id),
            "API tokens": _count(session, ApiToken, ApiToken.farmer_id == farmer_id),
        },
    )


# --- fields -------------------------------------------------------------------------------------


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
    check_filters(session, principal, coop_id=coop_id, commodity=commodity)
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


def _check_farmer(session: Session, farmer_id: str | None, coop_id: str) -> None:
    if farmer_id is None:
        return
    farmer = session.get(Farmer, farmer_id)
    if farmer is None or farmer.coop_id != coop_id:
        raise HTTPException(422, f"farmer_id: no farmer {farmer_id!r} in cooperative {coop_id!r}")


@router.post("/fields", response_model=FieldPublic, status_code=201, responses=_WRITE)
def create_field(body: FieldCreate, session: SessionDep, principal: PrincipalDep) -> Field:
    """Add a field with this season's crop (admin, or the cooperative's manager)."""
    _may_write(principal, body.coop_id)
    _existing_coop(session, body.coop_id)
    _check_farmer(session, body.farmer_id, body.coop_id)
    _unique_site(session, body.id)
    field = Field(**body.model_dump())
    mark_edited(field, principal.name)
    session.add(field)
    session.commit()
    return field


@router.patch("/fields/{field_id}", response_model=FieldPublic, responses=_WRITE)
def update_field(field_id: str, body: FieldUpdate, session: SessionDep, principal: PrincipalDep) -> Field:
    """Change a field, e.g. record the next season's crop and planting date."""
    field = field_in_scope(session, principal, field_id)
    _may_write(principal, field.coop_id)
    changes = body.model_dump(exclude_unset=True)
    if "farmer_id" in changes:
        _check_farmer(session, changes["farmer_id"], field.coop_id)
    _apply(field, {k: v for k, v in changes.items() if v is not None or k == "farmer_id"})
    try:
        check_trees(field.commodity, field.tree_count)
    except InvalidInput as exc:
        session.rollback()
        raise HTTPException(422, f"field {field_id!r}: {exc}") from exc
    mark_edited(field, principal.name)
    session.commit()
    return field


@router.delete("/fields/{field_id}", status_code=204, responses=_WRITE)
def delete_field(field_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Remove a field with no harvest records and no nodes."""
    field = field_in_scope(session, principal, field_id)
    _may_write(principal, field.coop_id)
    return _delete(
        session,
        field,
        f"field {field_id!r}",
        {
            "harvest records": _count(session, HarvestRecord, HarvestRecord.field_id == field_id),
            "nodes": _count(session, Node, Node.site_id == field_id),
            "orchard records": _count(session, OrchardEvent, OrchardEvent.field_id == field_id),
        },
    )


# --- weather stations ---------------------------------------------------------------------------


@router.get("/stations", response_model=list[StationPublic])
def list_stations(session: SessionDep, principal: PrincipalDep) -> list[Station]:
    """Weather stations of the cooperatives in the caller's scope."""
    query = select(Station).order_by(Station.id)
    if not principal.sees_all:
        query = query.where(Station.coop_id == principal.coop_id)
    return list(session.scalars(query))


@router.post("/stations", response_model=StationPublic, status_code=201, responses=_WRITE)
def create_station(body: StationCreate, session: SessionDep, principal: PrincipalDep) -> Station:
    """Add a weather station (admin, or the cooperative's manager)."""
    _may_write(principal, body.coop_id)
    _existing_coop(session, body.coop_id)
    _unique_site(session, body.id)
    station = Station(**body.model_dump())
    mark_edited(station, principal.name)
    session.add(station)
    session.commit()
    return station


@router.delete("/stations/{station_id}", status_code=204, responses=_WRITE)
def delete_station(station_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Remove a weather station with no nodes."""
    station = _scoped(session, principal, Station, station_id, "coop_id")
    _may_write(principal, station.coop_id)
    return _delete(
        session,
        station,
        f"station {station_id!r}",
        {"nodes": _count(session, Node, Node.site_id == station_id)},
    )


# --- nodes --------------------------------------------------------------------------------------


@router.get("/nodes", response_model=list[NodePublic])
def list_nodes(
    session: SessionDep,
    principal: PrincipalDep,
    site_id: Annotated[str | None, Query(max_length=128)] = None,
) -> list[Node]:
    """Nodes in the caller's scope (a farmer: the nodes in their fields)."""
    if site_id is not None:
        _site_in_scope(session, principal, site_id)
    query = select(Node).order_by(Node.id)
    if principal.role is Role.FARMER:
        query = query.where(Node.site_id.in_(select(Field.id).where(Field.farmer_id == principal.farmer_id)))
    elif not principal.sees_all:
        query = query.where(Node.coop_id == principal.coop_id)
    if site_id is not None:
        query = query.where(Node.site_id == site_id)
    return list(session.scalars(query))


def _site_in_scope(session: Session, principal: Principal, site_id: str) -> None:
    """A field or weather station the caller may see, as a filter (see :func:`row_in_scope`): never
    an empty list for a mistyped site."""

    def visible(row: Field | Station) -> bool:
        if isinstance(row, Field):
            return principal.can_see_field(row)
        return principal.role is not Role.FARMER and principal.can_see_coop(row.coop_id)

    model: type[Field | Station] = Station if isinstance(site(session, site_id), Station) else Field
    row_in_scope(session, principal, model, site_id, visible)


def _node(session: Session, principal: Principal, node_id: str) -> Node:
    def visible(n: Node) -> bool:
        # A farmer sees the nodes in their own fields; others their cooperative's nodes.
        if principal.role is not Role.FARMER:
            return principal.can_see_coop(n.coop_id)
        field = session.get(Field, n.site_id)
        return field is not None and principal.can_see_field(field)

    return row_in_scope(session, principal, Node, node_id, visible)


@router.get("/nodes/{node_id}", response_model=NodePublic, responses={403: {}, 404: {}})
def get_node(node_id: str, session: SessionDep, principal: PrincipalDep) -> Node:
    """One node."""
    return _node(session, principal, node_id)


def _check_node(session: Session, node: Node, profiles: ProfileLibrary) -> None:
    """A node's site is a field or station of its cooperative; LoRaWAN nodes carry a unique DevEUI."""
    site = session.get(Field, node.site_id) or session.get(Station, node.site_id)
    if site is None or site.coop_id != node.coop_id:
        raise HTTPException(
            422, f"site_id: no field or weather station {node.site_id!r} in cooperative {node.coop_id!r}"
        )
    lorawan = node.format in LORAWAN_FORMATS
    if lorawan and (not node.dev_eui or not node.profile):
        raise HTTPException(422, f"a {node.format} node needs dev_eui and profile")
    if lorawan and profiles.get(node.profile) is None:
        raise HTTPException(
            422, f"profile: no device profile {node.profile!r} (known: {', '.join(profiles.names())})"
        )
    if not lorawan:
        node.dev_eui, node.profile = None, ""
    if node.dev_eui:
        node.dev_eui = node.dev_eui.lower()
        other = session.scalars(select(Node).where(Node.dev_eui == node.dev_eui, Node.id != node.id)).first()
        if other is not None:
            raise HTTPException(409, f"DevEUI {node.dev_eui} already belongs to another node")


@router.post("/nodes", response_model=NodePublic, status_code=201, responses=_WRITE)
def create_node(body: NodeCreate, session: SessionDep, principal: PrincipalDep, state: StateDep) -> Node:
    """Register a node (admin, or the cooperative's manager); ingest accepts its uplinks within seconds."""
    _may_write(principal, body.coop_id)
    _existing_coop(session, body.coop_id)
    _unique(session, Node, body.id)
    node = Node(**body.model_dump())
    with session.no_autoflush:
        _check_node(session, node, state.profiles)
    mark_edited(node, principal.name)
    session.add(node)
    session.commit()
    return node


@router.patch("/nodes/{node_id}", response_model=NodePublic, responses=_WRITE)
def update_node(
    node_id: str, body: NodeUpdate, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> Node:
    """Change a node, e.g. move it to another field of its cooperative."""
    node = _node(session, principal, node_id)
    _may_write(principal, node.coop_id)
    with session.no_autoflush:
        _apply(node, body.model_dump(exclude_unset=True, exclude_none=True))
        _check_node(session, node, state.profiles)
    mark_edited(node, principal.name)
    session.commit()
    return node


@router.delete("/nodes/{node_id}", status_code=204, responses=_WRITE)
def delete_node(node_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Unregister a node: its later uplinks become dead letters (unknown_node); its readings stay."""
    node = _node(session, principal, node_id)
    _may_write(principal, node.coop_id)
    return _delete(session, node, f"node {node_id!r}", {})


# --- fleet import -------------------------------------------------------------------------------


@router.post(
    "/registry/import",
    response_model=ImportResult,
    responses={403: {}, 413: {}, 422: {}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A fleet document (as `firmware_sim/fleets/batu.yaml`), YAML or JSON",
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def import_registry(
    request: Request,
    principal: PrincipalDep,
    state: StateDep,
    overwrite: Annotated[
        bool, Query(description="Also replace rows people changed through the API since (kept otherwise).")
    ] = False,
) -> ImportResult:
    """Insert or update cooperatives, fields, stations and nodes from a fleet file (admin).

    Importing the same file twice changes nothing; harvest records and tokens are never touched.
    """
    require(principal, Role.ADMIN)
    body = await request.body()  # at most MAX_DOCUMENT_BYTES: api.limits.BodyLimit refused more
    url = state.sessions.kw["bind"].url.render_as_string(hide_password=False)
    try:
        # In another process: parsing 20 MiB of YAML and writing its rows held this process's GIL
        # in stretches, and every other request (a farmer's page, /health) waited through them.
        work = functools.partial(import_body, url, body, overwrite=overwrite)
        counts = await asyncio.get_running_loop().run_in_executor(_importer(), work)
    except ImportConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    except InvalidInput as exc:
        raise HTTPException(422, str(exc)) from exc
    return ImportResult(**counts)
