"""The simulated world: weather, soil water and crops for every field of a fleet, vectorised.

Daily weather is generated per cooperative (a wet/dry Markov chain with Kota Batu's seasonality,
temperature anomalies, cloud cover), then corrected for each field's own elevation and spread over
the hours of the day. A daily root-zone water balance per field (rain, the farmer's irrigation,
Priestley–Taylor evapotranspiration, drainage, runoff) gives soil moisture; the crop on each field
develops by a Wang–Engel temperature response and yields according to water, temperature,
radiation and hidden per-field factors (variety, management, pests, harvest timing); variety and
management persist from season to season, the rest changes with the season's seed.

This is the *truth* the forecast engine is scored against: it shares no code or equations with
``forecast/`` (which uses FAO-56 Penman–Monteith, growing degree-days and FAO-33 yield response).
Climate figures and their sources are in :mod:`firmware_sim.climate`.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from firmware_sim import climate
from storage.fleetfile import Fleet, FleetField, FleetStation

__all__ = ["CROPS", "ORCHARDS", "SOILS", "CropTruth", "Environment", "OrchardRecord", "simulate"]

F64 = NDArray[np.float64]
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
WIB_MS = climate.UTC_OFFSET_H * HOUR_MS


@dataclass(frozen=True)
class SoilTexture:
    """Volumetric water content at saturation, field capacity and wilting point [m³/m³]."""

    saturation: float
    field_capacity: float
    wilting_point: float


# The world's soils (firmware_sim/world.toml [soils], each with its source).
SOILS = {name: SoilTexture(*water) for name, water in climate.SOIL_WATER.items()}
SENSOR_LAYER_M = 0.3  # the probe's root-zone layer


@dataclass(frozen=True)
class CropModel:
    """The simulator's own crop parameters (not forecast/'s crop library).

    Attributes:
        days_at_optimum: Days from planting to maturity at the optimum temperature.
        t_min, t_opt, t_max: Cardinal temperatures of the Wang–Engel development response [°C].
        yield_potential_t_ha: Fresh marketable yield under no stress in Batu [t/ha].
        water_sensitivity: Relative yield loss per unit of relative transpiration deficit.
        heat_c: Daily maximum above which a day of heat stress is counted [°C].
        kc_peak: Peak crop coefficient on Priestley–Taylor evapotranspiration.
    """

    days_at_optimum: float
    t_min: float
    t_opt: float
    t_max: float
    yield_potential_t_ha: float
    water_sensitivity: float
    heat_c: float
    kc_peak: float


# Potential yields: potato 20-25 t/ha and carrot 20-27 t/ha in Batu 2023, rice 6-7 t/ha dry season at
# Pendem (docs/sources.md §4); the others and all cardinal temperatures are [est] from general agronomy.
CROPS = {
    "potato": CropModel(95, 4, 18, 30, 25.0, 1.1, 29, 1.1),
    "cabbage": CropModel(85, 2, 18, 30, 32.0, 0.95, 30, 1.05),
    "carrot": CropModel(100, 3, 18, 30, 24.0, 1.0, 30, 1.0),
    "tomato": CropModel(95, 8, 24, 35, 30.0, 1.05, 33, 1.1),
    "chili": CropModel(120, 10, 26, 36, 10.0, 1.1, 35, 1.05),
    "shallot": CropModel(65, 8, 24, 35, 12.0, 1.1, 35, 1.0),
    "sweet_corn": CropModel(80, 9, 28, 40, 14.0, 1.25, 38, 1.15),
    "rice": CropModel(110, 10, 28, 40, 6.5, 1.1, 36, 1.2),
    "strawberry": CropModel(100, 4, 20, 32, 12.0, 1.0, 30, 0.9),
    # Orchards: development from the grower's defoliation (apple) or from bloom (keprok) to harvest
    # maturity [est]; their yield is the trees' fruit (ORCHARDS), not the potential yield here.
    "apple": CropModel(125, 5, 23, 33, 8.0, 0.9, 31, 0.95),
    "citrus": CropModel(180, 12, 27, 38, 18.0, 1.0, 35, 0.8),  # keprok: 7-8 months from bloom [est]
}


@dataclass(frozen=True)
class OrchardModel:
    """The simulator's own orchard crop (not forecast/'s orchard library).

    Attributes:
        bloom_dev: Development share at full bloom (0: the season starts at bloom).
        cycle_days: About how long a crop takes from its start, to lay crops out around the anchor.
        fruits_per_tree: Fruits a tree in full bearing sets in an ordinary crop.
        fruit_g: Fruit weight at harvest without stress [g].
        full_bearing_age: Years from planting to full bearing.
        load_sigma: Log-s.d. of one crop's fruit load against the tree's usual (alternate bearing).
        flowering_recorded, count_recorded: Shares of growers who record a flowering and a count.
        count_after_bloom_days: When growers count fruits on sample trees (range, days after bloom).
    """

    bloom_dev: float
    cycle_days: float
    fruits_per_tree: float
    fruit_g: float
    full_bearing_age: float
    load_sigma: float
    flowering_recorded: float
    count_recorded: float
    count_after_bloom_days: tuple[int, int]


# [est] throughout: apple ~70 fruits of ~115 g per crop (8 kg, two crops a year); keprok ~420 fruits
# of ~105 g (44 kg a year; docs/sources.md reports ~50 kg per tree from age 4).
ORCHARDS = {
    "apple": OrchardModel(0.2, 150, 70, 115, 8, 0.3, 0.7, 0.8, (40, 55)),
    "citrus": OrchardModel(0.0, 245, 420, 105, 5, 0.3, 1.0, 0.8, (60, 90)),
}
# Hidden behaviour of the visible variety names: (development speed, fruit weight), relative [est].
ORCHARD_VARIETIES = {
    "Manalagi": (1.0, 1.0),
    "Anna": (1.14, 0.85),
    "Rome Beauty": (0.9, 1.3),
    "Keprok Batu 55": (1.0, 1.0),
}


@dataclass(frozen=True)
class CropTruth:
    """What really happens on a field (written to the truths file, never published); an orchard's
    ``planting_date`` is its crop's start (defoliation for apple, bloom for keprok)."""

    field_id: str
    coop_id: str
    commodity: str
    planting_date: dt.date
    maturity_date: dt.date | None
    harvest_date: dt.date | None
    yield_t_ha: float
    tonnes: float
    area_ha: float


