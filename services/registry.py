"""The registry's write rules: cooperatives, farmers, fields, weather stations and nodes.

The API, the demo and the CLI change the registry through these functions only. The rules:

- a cooperative manager writes only inside their cooperative, and nothing moves between
  cooperatives (a field, farmer or node keeps its ``coop_id``; delete and create instead);
- fields and weather stations share one id space (a node's ``site_id`` names either);
- a delete that would orphan something is a :class:`services.Conflict` naming what still depends
  on the row (harvest records are never deleted: they are Coosae's purchase history);
- a node's site is a field or station of its cooperative; a LoRaWAN node carries a DevEUI no other
  node has, and a device profile the library knows.

Each function commits, or raises (:class:`services.InvalidInput` 422, :class:`services.OutOfScope`
403, :class:`services.Conflict` 409) having changed nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from sensors.profiles import ProfileLibrary
from sensors.topics import LORAWAN_FORMATS
from services import Conflict, InvalidInput, OutOfScope
from services.access import Principal, Role, check_filters, require, row_in_scope
from services.orchards import check_orchard_yield, check_trees, latest_count
from storage.db import (
    Alert,
    ApiToken,
    Base,
    Contact,
    Cooperative,
    Farmer,
    Field,
    HarvestRecord,
    Node,
    OrchardEvent,
    Station,
    Subscription,
    site,
    site_kind,
)
from storage.db.base import mark_edited

__all__ = [
    "cooperatives",
    "create_cooperative",
    "create_farmer",
    "create_field",
    "create_node",
    "create_station",
    "delete_cooperative",
    "delete_farmer",
    "delete_field",
    "delete_node",
    "delete_station",
    "farmer_in_scope",
    "farmers",
    "fields",
    "in_coop_scope",
    "may_write",
    "node_in_scope",
    "nodes",
    "stations",
    "update_cooperative",
    "update_farmer",
    "update_field",
    "update_node",
]

_T = TypeVar("_T", bound=Base)


def may_write(principal: Principal, coop_id: str) -> None:
    """Refuse unless the caller is an admin, or the manager of ``coop_id``."""
    require(principal, Role.ADMIN, Role.COOP_MANAGER)
    if principal.role is Role.COOP_MANAGER and coop_id != principal.coop_id:
        raise OutOfScope(f"cooperative {coop_id!r} is not yours to change")


def _existing_coop(session: Session, coop_id: str) -> Cooperative:
    coop = session.get(Cooperative, coop_id)
    if coop is None:
        raise InvalidInput(f"coop_id: no cooperative {coop_id!r}")
    return coop


def _own_id(principal: Principal, coop_id: str, ident: str) -> None:
    """A manager names new rows within their cooperative's ids (``<coop_id>-…``, as the fleet does):
    an id in use elsewhere would otherwise answer 409 and tell them that another cooperative has it
    (issue 37). The admin names rows anywhere.

    Raises:
        InvalidInput: an id outside the cooperative's.
    """
    if principal.role is not Role.ADMIN and not ident.startswith(f"{coop_id}-"):
        raise InvalidInput(f"id {ident!r}: a cooperative's rows are named {coop_id}-… (e.g. {coop_id}-f12)")


def _unique(session: Session, model: type[_T], ident: str) -> None:
    if session.get(model, ident) is not None:
        raise Conflict(f"a {model.__tablename__} with id {ident!r} already exists")


def _unique_site(session: Session, ident: str) -> None:
    existing = site(session, ident)
    if existing is not None:
        kind = site_kind(existing)
        raise Conflict(f"{ident!r} is already a {kind}'s id: fields and stations share one id space")


def _apply(row: Base, changes: Mapping[str, Any]) -> None:
    for key, value in changes.items():
        setattr(row, key, value)


def _count(session: Session, model: type[Base], where: ColumnElement[bool]) -> int:
    return session.scalar(select(func.count()).select_from(model).where(where)) or 0


def _delete(session: Session, row: Base, what: str, dependants: Mapping[str, int]) -> None:
    """Delete ``row``, or refuse while rows still depend on it."""
    left = {k: n for k, n in dependants.items() if n}
    if left:
        listed = ", ".join(f"{n} {k}" for k, n in left.items())
        raise Conflict(f"{what} still has {listed}; remove or move them first")
    session.delete(row)
    session.commit()


def _add(session: Session, row: _T) -> _T:
    session.add(row)
    session.commit()
    return row


# --- what the caller may see ---------------------------------------------------------------------


def in_coop_scope(session: Session, principal: Principal, model: type[_T], ident: str, coop_id_of: str) -> _T:
    """A row the caller may see by its cooperative (the 403/404 rule of
    :func:`services.access.row_in_scope`)."""
    return row_in_scope(
        session, principal, model, ident, lambda r: principal.can_see_coop(getattr(r, coop_id_of))
    )


def cooperatives(session: Session, principal: Principal) -> list[Cooperative]:
    """Cooperatives in the caller's scope."""
    query = select(Cooperative).order_by(Cooperative.id)
    if not principal.sees_all:
        query = query.where(Cooperative.id == principal.coop_id)
    return list(session.scalars(query))


