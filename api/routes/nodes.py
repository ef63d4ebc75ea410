"""The fleet of sensor nodes (issue 40): each node with its state (ok, late, silent, low battery;
:mod:`services.fleet`), when it was last heard, its battery and its radio, for the operator woken at
night; and the registry's writes on nodes (admins and the cooperative's managers), picked up by
ingest within seconds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.deps import PrincipalDep, SessionDep, StateDep
from api.schemas import NodeCreate, NodePublic, NodeUpdate
from services import registry
from services.fleet import NodeHealth, NodeState, health_in_scope
from services.notify.outbox import utc_now
from storage.db import Node

router = APIRouter(prefix="/v1", tags=["registry"])
_READ: dict[int | str, dict[str, Any]] = {403: {}, 404: {}}
_WRITE: dict[int | str, dict[str, Any]] = {403: {"description": "Outside your role or cooperative"},
                                           404: {}, 409: {}, 422: {}}  # fmt: skip


def _public(health: NodeHealth) -> NodePublic:
    return NodePublic.model_validate(health.node).model_copy(
        update={
            "state": health.state,
            "last_seen": health.last_seen,
            "silent_s": None if health.silent_s is None else round(health.silent_s),
            "battery_v": health.battery_v,
            "battery_pct": health.battery_pct,
            "rssi_dbm": health.rssi_dbm,
            "snr_db": health.snr_db,
        }
    )


def _now_ms() -> int:
    return int(utc_now().timestamp() * 1000)


@router.get("/nodes", response_model=list[NodePublic])
def list_nodes(
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    site_id: Annotated[str | None, Query(max_length=128)] = None,
    node_state: Annotated[
        NodeState | None, Query(alias="state", description="Only nodes in this state")
    ] = None,
) -> list[NodePublic]:
    """Nodes in the caller's scope (a farmer: the nodes in their fields) with their state, last uplink,
    battery and radio: ``?state=silent`` lists the nodes to visit."""
    found = health_in_scope(state.store, session, principal, _now_ms(), site_id=site_id, state=node_state)
    return [_public(h) for h in found]


@router.get("/nodes/{node_id}", response_model=NodePublic, responses=_READ)
def get_node(node_id: str, session: SessionDep, principal: PrincipalDep, state: StateDep) -> NodePublic:
    """One node, with its state."""
    return _public(health_in_scope(state.store, session, principal, _now_ms(), node_id=node_id)[0])


@router.post("/nodes", response_model=NodePublic, status_code=201, responses=_WRITE)
def create_node(body: NodeCreate, session: SessionDep, principal: PrincipalDep, state: StateDep) -> Node:
    """Register a node (admin, or the cooperative's manager); ingest accepts its uplinks within seconds."""
    return registry.create_node(session, principal, body.model_dump(), state.profiles)


@router.patch("/nodes/{node_id}", response_model=NodePublic, responses=_WRITE)
def update_node(
    node_id: str, body: NodeUpdate, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> Node:
    """Change a node, e.g. move it to another field of its cooperative."""
    node = registry.node_in_scope(session, principal, node_id)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    return registry.update_node(session, principal, node, changes, state.profiles)


@router.delete("/nodes/{node_id}", status_code=204, responses=_WRITE)
def delete_node(node_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Unregister a node: its later uplinks become dead letters (unknown_node); its readings stay."""
    registry.delete_node(session, principal, registry.node_in_scope(session, principal, node_id))
    return Response(status_code=204)
