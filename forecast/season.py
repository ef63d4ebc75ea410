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
  between), the soil's evaporation Ke from its own surface layer (Ze 0.10 m: TEW, Eq. 73; Ke,
  Eq. 71, with REW; the exposed share 1 - fc, Eqs. 75-76; the layer's balance, Eq. 77), its stage-2
  decline Kr convex as Ritchie (1972) measured it, not Eq. 74's line (:data:`EVAPORATION_DECLINE`).
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
- **yield**: the season's relative transpiration, Ya/Ym = Σ(Ta/ET0) / Σ(Tc/ET0) (Ta = Ks Kcb ET0 of
  the green canopy, Tc = Kcb ET0), times the potential yield and a learned yield-gap factor; tonnes =
  yield × area. This is AquaCrop's relation (Steduto et al. 2009): biomass = WP* Σ(Tr/ET0) and yield
  = HI × biomass, so with the harvest index unaffected relative yield is relative transpiration, a
  slope of 1 (:data:`TRANSPIRATION_KY`), each day counted as its share of the day's demand. Summed in
  mm (ΣTa/ΣTc) a dry summer's hottest days, its most stressed, weighed most: potato ran 0.12 below
  AquaCrop at Tunis and Córdoba, 0.09 and 0.11 with the days weighed alike (Champion 0.08 -> 0.06).
  Soil evaporation is in the water balance only. FAO-33's Ky were fitted on evapotranspiration, soil
  evaporation included; with evaporation in the ratio a crop on wet bare soil looked unstressed
  (tomato at Córdoba ~0.15 of relative yield above AquaCrop's), and FAO-33's Ky on transpiration
  would be a factor in another quantity's units (issue 38: against AquaCrop the worst year-to-year
  correlation fell to 0.80 and potato ran 0.12-0.16 low). The harvest index's own response to stress
  in a crop that lives (maize's pollination at flowering, a tuber crop's gain
  from a checked canopy) is not modelled: in a drought that kills the crop (Tunis's maize) the yield
  is what it had built, its harvest index grown from flowering to its death (AquaCrop's build-up,
  :func:`share_built_at_death`); a per-growth-period Ky put that maize ~0.19 above AquaCrop and now
  0.06 (bench.forecast_vs_aquacrop). A product of one response per
  period, Π_period (1 − Ky_period (1 − ETa/ETc)), used before the seasonal form, charged a season-long
  drought once per period: against AquaCrop it put Tunis's tomato at 0.005 of its potential where
  AquaCrop has 0.25 (issue 19).

Pure numpy; no I/O. ``day`` indexes a common daily grid shared by all fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from forecast.crops import CropArrays

__all__ = [
    "NUDGE_GAIN",
    "SeasonInputs",
    "SeasonResult",
    "degree_days",
    "evaporation_coefficient",
    "evaporation_reduction",
    "exposed_wetted_fraction",
    "run_season",
    "seasonal_relative_yield",
    "senescence_stress",
    "share_built_at_death",
    "total_available_water_mm",
    "total_evaporable_water_mm",
    "water_stress_coefficient",
]

F64 = NDArray[np.float64]
NUDGE_GAIN = 25.0 / (25.0 + 9.0)  # [est] σm = 5 % VWC a day, σo = 3 % VWC (a capacitive probe)
# Relative yield per relative transpiration [AquaCrop, Steduto et al. 2009: yield = HI × WP* Σ(Tr/ET0),
# HI unaffected].
TRANSPIRATION_KY = 1.0
SEN_SHAPE = float(np.expm1(3.0))  # AquaCrop's shape factor 3 of Ks for senescence
# Dual Kc [FAO-56 Ch. 7]. Kc_max by Eq. 72 at RHmin 45 % and u2 2 m/s (Batu's humid highlands would
# take about 0.1 less; a constant, est); Kc_min, dry bare soil's (Eq. 76); the surface layer's depth
# Ze (0.10-0.15 m) and readily evaporable water REW (Table 19: 8-10 mm for loams; est, capped by TEW);
# fc's exponent 1 + 0.5 h is 1.5, for a crop about a metre tall (est; written as x·√x in the loop).
KC_MAX = 1.20
KC_MIN = 0.15
EVAPORATION_LAYER_M = 0.10
REW_MM = 9.0
# Stage 2 of soil evaporation falls fastest just after the surface dries: Ritchie (1972, Water Resour.
# Res. 8: 1204-1213) measured cumulative stage-2 evaporation growing as √t, so the rate falls as the
# inverse of what has evaporated since stage 1; FAO-56's Eq. 74 takes the fall as linear in De for
# simplicity. Kr = (e^(f Wrel) − 1) / (e^f − 1), Wrel = (TEW − De) / (TEW − REW), with the shape
# factor f = 4 of AquaCrop's reference manual (Raes et al. 2018, ch. 3, "fevap" default).
EVAPORATION_DECLINE = 4.0
# Points of the Kcb curve's integral to a crop's death (share_built_at_death): within 0.1 % of exact.
DEATH_GRID_POINTS = 65
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
    relative_transpiration: F64  # Σ(Ta/ET0) / Σ(Tc/ET0) over the season, planting to maturity
    died: NDArray[np.bool_]  # the crop died of drought before maturity (its maturity_day is the death's)
    green_canopy: F64  # share of the canopy still green at the season's end (1: no early senescence)
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


def _coefficients(crop: CropArrays) -> F64:
    """Each field's [ini, mid, end] coefficients (fields, 3): its basal Kcb where it has them (the dual
    Kc), else its single Kc (the orchards)."""
    return crop.kc if crop.kcb is None else np.where(np.isnan(crop.kcb), crop.kc, crop.kcb)


def _kc(x: F64, ends: F64, kc: F64) -> F64:
    """Kc at development fraction x (FAO-56 Fig. 25 shape): ini, rising, mid, falling to end."""
    c1, c2, c3 = ends[..., 0], ends[..., 1], ends[..., 2]
    ini, mid, end = kc[..., 0], kc[..., 1], kc[..., 2]
    rise = ini + (mid - ini) * np.clip((x - c1) / (c2 - c1), 0, 1)
    fall = mid + (end - mid) * np.clip((x - c3) / (1 - c3), 0, 1)
    return np.where(x < c2, rise, fall)


# --- FAO-56 and AquaCrop kernels: one equation each --------------------------------------------------


def degree_days(*, tmin_c: F64, tmax_c: F64, base_c: F64, upper_c: F64) -> F64:
    """Growing degree-days of a day [°C d], AquaCrop's method 3 (Raes et al., AquaCrop reference
    manual): Tmax capped to [Tbase, Tupper], Tmin capped at Tupper, their mean floored at Tbase, minus
    Tbase."""
    t_hi = np.clip(tmax_c, base_c, upper_c)
    t_lo = np.minimum(tmin_c, upper_c)
    return np.maximum((t_hi + t_lo) / 2, base_c) - base_c


def total_available_water_mm(*, theta_fc: F64, theta_wp: F64, root_depth_m: F64) -> F64:
    """TAW = 1000 (θFC − θWP) Zr [mm] (FAO-56 Eq. 82), θ in m³/m³."""
    return 1000 * (theta_fc - theta_wp) * root_depth_m


def water_stress_coefficient(*, depletion_mm: F64, taw_mm: F64, raw_mm: F64) -> F64:
    """Ks = (TAW − Dr) / (TAW − RAW) once Dr passes RAW, else 1 (FAO-56 Eq. 84), within [0, 1]."""
    return np.where(depletion_mm > raw_mm, np.clip((taw_mm - depletion_mm) / (taw_mm - raw_mm), 0, 1), 1.0)


def total_evaporable_water_mm(*, theta_fc: F64, theta_wp: F64, layer_m: float = EVAPORATION_LAYER_M) -> F64:
    """TEW = 1000 (θFC − 0.5 θWP) Ze [mm] (FAO-56 Eq. 73)."""
    return 1000 * (theta_fc - 0.5 * theta_wp) * layer_m


def evaporation_reduction(*, surface_depletion_mm: F64, tew_mm: F64, rew_mm: F64) -> F64:
    """Kr = (e^(f Wrel) − 1) / (e^f − 1), Wrel = (TEW − De) / (TEW − REW) within [0, 1]: 1 until De
    passes REW, 0 at TEW, falling fastest as stage 2 begins (:data:`EVAPORATION_DECLINE`; FAO-56's
    Eq. 74 is the same bounds joined by a line)."""
    wrel = np.subtract(tew_mm, surface_depletion_mm)
    wrel /= tew_mm - rew_mm
    np.clip(wrel, 0.0, 1.0, out=wrel)
    wrel *= EVAPORATION_DECLINE
    np.expm1(wrel, out=wrel)
    wrel /= np.expm1(EVAPORATION_DECLINE)
    return wrel


def exposed_wetted_fraction(*, kcb: F64, kc_max: F64 | float) -> F64:
    """few = 1 − fc, with fc = ((Kcb − Kc_min) / (Kc_max − Kc_min))^(1 + 0.5 h) (FAO-56 Eqs. 75-76;
    fw = 1, since rain wets the whole surface; h about 1 m gives the exponent 1.5), at least 0.01."""
    cover = np.clip((kcb - KC_MIN) / (kc_max - KC_MIN), 0, 1)
    return np.maximum(1 - cover * np.sqrt(cover), 0.01)


def evaporation_coefficient(*, kr: F64, kcb: F64, kc_max: F64 | float, few: F64) -> F64:
    """Ke = min(Kr (Kc_max − Kcb), few Kc_max) (FAO-56 Eq. 71)."""
    return np.minimum(kr * (kc_max - kcb), few * kc_max)


def seasonal_relative_yield(*, ky: F64 | float, relative_transpiration: F64) -> F64:
    """Ya / Ym = 1 − Ky (1 − Ta / Tc), within [0, 1] (FAO-33's seasonal form, Ta / Tc the season's
    relative transpiration; on transpiration Ky is :data:`TRANSPIRATION_KY`)."""
    return np.clip(1 - ky * (1 - relative_transpiration), 0, 1)


def senescence_stress(*, depletion_share: F64, threshold: F64) -> F64:
    """AquaCrop's Ks for early canopy senescence: 1 until ``threshold`` of TAW is depleted, then
    convex (shape 3) to 0 at wilting point."""
    rel = np.clip((depletion_share - threshold) / (1 - threshold), 0.0, 1.0)
    return 1 - np.expm1(3.0 * rel) / SEN_SHAPE


# --- the season, as steps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Params:
    """What stays fixed through a season, shaped to broadcast over (fields, members)."""

    shape: tuple[int, int]
    zr_min: F64
    zr_max: F64
    root_end: F64
    water_per_m: F64  # TAW per metre of roots [mm/m]
    p_frac: F64
    ends: F64
    kc_table: F64
    dual: NDArray[np.bool_]
    any_dual: bool
    all_dual: bool
    kcb_high: bool  # a Kcb above 1.15: Kc_max = max(1.2, Kcb + 0.05) (Eq. 72) varies by day
    bare: F64
    tew: F64
    rew: F64
    base: F64
    upper: F64
    tt_maturity: F64
    planting: F64
    today: F64
    irrigated: NDArray[np.bool_]
    theta_fc: F64
    # Per field (fields, 1), the threshold being a field's whatever the member: the senescence
    # threshold (share of TAW; inf: none, trees), its change per mm of ET0 below 5 (AquaCrop's demand
    # adjustment), and its cap; the decline's rate per member.
    sen_full: F64
    sen_slope: F64
    sen_cap: F64
    sen_rate: F64
    sen_any: bool


class _State:
    """What changes day by day, per field and member."""

    def __init__(self, p: _Params, taw: F64) -> None:
        shape = p.shape
        raw = p.p_frac * taw
        self.depletion = np.broadcast_to(0.3 * raw, shape).copy()  # before planting: a moist seedbed [est]
        self.initial = self.depletion.copy()
        self.zr = np.broadcast_to(p.zr_min, shape).copy()
        self.taw = np.broadcast_to(taw, shape).copy()
        self.raw = np.broadcast_to(raw, shape).copy()
        self.surface = np.minimum(self.depletion, p.tew)  # the evaporation layer's depletion De [mm]
        self.thermal = np.zeros(shape)
        self.maturity = np.full(shape, np.nan)
        self.ks_sum = np.zeros(shape)
        self.ks_days = np.zeros(shape)
        self.to_irrigation = np.full(shape, np.nan)
        self.depletion_today = self.depletion.copy()
        self.raw_today = self.raw.copy()
        self.taw_today = self.taw.copy()
        self.totals = {k: np.zeros(shape) for k in ("rain", "irr", "eta", "dp", "nudge")}
        # Σ(Ta/ET0) and Σ(Tc/ET0) over the season, planting to maturity: yield answers to transpiration
        # (AquaCrop's Tr/ET0), not to soil evaporation, which only empties the water balance.
        self.season_ta = np.zeros(shape)
        self.season_tc = np.zeros(shape)
        # Early canopy senescence (AquaCrop): effective degree-days of the current stress episode, the
        # green share when it began, the green share of the canopy, and where a crop died (NaN: alive).
        self.episode = np.zeros(shape)
        self.episode_start = np.ones(shape)
        self.green = np.ones(shape)
        self.died_at = np.full(shape, np.nan)
        # Whether any cell is in an episode, or has lost canopy: while not, the day's step skips the
        # passes over every cell that would change nothing (the model's inner loop).
        self.in_episode = False
        self.canopy_lost = False


def _params(inp: SeasonInputs) -> tuple[_Params, F64]:
    """The season's fixed parameters, and the total available water at planting [mm]."""
    n_fields, n_members, _ = inp.tmin_c.shape
    crop = inp.crop
    shape = (n_fields, n_members)

    def per_field(a: F64) -> F64:
        return a[:, None]

    zr_max = per_field(crop.root_depth_m)
    zr_min = np.minimum(ROOT_DEPTH_AT_PLANTING_M, zr_max)
    if crop.perennial is not None:
        zr_min = np.where(crop.perennial[:, None], zr_max, zr_min)  # a tree's roots are there already
    water_per_m = 1000 * per_field(inp.theta_fc - inp.theta_wp)
    p_frac = per_field(crop.depletion_fraction)
    ends = crop.stage_ends[:, None, :]
    # Fields with basal coefficients take the dual Kc; the others keep the single one (Ke = 0).
    kcb_rows = crop.kcb if crop.kcb is not None else np.full((n_fields, 3), np.nan)
    dual_f = ~np.isnan(kcb_rows[:, 0])
    dual = dual_f[:, None]
    kc_table = _coefficients(crop)[:, None, :]
    tew = per_field(total_evaporable_water_mm(theta_fc=inp.theta_fc, theta_wp=inp.theta_wp))
    sen_p = per_field(crop.senescence_depletion) if crop.senescence_depletion is not None else None
    tt_maturity = per_field(crop.thermal_time_cd) * (
        inp.thermal_time_scale if inp.thermal_time_scale is not None else 1.0
    )
    # The decline's length in this season's own degree-days: a share of the crop's thermal time.
    sen_cd = per_field(crop.senescence_share) * tt_maturity if crop.senescence_share is not None else None
    sen_rate = (
        np.where(sen_cd > 0, np.log(21.0) / np.where(sen_cd > 0, sen_cd, 1.0), 0.0)
        if sen_cd is not None
        else None
    )
    # Crops without senescence (trees) never count as stressed: their threshold is beyond any depletion.
    sen_field: F64 = np.full((n_fields, 1), np.inf)
    rate_full: F64 = np.zeros(shape)
    if sen_p is not None and sen_rate is not None:
        rate_full = np.broadcast_to(sen_rate, shape)
        # A field whose decline has no length in any member has none (sen_rate is per member only
        # through its thermal time, which is positive).
        sen_field = np.where(np.any(rate_full > 0, axis=1, keepdims=True), sen_p, np.inf)
    params = _Params(
        shape=shape,
        zr_min=zr_min,
        zr_max=zr_max,
        root_end=per_field(crop.root_full_fraction) if crop.root_full_fraction is not None else ends[..., 1],
        water_per_m=water_per_m,
        p_frac=p_frac,
        ends=ends,
        kc_table=kc_table,
        dual=dual,
        any_dual=bool(dual_f.any()),
        all_dual=bool(dual_f.all()),
        kcb_high=bool(np.any(kcb_rows[dual_f] > KC_MAX - 0.05)),
        bare=np.where(dual, KC_MIN, 0.3),
        tew=tew,
        rew=np.minimum(REW_MM, 0.9 * tew),
        base=per_field(crop.base_temp_c),
        upper=per_field(crop.upper_temp_c),
        tt_maturity=tt_maturity,
        planting=per_field(inp.planting_day.astype(np.float64)),
        today=per_field(inp.today.astype(np.float64)),
        irrigated=inp.irrigated[:, None],
        theta_fc=per_field(inp.theta_fc),
        # The day's threshold is sen_full + sen_slope (5 - ET0), within [0, 1] (never for trees: inf).
        sen_full=sen_field,
        sen_slope=0.04 * np.log10(10.0 - 9.0 * np.minimum(sen_field, 1.0)),
        sen_cap=np.where(np.isfinite(sen_field), 1.0, np.inf),
        sen_rate=rate_full,
        sen_any=bool(np.any(rate_full > 0)),
    )
    taw = total_available_water_mm(
        theta_fc=per_field(inp.theta_fc), theta_wp=per_field(inp.theta_wp), root_depth_m=zr_min
    )
    return params, taw


def _evaporation(p: _Params, st: _State, kc: F64, et0: F64, rain: F64, irrigation: F64) -> F64:
    """The surface layer, wetted by the day's rain and irrigation (fw = 1), evaporating at Ke from
    its exposed share (FAO-56 Eqs. 71-77); returns the soil's evaporation [mm]."""
    kc_max = np.maximum(KC_MAX, kc + 0.05) if p.kcb_high else KC_MAX
    few = exposed_wetted_fraction(kcb=kc, kc_max=kc_max)
    wet = np.maximum(st.surface - rain - irrigation, 0.0)
    kr = evaporation_reduction(surface_depletion_mm=wet, tew_mm=p.tew, rew_mm=p.rew)
    ke = evaporation_coefficient(kr=kr, kcb=kc, kc_max=kc_max, few=few)
    if not p.all_dual:
        ke = np.where(p.dual, ke, 0.0)
    evaporation = ke * et0
    st.surface = np.minimum(wet + evaporation / few, p.tew)
    return evaporation


def _water_day(
    p: _Params, st: _State, d: int, growing: NDArray[np.bool_], frac: F64, drivers: tuple[F64, F64, F64]
) -> F64:
    """One day's root-zone balance (FAO-56 Eqs. 82-85, 88), irrigation of irrigated fields, the nudge
    toward the sensor; returns the day's Ks."""
    et0, rain, observed = drivers
    st.zr = np.where(growing, p.zr_min + (p.zr_max - p.zr_min) * np.clip(frac / p.root_end, 0, 1), st.zr)
    st.taw = p.water_per_m * st.zr
    st.raw = p.p_frac * st.taw
    # Kcb (dual) or Kc (single); between crops, bare soil's: dry (dual, plus its Ke) or 0.3 [est].
    kc = np.where(growing, _kc(frac, p.ends, p.kc_table), p.bare)
    depletion, taw, raw = st.depletion, st.taw, st.raw
    ks = water_stress_coefficient(depletion_mm=depletion, taw_mm=taw, raw_mm=raw)
    share = ks * kc  # the day's transpiration over its ET0, Ta / ET0
    if st.canopy_lost:
        share = share * st.green  # a senescent canopy transpires its green share
    transpiration = share * et0
    future = d >= p.today
    # Days until irrigation is needed: first future day the rain-fed depletion passes RAW.
    newly_dry = future & growing & np.isnan(st.to_irrigation) & (depletion > raw)
    st.to_irrigation = np.where(newly_dry, d - p.today, st.to_irrigation)
    irrigation = np.where(future & p.irrigated & growing & (depletion > raw), depletion, 0.0)
    if p.any_dual:
        evaporation = _evaporation(p, st, kc, et0, rain, irrigation)
        eta = transpiration + evaporation
    else:
        eta = transpiration
    new = depletion - rain - irrigation + eta
    percolation = np.maximum(-new, 0.0)  # FAO-56 Eq. 88: water above field capacity drains
    new = np.maximum(new, 0.0)
    overdrawn = np.maximum(new - taw, 0.0)  # cannot dry past wilting point: ET is what was there
    # What could not be drawn is taken from transpiration and evaporation in their shares of the day.
    drawn = 1 - overdrawn / np.maximum(eta, 1e-9)
    share = share * drawn
    eta = eta - overdrawn
    new = new - overdrawn
    has_obs = (~np.isnan(observed))[:, None] & (d < p.today)
    if has_obs.any():
        dr_obs = np.clip(1000 * (p.theta_fc - np.nan_to_num(observed)[:, None] / 100) * st.zr, 0, taw)
        new = np.where(has_obs, new + NUDGE_GAIN * (dr_obs - new), new)
    st.totals["rain"] += rain
    st.totals["irr"] += irrigation
    st.totals["eta"] += eta
    st.totals["dp"] += percolation
    # A correction toward the sensor is not water: it is booked separately so the balance closes,
    # ΔDr = −P − I + ETa + DP + corrections.
    st.totals["nudge"] += new - (depletion - rain - irrigation + eta + percolation)
    st.depletion = new
    ending = np.flatnonzero(p.today[:, 0] == d + 1)  # fields whose forecast day this is
    if ending.size:
        st.depletion_today[ending] = new[ending]
        st.raw_today[ending] = raw[ending]
        st.taw_today[ending] = taw[ending]
    # Σ(Ta/ET0) and Σ(Tc/ET0): AquaCrop's biomass is WP* Σ(Tr/ET0), a day counting as its share of the
    # day's demand (a day without demand grows nothing).
    demand = growing & (et0 > 0)
    np.add(st.season_ta, share, out=st.season_ta, where=demand)
    np.add(st.season_tc, kc, out=st.season_tc, where=demand)
    return ks


def _senescence_day(
    p: _Params, st: _State, d: int, et0: tuple[F64, F64], growing: NDArray[np.bool_], frac: F64, gdd: F64
) -> None:
    """AquaCrop's early canopy senescence for one day; a crop that dies today is taken out of
    ``growing`` and ``gdd`` (changed in place). ``et0`` is the day's ET0 and each field's highest.

    In an episode of stress before the late season the canopy follows AquaCrop's decline curve from
    where the episode began, CC = CC₀ (1 − 0.05 (exp(rate·t) − 1)), with t the degree-days weighted by
    (1 − Ks⁸); rewetting ends the episode (the next starts slowly again) but nothing regrows. Gone: the
    crop is dead and its season ends that day. AquaCrop adjusts the threshold for the day's demand (its
    water_stress: p_up + 0.04 (5 − ET0) log10(10 − 9 p_up), FAO-56's Table 22 rule).

    This is the model's inner loop, and most days most cells are far from stress: the exact threshold
    is computed only on the candidates, the cells past their field's lowest threshold of the day (at
    its members' highest ET0, as the threshold falls with ET0) and those in an episode, which must end
    if they are not stressed.
    """
    et0_day, et0_high = et0
    floor = np.clip(p.sen_full + p.sen_slope * (5.0 - et0_high), 0.0, p.sen_cap)
    candidate = st.depletion > floor * st.taw
    if st.in_episode:
        candidate |= st.episode > 0
    # Flat indices into the (fields, members) arrays, and each cell's field: a flat take is several
    # times faster than indexing by (row, member) pairs.
    cells = np.flatnonzero(candidate)
    if not len(cells):
        st.in_episode = False
        return
    rows = cells // candidate.shape[1]
    episode = st.episode.take(cells)
    sen_today = np.clip(
        p.sen_full.take(rows) + p.sen_slope.take(rows) * (5.0 - et0_day.take(cells)),
        0.0,
        p.sen_cap.take(rows),
    )
    stressed = (
        growing.take(cells)
        & (st.depletion.take(cells) > sen_today * st.taw.take(cells))
        & ((frac.take(cells) < p.ends[:, 0, 2].take(rows)) | (episode > 0))
    )
    np.put(st.episode, cells[~stressed], 0.0)
    cells, rows = cells[stressed], rows[stressed]
    if not len(cells):
        st.in_episode = False
        return
    taw = st.taw.take(cells)
    ks_sen = senescence_stress(
        depletion_share=st.depletion.take(cells) / np.maximum(taw, 1e-9), threshold=sen_today[stressed]
    )
    ks2 = ks_sen * ks_sen
    ks4 = ks2 * ks2
    t = episode[stressed]
    green = st.green.take(cells)
    begin = np.where(t == 0, green, st.episode_start.take(cells))
    t = t + gdd.take(cells) * (1 - ks4 * ks4)
    g = np.minimum(green, np.clip(begin * (1 - 0.05 * np.expm1(p.sen_rate.take(cells) * t)), 0.0, 1.0))
    np.put(st.episode, cells, t)
    np.put(st.episode_start, cells, begin)
    np.put(st.green, cells, g)
    st.in_episode = bool((t > 0).any())
    st.canopy_lost = st.canopy_lost or bool((g < 1).any())
    gone = g < 0.001
    if gone.any():
        dead = cells[gone]
        np.put(st.died_at, dead, frac.take(dead))
        np.put(st.maturity, dead, d + 1.0)
        np.put(growing, dead, False)
        np.put(gdd, dead, 0.0)


def share_built_at_death(crop: CropArrays, died_at: F64) -> F64:
    """What a crop that died at thermal fraction ``died_at`` (fields, members) had built of its
    season's yield: AquaCrop's yield HI(x) B(x) over HI₀ B (Raes et al., AquaCrop reference manual,
    Ch. 3: biomass from transpiration, the harvest index built up from flowering or tuber initiation
    to maturity). Its biomass is the share of the season's potential Σ(Tc/ET0) it had reached, the
    integral of its Kcb curve to x (degree-days standing in for days); its harvest index grows
    linearly from the end of FAO-33's vegetative period (the start of flowering, yield formation or
    tuber initiation) to 1 at maturity. 1 where ``died_at`` is NaN (the crop lived).

    FAO-33's per-period Ky, used before, priced each period the crop did not live at Ky: maize that
    died as its grain began to fill kept 0.40-0.48 of its relative transpiration (yield formation's
    Ky is 0.5, ripening's 0.2), where AquaCrop's has no grain (Tunis, 23 seasons: 0.19 above
    AquaCrop; 0.06 with this).
    """
    out = np.ones(np.shape(died_at))
    rows, members = np.nonzero(np.isfinite(died_at))  # only the dead pay for the integral
    if len(rows) == 0:
        return out
    x = died_at[rows, members]
    ends = crop.stage_ends[rows][:, None, :]
    kc = _coefficients(crop)[rows][:, None, :]
    grid = np.linspace(0.0, 1.0, DEATH_GRID_POINTS)
    step = 1.0 / (DEATH_GRID_POINTS - 1)
    grown = np.trapezoid(_kc(x[:, None] * grid, ends, kc), dx=step, axis=-1) * x
    full = np.trapezoid(_kc(np.broadcast_to(grid, (len(x), len(grid))), ends, kc), dx=step, axis=-1)
    periods = crop.ky_stage_ends if crop.ky_stage_ends is not None else crop.stage_ends
    hi_start = periods[rows, 0]
    built = np.clip((x - hi_start) / (1 - hi_start), 0.0, 1.0)
    out[rows, members] = grown / np.maximum(full, 1e-9) * built
    return out


def _relative_yield(crop: CropArrays, relative_transpiration: F64, died_at: F64) -> F64:
    """The seasonal response to transpiration (:data:`TRANSPIRATION_KY`, see the module docstring),
    times what a crop that died had built (:func:`share_built_at_death`)."""
    relative = seasonal_relative_yield(ky=TRANSPIRATION_KY, relative_transpiration=relative_transpiration)
    if np.isfinite(died_at).any():
        relative = relative * share_built_at_death(crop, died_at)
    return relative


def run_season(inp: SeasonInputs) -> SeasonResult:
    """Run every field × member through the grid's days (see the module docstring)."""
    p, taw = _params(inp)
    st = _State(p, taw)
    # Day-major copies: each day's slice is then contiguous (several times faster than strided slices).
    tmin_days, tmax_days, rain_days, et0_days = (
        np.ascontiguousarray(np.moveaxis(a, 2, 0)) for a in (inp.tmin_c, inp.tmax_c, inp.rain_mm, inp.et0_mm)
    )
    vwc_days = np.ascontiguousarray(inp.soil_vwc_pct.T)
    # Each day's highest ET0 of each field's members, where its senescence threshold is lowest
    # (_senescence_day's candidates); fmax passes over a missing value, as the threshold does.
    et0_high = np.fmax.reduce(et0_days, axis=2)[..., None] if p.sen_any else None
    for d in range(inp.tmin_c.shape[2]):
        growing = (d >= p.planting) & np.isnan(st.maturity)
        frac = st.thermal / p.tt_maturity
        ks = _water_day(p, st, d, growing, frac, (et0_days[d], rain_days[d], vwc_days[d]))
        past = growing & (d < p.today)
        st.ks_sum += np.where(past, 1 - ks, 0.0)
        st.ks_days += past
        gdd = degree_days(tmin_c=tmin_days[d], tmax_c=tmax_days[d], base_c=p.base, upper_c=p.upper)
        gdd = np.where(growing, gdd, 0.0)
        if et0_high is not None:
            _senescence_day(p, st, d, (et0_days[d], et0_high[d]), growing, frac, gdd)
        before = st.thermal
        st.thermal = st.thermal + gdd
        reached = growing & (st.thermal >= p.tt_maturity)
        # Interpolate within the day so maturity dates are not quantised to whole days.
        part = np.where(gdd > 0, (p.tt_maturity - before) / np.where(gdd > 0, gdd, 1.0), 0.0)
        st.maturity = np.where(reached, d + part, st.maturity)
    return _result(inp, st)


def _result(inp: SeasonInputs, st: _State) -> SeasonResult:
    season_ratio = st.season_ta / np.maximum(st.season_tc, 1e-9)
    relative = _relative_yield(inp.crop, season_ratio, st.died_at)
    potential = (inp.crop.potential_yield_t_ha * inp.yield_factor)[:, None] * (
        inp.yield_scale if inp.yield_scale is not None else 1.0
    )
    yield_t_ha = relative * potential
    stress = np.where(st.ks_days > 0, st.ks_sum / np.maximum(st.ks_days, 1), 0.0)
    return SeasonResult(
        maturity_day=st.maturity,
        relative_yield=relative,
        relative_transpiration=season_ratio,
        died=np.isfinite(st.died_at),
        green_canopy=st.green,
        yield_t_ha=yield_t_ha,
        tonnes=yield_t_ha * inp.area_ha[:, None],
        water_stress_so_far=stress[:, 0],
        depletion_today_mm=st.depletion_today[:, 0],
        raw_today_mm=st.raw_today[:, 0],
        taw_mm=st.taw_today[:, 0],
        days_to_irrigation=st.to_irrigation,
        total_rain_mm=st.totals["rain"],
        total_irrigation_mm=st.totals["irr"],
        total_eta_mm=st.totals["eta"],
        total_percolation_mm=st.totals["dp"],
        total_correction_mm=st.totals["nudge"],
        initial_depletion_mm=st.initial,
        final_depletion_mm=st.depletion,
    )
