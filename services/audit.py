"""The audit of edits that change what is forecast (issue 37: a manager edited an apple orchard to a
million trees on 0.01 ha, and nothing said who or what it was before).

Every insert, change or delete of a field's forecast inputs (:data:`FORECAST_COLUMNS`: crop, variety,
planting date, area, tree count, soil, place) is written as a :class:`storage.db.RegistryEdit` in the
same transaction: who (the row's ``edited_by`` when the change marked it, else the session's
``info["actor"]``, e.g. ``fleet import``), when, and each changed column before and after. It is a
listener on every SQLAlchemy session's flush, installed when :mod:`services` is imported, so no
path that writes a field (the API, the field page, the fleet import, a script) can leave it out.

Reading: :func:`edits`, within the caller's scope (a farmer their own fields, a manager their
cooperative's, Coosae and admins everyone's): ``GET /v1/registry/edits``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, event, inspect, select, true
from sqlalchemy.orm import Session

from storage.db import Field, RegistryEdit

if TYPE_CHECKING:
    from services.access import Principal

__all__ = ["FORECAST_COLUMNS", "edits", "install"]

FORECAST_COLUMNS = (
    "commodity",
    "variety",
    "planting_date",
    "area_ha",
    "tree_count",
    "soil_texture",
    "lat",
    "lon",
    "elevation_m",
)


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _who(session: Session, field: Field, marked: bool) -> str:
    if marked and field.edited_by:
        return field.edited_by
    return str(session.info.get("actor", "unknown (not through panen's services)"))


def _audit(session: Session, _context: object, _instances: object) -> None:
    now = dt.datetime.now(dt.UTC)
    rows: list[RegistryEdit] = []
    for obj in session.new:
        if isinstance(obj, Field):
            changes = {c: [None, _json(getattr(obj, c))] for c in FORECAST_COLUMNS}
            rows.append(_row(now, _who(session, obj, True), obj, "create", changes))
    for obj in session.dirty:
        if not isinstance(obj, Field):
            continue
        state = inspect(obj)
        changes = {}
        for c in FORECAST_COLUMNS:
            history = state.attrs[c].history
            if not history.has_changes():
                continue
            before = history.deleted[0] if history.deleted else None
            after = history.added[0] if history.added else None
            if before != after:
                changes[c] = [_json(before), _json(after)]
        if changes:
            marked = (
                state.attrs["edited_by"].history.has_changes()
                or state.attrs["edited_at"].history.has_changes()
            )
            rows.append(_row(now, _who(session, obj, marked), obj, "update", changes))
    for obj in session.deleted:
        if isinstance(obj, Field):
            changes = {c: [_json(getattr(obj, c)), None] for c in FORECAST_COLUMNS}
            rows.append(
                _row(now, str(session.info.get("actor", obj.edited_by or "unknown")), obj, "delete", changes)
            )
    session.add_all(rows)


def _row(now: dt.datetime, by: str, field: Field, action: str, changes: dict[str, list[Any]]) -> RegistryEdit:
    return RegistryEdit(
        at=now,
        by=by[:200],
        coop_id=field.coop_id,
        kind="field",
        row_id=field.id,
        action=action,
        changes=changes,
    )


def install() -> None:
    """Listen to every session's flush (once; :mod:`services` calls this when imported)."""
    if not event.contains(Session, "before_flush", _audit):
        event.listen(Session, "before_flush", _audit)


def _scope(principal: Principal) -> ColumnElement[bool]:
    from services.access import Role

    if principal.sees_all:
        return true()
    if principal.role is Role.COOP_MANAGER:
        return RegistryEdit.coop_id == principal.coop_id
    mine = select(Field.id).where(Field.farmer_id == principal.farmer_id)
    return RegistryEdit.row_id.in_(mine)


def edits(
    session: Session,
    principal: Principal,
    *,
    field_id: str | None = None,
    coop_id: str | None = None,
    limit: int = 200,
) -> list[RegistryEdit]:
    """The audited edits in the caller's scope, newest first, optionally of one field or cooperative."""
    query = select(RegistryEdit).where(_scope(principal)).order_by(RegistryEdit.id.desc()).limit(limit)
    if field_id is not None:
        query = query.where(RegistryEdit.kind == "field", RegistryEdit.row_id == field_id)
    if coop_id is not None:
        query = query.where(RegistryEdit.coop_id == coop_id)
    return list(session.scalars(query))
