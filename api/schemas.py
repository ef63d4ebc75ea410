"""Response and request bodies (pydantic), with examples for /docs."""

from __future__ import annotations

import datetime as dt
import typing
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sensors.reading import REGISTRY_ID_PATTERN
from sensors.topics import Format
from services.access import Role
from services.contracts import AT_RISK_BELOW, check_window
from services.fleet import NodeState
from services.notify.channels import KINDS
from services.notify.contacts import MAX_DAILY_CAP
from services.orchards import MAX_FRUITS_PER_TREE, MAX_TREES, check_trees

__all__ = [
    "FLEET_DOCUMENT_BODY",
    "AllocationPublic",
    "ChannelIn",
    "ChannelKind",
    "ChannelPublic",
    "ConfirmIn",
    "ContactCreate",
    "ContactPublic",
    "ContactUpdate",
    "ContractCreate",
    "ContractPublic",
    "ContractStatus",
    "ContractUpdate",
    "CooperativeCreate",
    "CooperativePublic",
    "CooperativeUpdate",
    "CoveragePublic",
    "CoverageReport",
    "CoverageSummary",
    "DailyPublic",
    "FarmerCreate",
    "FarmerPublic",
    "FarmerUpdate",
    "FieldCreate",
    "FieldForecastPublic",
    "FieldPublic",
    "FieldUpdate",
    "ForecastBasis",
    "HarvestRecordCreate",
    "HarvestRecordPublic",
    "Hour",
    "ImportResult",
    "NodeCreate",
    "NodePublic",
    "NodeUpdate",
    "NotificationPublic",
    "PlanRowPublic",
    "ReadingPublic",
    "RegistryEditPublic",
    "SignInLink",
    "StationCreate",
    "StationPublic",
    "SubscriptionIn",
    "SubscriptionPublic",
]


def _numeric(annotation: Any) -> bool:
    """Whether a field's type takes an int or a float (and not a bool): through Annotated, Optional
    and unions."""
    if annotation in (int, float):
        return True
    if annotation is bool:
        return False
    return any(_numeric(a) for a in typing.get_args(annotation)) and bool not in typing.get_args(annotation)


class Body(BaseModel):
    """Every request body's one rule (issue 37): only its own fields (an unknown key is refused, not
    silently dropped: ``{"role": "admin"}`` on a contact answered 200), and no ``true``/``false``
    where a number is asked (pydantic reads ``false`` as 0: ``price_idr_per_kg: false`` was taken)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _numeric(field.annotation):
            raise ValueError("a number is needed here, not true or false")
        return value


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
    name: str = Field("", examples=["Tegal atas"], description="What the farmer calls it (empty: the id)")
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
    tree_count: int | None = Field(
        None, description="Orchards: trees (planting_date is when they were planted)"
    )


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


class BucketPublic(BaseModel):
    """One metric over one bucket: a raw reading (count 1), a UTC hour, or a local day."""

    metric: str
    ts_ms: int = Field(description="Where the bucket begins (a raw reading: its time) [ms since epoch, UTC]")
    min: float
    mean: float
    max: float
    sum: float
    count: int


class SeriesPublic(BaseModel):
    """A field's readings at the resolution that fits the range asked (or the one asked for)."""

    resolution: Literal["raw", "hour", "day"]
    start_ms: int
    end_ms: int
    points: list[BucketPublic]


class SkillPublic(BaseModel):
    """The track record of past forecasts of one commodity × cooperative × lead
    (``services.track_record``)."""

    commodity: str
    coop_id: str
    lead_days: int = Field(description="How long before the harvest the forecast was issued [days]")
    records: int = Field(description="Harvest records the figures come from")
    seasons: list[int] = Field(description="Harvest years of those records")
    tonnes_mape: float | None = Field(
        description="Mean absolute percentage error of P50 tonnes (0.18 = ±18 %)"
    )
    tonnes_bias: float | None = Field(description="Mean (P50 − actual) / actual: positive when too high")
    date_mae_days: float | None = Field(description="Mean absolute error of the P50 harvest date [days]")
    date_bias_days: float | None = Field(
        description="Mean P50 date − actual date: positive when too late [days]"
    )
    tonnes_coverage: float | None = Field(description="Share of harvests inside P10–P90 tonnes (honest: 0.8)")
    date_coverage: float | None = Field(description="Share of harvest dates inside P10–P90 (honest: 0.8)")
    note: str = Field("", description="Why there are no figures, when there are too few records")


class RecordSetApart(BaseModel):
    """A harvest record learning left out, and why."""

    field_id: str
    harvest_date: dt.date
    reason: str


