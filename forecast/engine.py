"""Harvest forecasts per field: observed season so far + an ensemble of future weather.

:func:`forecast_fields` is the engine's one entry point: it takes each field's registry facts and
observed daily drivers, runs the season model for every field × member (chunked over fields so
memory stays bounded), and returns per-field percentiles plus the members themselves (purchase
plans and contract coverage sum members, never percentiles).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from forecast.crops import crop_arrays, load_crops
from forecast.drivers import Observed, infer_irrigated
from forecast.learning import PRIOR, Calibration
from forecast.season import SeasonInputs, SeasonResult, run_season
from forecast.soils import calibrated_soil
from forecast.weather import fit_weather, future_weather

__all__ = ["MODEL_VERSION", "FieldForecast", "FieldSpec", "forecast_fields"]

F64 = NDArray[np.float64]
# Spread of thermal time between fields of one crop (varieties, sowing depth) [est].
THERMAL_TIME_SIGMA = 0.04
# Early canopy senescence and crop death (forecast.season, AquaCrop's approach) are on in forecasts,
# decided from the reference bench (issue 38): without them the model is far from AquaCrop where crops
# die (bench.forecast_vs_aquacrop, keys as_forecast_: Tunis's maize +0.40 of relative yield and harvest
# dates 30 days off; with them +0.07 and 3.9 days). Each forecast says in how many members its crop
# dies (FieldForecast.crop_death_share), and learning sets apart a harvest recorded against a forecast
# whose crop lost half its canopy (forecast.learning.MAX_CANOPY_LOST): read as a yield gap, one such
# record set a cooperative's next cabbage forecast at 2.6 times its harvest. The simulated Batu
# seasons have no crop death, so there every death counts as an error: their skill is worse with it
# (docs/decisions/0007). Its speed cost is within issue 38's 20 % (bench.forecast, 20,000 fields, six
# alternated runs: 0.84 of the field-seasons a second without it, median). False runs the model
# without either, as bench.forecast_vs_aquacrop's as_forecast_ keys once did.
EARLY_SENESCENCE = True
# An orchard's crop takes up to about eight months from bloom to picking (keprok Batu 55: 1,670
# degree-days, ~235 days at 1,100 m; more higher up), longer than any annual crop's season: its
# fields are simulated a year ahead, so a crop that has just flowered already has a date.
ORCHARD_HORIZON_DAYS = 366
# What the model is, as every forecast's basis says it: version 1's words ("FAO-56 single Kc, FAO-33
# Ky, climatology ensemble") stayed after the model changed under them (issues 19 and 38). It says
# whether a crop can be forecast to die, so a planner reading a drought field's tonnes knows.
MODEL_VERSION = (
    "panen-forecast 2 (FAO-56 dual Kc, single for orchards; degree-days; yield from relative transpiration; "
    "weather fitted to the readings; soils moved to the fleet's probes; "
    + (
        "early canopy senescence and crop death"
        if EARLY_SENESCENCE
        else "no crop death: a crop in a drought loses yield, never its season"
    )
    + ")"
)


@dataclass(frozen=True)
class FieldSpec:
    """What the registry knows about a field."""

    field_id: str
    coop_id: str
    commodity: str
    planting_date: dt.date
    area_ha: float
    soil_texture: str
    elevation_m: float
    # An orchard's crop (forecast.orchard.OrchardCycle): ``planting_date`` is then its bloom, and these
    # replace the crop library's thermal time, attainable yield and yield spread; ``date_sigma_days``
    # adds the uncertainty of an estimated bloom to the harvest date's.
    thermal_time_cd: float | None = None
    potential_yield_t_ha: float | None = None
    yield_sigma_log: float | None = None
    date_sigma_days: float = 0.0
    variety: str = ""  # as registered: its own harvest-date bias once records have taught it


@dataclass(frozen=True)
class FieldForecast:
    """One field's forecast. Percentiles over members; ``members_*`` keep every member."""

    field_id: str
    coop_id: str
    commodity: str
    issued: dt.date
    harvest_date_p10: dt.date | None
    harvest_date_p50: dt.date | None
    harvest_date_p90: dt.date | None
    yield_t_ha_p10: float
    yield_t_ha_p50: float
    yield_t_ha_p90: float
    tonnes_p10: float
    tonnes_p50: float
    tonnes_p90: float
    water_stress_so_far: float
    depletion_mm: float
    raw_mm: float
    days_to_irrigation: float | None
    days_observed: int
    members_harvest_date: list[dt.date | None]
    members_tonnes: F64
    yield_factor: float
    date_bias_days: float = 0.0  # days added to the modelled maturity (the calibration's, this field's)
    # The soil the forecast used: its water at field capacity [% VWC], and how many of the fleet's fields
    # of its texture moved it there from Saxton & Rawls' estimate (0: the estimate alone; issue 38).
    field_capacity_pct: float | None = None
    soil_probe_fields: int = 0
    # What a drought does to the canopy (early senescence; 0 for an orchard, whose trees the model never
    # lets senesce). The share of members whose crop dies before maturity: such a member's date (in
    # members_harvest_date) is the death's and its tonnes what the crop had built; a planner reads the
    # share as the chance the field fails, the farmer is warned from one in ten. And the P50 over
    # members of the share of the canopy lost by the season's end (1: died): learning sets apart a
    # harvest recorded against a forecast that rests on losing half of it (learning.MAX_CANOPY_LOST).
    crop_death_share: float = 0.0
    canopy_lost_p50: float = 0.0
    # The median day of death over the members whose crop dies (None when none does); the harvest dates
    # are the others' (see _field_forecast).
    crop_death_date_p50: dt.date | None = None
    # Which members' crop dies (their members_tonnes are what it had built, on its death's day): the
    # plan says how much of a week's tonnes is that (None: no member's does, or not known).
    members_died: NDArray[np.bool_] | None = None

    @property
    def tonnes_expected(self) -> float:
        """Expected tonnes, the mean over members: what adds up over fields (a P50 does not)."""
        return float(np.mean(self.members_tonnes)) if len(self.members_tonnes) else 0.0

    @property
    def needs_water(self) -> bool:
        """Today's root-zone depletion (the daily water balance) is past the readily available water:
        the one rule behind the irrigation alert and the field page's headline (issue 39)."""
        return self.raw_mm > 0 and self.depletion_mm > self.raw_mm

    @property
    def members(self) -> int:
        """Ensemble size."""
        return len(self.members_tonnes)

    @property
    def member_deaths(self) -> NDArray[np.bool_]:
        """Whether each member's crop dies: :attr:`members_died`, or none when it is not given."""
        return self.members_died if self.members_died is not None else np.zeros(self.members, dtype=bool)