def farmers(session: Session, principal: Principal, coop_id: str | None = None) -> list[Farmer]:
    """Farmers in the caller's scope (a farmer sees only themself), of ``coop_id`` if given."""
    check_filters(session, principal, coop_id=coop_id)
    query = select(Farmer).order_by(Farmer.id)
    if principal.role is Role.FARMER:
        query = query.where(Farmer.id == principal.farmer_id)
    elif not principal.sees_all:
        query = query.where(Farmer.coop_id == principal.coop_id)
    if coop_id is not None:
        query = query.where(Farmer.coop_id == coop_id)
    return list(session.scalars(query))


def farmer_in_scope(session: Session, principal: Principal, farmer_id: str) -> Farmer:
    """One farmer the caller may see: a farmer only themself, others their cooperative's."""

    def visible(f: Farmer) -> bool:
        return principal.can_see_coop(f.coop_id) and (
            principal.role is not Role.FARMER or f.id == principal.farmer_id
        )

    return row_in_scope(session, principal, Farmer, farmer_id, visible)


def fields(
    session: Session, principal: Principal, *, coop_id: str | None = None, commodity: str | None = None
) -> list[Field]:
    """Fields in the caller's scope, optionally of one cooperative or commodity."""
    check_filters(session, principal, coop_id=coop_id, commodity=commodity)
    query = select(Field).order_by(Field.id)
    if (scope := principal.field_filter()) is not None:
        query = query.where(scope)
    if coop_id is not None:
        query = query.where(Field.coop_id == coop_id)
    if commodity is not None:
        query = query.where(Field.commodity == commodity)
    return list(session.scalars(query))


def stations(session: Session, principal: Principal) -> list[Station]:
    """Weather stations of the cooperatives in the caller's scope."""
    query = select(Station).order_by(Station.id)
    if not principal.sees_all:
        query = query.where(Station.coop_id == principal.coop_id)
    return list(session.scalars(query))


def nodes(session: Session, principal: Principal, site_id: str | None = None) -> list[Node]:
    """Nodes in the caller's scope (a farmer: the nodes in their fields), at ``site_id`` if given
    (a site the caller cannot see is refused, never an empty list)."""
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
    def visible(row: Field | Station) -> bool:
        if isinstance(row, Field):
            return principal.can_see_field(row)
        return principal.role is not Role.FARMER and principal.can_see_coop(row.coop_id)

    model: type[Field | Station] = Station if isinstance(site(session, site_id), Station) else Field
    row_in_scope(session, principal, model, site_id, visible)


def node_in_scope(session: Session, principal: Principal, node_id: str) -> Node:
    """One node the caller may see: a farmer the nodes in their own fields, others their cooperative's."""

    def visible(n: Node) -> bool:
        if principal.role is not Role.FARMER:
            return principal.can_see_coop(n.coop_id)
        field = session.get(Field, n.site_id)
        return field is not None and principal.can_see_field(field)

    return row_in_scope(session, principal, Node, node_id, visible)


# --- cooperatives -------------------------------------------------------------------------------


def create_cooperative(session: Session, principal: Principal, data: Mapping[str, Any]) -> Cooperative:
    """Add a cooperative (admin)."""
    require(principal, Role.ADMIN)
    _unique(session, Cooperative, data["id"])
    coop = Cooperative(**data)
    mark_edited(coop, principal.name)
    return _add(session, coop)


def update_cooperative(
    session: Session, principal: Principal, coop: Cooperative, changes: Mapping[str, Any]
) -> Cooperative:
    """Change a cooperative's name or kind (admin, or its manager)."""
    may_write(principal, coop.id)
    _apply(coop, changes)
    mark_edited(coop, principal.name)
    session.commit()
    return coop