class ForecastBasis(BaseModel):
    """What a forecast was based on."""

    issued: dt.date
    last_reading_ms: int | None
    days_observed: int = Field(
        description="Days with temperature readings behind the forecast: its season so far, and the weather "
        "generator fitted to them (rain from the station's days), shrunk toward the forecast's prior "
        "climatology where they are few"
    )
    ensemble_members: int
    model_version: str = Field(
        description="What the forecast model is, and whether it forecasts crop death ('no crop death': a "
        "crop in a drought is forecast with less yield, never with its season ended early; 'crop death': "
        "crop_death_share says in how many members it dies)"
    )
    yield_factor: float = Field(description="Yield-gap factor learnt from harvest records (1 = none)")
    yield_factor_from: Literal["cooperative", "crop", "none"] = Field(
        "none",
        description="cooperative: learnt from its own cooperative's records of this crop; crop: pooled "
        "from other cooperatives' records (each one bounded voice); none: no record yet",
    )
    yield_factor_fields: list[str] = Field(
        default_factory=list,
        description="The fields whose records taught the factor, of the cooperatives you see",
    )
    yield_factor_other_fields: int = Field(
        0, description="How many more fields, in cooperatives outside your scope, the factor rests on"
    )
    records_set_apart: list[RecordSetApart] = Field(
        default_factory=list,
        description="This cooperative's harvest records of the crop that learning left out, each with "
        "why (a record beyond the plausible ratio to its forecast, or against a forecast whose crop lost "
        "half its canopy to drought); all of them for whoever may read the cooperative's field ids (as "
        "yield_factor_fields: its manager, Coosae, admins), the field's own for anyone else who sees it "
        "(its farmer)",
    )
    track_record: str = Field(
        "", description="How good past forecasts of this crop in this cooperative were, 30 days ahead"
    )
    orchard: list[str] = Field(
        default_factory=list, description="Orchards: the records (or estimates) this crop's forecast rests on"
    )
    soil_field_capacity_pct: float | None = Field(
        None,
        description="The soil water at field capacity the forecast used [% VWC]: the texture's by Saxton & "
        "Rawls' pedotransfer function, moved toward where the fleet's probes of that texture drain to",
    )
    soil_probe_fields: int = Field(
        0,
        description="How many of the fleet's fields of this texture, by their probes, moved its field "
        "capacity (0: Saxton & Rawls' estimate from texture alone)",
    )


class FieldForecastPublic(BaseModel):
    """A field's harvest forecast with its uncertainty."""

    field_id: str
    coop_id: str
    commodity: str
    harvest_date_p10: dt.date | None = Field(
        description="Harvest dates (P10, P50, P90) over the members whose crop lives to a harvest; the "
        "chance that none comes is crop_death_share. Only when every member dies are they the deaths' days"
    )
    harvest_date_p50: dt.date | None
    harvest_date_p90: dt.date | None
    picking_until_p50: dt.date | None = Field(
        None,
        description="Multi-pick crops (tomato, chili, strawberry): the harvest dates are the first pick's, "
        "and picking goes on until about this day (the plan spreads the tonnes over it); None for a crop "
        "harvested at once",
    )
    yield_t_ha_p10: float
    yield_t_ha_p50: float
    yield_t_ha_p90: float
    tonnes_expected: float = Field(
        0.0, description="Expected tonnes (mean over members): adds up over fields, as a P50 does not"
    )
    tonnes_p10: float
    tonnes_p50: float
    tonnes_p90: float
    water_stress_so_far: float = Field(description="Mean 1 − Ks since planting (0 none, 1 no water at all)")
    depletion_mm: float = Field(description="Root-zone depletion today [mm]")
    raw_mm: float = Field(description="Readily available water [mm]: irrigate when depletion passes it")
    days_to_irrigation: float | None = Field(
        description="Median days until depletion passes RAW without rain"
    )
    crop_death_share: float = Field(
        0.0,
        description="Share of the ensemble's members in which the crop dies of drought before maturity "
        "(its canopy gone, AquaCrop's early senescence): the chance the field fails unless it is watered. "
        "Such a member's tonnes are what the crop had built (counted in the tonnes and the plan) and its "
        "date in members_harvest_date the death's. Always 0 for orchards and when the model version says "
        "'no crop death'",
    )
    crop_death_date_p50: dt.date | None = Field(
        None,
        description="Median day of death over the members in which the crop dies (null when none does): "
        "on or before today, the sensors' drought has already killed it in the model, and only the farmer "
        "can say whether it lives",
    )
    canopy_lost_p50: float = Field(
        0.0,
        description="Median over members of the share of the canopy lost to drought by the harvest (early "
        "senescence: a lost canopy transpires and yields no more; 1 where the crop dies). A harvest recorded "
        "against a forecast with half or more lost is not learnt as the cooperative's yield gap",
    )
    basis: ForecastBasis
    members_harvest_date: list[dt.date | None] | None = Field(
        None,
        description="Each member's harvest date (with `members=true`; null: not within the model horizon)",
    )
    members_tonnes: list[float] | None = Field(None, description="Each member's tonnes (with `members=true`)")
    members_died: list[bool] | None = Field(
        None,
        description="Whether each member's crop dies of drought (with `members=true`): its date is the "
        "death's and its tonnes what the crop had built, which the plan's crop_death_tonnes sums",
    )


