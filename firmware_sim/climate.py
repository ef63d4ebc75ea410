"""Kota Batu's climate as the simulator uses it, read from ``world.toml`` (every figure there with its
source or marked [est]).

Sources are those gathered in ``docs/sources.md`` (secondary, not station tables: treat the numbers
as plausible ranges). Nothing here is used by ``forecast/``: the simulator's weather, soil and crop
truths come from this package's own models so that forecast skill is measured against a model other
than the one scored.

- Location: Kota Batu about 7.87° S, 112.52° E (issue brief); Asia/Jakarta, UTC+7.
- Mean air temperature 21.5 °C for the town (mean altitude 871 m; "Profil Kota Batu", scribd 191989331).
  Monthly anomalies from the de-wiki Batu table (18.0 °C in Jul to 19.4 °C in Oct/Nov around an
  18.8 °C year) are applied to that mean.
- Lapse rate (Braak, Java): −0.60 °C per 100 m below 1,500 m, −0.55 °C per 100 m above.
- Diurnal range: Tmax−Tmean 3.5–5.4 °C in the de-wiki table; Karangploso: dry-season midday ≈30 °C and
  nights ≈16 °C at ~600 m, so a dry-season range of ~11–14 °C on clear days [est: 8 °C wet, 12 °C dry].
- Rain: Bumiaji 2,471 mm/yr on 134 rain days ("Profil Kota Batu"); rainiest Nov–Feb, driest Jun–Sep
  (Karangploso via malangkota.go.id); June 2020 had 0–20 mm and 21–30 dry days (BMKG via BPBD).
  Monthly wet-day probabilities below sum to ≈148 days; wet-day means 20 mm (wet season) and
  9 mm (dry season) give ≈2,450 mm [est, calibrated to those two figures].
- Rain falls mostly in the afternoon (convective) [est]; wet spells persist (lag-1 autocorrelation of
  wet days 0.45 [est]).
- Relative humidity 75–98 % (dutaradia16), 86 % mean (Profil); dry-season afternoons down to ~50 %
  (Karangploso 50–95 %).
- Wind 10.73 km/h mean (Profil, ≈3.0 m/s at 10 m ≈ 2.2 m/s at 2 m by FAO-56's log profile); windiest
  May, Jul, Sep (malangkota.go.id); from E–SE.
- Frost: none documented in Batu; Bromo–Tengger frost Jul–Aug at 2,100 m; ground frost on Java only
  above 1,500 m in hollows (Domrös 1976). [est] A few hollows at 1,600–1,700 m cool an extra 2–5 °C on
  clear calm dry-season nights.
- Solar radiation: not found for Batu; computed from clear-sky radiation (solar geometry, transmittance
  0.75 + 2e-5·z, FAO-56 Eq. 37 form) reduced by cloud cover with Kasten & Czeplak (1980):
  1 − 0.75·C^3.4.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "LAT_DEG",
    "LON_DEG",
    "air_temp_at_altitude_c",
    "clear_sky_irradiance_w_m2",
    "month_of",
    "saturation_vp_kpa",
]

_WORLD_PATH = Path(__file__).with_name("world.toml")
with _WORLD_PATH.open("rb") as _f:
    WORLD = tomllib.load(_f)  # the simulator's world, each number with its source (world.toml)

_place, _temp, _rain = WORLD["place"], WORLD["temperature"], WORLD["rain"]
LAT_DEG = float(_place["lat_deg"])
LON_DEG = float(_place["lon_deg"])
UTC_OFFSET_H = int(_place["utc_offset_h"])
TOWN_ALTITUDE_M = float(_place["town_altitude_m"])
TOWN_MEAN_TEMP_C = float(_place["town_mean_temp_c"])
LAPSE_BELOW_1500 = float(_place["lapse_below_1500_c_per_m"])
LAPSE_ABOVE_1500 = float(_place["lapse_above_1500_c_per_m"])
MONTHLY_TEMP_ANOMALY_C = np.array(_temp["monthly_mean_c"]) - float(_temp["table_annual_mean_c"])
TEMP_ANOMALY_PERSISTENCE = float(_temp["anomaly_persistence"])
TEMP_ANOMALY_SD_C = float(_temp["anomaly_sd_c"])
WET_DAY_PROBABILITY = np.array(_rain["wet_day_probability"], dtype=float)
WET_SEASON = np.array(_rain["wet_season"], dtype=bool)
WET_DAY_MEAN_MM = np.where(
    WET_SEASON, float(_rain["wet_day_mean_wet_season_mm"]), float(_rain["wet_day_mean_dry_season_mm"])
)
WET_SPELL_PERSISTENCE = float(_rain["wet_spell_persistence"])
RAIN_GAMMA_SHAPE = float(_rain["amount_gamma_shape"])
DIURNAL_RANGE_C = np.where(
    WET_SEASON, float(_temp["diurnal_range_wet_c"]), float(_temp["diurnal_range_dry_c"])
)
DEWPOINT_DEPRESSION_C = np.where(
    WET_SEASON, float(_temp["dewpoint_depression_wet_c"]), float(_temp["dewpoint_depression_dry_c"])
)
WIND_MEAN_M_S = np.array(WORLD["wind"]["monthly_mean_m_s"], dtype=float)
SOIL_WATER = {name: tuple(float(x) for x in row) for name, row in WORLD["soils"].items()}


def month_of(day_of_year: NDArray[np.int_]) -> NDArray[np.int_]:
    """Month index 0..11 of a day of year 1..366 (non-leap calendar is close enough for climate)."""
    edges = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365])
    return np.clip(np.searchsorted(edges, day_of_year, side="left") - 1, 0, 11)


def air_temp_at_altitude_c(altitude_m: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Annual mean air temperature [°C] at ``altitude_m`` from the town's mean and Braak's lapse rates."""
    z = np.asanyarray(altitude_m, dtype=float)
    below = np.minimum(z, 1500.0) - TOWN_ALTITUDE_M
    above = np.maximum(z - 1500.0, 0.0)
    return np.asarray(
        TOWN_MEAN_TEMP_C + LAPSE_BELOW_1500 * below + LAPSE_ABOVE_1500 * above, dtype=np.float64
    )


