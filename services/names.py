"""What people call a field or a sensor node (issue 39): its display name, or its id when it has none.

Ids stay the registry's keys (imports, MQTT topics, the API); names are what the field page and the
messages say, so that a farmer reads "Lahan Tegal atas", not "Lahan oro-oro-ombo-f01"."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import Field, Node

__all__ = ["shown", "shown_names"]


def shown(row: Field | Node) -> str:
    """The row's display name, or its id."""
    return row.name or row.id


def shown_names(session: Session, ids: set[str]) -> dict[str, str]:
    """The display name of each of ``ids`` that is a field or a node with one (the others are left out:
    show them as they are)."""
    if not ids:
        return {}
    out: dict[str, str] = {}
    for model in (Field, Node):
        rows = session.execute(select(model.id, model.name).where(model.id.in_(ids), model.name != ""))
        for row_id, name in rows:
            out[row_id] = name
    return out