def _stable_hash(text: str) -> int:
    """A hash of ``text`` that is the same in every process (Python's ``hash`` is salted)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _date(origin: dt.date, day: float) -> dt.date | None:
    return None if np.isnan(day) else origin + dt.timedelta(days=int(np.floor(day)))


def forecast_fields(
    fields: Sequence[FieldSpec],
    observed: Mapping[str, Observed],
    *,
    grid_start: dt.date,
    today: dt.date,
    members: int = 50,
    horizon_days: int = 200,
    seed: int = 0,
    calibration: Calibration | None = None,
    chunk_fields: int = 2_000,
) -> list[FieldForecast]:
    """Forecast every field.

    Args:
        fields: Registry facts per field.
        observed: field id -> observed drivers over ``grid_start`` ..  ``today`` - 1 (one value per day).
        grid_start: First day of the observed arrays (on or before the earliest planting).
        today: The forecast day: observations end the day before.
        members: Ensemble size (≥ 50 for percentiles to mean something).
        horizon_days: Days simulated after ``today``; a crop not mature by then has no date.
            Orchards' crops take at least :data:`ORCHARD_HORIZON_DAYS`.
        seed: Seed of the weather ensemble (the same seed gives the same forecast).
        calibration: What was learnt from harvest records (default: the priors, see
            :mod:`forecast.learning`): yield-gap factors, harvest-date bias and the spread of the
            members' yield and date perturbations.
        chunk_fields: Fields per chunk.
    """
    # Fields run in groups of one horizon (orchards' is longer), so a field's horizon, and with it
    # its forecast, depends on its own crop only; the forecasts come back in the fields' order.
    crops = load_crops()
    horizons = [
        max(horizon_days, ORCHARD_HORIZON_DAYS) if crops[f.commodity].perennial else horizon_days
        for f in fields
    ]
    out: list[FieldForecast | None] = [None] * len(fields)
    for horizon in sorted(set(horizons)):
        at = [i for i, h in enumerate(horizons) if h == horizon]
        for start in range(0, len(at), chunk_fields):
            part = at[start : start + chunk_fields]
            chunk = [fields[i] for i in part]
            # One random stream per field, keyed by its id: a field's forecast is the same alone or in
            # a batch of any size, and the same tomorrow for the same seed.
            rngs = [np.random.default_rng([seed, _stable_hash(f.field_id)]) for f in chunk]
            done = _forecast_chunk(
                chunk, observed, grid_start, today, members, horizon, rngs, calibration or PRIOR
            )
            for i, forecast in zip(part, done, strict=True):
                out[i] = forecast
    return [f for f in out if f is not None]


def _yield_sigma(f: FieldSpec, calibration: Calibration) -> float:
    """Log-s.d. of a field's members' yield: the field's own when it has one (an orchard's, from its
    count or its trees' age: what is known of this crop, not of the crop's past records, which mix
    forecasts made before and after counts), else the crop's, learnt or prior."""
    if f.yield_sigma_log is not None:
        return f.yield_sigma_log
    return calibration.yield_sigma(f.commodity, f.coop_id)