def delete_cooperative(session: Session, principal: Principal, coop: Cooperative) -> None:
    """Remove a cooperative with nothing left in it (admin)."""
    require(principal, Role.ADMIN)
    dependants = {
        "fields": _count(session, Field, Field.coop_id == coop.id),
        "farmers": _count(session, Farmer, Farmer.coop_id == coop.id),
        "stations": _count(session, Station, Station.coop_id == coop.id),
        "nodes": _count(session, Node, Node.coop_id == coop.id),
        "API tokens": _count(session, ApiToken, ApiToken.coop_id == coop.id),
        # Every row that names the cooperative, so a refusal says which (issue 37: alert history was a
        # foreign-key failure answered as "an id already in use").
        "alerts (history)": _count(session, Alert, Alert.coop_id == coop.id),
        "contacts": _count(session, Contact, Contact.coop_id == coop.id),
        "subscriptions": _count(session, Subscription, Subscription.coop_id == coop.id),
    }
    _delete(session, coop, f"cooperative {coop.id!r}", dependants)


# --- farmers ------------------------------------------------------------------------------------


def create_farmer(session: Session, principal: Principal, data: Mapping[str, Any]) -> Farmer:
    """Add a member farmer (admin, or the cooperative's manager)."""
    may_write(principal, data["coop_id"])
    _existing_coop(session, data["coop_id"])
    _own_id(principal, data["coop_id"], data["id"])
    _unique(session, Farmer, data["id"])
    return _add(session, Farmer(**data))


def update_farmer(
    session: Session, principal: Principal, farmer: Farmer, changes: Mapping[str, Any]
) -> Farmer:
    """Change a farmer's name."""
    may_write(principal, farmer.coop_id)
    _apply(farmer, changes)
    session.commit()
    return farmer


def delete_farmer(session: Session, principal: Principal, farmer: Farmer) -> None:
    """Remove a farmer who holds no field, no contact and no working API token. Tokens that no longer
    work (revoked, or expired field-page sessions, which deleting the contact revokes) go with them:
    counting those kept a farmer who had ever signed in from being removed at all."""
    may_write(principal, farmer.coop_id)
    now = dt.datetime.now(dt.UTC)
    live = (ApiToken.farmer_id == farmer.id) & ~ApiToken.revoked
    live &= ApiToken.expires_at.is_(None) | (ApiToken.expires_at > now)
    dependants = {
        "fields": _count(session, Field, Field.farmer_id == farmer.id),
        "API tokens": _count(session, ApiToken, live),
        "contacts": _count(session, Contact, Contact.farmer_id == farmer.id),
    }
    if not any(dependants.values()):
        session.execute(delete(ApiToken).where(ApiToken.farmer_id == farmer.id))
    _delete(session, farmer, f"farmer {farmer.id!r}", dependants)


# --- fields -------------------------------------------------------------------------------------


def _check_farmer(session: Session, farmer_id: str | None, coop_id: str) -> None:
    if farmer_id is None:
        return
    farmer = session.get(Farmer, farmer_id)
    if farmer is None or farmer.coop_id != coop_id:
        raise InvalidInput(f"farmer_id: no farmer {farmer_id!r} in cooperative {coop_id!r}")


def create_field(session: Session, principal: Principal, data: Mapping[str, Any]) -> Field:
    """Add a field with this season's crop (admin, or the cooperative's manager)."""
    may_write(principal, data["coop_id"])
    _existing_coop(session, data["coop_id"])
    _check_farmer(session, data.get("farmer_id"), data["coop_id"])
    _own_id(principal, data["coop_id"], data["id"])
    _unique_site(session, data["id"])
    field = Field(**data)
    mark_edited(field, principal.name)
    return _add(session, field)


def update_field(session: Session, principal: Principal, field: Field, changes: Mapping[str, Any]) -> Field:
    """Change a field, e.g. record the next season's crop and planting date. ``changes`` may set
    ``farmer_id`` to None (no farmer); other None values are left out."""
    may_write(principal, field.coop_id)
    if "farmer_id" in changes:
        _check_farmer(session, changes["farmer_id"], field.coop_id)
    _apply(field, {k: v for k, v in changes.items() if v is not None or k == "farmer_id"})
    mark_edited(field, principal.name)  # before any query: an autoflush audits the edit under this name
    try:
        check_trees(field.commodity, field.tree_count, field.area_ha)
        if {"tree_count", "area_ha"} & set(changes):
            check_orchard_yield(
                field.commodity, field.tree_count, field.area_ha, latest_count(session, field.id)
            )
    except InvalidInput as exc:
        session.rollback()
        raise InvalidInput(f"field {field.id!r}: {exc}") from exc
    session.commit()
    return field