class PlanRowPublic(BaseModel):
    """Tonnes a cooperative is forecast to harvest of a commodity in an ISO week."""

    commodity: str = Field(examples=["potato"])
    iso_week: str = Field(examples=["2026-W50"])
    coop_id: str = Field(examples=["sumberbrantas"])
    tonnes_expected: float = Field(
        0.0,
        description="Expected tonnes, the mean over the forecast's members: the plan's headline. It adds up: "
        "cells sum to every total (a week over cooperatives, a commodity over weeks).",
    )
    tonnes_p10: float = Field(description="10th percentile of this cell's tonnes alone (not additive)")
    tonnes_p50: float = Field(
        description="Median of this cell's tonnes alone. Not additive: a field is harvested in one week in "
        "most members, so a week's median is often 0 while its P90 is the whole field; sum tonnes_expected."
    )
    tonnes_p90: float = Field(description="90th percentile of this cell's tonnes alone (not additive)")
    overdue_tonnes: float = Field(
        0.0,
        description="Expected tonnes of this cell that were forecast before this week and not yet recorded: "
        "late, still to be bought (only in the first week)",
    )
    crop_death_tonnes: float = Field(
        0.0,
        description="Expected tonnes of this cell from members in which the crop dies of drought: what it "
        "had built, counted on its death's day (a field cleared early, or abandoned: tonnes that may never "
        "be offered). Part of tonnes_expected, and adds up like it",
    )
    price_idr_per_kg: float | None = Field(
        None,
        description="Coosae's buying price (grade A) on the week's Monday, Rp/kg (/v1/prices); null: no "
        "price entered for the commodity by then",
    )
    cost_expected_idr: float | None = Field(
        None,
        description="tonnes_expected at that price, Rp: adds up like tonnes_expected (null: no price)",
    )
    skill_tonnes_mape_30d: float | None = Field(
        None,
        description="Past forecasts' tonnes MAPE 30 days ahead (/v1/forecasts/skill); null: too few records",
    )
    skill_records_30d: int = Field(0, description="Harvest records behind skill_tonnes_mape_30d")
    coop_name: str = Field("", description="The cooperative's name (`all` rows: empty)")
    week_start: dt.date | None = Field(None, description="Monday of the ISO week")
    week_end: dt.date | None = Field(None, description="Sunday of the ISO week")
    current_week: bool = Field(False, description="The week in progress (WIB)")
    change_expected: float | None = Field(
        None, description="Expected tonnes minus the previous plan's (null: no previous plan)"
    )
    change_p50: float | None = Field(
        None, description="P50 tonnes minus the previous plan's (null: no previous plan)"
    )
    issued_at: dt.datetime | None = Field(
        None, description="When the forecasts behind this plan were computed"
    )
    last_reading_ms: int | None = Field(
        None, description="The cooperative's newest reading the forecasts used [ms]"
    )


class HarvestRecordCreate(Body):
    """What Coosae bought from a field."""

    model_config = ConfigDict(extra="forbid")
    field_id: str = Field(examples=["sumberbrantas-f01"])
    harvest_date: dt.date
    tonnes: float = Field(gt=0, le=10_000, examples=[18.4])
    grade: str = Field("A", max_length=20, examples=["A"])


class HarvestRecordPublic(HarvestRecordCreate):
    """A stored harvest record, with its audit trail."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    recorded_at: dt.datetime
    recorded_by: str
    supersedes_id: int | None = Field(None, description="The record this one corrects.")
    voided_at: dt.datetime | None = None
    voided_by: str | None = None
    void_reason: str | None = None


class HarvestRecordCorrection(Body):
    """A correction of a harvest record: the fields that change, and why."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=400, examples=["weighbridge slip says 18.4 t, not 184"])
    harvest_date: dt.date | None = None
    tonnes: float | None = Field(None, gt=0, le=10_000)
    grade: str | None = Field(None, max_length=20)