def _yield_scale(f: FieldSpec, calibration: Calibration, tonnes: F64, z: F64) -> F64:
    """Each member's yield multiplier, exp(σ z), for what the weather does not spread (variety,
    management, pests, the factor's own uncertainty).

    Before a crop has records, or for an orchard (its spread is its own count's), σ is the whole
    spread on top of the members' own. Once records taught the crop's spread, they measured the
    whole error of a forecast's P50, weather and all: the members' own spread (weather, thermal time;
    the log-s.d. of their tonnes) is part of it, so σ adds only what it lacks, as the dates' spread
    does. On the simulated Batu seasons the members' own spread is small beside the records' (P10-P90
    coverage of tonnes 30 days ahead 0.859 -> 0.858, 60 days 0.859 -> 0.854): what keeps it above
    0.80 is the learnt spread itself, not this.
    """
    sigma = _yield_sigma(f, calibration)
    if f.yield_sigma_log is None and calibration.yield_spread_learnt(f.commodity):
        grown = tonnes[tonnes > 0]
        own = float(np.std(np.log(grown))) if len(grown) > 1 else 0.0
        sigma = float(np.sqrt(max(sigma**2 - own**2, 0.0)))
    return np.exp(sigma * z)


def _forecast_chunk(
    fields: list[FieldSpec],
    observed: Mapping[str, Observed],
    grid_start: dt.date,
    today: dt.date,
    members: int,
    horizon_days: int,
    rngs: list[np.random.Generator],
    calibration: Calibration,
) -> list[FieldForecast]:
    n_obs = (today - grid_start).days
    obs = [observed[f.field_id] for f in fields]
    drivers = _drivers(fields, obs, grid_start, today, members, horizon_days, rngs)
    # Parameter perturbations of each member: thermal time, yield, harvest date (standard normals).
    params = np.stack([g.standard_normal((3, members)) for g in rngs])
    inputs = _season_inputs(fields, obs, drivers, grid_start, n_obs, params, calibration)
    result = run_season(inputs)
    forecasts = []
    for i, f in enumerate(fields):
        scale = _yield_scale(f, calibration, result.tonnes[i], params[i, 1, :])
        member = _Member(
            result, i, params[i, 2, :], float(inputs.yield_factor[i]), float(inputs.theta_fc[i]), scale
        )
        days_observed = int(np.sum(~np.isnan(obs[i].tmin_c[:n_obs])))
        forecasts.append(_field_forecast(f, member, calibration, grid_start, today, days_observed))
    return forecasts


@dataclass(frozen=True)
class _Member:
    """One field's share of a season run: its row, its members' date noise, its yield factor."""

    result: SeasonResult
    row: int
    date_noise: F64
    yield_factor: float
    field_capacity: float  # m³/m³, the soil the season ran on
    yield_scale: F64  # (members,) each member's yield perturbation (_yield_scale)


@dataclass(frozen=True)
class _Drivers:
    """Daily drivers over the grid: observed days (the same for every member), then each member's."""

    tmin_c: F64
    tmax_c: F64
    rain_mm: F64
    et0_mm: F64
    soil_vwc_pct: F64  # (fields, days), NaN when none


