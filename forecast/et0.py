"""Reference evapotranspiration, FAO-56 (Allen et al. 1998), vectorised.

Every function takes scalars or numpy arrays (``np.asanyarray``) and names its FAO-56 equation.
Units: temperatures [°C], pressures [kPa], radiation [MJ m-2 day-1] (hourly: [MJ m-2 h-1]),
wind [m s-1], latitude [rad] unless the name says ``_deg``, ET [mm day-1] (hourly: [mm h-1]).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "actual_vp_from_rh",
    "atmospheric_pressure",
    "clear_sky_radiation",
    "daylight_hours",
    "et0_daily",
    "et0_hargreaves",
    "et0_hourly",
    "extraterrestrial_radiation_daily",
    "extraterrestrial_radiation_hourly",
    "net_longwave_radiation_daily",
    "net_longwave_radiation_hourly",
    "net_shortwave_radiation",
    "psychrometric_constant",
    "saturation_vp",
    "slope_vp_curve",
    "solar_radiation_from_sunshine",
    "wind_speed_2m",
]

Array = NDArray[np.float64]
SOLAR_CONSTANT = 0.0820  # Gsc [MJ m-2 min-1]
STEFAN_BOLTZMANN_DAY = 4.903e-9  # σ [MJ K-4 m-2 day-1]
STEFAN_BOLTZMANN_HOUR = 2.043e-10  # σ [MJ K-4 m-2 h-1]
ALBEDO = 0.23  # grass reference crop (FAO-56 Eq. 38)


def _a(x: Any) -> Array:
    return np.asanyarray(x, dtype=np.float64)


def atmospheric_pressure(altitude_m: Any) -> Array:
    """Atmospheric pressure P [kPa] at altitude z [m] (FAO-56 Eq. 7)."""
    return 101.3 * ((293.0 - 0.0065 * _a(altitude_m)) / 293.0) ** 5.26


def psychrometric_constant(pressure_kpa: Any) -> Array:
    """Psychrometric constant γ [kPa °C-1] (FAO-56 Eq. 8)."""
    return 0.665e-3 * _a(pressure_kpa)


def saturation_vp(temp_c: Any) -> Array:
    """Saturation vapour pressure e°(T) [kPa] (FAO-56 Eq. 11)."""
    t = _a(temp_c)
    return 0.6108 * np.exp(17.27 * t / (t + 237.3))


def slope_vp_curve(temp_c: Any) -> Array:
    """Slope of the saturation vapour pressure curve Δ [kPa °C-1] (FAO-56 Eq. 13)."""
    t = _a(temp_c)
    return 4098.0 * saturation_vp(t) / (t + 237.3) ** 2


def actual_vp_from_rh(*, tmin_c: Any, tmax_c: Any, rh_max_pct: Any, rh_min_pct: Any) -> Array:
    """Actual vapour pressure ea [kPa] from daily RHmax and RHmin (FAO-56 Eq. 17)."""
    return (saturation_vp(tmin_c) * _a(rh_max_pct) / 100 + saturation_vp(tmax_c) * _a(rh_min_pct) / 100) / 2


def wind_speed_2m(speed_m_s: Any, height_m: Any) -> Array:
    """Wind speed at 2 m u2 [m s-1] from a measurement at ``height_m`` (FAO-56 Eq. 47)."""
    return _a(speed_m_s) * 4.87 / np.log(67.8 * _a(height_m) - 5.42)


def _sun(day_of_year: Any) -> tuple[Array, Array]:
    j = _a(day_of_year)
    dr = 1 + 0.033 * np.cos(2 * np.pi * j / 365)  # Eq. 23
    decl = 0.409 * np.sin(2 * np.pi * j / 365 - 1.39)  # Eq. 24
    return dr, decl


def extraterrestrial_radiation_daily(*, lat_rad: Any, day_of_year: Any) -> Array:
    """Daily extraterrestrial radiation Ra [MJ m-2 day-1] (FAO-56 Eqs. 21, 23-25)."""
    lat = _a(lat_rad)
    dr, decl = _sun(day_of_year)
    ws = np.arccos(np.clip(-np.tan(lat) * np.tan(decl), -1, 1))  # Eq. 25
    return _a(
        24 * 60 / np.pi * SOLAR_CONSTANT * dr
        * (ws * np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.sin(ws))
    )  # fmt: skip


def daylight_hours(*, lat_rad: Any, day_of_year: Any) -> Array:
    """Daylight hours N [h] (FAO-56 Eq. 34)."""
    _, decl = _sun(day_of_year)
    return _a(24 / np.pi * np.arccos(np.clip(-np.tan(_a(lat_rad)) * np.tan(decl), -1, 1)))


def extraterrestrial_radiation_hourly(
    *,
    lat_rad: Any,
    day_of_year: Any,
    hour_mid: Any,
    lz_deg_west: Any,
    lm_deg_west: Any,
    period_h: float = 1.0,
) -> Array:
    """Extraterrestrial radiation Ra [MJ m-2 h-1] for a period centred on ``hour_mid`` local standard
    time (FAO-56 Eqs. 28, 29-33); zero when the sun is below the horizon.

    ``lz_deg_west``/``lm_deg_west``: longitude of the time zone's centre and of the site, degrees west
    of Greenwich (for Kota Batu, UTC+7: Lz = 255, Lm = 360 - 112.52 = 247.48).
    """
    lat = _a(lat_rad)
    j = _a(day_of_year)
    dr, decl = _sun(j)
    b = 2 * np.pi * (j - 81) / 364  # Eq. 33
    sc = 0.1645 * np.sin(2 * b) - 0.1255 * np.cos(b) - 0.025 * np.sin(b)  # Eq. 32
    omega = np.pi / 12 * ((_a(hour_mid) + 0.06667 * (_a(lz_deg_west) - _a(lm_deg_west)) + sc) - 12)  # Eq. 31
    w1 = omega - np.pi * period_h / 24  # Eq. 29
    w2 = omega + np.pi * period_h / 24  # Eq. 30
    ws = np.arccos(np.clip(-np.tan(lat) * np.tan(decl), -1, 1))
    w1 = np.clip(w1, -ws, ws)
    w2 = np.clip(w2, -ws, ws)
    ra = (
        12 * 60 / np.pi * SOLAR_CONSTANT * dr
        * ((w2 - w1) * np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * (np.sin(w2) - np.sin(w1)))
    )  # fmt: skip
    return _a(np.maximum(ra, 0.0))


def solar_radiation_from_sunshine(*, ra: Any, sunshine_h: Any, daylight_h: Any) -> Array:
    """Solar radiation Rs [MJ m-2 day-1] from sunshine duration, Angström a=0.25, b=0.50 (FAO-56 Eq. 35)."""
    return (0.25 + 0.50 * _a(sunshine_h) / _a(daylight_h)) * _a(ra)


def clear_sky_radiation(*, ra: Any, altitude_m: Any) -> Array:
    """Clear-sky solar radiation Rso (FAO-56 Eq. 37), same unit as ``ra``."""
    return (0.75 + 2e-5 * _a(altitude_m)) * _a(ra)


def net_shortwave_radiation(rs: Any) -> Array:
    """Net shortwave radiation Rns = (1 - 0.23) Rs (FAO-56 Eq. 38)."""
    return (1 - ALBEDO) * _a(rs)


def net_longwave_radiation_daily(*, tmin_c: Any, tmax_c: Any, ea_kpa: Any, rs: Any, rso: Any) -> Array:
    """Net outgoing longwave radiation Rnl [MJ m-2 day-1] (FAO-56 Eq. 39)."""
    tk4 = ((_a(tmax_c) + 273.16) ** 4 + (_a(tmin_c) + 273.16) ** 4) / 2
    ratio = np.clip(_a(rs) / np.where(_a(rso) > 0, _a(rso), 1.0), 0.25, 1.0)
    return STEFAN_BOLTZMANN_DAY * tk4 * (0.34 - 0.14 * np.sqrt(_a(ea_kpa))) * (1.35 * ratio - 0.35)


def net_longwave_radiation_hourly(*, temp_c: Any, ea_kpa: Any, rs_rso: Any) -> Array:
    """Hourly net longwave radiation Rnl [MJ m-2 h-1] (FAO-56 Eq. 39 with hourly σ, p. 74-75)."""
    return (
        STEFAN_BOLTZMANN_HOUR * (_a(temp_c) + 273.16) ** 4 * (0.34 - 0.14 * np.sqrt(_a(ea_kpa)))
        * (1.35 * np.clip(_a(rs_rso), 0.25, 1.0) - 0.35)
    )  # fmt: skip


def et0_daily(
    *,
    net_radiation: Any,
    soil_heat_flux: Any,
    temp_mean_c: Any,
    wind_2m: Any,
    es_kpa: Any,
    ea_kpa: Any,
    gamma: Any,
    delta: Any | None = None,
) -> Array:
    """FAO Penman-Monteith reference evapotranspiration ET0 [mm day-1] (FAO-56 Eq. 6).

    Args:
        net_radiation: Rn [MJ m-2 day-1]. soil_heat_flux: G [MJ m-2 day-1] (0 for a day).
        temp_mean_c: T, mean daily air temperature at 2 m [°C]. wind_2m: u2 [m s-1].
        es_kpa, ea_kpa: saturation and actual vapour pressure [kPa]. gamma: γ [kPa °C-1].
        delta: Δ [kPa °C-1]; default from ``temp_mean_c`` (Eq. 13).
    """
    t = _a(temp_mean_c)
    d = slope_vp_curve(t) if delta is None else _a(delta)
    u2 = _a(wind_2m)
    g = _a(gamma)
    num = 0.408 * d * (_a(net_radiation) - _a(soil_heat_flux)) + g * 900 / (t + 273) * u2 * (
        _a(es_kpa) - _a(ea_kpa)
    )
    return num / (d + g * (1 + 0.34 * u2))


def et0_hourly(
    *, net_radiation: Any, soil_heat_flux: Any, temp_c: Any, wind_2m: Any, ea_kpa: Any, gamma: Any
) -> Array:
    """FAO Penman-Monteith hourly reference evapotranspiration ET0 [mm h-1] (FAO-56 Eq. 53)."""
    t = _a(temp_c)
    d = slope_vp_curve(t)
    u2 = _a(wind_2m)
    g = _a(gamma)
    num = 0.408 * d * (_a(net_radiation) - _a(soil_heat_flux)) + g * 37 / (t + 273) * u2 * (
        saturation_vp(t) - _a(ea_kpa)
    )
    return num / (d + g * (1 + 0.34 * u2))


def et0_hargreaves(*, tmin_c: Any, tmax_c: Any, ra: Any) -> Array:
    """Hargreaves ET0 [mm day-1] for days without radiation, humidity and wind data (FAO-56 Eq. 52).

    ``ra`` in MJ m-2 day-1 (converted to mm day-1 with 0.408).
    """
    tmin, tmax = _a(tmin_c), _a(tmax_c)
    return 0.0023 * ((tmin + tmax) / 2 + 17.8) * np.sqrt(np.maximum(tmax - tmin, 0.0)) * 0.408 * _a(ra)