def saturation_vp_kpa(temp_c: NDArray[np.float64]) -> NDArray[np.float64]:
    """Saturation vapour pressure [kPa] (Tetens)."""
    return 0.6108 * np.exp(17.27 * temp_c / (temp_c + 237.3))


def clear_sky_irradiance_w_m2(
    ts_ms: NDArray[np.int64], altitude_m: float = TOWN_ALTITUDE_M
) -> NDArray[np.float64]:
    """Clear-sky global horizontal irradiance [W/m²] at instants ``ts_ms`` (UTC ms) in Kota Batu.

    Solar geometry from the day angle (Spencer 1971 declination, equation of time), then a broadband
    transmittance of 0.75 + 2e-5·altitude applied to the extraterrestrial irradiance on a horizontal
    surface.
    """
    t = np.asanyarray(ts_ms, dtype=np.int64)
    days = t / 86_400_000.0
    day_of_year = (days - 10957.0) % 365.2422  # days since 2000-01-01, folded into a year
    gamma = 2 * np.pi * day_of_year / 365.0
    decl = (
        0.006918
        - 0.399912 * np.cos(gamma)
        + 0.070257 * np.sin(gamma)
        - 0.006758 * np.cos(2 * gamma)
        + 0.000907 * np.sin(2 * gamma)
        - 0.002697 * np.cos(3 * gamma)
        + 0.00148 * np.sin(3 * gamma)
    )
    eot_min = 229.18 * (
        0.000075
        + 0.001868 * np.cos(gamma)
        - 0.032077 * np.sin(gamma)
        - 0.014615 * np.cos(2 * gamma)
        - 0.040849 * np.sin(2 * gamma)
    )
    utc_hours = (t % 86_400_000) / 3_600_000.0
    solar_time_h = utc_hours + LON_DEG / 15.0 + eot_min / 60.0
    hour_angle = np.radians(15.0 * (solar_time_h - 12.0))
    lat = np.radians(LAT_DEG)
    cos_zenith = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle)
    eccentricity = 1 + 0.033 * np.cos(2 * np.pi * day_of_year / 365.0)
    transmittance = 0.75 + 2e-5 * altitude_m
    return np.asarray(np.maximum(0.0, 1361.0 * eccentricity * cos_zenith * transmittance), dtype=np.float64)
