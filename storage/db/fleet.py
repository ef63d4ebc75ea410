"""The fleet: cooperatives, their farmers, fields and weather stations, and the sensor nodes in them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Float, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.db.base import Base, EditedByPeople

__all__ = ["Cooperative", "Farmer", "Field", "Node", "Station", "fields_of", "site", "site_kind"]


class Cooperative(EditedByPeople, Base):
    """A Koperasi Merah Putih."""

    __tablename__ = "cooperative"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kecamatan: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(20), default="desa")


class Farmer(Base):
    """A member farmer of a cooperative."""

    __tablename__ = "farmer"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    coop_id: Mapped[str] = mapped_column(ForeignKey("cooperative.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))


class Field(EditedByPeople, Base):
    """A field with its crop of this season."""

    __tablename__ = "field"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    coop_id: Mapped[str] = mapped_column(ForeignKey("cooperative.id"), index=True)
    farmer_id: Mapped[str | None] = mapped_column(ForeignKey("farmer.id"), index=True, nullable=True)
    commodity: Mapped[str] = mapped_column(String(40))
    variety: Mapped[str] = mapped_column(String(80), default="")
    # What the farmer calls it ("Sawah bawah", "Kebun Pak Slamet"): shown on the page and in
    # messages; the id stays the key (issue 39). Empty: the id is shown.
    name: Mapped[str] = mapped_column(String(80), default="", server_default="")
    planting_date: Mapped[dt.date] = mapped_column(Date)
    area_ha: Mapped[float] = mapped_column(Float)
    soil_texture: Mapped[str] = mapped_column(String(40))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    elevation_m: Mapped[float] = mapped_column(Float)
    # Orchards (apple, citrus): how many trees; their planting_date is when the trees were planted.
    tree_count: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Station(EditedByPeople, Base):
    """A cooperative's weather station."""

    __tablename__ = "station"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    coop_id: Mapped[str] = mapped_column(ForeignKey("cooperative.id"), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    elevation_m: Mapped[float] = mapped_column(Float)


class Node(EditedByPeople, Base):
    """A sensor node standing in a field or at a station."""

    __tablename__ = "node"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    coop_id: Mapped[str] = mapped_column(ForeignKey("cooperative.id"), index=True)
    site_id: Mapped[str] = mapped_column(String(128), index=True)
    format: Mapped[str] = mapped_column(String(20), default="native")
    dev_eui: Mapped[str | None] = mapped_column(String(16), unique=True, nullable=True)
    profile: Mapped[str] = mapped_column(String(60), default="")
    interval_min: Mapped[int] = mapped_column(Integer, default=10)
    name: Mapped[str] = mapped_column(String(80), default="", server_default="")  # as a field's
    # The firmware version flashed at installation (registry, fleet document), for the fleet view.
    firmware: Mapped[str] = mapped_column(String(40), default="", server_default="")


def site(session: Session, site_id: str) -> Field | Station | None:
    """The field or weather station with this id: they share one id space, since readings, nodes
    and forecasts name a site by its id alone."""
    return session.get(Field, site_id) or session.get(Station, site_id)


def site_kind(row: Field | Station) -> str:
    """``"field"`` or ``"weather station"``."""
    return "field" if isinstance(row, Field) else "weather station"


def fields_of(session: Session, coop_ids: list[str] | None = None) -> list[Field]:
    """Fields, optionally of some cooperatives, ordered by id."""
    query = select(Field).order_by(Field.id)
    if coop_ids is not None:
        query = query.where(Field.coop_id.in_(coop_ids))
    return list(session.scalars(query))