@dataclass(frozen=True)
class OrchardRecord:
    """What a grower records of an orchard (published: the records a farmer would enter).

    ``kind`` is ``defoliation``, ``flowering`` or ``fruit_count`` (mean fruits per tree on
    ``trees_sampled`` trees)."""

    field_id: str
    kind: str
    day: dt.date
    fruits_per_tree: float | None = None
    trees_sampled: int | None = None


@dataclass
class Environment:
    """Hourly conditions at every site, plus daily water-balance terms and the crop truths.

    Site order: the fleet's fields, then its stations. Hourly arrays are ``(sites, hours)``;
    daily arrays ``(fields, days)``.
    """

    site_ids: list[str]
    hours_ms: NDArray[np.int64]
    air_temp_c: F64
    air_rh_pct: F64
    rain_mm: F64
    solar_w_m2: F64
    wind_m_s: F64
    leaf_wetness_pct: F64
    soil_vwc_pct: F64
    soil_temp_c: F64
    soil_ec_ds_m: F64
    days: list[dt.date]
    daily_rain_mm: F64
    daily_irrigation_mm: F64
    daily_et_mm: F64
    daily_drainage_mm: F64
    daily_runoff_mm: F64
    daily_storage_mm: F64  # end of day
    initial_storage_mm: F64
    truths: list[CropTruth]
    orchard_records: list[OrchardRecord]

    def site_index(self, site_id: str) -> int:
        """Row of ``site_id`` in the hourly arrays."""
        return self.site_ids.index(site_id)


def _wang_engel(temp_c: F64, t_min: F64 | float, t_opt: F64 | float, t_max: F64 | float) -> F64:
    """Development rate relative to the optimum (Wang & Engel 1998), 0 outside (t_min, t_max)."""
    alpha = np.log(2.0) / np.log((t_max - t_min) / (t_opt - t_min))
    x = np.clip(temp_c - t_min, 0.0, t_max - t_min)
    d = (t_opt - t_min) ** alpha
    rate = (2 * x**alpha * d - x ** (2 * alpha)) / d**2
    return np.where((temp_c > t_min) & (temp_c < t_max), np.clip(rate, 0.0, 1.0), 0.0)