def delete_field(session: Session, principal: Principal, field: Field) -> None:
    """Remove a field with no harvest records, orchard records or nodes (audited: services.audit)."""
    may_write(principal, field.coop_id)
    session.info["actor"] = principal.name
    dependants = {
        "harvest records": _count(session, HarvestRecord, HarvestRecord.field_id == field.id),
        "nodes": _count(session, Node, Node.site_id == field.id),
        "orchard records": _count(session, OrchardEvent, OrchardEvent.field_id == field.id),
    }
    _delete(session, field, f"field {field.id!r}", dependants)


# --- weather stations ---------------------------------------------------------------------------


def create_station(session: Session, principal: Principal, data: Mapping[str, Any]) -> Station:
    """Add a weather station (admin, or the cooperative's manager)."""
    may_write(principal, data["coop_id"])
    _existing_coop(session, data["coop_id"])
    _own_id(principal, data["coop_id"], data["id"])
    _unique_site(session, data["id"])
    station = Station(**data)
    mark_edited(station, principal.name)
    return _add(session, station)


def delete_station(session: Session, principal: Principal, station: Station) -> None:
    """Remove a weather station with no nodes."""
    may_write(principal, station.coop_id)
    dependants = {"nodes": _count(session, Node, Node.site_id == station.id)}
    _delete(session, station, f"station {station.id!r}", dependants)


# --- nodes --------------------------------------------------------------------------------------


def _check_node(session: Session, node: Node, profiles: ProfileLibrary) -> None:
    """A node's site is a field or station of its cooperative; LoRaWAN nodes carry a unique DevEUI."""
    where = session.get(Field, node.site_id) or session.get(Station, node.site_id)
    if where is None or where.coop_id != node.coop_id:
        raise InvalidInput(
            f"site_id: no field or weather station {node.site_id!r} in cooperative {node.coop_id!r}"
        )
    lorawan = node.format in LORAWAN_FORMATS
    if lorawan and (not node.dev_eui or not node.profile):
        raise InvalidInput(f"a {node.format} node needs dev_eui and profile")
    if lorawan and profiles.get(node.profile) is None:
        raise InvalidInput(
            f"profile: no device profile {node.profile!r} (known: {', '.join(profiles.names())})"
        )
    if not lorawan:
        node.dev_eui, node.profile = None, ""
    if node.dev_eui:
        node.dev_eui = node.dev_eui.lower()
        other = session.scalars(select(Node).where(Node.dev_eui == node.dev_eui, Node.id != node.id)).first()
        if other is not None:
            raise Conflict(f"DevEUI {node.dev_eui} already belongs to another node")


def create_node(
    session: Session, principal: Principal, data: Mapping[str, Any], profiles: ProfileLibrary
) -> Node:
    """Register a node (admin, or the cooperative's manager); ingest accepts its uplinks within seconds."""
    may_write(principal, data["coop_id"])
    _existing_coop(session, data["coop_id"])
    _own_id(principal, data["coop_id"], data["id"])
    _unique(session, Node, data["id"])
    node = Node(**data)
    with session.no_autoflush:
        _check_node(session, node, profiles)
    mark_edited(node, principal.name)
    return _add(session, node)


def update_node(
    session: Session, principal: Principal, node: Node, changes: Mapping[str, Any], profiles: ProfileLibrary
) -> Node:
    """Change a node, e.g. move it to another field of its cooperative."""
    may_write(principal, node.coop_id)
    with session.no_autoflush:
        _apply(node, changes)
        try:
            _check_node(session, node, profiles)
        except (InvalidInput, Conflict):
            session.rollback()
            raise
    mark_edited(node, principal.name)
    session.commit()
    return node


def delete_node(session: Session, principal: Principal, node: Node) -> None:
    """Unregister a node: its later uplinks become dead letters (unknown_node); its readings stay."""
    may_write(principal, node.coop_id)
    _delete(session, node, f"node {node.id!r}", {})