OrchardEventKind = Literal["defoliation", "flowering", "fruit_count", "thinning"]


class OrchardEventCreate(Body):
    """What a farmer or manager saw in an orchard: a defoliation (perompesan, apple), a flowering, a
    fruit count on sample trees, a thinning (the fruits per tree left)."""

    model_config = ConfigDict(extra="forbid")
    kind: OrchardEventKind = Field(examples=["fruit_count"])
    day: dt.date = Field(examples=["2026-11-20"])
    fruits_per_tree: float | None = Field(None, ge=0, le=MAX_FRUITS_PER_TREE, examples=[140.0])
    trees_sampled: int | None = Field(None, ge=1, le=10_000, examples=[10])
    note: Annotated[str, StringConstraints(max_length=500)] = ""


class OrchardEventPublic(BaseModel):
    """An orchard record, with who recorded it and, if void, who voided it and why."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    field_id: str
    kind: str
    day: dt.date
    fruits_per_tree: float | None
    trees_sampled: int | None
    note: str
    recorded_at: dt.datetime
    recorded_by: str
    voided_at: dt.datetime | None
    voided_by: str | None
    void_reason: str | None


class HarvestRecordVoid(Body):
    """Why a harvest record is void."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=400, examples=["entered twice"])


# Identifiers created through the API: letters, digits, '.', '_' and '-', so they sit safely in URLs,
# MQTT topics and InfluxDB tags. (Fleet files may use the wider set ingest accepts.)
Ident = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=REGISTRY_ID_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Firmware = Annotated[str, StringConstraints(max_length=40, pattern=r"^[\w.+-]*$")]
# A field's or node's display name (issue 39): printable, short enough for a phone's line.
DisplayName = Annotated[
    str, StringConstraints(max_length=80, strip_whitespace=True, pattern=r"^[^\x00-\x1f\x7f]*$")
]
Lat = Annotated[float, Field(ge=-90, le=90, examples=[-7.76])]
Lon = Annotated[float, Field(ge=-180, le=180, examples=[112.53])]
Elevation = Annotated[float, Field(ge=-500, le=6000, examples=[1580.0], description="[m above sea level]")]
Commodity = Literal[
    "potato",
    "cabbage",
    "carrot",
    "tomato",
    "chili",
    "shallot",
    "sweet_corn",
    "rice",
    "strawberry",
    "apple",
    "citrus",
]
Soil = Literal["andosol", "loam", "silt_loam", "clay_loam", "sandy_loam"]
PayloadFormat = Format
# A device profile's name: one of the shipped library or the operator's folder (checked by the route,
# since an operator may add one without a restart; see GET /v1/profiles).
Profile = Annotated[
    str, StringConstraints(pattern=r"^$|^[a-z0-9][a-z0-9._-]{0,59}$"), Field(examples=["sensecap-s2105"])
]
DevEui = Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{16}$")]


class CooperativeCreate(Body):
    """A new cooperative (admin)."""

    model_config = ConfigDict(extra="forbid")
    id: Ident = Field(examples=["tulungrejo"])
    name: Name = Field(examples=["Koperasi Merah Putih Tulungrejo"])
    kecamatan: Annotated[str, StringConstraints(max_length=100)] = Field("", examples=["Bumiaji"])
    kind: Literal["desa", "kelurahan"] = "desa"


