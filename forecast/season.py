"""The season model, vectorised over fields × ensemble members, one step per day.

For each field and member, from planting:

- **phenology** by thermal time: degree-days accumulate to the crop's thermal time to maturity and
  the fraction reached gives the stage. Degree-days as in AquaCrop's method 3 (Raes et al., AquaCrop
  reference manual): Tmax capped to [Tbase, Tupper], Tmin capped at Tupper, their mean floored at
  Tbase, minus Tbase;
- **root zone** growing from 0.3 m at planting to the crop's maximum depth at the end of the
  development stage (FAO-56 Ch. 8 allows a growing Zr), or at the share of its thermal time a
  crop's parameters give (``root_full_fraction``, as AquaCrop's MaxRooting); a deepening root zone
  meets soil at field capacity, so depletion in mm carries over while TAW grows. An orchard's trees
  (``perennial``) have their roots at full depth from bloom on;
- **root-zone water balance**, FAO-56's dual crop coefficient (Ch. 7) for crops with basal Kcb
  (Table 17), else its single Kc (Table 12; the orchards): Kc = Ks Kcb + Ke by stage (linear
  between), the soil's evaporation Ke from its own surface layer (Ze 0.10 m: TEW, Eq. 73; Kr and
  Ke, Eqs. 71-74, with REW; the exposed share 1 - fc, Eqs. 75-76; the layer's balance, Eq. 77).
  A single Kc_ini of 0.6 has a young tomato lose 0.6 ET0 a day however dry the surface; with the
  surface's own bucket a dry spell stops evaporation once TEW is gone, and frequent rain raises it
  above Kc_ini (FAO-56 Fig. 29). Against AquaCrop (which keeps evaporation and transpiration apart
  too) the single Kc had crops in dry springs die weeks early (bench.forecast_vs_aquacrop).
  TAW = 1000 (θFC − θWP) Zr (Eq. 82), RAW = p TAW (Eq. 83), Ks (Eq. 84) on Kcb only, depletion
  Dr (Eq. 85) with deep percolation (Eq. 88); rain and, on fields found to be irrigated, irrigation
  refilling to field capacity once Dr passes RAW;
- **soil-moisture correction**: on days with a soil-moisture reading, the modelled depletion is nudged
  toward the observed one, Dr ← Dr + K (Dr_obs − Dr). K is a scalar Kalman gain with fixed error
  variances, K = σm² / (σm² + σo²) = 0.74 for a capacitive probe's σo ≈ 3 % VWC and a one-day model
  error σm ≈ 5 % VWC. An ensemble Kalman filter would estimate σm from the spread, but on observed
  days every member has the same (observed) weather, so the spread carries no information: the
  fixed gain is the honest simpler choice;
- **yield**: FAO-33's seasonal response, Ya/Ym = 1 − Ky (1 − ΣETa/ΣETc) over the season, times the
  potential yield and a learned yield-gap factor; tonnes = yield × area. The per-growth-period Ky
  (FAO-33's periods) price what a crop that died early did not grow. The product of one response
  per period, Π_period (1 − Ky_period (1 − ETa/ETc)), which this replaced, charged a season-long
  drought once per period: against AquaCrop it put Tunis's tomato at 0.005 of its
  potential where AquaCrop has 0.25. The seasonal form brings every crop and site closer to
  AquaCrop's relative yields (mean difference), and their year-to-year correlation too, except
  maize's, whose flowering the seasonal form does not single out (bench.forecast_vs_aquacrop).

Pure numpy; no I/O. ``day`` indexes a common daily grid shared by all fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from forecast.crops import CropArrays

__all__ = ["NUDGE_GAIN", "SeasonInputs", "SeasonResult", "run_season"]

F64 = NDArray[np.float64]
NUDGE_GAIN = 25.0 / (25.0 + 9.0)  # σm = 5 % VWC, σo = 3 % VWC
SEN_SHAPE = float(np.expm1(3.0))  # AquaCrop's shape factor 3 of Ks for senescence
# Dual Kc (FAO-56 Ch. 7). Kc_max by Eq. 72 at RHmin 45 % and u2 2 m/s (Batu's humid highlands would
# take about 0.1 less; a constant, est); Kc_min, dry bare soil's (Eq. 76); the surface layer's depth
# Ze (0.10-0.15 m) and readily evaporable water REW (Table 19: 8-10 mm for loams; est, capped by TEW);
# fc's exponent 1 + 0.5 h is 1.5, for a crop about a metre tall (est; written as x·√x in the loop).
KC_MAX = 1.20
KC_MIN = 0.15
EVAPORATION_LAYER_M = 0.10
REW_MM = 9.0
ROOT_DEPTH_AT_PLANTING_M = 0.3  # FAO-56 Ch. 8: 0.15-0.20 m at sowing; 0.3 m for transplants and tubers [est]


@dataclass(frozen=True)
class SeasonInputs:
    """Everything the season model needs; arrays lead with the field axis.

    Attributes:
        crop: Crop parameters per field.
        theta_fc, theta_wp: Soil water content at field capacity and wilting point [m³/m³], per field.
        area_ha: Field area [ha].
        planting_day: Grid day of planting, per field.
        today: Grid day of the forecast, per field: days before it are observed (the same for every
            member); days from it on are each member's future weather.
        irrigated: Whether the field is irrigated (inferred from its soil-moisture record).
        yield_factor: Learned yield-gap factor per field (1 = none).
        tmin_c, tmax_c, rain_mm, et0_mm: Daily drivers, shape (fields, members, days).
        soil_vwc_pct: Observed daily mean soil moisture (fields, days), NaN when none.
        thermal_time_scale: Per field and member, multiplier of the crop's thermal time (what the
            registry's variety name does not tell); ``None`` = 1.
        yield_scale: Per field and member, multiplier of the attainable yield (management, pests);
            ``None`` = 1.
    """

    crop: CropArrays
    theta_fc: F64
    theta_wp: F64
    area_ha: F64
    planting_day: NDArray[np.int_]
    today: NDArray[np.int_]
    irrigated: NDArray[np.bool_]
    yield_factor: F64
    tmin_c: F64
    tmax_c: F64
    rain_mm: F64
    et0_mm: F64
    soil_vwc_pct: F64
    thermal_time_scale: F64 | None = None
    yield_scale: F64 | None = None


@dataclass(frozen=True)
class SeasonResult:
    """Per field and member (fields, members) unless noted."""

    maturity_day: F64  # grid day (fractional) at which thermal time is reached; NaN if not in the grid
    relative_yield: F64  # Ya / Ym
    relative_et: F64  # ΣETa / ΣETc over the season, planting to maturity
    yield_t_ha: F64
    tonnes: F64
    water_stress_so_far: F64  # (fields,) mean 1 − Ks from planting to today
    depletion_today_mm: F64  # (fields,)
    raw_today_mm: F64  # (fields,)
    taw_mm: F64  # (fields,)
    days_to_irrigation: F64  # days from today until Dr > RAW without irrigation; NaN if not in the grid
    # Water accounting for the mass-balance check: totals over the grid [mm].
    total_rain_mm: F64
    total_irrigation_mm: F64
    total_eta_mm: F64
    total_percolation_mm: F64
    total_correction_mm: F64  # depletion added by nudging toward the sensor
    initial_depletion_mm: F64
    final_depletion_mm: F64


def _kc(x: F64, ends: F64, kc: F64) -> F64:
    """Kc at development fraction x (FAO-56 Fig. 25 shape): ini, rising, mid, falling to end."""
    c1, c2, c3 = ends[..., 0], ends[..., 1], ends[..., 2]
    ini, mid, end = kc[..., 0], kc[..., 1], kc[..., 2]
    rise = ini + (mid - ini) * np.clip((x - c1) / (c2 - c1), 0, 1)
    fall = mid + (end - mid) * np.clip((x - c3) / (1 - c3), 0, 1)
    return np.where(x < c2, rise, fall)


def run_season(inp: SeasonInputs) -> SeasonResult:
    """Run every field × member through the grid's days (see the module docstring)."""
    n_fields, n_members, n_days = inp.tmin_c.shape
    crop = inp.crop

    def per_field(a: F64) -> F64:
        return a[:, None]

    zr_max = per_field(crop.root_depth_m)
    zr_min = np.minimum(ROOT_DEPTH_AT_PLANTING_M, zr_max)
    if crop.perennial is not None:
        zr_min = np.where(crop.perennial[:, None], zr_max, zr_min)  # a tree's roots are there already
    water_per_m = 1000 * per_field(inp.theta_fc - inp.theta_wp)  # TAW per metre of roots [mm/m]
    p_frac = per_field(crop.depletion_fraction)
    taw = water_per_m * zr_min
    raw = p_frac * taw
    ends = crop.stage_ends[:, None, :]
    ky_ends = (crop.ky_stage_ends if crop.ky_stage_ends is not None else crop.stage_ends)[:, None, :]
    kc_table = crop.kc[:, None, :]
    # Fields with basal coefficients take the dual Kc; the others keep the single one (Ke = 0).
    kcb_rows = crop.kcb if crop.kcb is not None else np.full((n_fields, 3), np.nan)
    dual_f = ~np.isnan(kcb_rows[:, 0])
    any_dual, all_dual = bool(dual_f.any()), bool(dual_f.all())
    dual = dual_f[:, None]
    if any_dual:
        kc_table = np.where(dual, kcb_rows, crop.kc)[:, None, :]
    # Kc_max = max(1.2, Kcb + 0.05) (Eq. 72) is 1.2 unless a Kcb passes 1.15: then per day.
    kcb_high = bool(np.any(kcb_rows[dual_f] > KC_MAX - 0.05))
    tew = per_field(1000 * (inp.theta_fc - 0.5 * inp.theta_wp) * EVAPORATION_LAYER_M)  # Eq. 73
    rew = np.minimum(REW_MM, 0.9 * tew)
    base, upper = per_field(crop.base_temp_c), per_field(crop.upper_temp_c)
    tt_maturity = per_field(crop.thermal_time_cd) * (
        inp.thermal_time_scale if inp.thermal_time_scale is not None else 1.0
    )
    planting = per_field(inp.planting_day.astype(np.float64))
    today = per_field(inp.today.astype(np.float64))
    irrigated = inp.irrigated[:, None]

    shape = (n_fields, n_members)
    depletion = np.broadcast_to(0.3 * raw, shape).copy()  # before planting: a moist seedbed [est]
    taw = np.broadcast_to(taw, shape).copy()
    raw = np.broadcast_to(raw, shape).copy()
    zr = np.broadcast_to(zr_min, shape).copy()
    root_end = per_field(crop.root_full_fraction) if crop.root_full_fraction is not None else ends[..., 1]
    initial = depletion.copy()
    surface = np.minimum(depletion, tew)  # the evaporation layer's depletion De [mm]
    thermal = np.zeros(shape)
    maturity = np.full(shape, np.nan)
    ks_sum = np.zeros(shape)
    ks_days = np.zeros(shape)
    to_irrigation = np.full(shape, np.nan)
    depletion_today = depletion.copy()
    raw_today = raw.copy()
    taw_today = taw.copy()
    totals = {k: np.zeros(shape) for k in ("rain", "irr", "eta", "dp", "nudge")}
    # Early canopy senescence (AquaCrop): effective degree-days of decline so far, the green share
    # of the canopy, and where in its season a crop died (NaN: alive).
    sen_p = per_field(crop.senescence_depletion) if crop.senescence_depletion is not None else None
    sen_cd = per_field(crop.senescence_cd) if crop.senescence_cd is not None else None
    sen_rate = (
        np.where(sen_cd > 0, np.log(21.0) / np.where(sen_cd > 0, sen_cd, 1.0), 0.0)
        if sen_cd is not None
        else None
    )
    # Crops without senescence (trees) never count as stressed: their threshold is beyond any depletion.
    sen_full: F64 = np.full(shape, np.inf)
    rate_full: F64 = np.zeros(shape)
    if sen_p is not None and sen_rate is not None:
        sen_full = np.broadcast_to(np.where(sen_rate > 0, sen_p, np.inf), shape)
        rate_full = np.broadcast_to(sen_rate, shape)
    sen_any = bool(np.any(rate_full > 0))
    # The day's threshold is sen_full + sen_slope (5 - ET0), within [0, 1] (never for trees: inf).
    sen_slope = 0.04 * np.log10(10.0 - 9.0 * np.minimum(sen_full, 1.0))
    sen_cap = np.where(np.isfinite(sen_full), 1.0, np.inf)
    episode = np.zeros(shape)  # effective degree-days of the current stress episode
    episode_start = np.ones(shape)  # the green share when it began
    green = np.ones(shape)
    died_at = np.full(shape, np.nan)
    # Day-major copies: each day's slice is then contiguous (several times faster than strided slices).
    tmin_days, tmax_days, rain_days, et0_days = (
        np.ascontiguousarray(np.moveaxis(a, 2, 0)) for a in (inp.tmin_c, inp.tmax_c, inp.rain_mm, inp.et0_mm)
    )
    vwc_days = np.ascontiguousarray(inp.soil_vwc_pct.T)
    season_eta = np.zeros(shape)  # ΣETa and ΣETc over the season, planting to maturity
    season_etc = np.zeros(shape)
    bare = np.where(dual, KC_MIN, 0.3)
    for d in range(n_days):
        growing = (d >= planting) & np.isnan(maturity)
        frac = thermal / tt_maturity
        zr = np.where(growing, zr_min + (zr_max - zr_min) * np.clip(frac / root_end, 0, 1), zr)
        taw = water_per_m * zr
        raw = p_frac * taw
        # Kcb (dual) or Kc (single); between crops, bare soil's: dry (dual, plus its Ke) or 0.3 [est].
        kc = np.where(growing, _kc(frac, ends, kc_table), bare)
        ks = np.where(depletion > raw, np.clip((taw - depletion) / (taw - raw), 0, 1), 1.0)  # Eq. 84
        et0 = et0_days[d]
        transpiration = ks * kc * et0
        if sen_any:
            transpiration = transpiration * green  # a senescent canopy transpires its green share
        future = d >= today
        # Days until irrigation is needed: first future day the rain-fed depletion passes RAW.
        newly_dry = future & growing & np.isnan(to_irrigation) & (depletion > raw)
        to_irrigation = np.where(newly_dry, d - today, to_irrigation)
        irrigation = np.where(future & irrigated & growing & (depletion > raw), depletion, 0.0)
        rain = rain_days[d]
        if any_dual:
            # The surface layer: wetted by the day's rain and irrigation (fw = 1), then evaporating
            # at Ke from its exposed share few = 1 - fc (Eqs. 71-77).
            kc_max = np.maximum(KC_MAX, kc + 0.05) if kcb_high else KC_MAX
            cover = np.clip((kc - KC_MIN) / (kc_max - KC_MIN), 0, 1)
            few = np.maximum(1 - cover * np.sqrt(cover), 0.01)  # 1 - fc, fc = cover^1.5
            wet = np.maximum(surface - rain - irrigation, 0.0)
            kr = np.clip((tew - wet) / (tew - rew), 0.0, 1.0)
            ke = np.minimum(kr * (kc_max - kc), few * kc_max)
            if not all_dual:
                ke = np.where(dual, ke, 0.0)
            evaporation = ke * et0
            surface = np.minimum(wet + evaporation / few, tew)
            etc = (kc + ke) * et0
            eta = transpiration + evaporation
        else:
            etc = kc * et0
            eta = transpiration
        new = depletion - rain - irrigation + eta
        percolation = np.maximum(-new, 0.0)  # FAO-56 Eq. 88: water above field capacity drains
        new = np.maximum(new, 0.0)
        overdrawn = np.maximum(new - taw, 0.0)  # cannot dry past wilting point: ET is what was there
        eta = eta - overdrawn
        new = new - overdrawn
        observed = vwc_days[d]
        has_obs = (~np.isnan(observed))[:, None] & (d < today)
        if has_obs.any():
            dr_obs = np.clip(
                1000 * (per_field(inp.theta_fc) - per_field(np.nan_to_num(observed)) / 100) * zr, 0, taw
            )
            new = np.where(has_obs, new + NUDGE_GAIN * (dr_obs - new), new)
        totals["rain"] += rain
        totals["irr"] += irrigation
        totals["eta"] += eta
        totals["dp"] += percolation
        # A correction toward the sensor is not water: it is booked separately so the balance closes,
        # ΔDr = −P − I + ETa + DP + corrections.
        totals["nudge"] += new - (depletion - rain - irrigation + eta + percolation)
        depletion = new
        depletion_today = np.where(d + 1 == today, depletion, depletion_today)
        raw_today = np.where(d + 1 == today, raw, raw_today)
        taw_today = np.where(d + 1 == today, taw, taw_today)
        np.add(season_eta, eta, out=season_eta, where=growing)
        np.add(season_etc, etc, out=season_etc, where=growing)
        past = growing & (d < today)
        ks_sum += np.where(past, 1 - ks, 0.0)
        ks_days += past
        t_hi = np.clip(tmax_days[d], base, upper)
        t_lo = np.minimum(tmin_days[d], upper)
        gdd = np.where(growing, np.maximum((t_hi + t_lo) / 2, base) - base, 0.0)
        if sen_any:
            # AquaCrop's early canopy senescence. Ks for senescence is 1 until sen_p·TAW is depleted,
            # convex (shape 3) to 0 at wilting point. In an episode of stress before the late season
            # the canopy follows AquaCrop's decline curve from where the episode began,
            # CC = CC₀ (1 − 0.05 (exp(rate·t) − 1)), with t the degree-days weighted by (1 − Ks⁸);
            # rewetting ends the episode (the next starts slowly again) but nothing regrows. Gone:
            # the crop is dead and its season ends that day. Computed on the stressed cells only:
            # most days most fields are not, and this is the model's inner loop.
            # AquaCrop adjusts the threshold for the day's evaporative demand (its water_stress: p_up +
            # 0.04 (5 - ET0) log10(10 - 9 p_up), FAO-56's Table 22 rule): a hot dry day starts it sooner.
            sen_today = np.clip(sen_full + sen_slope * (5.0 - et0_days[d]), 0.0, sen_cap)
            stressed = growing & (depletion > sen_today * taw) & ((frac < ends[..., 2]) | (episode > 0))
            np.putmask(episode, ~stressed, 0.0)
            if stressed.any():
                at = np.nonzero(stressed)
                p_at = sen_today[at]
                rel = np.clip((depletion[at] / np.maximum(taw[at], 1e-9) - p_at) / (1 - p_at), 0.0, 1.0)
                ks_sen = 1 - np.expm1(3.0 * rel) / SEN_SHAPE
                ks2 = ks_sen * ks_sen
                ks4 = ks2 * ks2
                t = episode[at]
                begin = np.where(t == 0, green[at], episode_start[at])
                t = t + gdd[at] * (1 - ks4 * ks4)
                g = np.minimum(green[at], np.clip(begin * (1 - 0.05 * np.expm1(rate_full[at] * t)), 0.0, 1.0))
                episode[at], episode_start[at], green[at] = t, begin, g
                gone = g < 0.001
                if gone.any():
                    dead = np.zeros(shape, dtype=bool)
                    dead[at[0][gone], at[1][gone]] = True
                    died_at = np.where(dead, frac, died_at)
                    maturity = np.where(dead, d + 1.0, maturity)
                    growing = growing & ~dead
                    gdd = np.where(dead, 0.0, gdd)
        before = thermal
        thermal = thermal + gdd
        reached = growing & (thermal >= tt_maturity)
        # Interpolate within the day so maturity dates are not quantised to whole days.
        part = np.where(gdd > 0, (tt_maturity - before) / np.where(gdd > 0, gdd, 1.0), 0.0)
        maturity = np.where(reached, d + part, maturity)
    season_ratio = season_eta / np.maximum(season_etc, 1e-9)
    # FAO-33's seasonal response. A product of one response per growth period multiplies one loss per
    # period even when a drought spans them all, where FAO-33 uses the seasonal Ky: against AquaCrop
    # it put tomato in Tunis at 0.005 of its potential where AquaCrop has 0.25 (issue 19).
    relative = np.clip(1 - per_field(crop.ky_total) * (1 - season_ratio), 0, 1)
    # A crop that died lost what it had not yet grown: each growth period's share after death counts
    # as no transpiration at all (FAO-33 with ETa = 0 there).
    if np.isfinite(died_at).any():
        starts = np.concatenate([np.zeros_like(ky_ends[..., :1]), ky_ends[..., :3]], axis=-1)
        length = np.maximum(ky_ends - starts, 1e-9)
        missing = np.clip((ky_ends - np.maximum(starts, died_at[..., None])) / length, 0.0, 1.0)
        lost = np.prod(np.clip(1 - crop.ky[:, None, :] * missing, 0, 1), axis=-1)
        relative = np.where(np.isfinite(died_at), relative * lost, relative)
    potential = per_field(crop.potential_yield_t_ha * inp.yield_factor) * (
        inp.yield_scale if inp.yield_scale is not None else 1.0
    )
    yield_t_ha = relative * potential
    stress = np.where(ks_days > 0, ks_sum / np.maximum(ks_days, 1), 0.0)
    return SeasonResult(
        maturity_day=maturity,
        relative_yield=relative,
        relative_et=season_ratio,
        yield_t_ha=yield_t_ha,
        tonnes=yield_t_ha * per_field(inp.area_ha),
        water_stress_so_far=stress[:, 0],
        depletion_today_mm=depletion_today[:, 0],
        raw_today_mm=raw_today[:, 0],
        taw_mm=taw_today[:, 0],
        days_to_irrigation=to_irrigation,
        total_rain_mm=totals["rain"],
        total_irrigation_mm=totals["irr"],
        total_eta_mm=totals["eta"],
        total_percolation_mm=totals["dp"],
        total_correction_mm=totals["nudge"],
        initial_depletion_mm=initial,
        final_depletion_mm=depletion,
    )