def _daily_weather(
    rng: np.random.Generator, days: list[dt.date], n_coops: int
) -> tuple[F64, F64, F64, F64, F64]:
    """Per cooperative and day: temperature anomaly [°C], rain [mm], cloud fraction, wind [m/s], wet flag."""
    n = len(days)
    month = np.array([d.month - 1 for d in days])
    p_wet = climate.WET_DAY_PROBABILITY[month]
    r = climate.WET_SPELL_PERSISTENCE
    wet = np.zeros((n_coops, n), dtype=bool)
    # Cooperatives a few km apart share the synoptic weather: one regional chain, local departures.
    regional = np.zeros(n, dtype=bool)
    u = rng.random(n)
    for i in range(n):
        prev = regional[i - 1] if i else u[i] < p_wet[i]
        p = p_wet[i] + r * (1 - p_wet[i]) if prev else p_wet[i] * (1 - r)
        regional[i] = u[i] < p
    flip = rng.random((n_coops, n)) < 0.15
    wet = np.where(flip, ~regional[None, :], regional[None, :])
    shape = climate.RAIN_GAMMA_SHAPE
    amount = rng.gamma(shape=shape, scale=climate.WET_DAY_MEAN_MM[month] / shape, size=(n_coops, n))
    rain = np.where(wet, np.round(amount, 1), 0.0)
    cloud = np.clip(
        np.where(wet, rng.normal(0.75, 0.12, (n_coops, n)), rng.normal(0.35, 0.15, (n_coops, n))), 0.02, 1.0
    )
    cloud -= np.where(climate.WET_SEASON[month], 0.0, 0.1)
    cloud = np.clip(cloud, 0.02, 1.0)
    # Temperature anomaly: AR(1) (world.toml [temperature]).
    phi, sd = climate.TEMP_ANOMALY_PERSISTENCE, climate.TEMP_ANOMALY_SD_C
    anomaly = np.zeros((n_coops, n))
    shocks = rng.normal(0, sd * np.sqrt(1 - phi**2), n)
    for i in range(1, n):
        anomaly[:, i] = phi * anomaly[:, i - 1] + shocks[i]
    anomaly += climate.MONTHLY_TEMP_ANOMALY_C[month][None, :]
    wind = rng.gamma(6.0, climate.WIND_MEAN_M_S[month] / 6.0, size=(n_coops, n))
    return anomaly, rain, cloud, wind, wet.astype(float)


def _stable(key: str) -> np.random.Generator:
    """A generator that gives the same draws for ``key`` in every simulated season."""
    return np.random.default_rng(zlib.crc32(key.encode()))


def simulate(
    fleet: Fleet, *, start: dt.date, end: dt.date, seed: int, hourly_from: dt.date | None = None
) -> Environment:
    """Simulate ``start <= day < end`` (local days) for every site of ``fleet``.

    Args:
        fleet: The fleet.
        start: First simulated local day; crops planted before it start from their planting date
            with weather drawn from the same climate (the simulation starts early enough for that).
        end: Day after the last simulated day; crops not harvested by then get no harvest date.
        seed: Reproducible seed: the same seed, fleet and dates give the same world.
        hourly_from: First day of the hourly arrays (default ``start``); earlier days only feed the
            water balance and crops, which keeps memory small for long horizons.
    """
    # The draws are made in one order from one generator (weather, hidden factors, site rain,
    # starting soil water, salinity), so the same seed always gives the same world.
    rng = np.random.default_rng(seed)
    fields = fleet.fields
    # An orchard's season is its current crop: started by the grower's defoliation (apple) or by
    # bloom (keprok), laid out around the fleet's anchor like the annual crops' planting dates.
    orchard_rng = np.random.default_rng([seed, 0x0AC4])
    season_start = [
        fleet.anchor
        - dt.timedelta(days=int(ORCHARDS[f.commodity].cycle_days * orchard_rng.uniform(0.25, 0.95)))
        if f.commodity in ORCHARDS
        else f.planting_date
        for f in fields
    ]
    first_planting = min(season_start, default=start)
    sim_start = min(start, first_planting - dt.timedelta(days=7))
    days = [sim_start + dt.timedelta(days=i) for i in range((end - sim_start).days)]
    weather = _daily_weather(rng, days, len(fleet.cooperatives))
    sites: list[FleetField | FleetStation] = [*fields, *fleet.stations]
    hidden = _hidden_factors(fleet, rng, np.array([s.elevation_m for s in sites], dtype=np.float64))
    site = _site_days(fleet, sites, rng, days, weather, hidden.frost_hollow)
    seasons = _field_seasons(fleet, rng, site, hidden, [(day - sim_start).days for day in season_start])
    truths, orchard_records = _truths(fleet, days, season_start, seasons, hidden, orchard_rng)
    hourly = _hourly(fleet, rng, site, seasons, sim_start, start, end, hourly_from, weather[4])
    return Environment(
        site_ids=[s.id for s in sites],
        **hourly,
        days=days,
        daily_rain_mm=seasons.out["rain"],
        daily_irrigation_mm=seasons.out["irr"],
        daily_et_mm=seasons.out["et"],
        daily_drainage_mm=seasons.out["drain"],
        daily_runoff_mm=seasons.out["runoff"],
        daily_storage_mm=seasons.out["storage"],
        initial_storage_mm=seasons.initial,
        truths=truths,
        orchard_records=orchard_records,
    )


