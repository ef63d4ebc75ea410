"""What every registry table shares: the declarative base, timestamps in UTC on every database, and
the columns that say a person changed a row."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Dialect, String
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = ["Base", "EditedByPeople", "UtcDateTime", "mark_edited"]


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every database.

    SQLite stores no time zone and hands back naive datetimes, which the API would then send without
    an offset (not RFC 3339). Values are converted to UTC on the way in and marked UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of the registry."""


class EditedByPeople:
    """Rows a fleet import writes and people may change through the API: ``edited_at`` and
    ``edited_by`` are set when a person created or changed the row, and a re-import keeps such a row
    unless asked to overwrite it (``import_fleet(overwrite=True)``)."""

    # Declared as attributes so that each table gets its own columns, placed after the table's own
    # (as they were when each model wrote them out): the schema is unchanged.
    @declared_attr
    def edited_at(cls) -> Mapped[dt.datetime | None]:
        return mapped_column(UtcDateTime(), nullable=True, sort_order=1000)

    @declared_attr
    def edited_by(cls) -> Mapped[str | None]:
        return mapped_column(String(200), nullable=True, sort_order=1001)


def mark_edited(row: EditedByPeople, by: str) -> None:
    """Note that a person created or changed ``row`` (through the API): re-imports keep it."""
    row.edited_at = dt.datetime.now(dt.UTC)
    row.edited_by = by[:200]