class CooperativeUpdate(Body):
    """Changes to a cooperative: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    kecamatan: Annotated[str, StringConstraints(max_length=100)] | None = None
    kind: Literal["desa", "kelurahan"] | None = None


class FarmerPublic(BaseModel):
    """A member farmer."""

    model_config = ConfigDict(from_attributes=True)
    id: str = Field(examples=["sumberbrantas-pak-slamet"])
    coop_id: str = Field(examples=["sumberbrantas"])
    name: str = Field(examples=["Pak Slamet"])


class FarmerCreate(Body):
    """A new member farmer (admin, or the cooperative's manager)."""

    model_config = ConfigDict(extra="forbid")
    id: Ident = Field(examples=["sumberbrantas-pak-slamet"])
    coop_id: Ident = Field(examples=["sumberbrantas"])
    name: Name = Field(examples=["Pak Slamet"])


class FarmerUpdate(Body):
    """Changes to a farmer."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None


class FieldCreate(Body):
    """A new field and its crop of this season (admin, or the cooperative's manager)."""

    model_config = ConfigDict(extra="forbid")
    id: Ident = Field(examples=["sumberbrantas-f11"])
    name: DisplayName = Field("", examples=["Tegal atas"], description="What the farmer calls it")
    coop_id: Ident = Field(examples=["sumberbrantas"])
    farmer_id: Ident | None = Field(None, examples=["sumberbrantas-pak-slamet"])
    commodity: Commodity = Field(examples=["potato"])
    variety: Annotated[str, StringConstraints(max_length=80)] = Field("", examples=["Granola"])
    planting_date: dt.date = Field(ge=dt.date(2000, 1, 1), le=dt.date(2100, 1, 1))
    area_ha: float = Field(gt=0, le=1000, examples=[0.8])
    soil_texture: Soil = Field(examples=["andosol"])
    lat: Lat
    lon: Lon
    elevation_m: Elevation
    tree_count: int | None = Field(
        None, ge=1, le=MAX_TREES, examples=[1200], description="Orchards (apple, citrus): how many trees"
    )

    @model_validator(mode="after")
    def _orchard_has_trees(self) -> FieldCreate:
        check_trees(self.commodity, self.tree_count, self.area_ha)  # an InvalidInput is a ValueError: a 422
        return self


class FieldUpdate(Body):
    """Changes to a field (e.g. the next season's crop): only the fields sent change."""

    model_config = ConfigDict(extra="forbid")
    name: DisplayName | None = None
    farmer_id: Ident | None = None
    commodity: Commodity | None = None
    variety: Annotated[str, StringConstraints(max_length=80)] | None = None
    tree_count: int | None = Field(None, ge=1, le=MAX_TREES)
    planting_date: dt.date | None = Field(None, ge=dt.date(2000, 1, 1), le=dt.date(2100, 1, 1))
    area_ha: float | None = Field(None, gt=0, le=1000)
    soil_texture: Soil | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    elevation_m: Elevation | None = None


class StationPublic(BaseModel):
    """A cooperative's weather station."""

    model_config = ConfigDict(from_attributes=True)
    id: str = Field(examples=["sumberbrantas-ws"])
    coop_id: str
    lat: float
    lon: float
    elevation_m: float


class StationCreate(Body):
    """A new weather station (admin, or the cooperative's manager)."""

    model_config = ConfigDict(extra="forbid")
    id: Ident = Field(examples=["sumberbrantas-ws2"])
    coop_id: Ident = Field(examples=["sumberbrantas"])
    lat: Lat
    lon: Lon
    elevation_m: Elevation


class NodePublic(BaseModel):
    """A sensor node and where it stands."""

    model_config = ConfigDict(from_attributes=True)
    id: str = Field(examples=["sumberbrantas-f01-n1"])
    name: str = Field(
        "", examples=["Sensor tegal atas"], description="What the farmer calls it (empty: the id)"
    )
    coop_id: str
    site_id: str = Field(description="The field or weather station it stands in")
    format: str = Field(examples=["native"])
    dev_eui: str | None = Field(examples=["a84041000181c3e1"])
    profile: str = Field(examples=["dragino-lse01"])
    interval_min: int = Field(examples=[10], description="Reporting interval [min]")
    firmware: str = Field("", examples=["1.4.2"], description="Firmware version flashed at installation")
    # Its health (issue 40), from services.fleet; absent on a write's answer.
    state: NodeState | None = Field(None, description="ok, late, silent, low_battery (unknown: store down)")
    last_seen: dt.datetime | None = Field(None, description="Its last uplink (UTC)")
    silent_s: int | None = Field(None, description="Seconds since its last uplink")
    battery_v: float | None = None
    battery_pct: float | None = None
    rssi_dbm: float | None = Field(
        None, description="Signal of its last uplink, as the best gateway heard it"
    )
    snr_db: float | None = None


class NodeCreate(Body):
    """A new node (admin, or the cooperative's manager). LoRaWAN nodes need a DevEUI and a profile."""

    model_config = ConfigDict(extra="forbid")
    id: Ident = Field(examples=["sumberbrantas-f11-n1"])
    name: DisplayName = Field("", examples=["Sensor tegal atas"])
    coop_id: Ident = Field(examples=["sumberbrantas"])
    site_id: Ident = Field(examples=["sumberbrantas-f11"])
    format: PayloadFormat = Format.NATIVE
    dev_eui: DevEui | None = Field(None, examples=["A84041000181C3E1"])
    profile: Profile = ""
    interval_min: int = Field(10, ge=1, le=1440)
    firmware: Firmware = ""


class NodeUpdate(Body):
    """Changes to a node (e.g. moved to another field of the same cooperative)."""

    model_config = ConfigDict(extra="forbid")
    name: DisplayName | None = None
    site_id: Ident | None = None
    format: PayloadFormat | None = None
    dev_eui: DevEui | None = None
    profile: Profile | None = None
    interval_min: int | None = Field(None, ge=1, le=1440)
    firmware: Firmware | None = None


class ImportResult(BaseModel):
    """What a fleet import inserted or updated."""

    cooperatives: int
    fields: int
    stations: int
    nodes: int
    kept_edited: int = Field(
        0,
        description="Rows people edited through the API that the document would change: kept "
        "(overwrite=true replaces them).",
    )


class ProfilePublic(BaseModel):
    """A LoRaWAN device profile: which decoder it reads and which metrics it yields."""

    name: str = Field(examples=["sensecap-s2105"])
    device: str = Field(examples=["SenseCAP S2105 soil moisture, temperature and EC"])
    decoder: str = Field(
        description="The decoder (and where it is published) the profile was written against."
    )
    metrics: list[str] = Field(examples=[["soil_temp_c", "soil_vwc_pct", "soil_ec_ds_m", "battery_pct"]])
    source: Literal["shipped", "operator"]


class Problem(BaseModel):
    """An RFC 9457 problem detail: every error the API answers."""

    model_config = ConfigDict(extra="allow")
    type: str = Field("about:blank", examples=["about:blank"])
    title: str = Field(examples=["Forbidden"])
    status: int = Field(examples=[403])
    detail: str = Field(examples=["field 'sumberbrantas-f02' is not in your scope"])


# The fleet import's request body, for the OpenAPI document (the route reads the raw bytes).
FLEET_DOCUMENT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A fleet document (as `firmware_sim/fleets/batu.yaml`), YAML or JSON",
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


# --- sales contracts (api/routes/contracts.py) ---------------------------------------------------

ContractStatus = Literal["open", "fulfilled", "cancelled"]


class ContractCreate(Body):
    """A sales contract Coosae has signed."""

    model_config = ConfigDict(extra="forbid")
    buyer: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)] = Field(
        examples=["Koperasi Produsen Taruna Bina Mandiri, Kutai Timur"]
    )
    commodity: Commodity = Field(examples=["potato"])
    tonnes: float = Field(gt=0, le=100_000, examples=[120.0])
    grade: Annotated[str, StringConstraints(max_length=20)] = Field("A", examples=["A"])
    first_day: dt.date = Field(ge=dt.date(2000, 1, 1), le=dt.date(2100, 1, 1), examples=["2026-12-14"])
    last_day: dt.date = Field(ge=dt.date(2000, 1, 1), le=dt.date(2100, 1, 1), examples=["2027-01-10"])
    delivery_point: Annotated[str, StringConstraints(max_length=200)] = Field(
        "", examples=["Gudang Coosae, Batu"]
    )
    price_idr_per_kg: float = Field(ge=0, le=10_000_000, examples=[9500.0])
    status: ContractStatus = "open"

    @model_validator(mode="after")
    def _window(self) -> ContractCreate:
        check_window(self.first_day, self.last_day)  # an InvalidInput is a ValueError: a 422
        return self