@dataclass(frozen=True)
class _Hidden:
    """What the world knows of each site and field and never publishes."""

    frost_hollow: F64  # per site: how much colder its clear dry nights are [°C]
    variety_speed: F64
    variety_yield: F64
    management: F64
    irrigated: NDArray[np.bool_]
    irrigation_trigger: F64
    pest_loss: F64
    harvest_delay: NDArray[np.int_]


def _hidden_factors(fleet: Fleet, rng: np.random.Generator, elevation: F64) -> _Hidden:
    """Hidden per-site and per-field factors.

    A variety's speed and yield, the farmer's and the cooperative's management persist from season
    to season (as in Batu, where they are why the same fields out-yield others year after year), so
    they are keyed by variety, field and cooperative, not drawn from the season's seed: harvest
    records of one season then say something about the next. Weather, pests and harvest timing change
    every season.
    """
    fields = fleet.fields
    n_sites, n_fields = len(elevation), len(fields)
    frost_hollow = np.where((elevation > 1550) & (rng.random(n_sites) < 0.3), rng.uniform(2, 5, n_sites), 0.0)
    variety_speed = np.array(
        [
            _stable(f"speed:{f.commodity}:{f.variety}").normal(1.0, 0.06)
            / ORCHARD_VARIETIES.get(f.variety, (1.0, 1.0))[0]
            for f in fields
        ]
    )
    variety_yield = np.array([_stable(f"yield:{f.commodity}:{f.variety}").normal(1.0, 0.08) for f in fields])
    management = np.array(
        [
            _stable(f"coop:{fleet.coop_of(f.id).id}").uniform(0.88, 1.04)
            * _stable(f"field:{f.id}").uniform(0.86, 1.04)
            for f in fields
        ]
    )
    irrigated = rng.random(n_fields) < np.array([0.9 if f.commodity == "rice" else 0.55 for f in fields])
    irrigation_trigger = rng.uniform(0.35, 0.6, n_fields)
    pest_loss = np.where(rng.random(n_fields) < 0.18, rng.uniform(0.08, 0.4, n_fields), 0.0)
    harvest_delay = rng.integers(0, 8, n_fields)
    return _Hidden(
        frost_hollow,
        variety_speed,
        variety_yield,
        management,
        irrigated,
        irrigation_trigger,
        pest_loss,
        harvest_delay,
    )


@dataclass(frozen=True)
class _SiteDays:
    """Daily weather per site (sites × days), and what the hourly series need of the cooperatives'."""

    elevation: F64
    site_coop: NDArray[np.int_]
    month: NDArray[np.int_]
    t_mean: F64
    t_max: F64
    t_min: F64
    rain: F64
    wind: F64
    solar_mj: F64
    cloud: F64  # per cooperative


