"""Future weather for the ensemble: a stochastic generator on Kota Batu climatology, fitted to each
field's own record.

With a few months of history a field's record cannot give rain statistics, so rain comes from
climatology (a wet/dry Markov chain) while temperature and ET0 are corrected by what the field's
own sensors showed: its mean temperature offset from climatology (shrunk toward 0 with few days)
and the ratio of its Penman–Monteith ET0 to Hargreaves.

Climatology (sources in docs/sources.md): mean 21.5 °C at the town's 871 m ("Profil Kota Batu") with
the de-wiki monthly anomalies; Braak's lapse rates (−0.60 °C/100 m below 1,500 m, −0.55 above);
2,471 mm on 134 rain days a year at Bumiaji, rainiest Nov–Feb and driest Jun–Sep; diurnal range
about 8 °C in the wet and 12 °C in the dry season [est]; wet-spell persistence 0.45 [est].
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from forecast import et0 as fao

__all__ = ["KOTA_BATU_LAT_DEG", "Climate", "climatology_tmean", "fit_temperature_bias", "future_weather"]

F64 = NDArray[np.float64]
KOTA_BATU_LAT_DEG = -7.87


@dataclass(frozen=True)
class Climate:
    """Monthly climatology (index 0 = January)."""

    temp_anomaly_c: F64
    wet_day_probability: F64
    wet_day_mean_mm: F64
    diurnal_range_c: F64
    persistence: float = 0.45
    town_mean_c: float = 21.5
    town_altitude_m: float = 871.0


_WET = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1], dtype=bool)
KOTA_BATU = Climate(
    temp_anomaly_c=np.array([18.7, 18.6, 18.8, 18.9, 18.8, 18.4, 18.0, 18.2, 18.9, 19.4, 19.4, 19.0]) - 18.8,
    # Rain days per month from the seasonality statements, scaled to ≈134-150 days a year [est].
    wet_day_probability=np.array([0.70, 0.72, 0.65, 0.55, 0.30, 0.15, 0.10, 0.08, 0.12, 0.25, 0.55, 0.68]),
    wet_day_mean_mm=np.where(_WET, 19.0, 9.0),
    diurnal_range_c=np.where(_WET, 8.0, 12.0),
)


def climatology_tmean(elevation_m: F64, months: NDArray[np.int_], climate: Climate = KOTA_BATU) -> F64:
    """Climatological mean air temperature [°C]: shape (fields, days) for months (days,) 1..12."""
    z = np.asanyarray(elevation_m, dtype=np.float64)[:, None]
    lapse = -0.0060 * (np.minimum(z, 1500) - climate.town_altitude_m) - 0.0055 * np.maximum(z - 1500, 0)
    return climate.town_mean_c + lapse + climate.temp_anomaly_c[np.asarray(months) - 1][None, :]


def fit_temperature_bias(
    tmin_c: F64, tmax_c: F64, months: NDArray[np.int_], elevation_m: F64, climate: Climate = KOTA_BATU
) -> tuple[F64, F64]:
    """Per field: (mean offset from climatology [°C], diurnal-range scale), shrunk toward (0, 1).

    ``tmin_c``/``tmax_c``: observed (fields, days), NaN where missing. Shrinkage weight n / (n + 14):
    two weeks of data count as much as the climatology [est].
    """
    clim = climatology_tmean(elevation_m, months, climate)
    tmean = (tmin_c + tmax_c) / 2
    valid = ~np.isnan(tmean)
    n = valid.sum(axis=1)
    offset = np.where(n > 0, np.nansum(np.where(valid, tmean - clim, 0.0), axis=1) / np.maximum(n, 1), 0.0)
    dtr_clim = climate.diurnal_range_c[np.asarray(months) - 1][None, :]
    scale = np.where(
        n > 0, np.nansum(np.where(valid, (tmax_c - tmin_c) / dtr_clim, 0.0), axis=1) / np.maximum(n, 1), 1.0
    )
    w = n / (n + 14.0)
    return w * offset, w * scale + (1 - w)


def future_weather(
    rngs: Sequence[np.random.Generator],
    *,
    start: dt.date,
    n_days: int,
    n_members: int,
    elevation_m: F64,
    temp_offset_c: F64,
    dtr_scale: F64,
    et0_scale: F64,
    climate: Climate = KOTA_BATU,
    lat_deg: float = KOTA_BATU_LAT_DEG,
) -> tuple[F64, F64, F64, F64]:
    """Ensemble of daily (tmin, tmax, rain, et0), each (fields, members, days), from ``start``.

    ``rngs`` holds one generator per field, so a field's weather does not depend on which other
    fields share its batch.
    """
    n_fields = len(elevation_m)
    days = [start + dt.timedelta(days=i) for i in range(n_days)]
    months = np.array([d.month for d in days])
    doy = np.array([d.timetuple().tm_yday for d in days])
    shape = (n_fields, n_members)
    p = climate.wet_day_probability[months - 1]
    r = climate.persistence
    draws = (
        np.stack([g.random((n_members, 2 * n_days + 1)) for g in rngs])
        if n_fields
        else np.zeros((0, n_members, 1))
    )
    normals = np.stack([g.standard_normal((n_members, n_days + 1)) for g in rngs]) if n_fields else draws
    amounts = (
        np.stack([g.gamma(0.8, climate.wet_day_mean_mm[months - 1] / 0.8, (n_members, n_days)) for g in rngs])
        if n_fields
        else np.zeros((0, n_members, n_days))
    )
    wet = np.zeros((*shape, n_days), dtype=bool)
    state = draws[:, :, 0] < p[0]
    anomaly = 0.8 * normals[:, :, 0]
    temp_anom = np.empty((*shape, n_days))
    innovation = 0.8 * np.sqrt(1 - 0.7**2)
    for i in range(n_days):
        p_wet = np.where(state, p[i] + r * (1 - p[i]), p[i] * (1 - r))
        state = draws[:, :, 1 + i] < p_wet
        wet[..., i] = state
        anomaly = 0.7 * anomaly + innovation * normals[:, :, 1 + i]
        temp_anom[..., i] = anomaly
    rain = np.where(wet, amounts, 0.0)
    tmean = (
        climatology_tmean(elevation_m, months, climate)[:, None, :] + temp_offset_c[:, None, None] + temp_anom
    )
    dtr = (
        climate.diurnal_range_c[months - 1][None, None, :]
        * dtr_scale[:, None, None]
        * np.where(wet, 0.75, 1.1)
    )
    tmax = tmean + 0.45 * dtr
    tmin = tmean - 0.55 * dtr
    ra = fao.extraterrestrial_radiation_daily(lat_rad=np.radians(lat_deg), day_of_year=doy)
    et0 = fao.et0_hargreaves(tmin_c=tmin, tmax_c=tmax, ra=ra[None, None, :]) * et0_scale[:, None, None]
    return tmin, tmax, rain, et0