class ContractUpdate(Body):
    """Changes to a contract; only the fields sent change."""

    model_config = ConfigDict(extra="forbid")
    buyer: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)] | None = (
        None
    )
    tonnes: float | None = Field(None, gt=0, le=100_000)
    grade: Annotated[str, StringConstraints(max_length=20)] | None = None
    first_day: dt.date | None = Field(None, ge=dt.date(2000, 1, 1), le=dt.date(2100, 1, 1))
    last_day: dt.date | None = Field(None, ge=dt.date(2000, 1, 1), le=dt.date(2100, 1, 1))
    delivery_point: Annotated[str, StringConstraints(max_length=200)] | None = None
    price_idr_per_kg: float | None = Field(None, ge=0, le=10_000_000)
    status: ContractStatus | None = None


class ContractPublic(BaseModel):
    """A stored contract."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    buyer: str
    commodity: str
    tonnes: float
    grade: str
    first_day: dt.date
    last_day: dt.date
    delivery_point: str
    price_idr_per_kg: float
    status: str
    created_at: dt.datetime
    created_by: str


class CoveragePublic(BaseModel):
    """Will the cooperatives' forecast harvest cover this contract?"""

    contract_id: int
    commodity: str
    tonnes: float
    first_day: dt.date
    last_day: dt.date
    probability: float = Field(
        description="Share of ensemble members in which the contract gets all its tonnes"
    )
    at_risk: bool = Field(description=f"probability below {AT_RISK_BELOW}")
    delivered_p50: float
    shortfall_p50: float
    shortfall_p90: float
    riskiest_week: str | None = Field(
        description="ISO week in which most members are behind an even schedule"
    )
    behind_probability: float = Field(description="Share of members behind schedule in the riskiest week")
    shortfall_expected: float = Field(0.0, description="Mean shortfall over the members, tonnes")
    price_idr_per_kg: float = Field(0.0, description="The contract's sale price, Rp/kg")
    buying_price_idr_per_kg: float | None = Field(
        None,
        description="Coosae's buying price of the commodity and grade on the first day (null: none entered)",
    )
    margin_idr_per_kg: float | None = Field(None, description="Sale price minus buying price, Rp/kg")
    margin_at_risk_idr: float | None = Field(
        None, description="The margin on the expected shortfall, Rp: what Coosae expects not to earn"
    )
    margin_at_risk_p90_idr: float | None = Field(
        None, description="The margin on the P90 shortfall, Rp: a bad season's loss of margin"
    )