def _site_days(
    fleet: Fleet,
    sites: list[FleetField | FleetStation],
    rng: np.random.Generator,
    days: list[dt.date],
    weather: tuple[F64, F64, F64, F64, F64],
    frost_hollow: F64,
) -> _SiteDays:
    """Each site's daily temperatures from its own elevation (Braak's lapse rates), frost hollows on
    clear dry-season nights, its share of the cooperative's rain, wind and solar radiation."""
    anomaly, coop_rain, cloud, coop_wind, _wet = weather
    coop_index = {c.id: i for i, c in enumerate(fleet.cooperatives)}
    site_coop = np.array([coop_index[fleet.coop_of(s.id).id] for s in sites])
    elevation = np.array([s.elevation_m for s in sites], dtype=np.float64)
    month = np.array([d.month - 1 for d in days])
    base = climate.air_temp_at_altitude_c(elevation)[:, None]
    t_mean = base + anomaly[site_coop]
    sky = 1 - cloud[site_coop]
    dtr = climate.DIURNAL_RANGE_C[month][None, :] * (0.55 + 0.6 * sky)
    t_max = t_mean + 0.45 * dtr
    t_min = t_mean - 0.55 * dtr
    dry_clear = (~climate.WET_SEASON[month])[None, :] & (sky > 0.55)
    t_min = t_min - np.where(dry_clear, frost_hollow[:, None], 0.0)
    rain_site = coop_rain[site_coop] * rng.lognormal(0, 0.15, (len(sites), 1))
    wind_site = coop_wind[site_coop] * (1 + (elevation[:, None] - 1000) / 4000)
    # Daily solar radiation [MJ/m²/d]: clear-sky day integral at 11:30 WIB scaled by Kasten-Czeplak.
    noon_ms = np.array(
        [(d - dt.date(1970, 1, 1)).days * DAY_MS + 4 * HOUR_MS + 1_800_000 for d in days], dtype=np.int64
    )
    clear_noon = climate.clear_sky_irradiance_w_m2(noon_ms)
    clear_day_mj = clear_noon * 12 * 3600 * 2 / np.pi / 1e6
    solar_day_mj = clear_day_mj[None, :] * (1 - 0.75 * cloud[site_coop] ** 3.4)
    return _SiteDays(
        elevation, site_coop, month, t_mean, t_max, t_min, rain_site, wind_site, solar_day_mj, cloud
    )


@dataclass
class _Seasons:
    """Each field's daily soil water balance and its crop's season, accumulated day by day."""

    out: dict[str, F64]  # rain, irr, et, drain, runoff, storage: (fields, days) [mm]
    initial: F64  # storage before the first day [mm]
    maturity_idx: NDArray[np.int_]
    bloom_idx: NDArray[np.int_]
    stress_weighted: F64
    weight_sum: F64
    heat_days: F64
    frost_days: F64
    radiation_sum: F64
    temp_sum: F64
    season_days: F64