def _drivers(
    fields: list[FieldSpec],
    obs: list[Observed],
    grid_start: dt.date,
    today: dt.date,
    members: int,
    horizon_days: int,
    rngs: list[np.random.Generator],
) -> _Drivers:
    """The observed days joined to each member's future weather; gaps in observed temperature and
    ET0 are filled from the field's fitted climatology (the members' mean), gaps in rain with each
    member's own draws."""
    n = len(fields)
    n_obs = (today - grid_start).days
    tmin_o = np.stack([o.tmin_c[:n_obs] for o in obs])
    tmax_o = np.stack([o.tmax_c[:n_obs] for o in obs])
    months = np.array([(grid_start + dt.timedelta(days=i)).month for i in range(n_obs)])
    elevation = np.array([f.elevation_m for f in fields])
    rain_o = np.stack([o.rain_mm[:n_obs] for o in obs])
    # Each field's weather generator from its own readings, shrunk toward the forecast's prior.
    fitted = fit_weather(tmin_o, tmax_o, rain_o, months, elevation)
    et0_scale = np.array([o.et0_pm_over_hargreaves for o in obs])
    ftmin, ftmax, frain, fet0 = future_weather(
        rngs, start=today, n_days=horizon_days, n_members=members, elevation_m=elevation,
        fitted=fitted, et0_scale=et0_scale,
    )  # fmt: skip

    def join(observed_part: F64, future: F64) -> F64:
        past = np.broadcast_to(observed_part[:, None, :], (n, members, n_obs))
        return np.concatenate([past, future], axis=2)

    def filled(observed_part: F64, future: F64) -> F64:
        climatology = np.repeat(future.mean(axis=(1, 2))[:, None], n_obs, axis=1)
        return join(np.where(np.isnan(observed_part), climatology, observed_part), future)

    et0_o = np.stack([o.et0_mm[:n_obs] for o in obs])
    rain_past = np.broadcast_to(rain_o[:, None, :], (n, members, n_obs))
    gaps = np.isnan(rain_o)
    if gaps.any():
        # A day without a rain reading (a gauge or a station down) is not a dry day: read as 0 mm, a
        # week's outage was a week's drought and a month's cost most of a rice crop (found seeding the
        # demo's past season). Each member draws the missing days from the weather generator, so the
        # members spread over what the rain may have been; a steady mean would never stress a crop.
        # Generators spawned from each field's, so fields without gaps keep their draws.
        _, _, gap_rain, _ = future_weather(
            [g.spawn(1)[0] for g in rngs], start=grid_start, n_days=n_obs, n_members=members,
            elevation_m=elevation, fitted=fitted, et0_scale=et0_scale,
        )  # fmt: skip
        rain_past = np.where(gaps[:, None, :], gap_rain, rain_past)
    vwc = np.full((n, n_obs + horizon_days), np.nan)
    vwc[:, :n_obs] = np.stack([o.soil_vwc_pct[:n_obs] for o in obs])
    return _Drivers(
        tmin_c=filled(tmin_o, ftmin),
        tmax_c=filled(tmax_o, ftmax),
        rain_mm=np.concatenate([rain_past, frain], axis=2),
        et0_mm=filled(et0_o, fet0),
        soil_vwc_pct=vwc,
    )


def _season_inputs(
    fields: list[FieldSpec],
    obs: list[Observed],
    drivers: _Drivers,
    grid_start: dt.date,
    n_obs: int,
    params: F64,
    calibration: Calibration,
) -> SeasonInputs:
    """The season model's inputs: crops (an orchard's own thermal time and yield), soils, what was
    learnt, and each member's perturbation of what the registry cannot say."""
    n = len(fields)
    # Each field's soil: its texture's, by Saxton & Rawls, moved to what the fleet's probes say of the
    # texture's upper limit (forecast/soils.py). Each field by its own probe alone (tried) was too noisy
    # (a dry season's soakings never fill the soil: ±8 points between fields of one texture): 30 days
    # ahead before any record, tonnes MAPE 0.288 -> 0.322 over four seed pairs.
    theta = np.array([calibrated_soil(f.soil_texture, calibration.soil_upper_vwc) for f in fields])
    crop = crop_arrays([f.commodity for f in fields])
    if not EARLY_SENESCENCE:
        crop = replace(crop, senescence_share=None)
    if any(f.thermal_time_cd is not None or f.potential_yield_t_ha is not None for f in fields):
        crop = replace(
            crop,
            thermal_time_cd=np.array(
                [f.thermal_time_cd or t for f, t in zip(fields, crop.thermal_time_cd, strict=True)]
            ),
            potential_yield_t_ha=np.array(
                [f.potential_yield_t_ha or y for f, y in zip(fields, crop.potential_yield_t_ha, strict=True)]
            ),
        )
    return SeasonInputs(
        crop=crop,
        theta_fc=theta[:, 0],
        theta_wp=theta[:, 1],
        area_ha=np.array([f.area_ha for f in fields]),
        planting_day=np.array([(f.planting_date - grid_start).days for f in fields]),
        today=np.full(n, n_obs),
        irrigated=np.array([infer_irrigated(o.soil_vwc_pct[:n_obs], o.rain_mm[:n_obs]) for o in obs]),
        yield_factor=np.array([calibration.factor(f.commodity, f.coop_id) for f in fields]),
        tmin_c=drivers.tmin_c,
        tmax_c=drivers.tmax_c,
        rain_mm=drivers.rain_mm,
        et0_mm=drivers.et0_mm,
        soil_vwc_pct=drivers.soil_vwc_pct,
        thermal_time_scale=np.clip(1.0 + THERMAL_TIME_SIGMA * params[:, 0, :], 0.8, 1.2),
        # The members' yield perturbation is applied to the season's results (_yield_scale): how wide
        # it is depends on how wide the members' own yields already are.
    )


