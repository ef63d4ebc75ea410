"""Daily drivers of the season model from daily sensor aggregates (pure functions on arrays).

A field's air temperature comes from its own node when it has one, else from its cooperative's
weather station corrected for the elevation difference (the standard atmosphere's lapse rate,
:data:`forecast.weather.LAPSE_C_PER_M`); rain, radiation,
humidity and wind come from the station. ET0 is FAO-56 Penman–Monteith (Eq. 6) on days with
radiation, humidity and wind, else Hargreaves (Eq. 52).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from forecast import et0 as fao
from forecast.soils import DRY_DAY_MM, calibrated_soil
from forecast.weather import KOTA_BATU_LAT_DEG, LAPSE_C_PER_M

__all__ = [
    "DailySeries",
    "Observed",
    "infer_irrigated",
    "irrigation_threshold_vwc_pct",
    "observed_drivers",
]

F64 = NDArray[np.float64]


def irrigation_threshold_vwc_pct(
    *,
    soil_texture: str,
    depletion_fraction: float,
    upper_limits: Mapping[str, tuple[float, int]] | None = None,
) -> float:
    """The soil water content [%] at which the root zone has used its readily available water: below
    it the crop transpires less than it could (FAO-56 Eq. 82-83: RAW = p TAW, so the threshold is
    θ_fc - p (θ_fc - θ_wp), whatever the root depth), on the soil the forecast used (its texture's,
    moved to what the fleet's probes say: ``upper_limits``, a run's ``Calibration.soil_upper_vwc``).
    Unknown textures are taken as loam."""
    theta_fc, theta_wp = calibrated_soil(soil_texture, upper_limits or {})
    return 100.0 * (theta_fc - depletion_fraction * (theta_fc - theta_wp))


@dataclass(frozen=True)
class DailySeries:
    """One site's daily aggregates over a grid of days: metric -> stat -> array (NaN = no data).

    Stats are ``min``, ``mean``, ``max``, ``sum`` as in :class:`storage.DailyAggregate`.
    """

    days: list[dt.date]
    values: Mapping[str, Mapping[str, F64]]

    def get(self, metric: str, stat: str) -> F64:
        """The series (a copy: the refresh keeps the read's arrays for its next run), or all-NaN when
        the site does not measure it."""
        series = self.values.get(metric, {}).get(stat)
        return np.array(series, dtype=np.float64) if series is not None else np.full(len(self.days), np.nan)


@dataclass(frozen=True)
class Observed:
    """Observed daily drivers of one field over the grid's days (NaN where unknown)."""

    tmin_c: F64
    tmax_c: F64
    rain_mm: F64
    et0_mm: F64
    soil_vwc_pct: F64
    et0_pm_over_hargreaves: float  # ratio on days with full weather, 1.0 if none


def _fill(values: F64) -> F64:
    """Linear interpolation over gaps; NaN stays where there is nothing on one side."""
    idx = np.arange(len(values))
    ok = ~np.isnan(values)
    if ok.sum() < 2:
        return values
    filled = np.interp(idx, idx[ok], values[ok])
    return np.where((idx < idx[ok][0]) | (idx > idx[ok][-1]), np.nan, filled)


def observed_drivers(
    field: DailySeries, station: DailySeries, *, field_elevation_m: float, station_elevation_m: float
) -> Observed:
    """Observed drivers for one field (see the module docstring)."""
    lapse = LAPSE_C_PER_M * (field_elevation_m - station_elevation_m)
    tmin = np.where(
        np.isnan(field.get("air_temp_c", "min")),
        station.get("air_temp_c", "min") + lapse,
        field.get("air_temp_c", "min"),
    )
    tmax = np.where(
        np.isnan(field.get("air_temp_c", "max")),
        station.get("air_temp_c", "max") + lapse,
        field.get("air_temp_c", "max"),
    )
    tmin, tmax = _fill(tmin), _fill(tmax)
    rain = station.get("rain_mm", "sum")
    days = field.days
    doy = np.array([d.timetuple().tm_yday for d in days])
    lat = np.radians(KOTA_BATU_LAT_DEG)
    ra = fao.extraterrestrial_radiation_daily(lat_rad=lat, day_of_year=doy)
    hargreaves = fao.et0_hargreaves(tmin_c=tmin, tmax_c=tmax, ra=ra)
    rs = station.get("solar_w_m2", "mean") * 0.0864  # W/m² daily mean -> MJ m-2 day-1
    rh_min, rh_max = station.get("air_rh_pct", "min"), station.get("air_rh_pct", "max")
    wind = station.get("wind_m_s", "mean")
    z = field_elevation_m
    ea = fao.actual_vp_from_rh(tmin_c=tmin, tmax_c=tmax, rh_max_pct=rh_max, rh_min_pct=rh_min)
    es = (fao.saturation_vp(tmin) + fao.saturation_vp(tmax)) / 2
    rso = fao.clear_sky_radiation(ra=ra, altitude_m=z)
    rn = fao.net_shortwave_radiation(rs) - fao.net_longwave_radiation_daily(
        tmin_c=tmin, tmax_c=tmax, ea_kpa=ea, rs=rs, rso=rso
    )
    gamma = fao.psychrometric_constant(fao.atmospheric_pressure(z))
    pm = fao.et0_daily(net_radiation=rn, soil_heat_flux=0.0, temp_mean_c=(tmin + tmax) / 2, wind_2m=wind,
                       es_kpa=es, ea_kpa=ea, gamma=gamma)  # fmt: skip
    full = ~np.isnan(pm)
    et0 = np.where(full, np.maximum(pm, 0.0), hargreaves)
    ratio = (
        float(np.clip(np.nanmean(pm[full]) / np.nanmean(hargreaves[full]), 0.6, 1.4))
        if full.sum() >= 7
        else 1.0
    )
    return Observed(tmin, tmax, rain, et0, field.get("soil_vwc_pct", "mean"), ratio)


# A rise in soil moisture with no rain to explain it, over two days [percentage points of VWC, est:
# above a capacitive probe's noise of about 1 point]: twice RISE_POINTS, or once ONE_RISE_POINTS.
RISE_POINTS = 3.0
ONE_RISE_POINTS = 5.0


def infer_irrigated(soil_vwc_pct: F64, rain_mm: F64) -> bool:
    """Whether a field is irrigated: its daily mean soil moisture rose from one day to the day after
    next, all three days with less than 2 mm of rain, by more than 3 points at least twice, or by
    more than 5 points once.

    Over two days, because a watering in the day splits its rise between two daily means: a 25 mm
    watering of a 0.3 m layer (8 points) shows as two rises of about 4. Judged on single days, half
    the simulated fleet's irrigated fields passed for rain-fed, so their forecasts assumed none.
    Rises are counted three days apart at least, so one watering is not counted twice.
    """
    vwc = np.asarray(soil_vwc_pct, dtype=float)
    if len(vwc) < 3:
        return False
    dry = np.nan_to_num(np.asarray(rain_mm, dtype=float), nan=0.0) < DRY_DAY_MM
    rise = vwc[2:] - vwc[:-2]  # from the day before to the day after
    candidates = np.nonzero((rise > RISE_POINTS) & dry[:-2] & dry[1:-1] & dry[2:])[0]
    events: list[float] = []  # the largest rise of each run of candidates less than three days apart
    last = -10
    for k in candidates:
        if k - last >= 3:
            events.append(float(rise[k]))
        else:
            events[-1] = max(events[-1], float(rise[k]))
        last = int(k)
    return len(events) >= 2 or any(r > ONE_RISE_POINTS for r in events)