def _field_seasons(
    fleet: Fleet, rng: np.random.Generator, site: _SiteDays, hidden: _Hidden, planting_days: list[int]
) -> _Seasons:
    """The daily root-zone water balance per field (rain, the farmer's irrigation, Priestley-Taylor
    ET, drainage, runoff) and each crop's Wang-Engel development with its stress accounting."""
    fields = fleet.fields
    n_fields = len(fields)
    texture = [SOILS[f.soil_texture] for f in fields]
    fc = np.array([t.field_capacity for t in texture]) * SENSOR_LAYER_M * 1000
    wp = np.array([t.wilting_point for t in texture]) * SENSOR_LAYER_M * 1000
    sat = np.array([t.saturation for t in texture]) * SENSOR_LAYER_M * 1000
    storage = wp + (fc - wp) * rng.uniform(0.6, 0.95, n_fields)
    n_days = site.t_mean.shape[1]
    crop = [CROPS[f.commodity] for f in fields]
    cardinal = [np.array([getattr(c, k) for c in crop]) for k in ("t_min", "t_opt", "t_max")]
    days_opt = np.array([c.days_at_optimum for c in crop])
    kc_peak = np.array([c.kc_peak for c in crop])
    heat_c = np.array([c.heat_c for c in crop])
    bloom_dev = np.array(
        [ORCHARDS[f.commodity].bloom_dev if f.commodity in ORCHARDS else 0.0 for f in fields]
    )
    planting_idx = np.array(planting_days)
    st = _Seasons(
        out={k: np.zeros((n_fields, n_days)) for k in ("rain", "irr", "et", "drain", "runoff", "storage")},
        initial=storage.copy(),
        maturity_idx=np.full(n_fields, -1),
        bloom_idx=np.full(n_fields, -1),
        **{k: np.zeros(n_fields) for k in ("stress_weighted", "weight_sum", "heat_days", "frost_days")},
        **{k: np.zeros(n_fields) for k in ("radiation_sum", "temp_sum", "season_days")},
    )
    dev = np.zeros(n_fields)
    gamma = 0.067 * (1 - site.elevation[:n_fields] / 10_000)
    for d in range(n_days):
        growing = (d >= planting_idx) & (st.maturity_idx < 0)
        # Crop coefficient rises with development to a plateau, then falls [est shape].
        kc = np.where(
            growing, 0.35 + (kc_peak - 0.35) * np.clip(np.minimum(dev / 0.35, (1.15 - dev) / 0.35), 0, 1), 0.3
        )
        temp = site.t_mean[:n_fields, d]
        delta = 4098 * climate.saturation_vp_kpa(temp) / (temp + 237.3) ** 2
        net_rad = 0.62 * site.solar_mj[:n_fields, d]  # net radiation as a share of global [est]
        pet = 1.26 * delta / (delta + gamma) * net_rad / 2.45  # Priestley–Taylor [mm/d]
        theta_rel = (storage - wp) / (fc - wp)
        water_factor = np.clip(theta_rel / 0.5, 0.0, 1.0)
        irrigation = np.where(
            growing & hidden.irrigated & (theta_rel < hidden.irrigation_trigger), fc - storage, 0.0
        )
        storage = storage + irrigation
        rain = site.rain[:n_fields, d]
        et_pot = kc * pet
        et = np.minimum(et_pot * water_factor, np.maximum(storage + rain - wp * 0.9, 0.0))
        storage = storage + rain - et
        drainage = np.maximum(storage - fc, 0.0) * 0.6
        storage = storage - drainage
        runoff = np.maximum(storage - sat, 0.0)
        storage = storage - runoff
        st.out["rain"][:, d], st.out["irr"][:, d], st.out["et"][:, d] = rain, irrigation, et
        st.out["drain"][:, d], st.out["runoff"][:, d], st.out["storage"][:, d] = drainage, runoff, storage
        # Crop development and stress accounting.
        rate = _wang_engel(temp, *cardinal) / (days_opt * hidden.variety_speed)
        sensitivity = np.exp(-(((dev - 0.55) / 0.25) ** 2))  # mid-season matters most [est]
        ratio = np.where(et_pot > 0, et / np.maximum(et_pot, 1e-9), 1.0)
        st.stress_weighted += np.where(growing, sensitivity * ratio, 0.0)
        st.weight_sum += np.where(growing, sensitivity, 0.0)
        st.heat_days += growing & (site.t_max[:n_fields, d] > heat_c)
        st.frost_days += growing & (site.t_min[:n_fields, d] <= 1.0) & (dev < 0.5)
        st.radiation_sum += np.where(growing, site.solar_mj[:n_fields, d], 0.0)
        st.temp_sum += np.where(growing, temp, 0.0)
        st.season_days += growing
        st.bloom_idx = np.where(growing & (st.bloom_idx < 0) & (dev >= bloom_dev), d, st.bloom_idx)
        dev = np.where(growing, dev + rate, dev)
        matured = growing & (dev >= 1.0)
        st.maturity_idx = np.where(matured, d, st.maturity_idx)
    return st


