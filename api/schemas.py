"""Response and request bodies (pydantic), with examples for /docs."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CooperativePublic",
    "DailyPublic",
    "FieldForecastPublic",
    "FieldPublic",
    "ForecastBasis",
    "HarvestRecordCreate",
    "HarvestRecordPublic",
    "PlanRowPublic",
    "ReadingPublic",
]


class CooperativePublic(BaseModel):
    """A cooperative."""

    model_config = ConfigDict(from_attributes=True)
    id: str = Field(examples=["sumberbrantas"])
    name: str = Field(examples=["Koperasi Merah Putih Sumberbrantas"])
    kecamatan: str = Field(examples=["Bumiaji"])
    kind: str = Field(examples=["desa"])


class FieldPublic(BaseModel):
    """A field and its crop of this season."""

    model_config = ConfigDict(from_attributes=True)
    id: str = Field(examples=["sumberbrantas-f01"])
    coop_id: str
    farmer_id: str | None
    commodity: str = Field(examples=["potato"])
    variety: str = Field(examples=["Granola"])
    planting_date: dt.date
    area_ha: float = Field(examples=[0.8])
    soil_texture: str = Field(examples=["andosol"])
    lat: float
    lon: float
    elevation_m: float = Field(examples=[1580.0])


class ReadingPublic(BaseModel):
    """One reading."""

    node_id: str
    metric: str = Field(examples=["soil_vwc_pct"])
    value: float = Field(examples=[38.2])
    ts_ms: int = Field(description="UTC instant [ms since epoch]", examples=[1784000000000])
    quality: str = Field(examples=["valid"], description="valid, or implausible (outside the metric's range)")


class DailyPublic(BaseModel):
    """One metric over one local day (Asia/Jakarta)."""

    metric: str
    day: dt.date
    min: float
    mean: float
    max: float
    sum: float
    count: int


class ForecastBasis(BaseModel):
    """What a forecast was based on."""

    issued: dt.date
    last_reading_ms: int | None
    days_observed: int
    ensemble_members: int
    model_version: str
    yield_factor: float = Field(description="Yield-gap factor learnt from harvest records (1 = none)")


class FieldForecastPublic(BaseModel):
    """A field's harvest forecast with its uncertainty."""

    field_id: str
    coop_id: str
    commodity: str
    harvest_date_p10: dt.date | None
    harvest_date_p50: dt.date | None
    harvest_date_p90: dt.date | None
    yield_t_ha_p10: float
    yield_t_ha_p50: float
    yield_t_ha_p90: float
    tonnes_p10: float
    tonnes_p50: float
    tonnes_p90: float
    water_stress_so_far: float = Field(description="Mean 1 − Ks since planting (0 none, 1 no water at all)")
    depletion_mm: float = Field(description="Root-zone depletion today [mm]")
    raw_mm: float = Field(description="Readily available water [mm]: irrigate when depletion passes it")
    days_to_irrigation: float | None = Field(
        description="Median days until depletion passes RAW without rain"
    )
    basis: ForecastBasis


class PlanRowPublic(BaseModel):
    """Tonnes a cooperative is forecast to harvest of a commodity in an ISO week."""

    commodity: str = Field(examples=["potato"])
    iso_week: str = Field(examples=["2026-W50"])
    coop_id: str = Field(examples=["sumberbrantas"])
    tonnes_p10: float
    tonnes_p50: float
    tonnes_p90: float


class HarvestRecordCreate(BaseModel):
    """What Coosae bought from a field."""

    field_id: str = Field(examples=["sumberbrantas-f01"])
    harvest_date: dt.date
    tonnes: float = Field(gt=0, le=10_000, examples=[18.4])
    grade: str = Field("A", max_length=20, examples=["A"])


class HarvestRecordPublic(HarvestRecordCreate):
    """A stored harvest record."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    recorded_at: dt.datetime
    recorded_by: str