class CashWeekPublic(BaseModel):
    """The money one week of the purchase plan needs, all its rows together."""

    iso_week: str = Field(examples=["2026-W50"])
    week_start: dt.date
    tonnes_expected: float = Field(description="Expected tonnes of the week, every commodity")
    cost_expected_idr: float = Field(
        description="Expected cost at Coosae's buying prices (grade A, the week's Monday), Rp: weeks add up"
    )
    cost_p10_idr: float = Field(description="10th percentile of the week's cost, over the ensemble members")
    cost_p90_idr: float = Field(
        description="90th percentile of the week's cost: the cash to hold for a good week"
    )
    unpriced_tonnes_expected: float = Field(
        description="Expected tonnes of commodities with no buying price by then: not in the cost"
    )
    unpriced: list[str] = Field(description="Those commodities")


class PriceCreate(Body):
    """A buying price: what Coosae pays a cooperative per kg, from a day on."""

    model_config = ConfigDict(extra="forbid")
    commodity: Annotated[str, StringConstraints(min_length=1, max_length=40)] = Field(
        examples=["potato"], description="The crop's name, English or Indonesian (kentang)"
    )
    grade: Annotated[str, StringConstraints(min_length=1, max_length=20, strip_whitespace=True)] = Field(
        "A", examples=["A"]
    )
    idr_per_kg: float = Field(examples=[8500.0], description="Rp per kg, 100 to 1,000,000")
    valid_from: dt.date = Field(examples=["2026-12-01"], description="The first day the price holds")
    source: Annotated[str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True)] = Field(
        examples=["Coosae price board, 1 Dec 2026"], description="Where the price comes from"
    )


class PricePublic(BaseModel):
    """A stored buying price."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    commodity: str
    grade: str
    idr_per_kg: float
    valid_from: dt.date
    source: str
    recorded_at: dt.datetime
    recorded_by: str


class PriceImportResult(BaseModel):
    """What a price list changed (nothing, if it was refused)."""

    added: int
    replaced: int
    unchanged: int


class CoverageSummary(BaseModel):
    """All open contracts together."""

    issued: dt.date
    ensemble_members: int
    open_contracts: int
    at_risk: int
    contracted_tonnes: float
    expected_shortfall_p50_tonnes: float
    value_at_risk_idr: float = Field(description="Value of the P50 shortfall at each contract's price")
    margin_at_risk_idr: float = Field(
        0.0,
        description="Sum of the contracts' margin_at_risk_idr (those with a buying price; see "
        "unpriced_contracts)",
    )
    unpriced_contracts: int = Field(0, description="Open contracts with no buying price for their commodity")
    seconds: float


class CoverageReport(BaseModel):
    """Coverage of every open contract, in priority order, and a summary."""

    summary: CoverageSummary
    contracts: list[CoveragePublic]


class AllocationPublic(BaseModel):
    """Tonnes to order of a commodity from a cooperative in an ISO week, and for which contracts."""

    commodity: str = Field(examples=["potato"])
    coop_id: str = Field(examples=["sumberbrantas"])
    iso_week: str = Field(examples=["2026-W51"])
    tonnes: float
    contract_ids: list[int] = Field(description="The contracts these tonnes serve")


# --- contacts and notifications (api/routes/contacts.py) -------------------------------------

ChannelKind = Literal["whatsapp", "telegram", "email", "ntfy", "webhook"]
assert set(KINDS) == set(ChannelKind.__args__)  # type: ignore[attr-defined]
Hour = Annotated[int, Field(ge=0, le=23, description="Whole hour of the day in WIB")]


class ChannelIn(Body):
    """A way to reach the person."""

    kind: ChannelKind
    address: str = Field(
        min_length=1,
        max_length=500,
        description="Phone number (+62… or 08…), Telegram chat id, e-mail address, ntfy topic, or URL",
    )


class ChannelPublic(BaseModel):
    """A channel of a contact."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    address: str
    configured: bool = Field(description="whether panen has this channel's credentials (PANEN_NOTIFY_*)")
    confirmed: bool = Field(
        description="whether the address's owner confirmed it (or the admin vouched); an unconfirmed "
        "channel carries nothing but its confirmation"
    )
    confirmed_by: str | None = None