def _truths(
    fleet: Fleet,
    days: list[dt.date],
    season_start: list[dt.date],
    seasons: _Seasons,
    hidden: _Hidden,
    orchard_rng: np.random.Generator,
) -> tuple[list[CropTruth], list[OrchardRecord]]:
    """Each field's true harvest date and yield (water, temperature, radiation, heat and frost, and
    the hidden management, variety and pest factors), and the orchard growers' records."""
    truths = []
    orchard_records: list[OrchardRecord] = []
    for i, f in enumerate(fleet.fields):
        c = CROPS[f.commodity]
        weight = seasons.weight_sum[i]
        relative_transpiration = seasons.stress_weighted[i] / weight if weight > 0 else 1.0
        water = max(0.0, 1 - c.water_sensitivity * (1 - relative_transpiration))
        days_grown = max(seasons.season_days[i], 1.0)
        season_temp = seasons.temp_sum[i] / days_grown
        temperature = float(np.exp(-(((season_temp - c.t_opt) / 9.0) ** 2)))
        radiation = float(np.clip((seasons.radiation_sum[i] / days_grown / 17.0) ** 0.4, 0.6, 1.1))
        heat = 0.99 ** seasons.heat_days[i] * 0.97 ** seasons.frost_days[i]
        y = c.yield_potential_t_ha * water * temperature * radiation * heat
        y *= hidden.management[i] * hidden.variety_yield[i] * (1 - hidden.pest_loss[i])
        if f.commodity in ORCHARDS:
            bloom = days[seasons.bloom_idx[i]] if seasons.bloom_idx[i] >= 0 else None
            y, records = _orchard_crop(
                f, season_start[i], bloom, hidden.management[i] * hidden.variety_yield[i],
                water * heat * radiation**0.5, hidden.pest_loss[i], orchard_rng,
            )  # fmt: skip
            orchard_records += records
        matured_on = days[seasons.maturity_idx[i]] if seasons.maturity_idx[i] >= 0 else None
        harvest = matured_on + dt.timedelta(days=int(hidden.harvest_delay[i])) if matured_on else None
        truths.append(
            CropTruth(
                f.id,
                fleet.coop_of(f.id).id,
                f.commodity,
                season_start[i],
                matured_on,
                harvest,
                round(float(y), 3),
                round(float(y * f.area_ha), 3),
                f.area_ha,
            )
        )
    return truths, orchard_records