def _field_forecast(
    f: FieldSpec,
    member: _Member,
    calibration: Calibration,
    grid_start: dt.date,
    today: dt.date,
    days_observed: int,
) -> FieldForecast:
    """A field's forecast from the season's members: harvest dates with the learnt bias and the
    spread the members lack, and P10/P50/P90 of dates, yields and tonnes."""
    result, i, date_noise, yield_factor = member.result, member.row, member.date_noise, member.yield_factor
    members = len(date_noise)
    sigma = calibration.date_sigma(f.commodity, f.variety)
    # A harvest date is when a harvest comes: the dates are the members' whose crop lives to maturity,
    # and the chance that none comes is crop_death_share. A member that dies ends its season on its
    # death's day (the field cleared with what the crop had built, which the plan still counts), but
    # that is no harvest date: with a third of the members dead, their days had pulled the P10 weeks
    # early, and with most dead the P50 was a death already past. Only when every member dies are
    # the dates the deaths'.
    died = result.died[i]
    ends = np.isfinite(result.maturity_day[i])
    lives = ends & ~died
    harvested = lives if lives.any() else ends
    if calibration.date_spread_learnt(f.commodity):
        # The records measured the whole error of a forecast's P50: the members' own spread
        # (weather, thermal time) is part of it, so they add only what it lacks. Adding all of it
        # on top made 92 % of harvests fall within P10-P90 once learning had narrowed the errors.
        matured = result.maturity_day[i][harvested]
        spread = float(np.std(matured)) if len(matured) > 1 else 0.0
        sigma = float(np.sqrt(max(sigma**2 - spread**2, 0.0)))
    date_sigma = float(np.hypot(sigma, f.date_sigma_days))
    bias = calibration.date_bias(f.commodity, f.variety, f.elevation_m)
    # A death's day is the model's, not a maturity the records' bias and spread are about.
    harvest = np.where(
        died, result.maturity_day[i], result.maturity_day[i] + (bias + date_sigma * date_noise)
    )
    known = harvest[harvested]
    q = np.percentile(known, [10, 50, 90]) if len(known) else [np.nan] * 3
    tonnes = result.tonnes[i] * member.yield_scale
    y = np.percentile(result.yield_t_ha[i] * member.yield_scale, [10, 50, 90])
    t = np.percentile(tonnes, [10, 50, 90])
    irrigation = result.days_to_irrigation[i]
    irr = float(np.nanmedian(irrigation)) if (~np.isnan(irrigation)).sum() * 2 >= members else None
    return FieldForecast(
        field_id=f.field_id,
        coop_id=f.coop_id,
        commodity=f.commodity,
        issued=today,
        harvest_date_p10=_date(grid_start, q[0]),
        harvest_date_p50=_date(grid_start, q[1]),
        harvest_date_p90=_date(grid_start, q[2]),
        yield_t_ha_p10=float(y[0]),
        yield_t_ha_p50=float(y[1]),
        yield_t_ha_p90=float(y[2]),
        tonnes_p10=float(t[0]),
        tonnes_p50=float(t[1]),
        tonnes_p90=float(t[2]),
        water_stress_so_far=float(result.water_stress_so_far[i]),
        depletion_mm=float(result.depletion_today_mm[i]),
        raw_mm=float(result.raw_today_mm[i]),
        days_to_irrigation=irr,
        days_observed=days_observed,
        members_harvest_date=[_date(grid_start, h) for h in harvest],
        members_tonnes=tonnes,
        yield_factor=float(yield_factor),
        date_bias_days=bias,
        field_capacity_pct=100 * member.field_capacity,
        soil_probe_fields=calibration.soil_upper_vwc.get(f.soil_texture, (0.0, 0))[1],
        crop_death_share=float(np.mean(died)),
        crop_death_date_p50=_date(grid_start, float(np.median(result.maturity_day[i][died])))
        if died.any()
        else None,
        canopy_lost_p50=float(np.median(1 - result.green_canopy[i])),
        members_died=died.copy() if died.any() else None,
    )