class RegistryEditPublic(BaseModel):
    """One audited edit of a field's forecast inputs."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    at: dt.datetime
    by: str
    coop_id: str
    kind: str = Field(description="field")
    row_id: str = Field(description="the field's id")
    action: str = Field(description="create, update or delete")
    changes: dict[str, list[Any]] = Field(description='{"column": [before, after]}')


class ConfirmIn(Body):
    """The code a channel's confirmation message carried, as its owner read it out."""

    code: str = Field(pattern=r"^\s*[0-9]{6}\s*$", description="six digits")


class SubscriptionIn(Body):
    """What to hear about."""

    kind: str = Field(max_length=30, description="An alert kind, or * for every kind")
    scope: Literal["own", "coop", "all"]
    coop_id: str | None = Field(None, max_length=128, description="With scope coop, for Coosae's staff")


class SubscriptionPublic(BaseModel):
    """A subscription of a contact."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    scope: str
    coop_id: str | None


class ContactCreate(Body):
    """A new contact."""

    name: str = Field(min_length=1, max_length=200)
    role: Role
    coop_id: str | None = Field(None, max_length=128, description="A manager's cooperative")
    farmer_id: str | None = Field(None, max_length=128, description="A farmer's registry id")
    language: Literal["id", "en"] = "id"
    quiet_start_h: Hour = 21
    quiet_end_h: Hour = 5
    daily_cap: int = Field(12, ge=1, le=MAX_DAILY_CAP)
    channels: list[ChannelIn] = Field(default_factory=list, max_length=10)


class ContactUpdate(Body):
    """Changes to a contact (role and scope stay)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    language: Literal["id", "en"] | None = None
    quiet_start_h: Hour | None = None
    quiet_end_h: Hour | None = None
    daily_cap: int | None = Field(None, ge=1, le=MAX_DAILY_CAP)


class ContactPublic(BaseModel):
    """A contact with its channels and subscriptions."""

    id: int
    name: str
    role: str
    coop_id: str | None
    farmer_id: str | None
    language: str
    quiet_start_h: int
    quiet_end_h: int
    daily_cap: int
    channels: list[ChannelPublic]
    subscriptions: list[SubscriptionPublic]


class SignInLink(BaseModel):
    """A personal sign-in link to the field page: single-use, expiring."""

    url: str
    expires_at: dt.datetime


class NotificationPublic(BaseModel):
    """One message in the outbox, and what became of it."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    key: str = Field(description="idempotency key, sent with the message as Idempotency-Key")
    contact_id: int
    channel_kind: str
    address: str
    alert_id: int | None
    event: str = Field(description="raised, escalation, reminder, digest, sign_in, confirm or test")
    urgent: bool
    title: str
    body: str
    status: str = Field(
        description="pending, sending, sent, failed, capped (over the daily cap) or cancelled (its alert "
        "cleared or was acknowledged before it could go)"
    )
    attempts: int
    due_at: dt.datetime
    created_at: dt.datetime
    sent_at: dt.datetime | None
    last_error: str | None

    @model_validator(mode="after")
    def _hide_sign_in(self) -> NotificationPublic:
        # A sign-in message's body is a code or a link that signs its person in: no one else reads it
        # here, sent or not (issue 37: managers saw them, also after use).
        # A channel's confirmation likewise: its code would let the person who added a stranger's
        # address confirm it themselves.
        if self.event == "sign_in":
            self.body = "(a sign-in code or link, shown only to its person)"
        elif self.event == "confirm":
            self.body = "(a confirmation code and link, shown only to the address's owner)"
        return self
