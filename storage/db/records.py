"""What happened: harvest records (Coosae's purchase history), orchard records, alerts, sales contracts,
Coosae's buying prices, and the audit of registry edits that change what is forecast."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.base import Base, UtcDateTime

__all__ = ["Alert", "BuyingPrice", "Contract", "HarvestRecord", "OrchardEvent", "RegistryEdit", "Submission"]


class HarvestRecord(Base):
    """What Coosae bought from a field. Purchase history: never deleted. A wrong record is voided
    (who, when, why), and a correction is a new record that names the one it supersedes."""

    __tablename__ = "harvest_record"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    field_id: Mapped[str] = mapped_column(ForeignKey("field.id"), index=True)
    harvest_date: Mapped[dt.date] = mapped_column(Date)
    tonnes: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(20), default="A")
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200), default="")
    # The record this one corrects (a plain id: SQLite's batch migrations cannot add a self-reference).
    supersedes_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    voided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    voided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class OrchardEvent(Base):
    """What a farmer or manager recorded of an orchard's crop: a defoliation (perompesan), a flowering,
    a fruit count on sample trees, a thinning. Never deleted; a wrong one is voided (who, when, why)."""

    __tablename__ = "orchard_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    field_id: Mapped[str] = mapped_column(ForeignKey("field.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    day: Mapped[dt.date] = mapped_column(Date)
    fruits_per_tree: Mapped[float | None] = mapped_column(Float, nullable=True)
    trees_sampled: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200), default="")
    voided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    voided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class Alert(Base):
    """Something a person should act on; raised and cleared by the alert evaluation."""

    __tablename__ = "alert"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    subject: Mapped[str] = mapped_column(String(128), index=True)  # field, station or node id
    # None for alerts about no one cooperative (a sales contract at risk): only offtaker and admin see them.
    coop_id: Mapped[str | None] = mapped_column(ForeignKey("cooperative.id"), index=True, nullable=True)
    field_id: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    severity: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(String(500))
    first_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The figures the message is made of (e.g. soil_vwc_pct, threshold_vwc_pct), so a notification
    # can say them in the reader's language; the English ``message`` stays for the API and logs.
    facts: Mapped[dict[str, float | str] | None] = mapped_column(JSON, nullable=True)


class Contract(Base):
    """A sales contract Coosae has signed with a buyer: will the harvests cover it?"""

    __tablename__ = "contract"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    buyer: Mapped[str] = mapped_column(String(200))
    commodity: Mapped[str] = mapped_column(String(40), index=True)
    tonnes: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(20), default="A")
    first_day: Mapped[dt.date] = mapped_column(Date)
    last_day: Mapped[dt.date] = mapped_column(Date)
    delivery_point: Mapped[str] = mapped_column(String(200), default="")
    price_idr_per_kg: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(200), default="")


class BuyingPrice(Base):
    """What Coosae pays a cooperative for a kilogram of a commodity of a grade, from a day on (until a
    later price of the same commodity and grade): data with its source, never a constant in code."""

    __tablename__ = "buying_price"
    __table_args__ = (UniqueConstraint("commodity", "grade", "valid_from"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    commodity: Mapped[str] = mapped_column(String(40), index=True)
    grade: Mapped[str] = mapped_column(String(20), default="A")
    idr_per_kg: Mapped[float] = mapped_column(Float)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(300))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200), default="")


class RegistryEdit(Base):
    """One edit of the registry that changes what is forecast (a field's area, crop, planting date,
    tree count, ...): who, when, and each changed column's value before and after. Never changed or
    deleted; it outlives the row it is about."""

    __tablename__ = "registry_edit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    by: Mapped[str] = mapped_column(String(200))
    coop_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # field
    row_id: Mapped[str] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(String(10))  # create, update, delete
    # {"column": [before, after]}, as JSON values (dates as ISO text)
    changes: Mapped[dict[str, list[object]]] = mapped_column(JSON)


class Submission(Base):
    """A request that created a record, by its idempotency key: a form's submission key or an API
    ``Idempotency-Key``. The same key from the same person again is answered with the record it made,
    not a second one (issue 39: a form sent twice saved two identical harvests 27 ms apart)."""

    __tablename__ = "submission"
    __table_args__ = (UniqueConstraint("by", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    by: Mapped[str] = mapped_column(String(200))  # whose key: a farmer, a cooperative's managers, a token
    key: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))  # harvest_record
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of what was asked
    row_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