def _hourly(
    fleet: Fleet,
    rng: np.random.Generator,
    site: _SiteDays,
    seasons: _Seasons,
    sim_start: dt.date,
    start: dt.date,
    end: dt.date,
    hourly_from: dt.date | None,
    wet: F64,
) -> dict[str, Any]:
    """The hourly series of :class:`Environment`: diurnal temperature, humidity from the dew point,
    clear-sky sun under cloud, afternoon rain, wind, leaf wetness, and the soil's water, temperature
    and EC interpolated from the daily balance."""
    n_sites, n_fields = len(site.elevation), len(fleet.fields)
    h_start = max(hourly_from or start, sim_start)
    d0 = (h_start - sim_start).days
    d1 = (start - sim_start).days + (end - start).days
    hours_ms = (
        np.arange((d1 - d0) * 24, dtype=np.int64) * HOUR_MS
        + (h_start - dt.date(1970, 1, 1)).days * DAY_MS
        - WIB_MS
    )
    local_hour = ((hours_ms + WIB_MS) % DAY_MS) // HOUR_MS
    day_of = np.repeat(np.arange(d0, d1), 24)
    # Temperature: minimum at 06 WIB, maximum at 14 WIB (cosine halves) [est].
    h = local_hour.astype(float)
    rising = (h >= 6) & (h < 14)
    phase = np.where(rising, (h - 6) / 8, np.where(h >= 14, (h - 14) / 16, (h + 10) / 16))
    shape = np.where(rising, (1 - np.cos(np.pi * phase)) / 2, (1 + np.cos(np.pi * phase)) / 2)
    tmin_h = site.t_min[:, day_of]
    tmax_h = site.t_max[:, day_of]
    air = tmin_h + (tmax_h - tmin_h) * shape[None, :]
    dew = (
        site.t_min[:, day_of]
        - climate.DEWPOINT_DEPRESSION_C[site.month[day_of]][None, :]
        + 0.8 * wet[site.site_coop][:, day_of]
    )
    rh = np.clip(100 * climate.saturation_vp_kpa(dew) / climate.saturation_vp_kpa(air), 20, 100)
    clear = climate.clear_sky_irradiance_w_m2(hours_ms + HOUR_MS // 2)
    solar = clear[None, :] * (1 - 0.75 * site.cloud[site.site_coop][:, day_of] ** 3.4)
    # Rain falls between 13:00 and 19:00 WIB on wet days [est].
    afternoon = ((local_hour >= 13) & (local_hour < 19)).astype(float) / 6.0
    rain_h = site.rain[:, day_of] * afternoon[None, :]
    wind_h = site.wind[:, day_of] * (0.6 + 0.8 * np.clip(np.sin(np.pi * (h - 8) / 12), 0, None))[None, :]
    leaf = np.where((rain_h > 0) | (rh > 92), np.clip((rh - 85) * 6.0, 40, 100), 0.0)
    # Soil: storage at day boundaries, interpolated through the day.
    storage_days = np.concatenate([seasons.initial[:, None], seasons.out["storage"]], axis=1)
    frac = (h / 24.0)[None, :]
    stor_h = storage_days[:, day_of] * (1 - frac) + storage_days[:, day_of + 1] * frac
    vwc_fields = 100 * stor_h / (SENSOR_LAYER_M * 1000)
    # Soil temperature at 10 cm: damped (amplitude 0.35) and delayed 3 h, plus 1 °C [est].
    mean_day = (tmin_h + tmax_h) / 2
    lagged = np.roll(air, 3, axis=1)
    lagged[:, :3] = air[:, :3]
    soil_t = mean_day + 1.0 + 0.35 * (lagged - mean_day)
    theta_sat = np.array([SOILS[f.soil_texture].saturation for f in fleet.fields])[:, None]
    salinity = rng.uniform(0.6, 2.0, (n_fields, 1))  # pore-water EC [dS/m], fertiliser included [est]
    ec_fields = salinity * (vwc_fields / 100 / theta_sat) ** 1.5
    pad = np.full((n_sites - n_fields, len(hours_ms)), np.nan)
    return {
        "hours_ms": hours_ms,
        "air_temp_c": air,
        "air_rh_pct": rh,
        "rain_mm": rain_h,
        "solar_w_m2": solar,
        "wind_m_s": wind_h,
        "leaf_wetness_pct": leaf,
        "soil_vwc_pct": np.vstack([vwc_fields, pad]),
        "soil_temp_c": np.vstack([soil_t[:n_fields], pad]),
        "soil_ec_ds_m": np.vstack([ec_fields, pad]),
    }


def _orchard_crop(
    f: FleetField,
    start: dt.date,
    bloom: dt.date | None,
    grower: float,
    weather: float,
    pest: float,
    rng: np.random.Generator,
) -> tuple[float, list[OrchardRecord]]:
    """One orchard crop's true yield [t/ha] and the records its grower keeps.

    Fruits set = a tree's usual load × its age's share of full bearing × this crop's load (alternate
    bearing) × the grower's and variety's factor; some drop before picking; each weighs the variety's
    fruit weight, lowered by water, heat and light (``weather``) and pests.
    """
    model = ORCHARDS[f.commodity]
    _, weight = ORCHARD_VARIETIES.get(f.variety, (1.0, 1.0))
    trees = f.tree_count or 1000 * f.area_ha
    age = (start - f.planting_date).days / 365.25
    bearing = float(np.clip((age - 2) / (model.full_bearing_age - 2), 0.1, 1.0))
    fruits = float(model.fruits_per_tree * bearing * np.exp(rng.normal(0, model.load_sigma)) * grower)
    drop = float(rng.uniform(0.02, 0.2))
    kg_per_tree = fruits * (1 - drop) * model.fruit_g * weight / 1000 * weather * (1 - pest)
    records = []
    if model.bloom_dev > 0:
        records.append(OrchardRecord(f.id, "defoliation", start))
    flowering_noted = rng.random() < model.flowering_recorded
    counted = rng.random() < model.count_recorded
    count_day = int(rng.integers(*model.count_after_bloom_days))
    sampled = int(rng.integers(5, 16))
    seen = fruits * float(np.exp(rng.normal(0, 0.3 / np.sqrt(sampled))))
    if bloom is not None:
        if flowering_noted:
            records.append(OrchardRecord(f.id, "flowering", bloom))
        if counted:
            records.append(
                OrchardRecord(
                    f.id, "fruit_count", bloom + dt.timedelta(days=count_day), round(seen, 1), sampled
                )
            )
    return trees * kg_per_tree / 1000 / f.area_ha, records
