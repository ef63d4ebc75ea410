"""Future weather for the ensemble: a stochastic generator fitted to each field's own record, shrunk
toward a prior climatology of the forecast's own sources.

Issue 38: the generator was the simulator's, number for number (wet-spell persistence, monthly wet-day
probabilities, wet-day amounts, diurnal range, the rain's gamma shape, the temperature AR(1)), so the
ensemble was drawn from the distribution the truth came from and coverage was flattered. Now every
parameter is estimated from the field's readings (its station's rain, its own or its station's
temperature) over the history the forecast reads, each with a shrinkage weight n / (n + k) toward the
prior below; a field with months of readings forecasts its own weather, a new one the prior's. The
forecast's ``basis.days_observed`` says how many days of temperature readings the fit rests on.

The prior (:data:`PRIOR`), each number with its source (none shared with firmware_sim/, whose world
comes from other sources: ARCHITECTURE.md):

- temperature: Karangploso's January–February mean 24.1 °C (BMKG Staklim Karangploso via Kompas
  2019, docs/sources.md §1) at ~600 m [est: Karangploso lies on the plain between Malang (~450 m) and
  Batu (871 m)], the ICAO standard atmosphere's lapse rate 6.5 °C/km (ICAO Doc 7488), no seasonal
  cycle [est: Batu's monthly means differ by ~1.5 °C, which a field's readings correct within weeks];
- diurnal range 9 °C [the midpoints of Batu's Tmin 18–24 °C and Tmax 28–32 °C, docs/sources.md §1];
  the generator's daily temperature is the midrange (Tmin + Tmax) / 2, the one the readings' minima
  and maxima give;
- rain: a dry season April–October, the east monsoon, and a wet one November–March (docs/sources.md
  §1, "Seasons"): wet-day probability 0.62 in the wet months, 0.17 in the dry, 0.35 in April and
  October [est: the sources give seasons, not rain days]; 1,900 mm a year [est: the middle of Batu's
  875–3,000 mm a year, docs/sources.md §1] spread evenly over the expected wet days; a wet day is one
  with ≥ 1 mm (WMO's rain day); wet-spell persistence 0.3 and a gamma shape 0.75 for the excess over
  1 mm [est: common values for daily tropical rain, to be replaced by the station's own];
- temperature anomalies AR(1) with lag-1 correlation 0.6 and s.d. 1.0 °C [est].
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from forecast import et0 as fao

__all__ = [
    "KOTA_BATU_LAT_DEG",
    "LAPSE_C_PER_M",
    "PRIOR",
    "FittedWeather",
    "Prior",
    "climatology_tmean",
    "fit_weather",
    "future_weather",
]

F64 = NDArray[np.float64]
KOTA_BATU_LAT_DEG = -7.87  # [issue brief] Kota Batu
LAPSE_C_PER_M = -0.0065  # [ICAO Doc 7488] the standard atmosphere's lapse rate
WET_DAY_MM = 1.0  # [WMO] a rain day has at least 1 mm
_DAYS_IN_MONTH = np.array([31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


@dataclass(frozen=True)
class Prior:
    """The forecast's prior climatology for one place (see the module docstring for each source)."""

    reference_mean_c: float = 24.1
    reference_altitude_m: float = 600.0
    diurnal_range_c: float = 9.0
    temp_phi: float = 0.6
    temp_sigma_c: float = 1.0
    wet_day_probability: tuple[float, ...] = (
        0.62, 0.62, 0.62, 0.35, 0.17, 0.17, 0.17, 0.17, 0.17, 0.35, 0.62, 0.62,
    )  # fmt: skip
    annual_rain_mm: float = 1900.0
    persistence: float = 0.3
    rain_shape: float = 0.75

    @property
    def wet_day_mean_mm(self) -> float:
        """The annual rain spread over the expected wet days."""
        wet_days = float(np.sum(np.asarray(self.wet_day_probability) * _DAYS_IN_MONTH))
        return self.annual_rain_mm / wet_days


PRIOR = Prior()

# How many days of readings weigh as much as the prior [est]: two weeks for a temperature level, a
# month for a month's rain frequency, 10 wet days for their amount, 60 day pairs for persistence.
K_TEMP, K_WET, K_AMOUNT, K_PAIRS = 14.0, 30.0, 10.0, 60.0


def climatology_tmean(elevation_m: F64, months: NDArray[np.int_], prior: Prior = PRIOR) -> F64:
    """The prior's mean air temperature [°C]: shape (fields, days) for months (days,) 1..12."""
    z = np.asanyarray(elevation_m, dtype=np.float64)[:, None]
    level = prior.reference_mean_c + LAPSE_C_PER_M * (z - prior.reference_altitude_m)
    return np.broadcast_to(level, (len(z), len(np.asarray(months)))).copy()


@dataclass(frozen=True)
class FittedWeather:
    """Each field's generator: arrays over fields (and months, index 0 = January)."""

    temp_offset_c: F64  # from the prior's level
    diurnal_range_c: F64
    temp_phi: F64
    temp_sigma_c: F64
    wet_day_probability: F64  # (fields, 12)
    wet_day_mean_mm: F64  # (fields, 12)
    persistence: F64
    rain_shape: F64
    days_read: NDArray[np.int_]  # days with a temperature reading behind the fit


def _mean(a: F64) -> F64:
    """The mean over the last axis of what is not NaN; NaN (and no warning) where nothing is."""
    known = ~np.isnan(a)
    count = known.sum(axis=-1)
    total = np.where(known, a, 0.0).sum(axis=-1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _shrunk(estimate: F64, n: F64, prior: float | F64, k: float) -> F64:
    w = n / (n + k)
    return np.where(n > 0, w * np.nan_to_num(estimate) + (1 - w) * prior, prior)


def fit_weather(
    tmin_c: F64, tmax_c: F64, rain_mm: F64, months: NDArray[np.int_], elevation_m: F64, prior: Prior = PRIOR
) -> FittedWeather:
    """Each field's generator from its readings (fields, days; NaN where missing), shrunk toward
    ``prior`` (see the module docstring)."""
    n_fields = len(elevation_m)
    tmean = (tmin_c + tmax_c) / 2
    valid = ~np.isnan(tmean)
    n_t = valid.sum(axis=1).astype(np.float64)
    clim = climatology_tmean(elevation_m, months, prior)
    with np.errstate(invalid="ignore", divide="ignore"):
        offset = _mean(np.where(valid, tmean - clim, np.nan))
        dtr = _mean(np.where(valid, tmax_c - tmin_c, np.nan))
    offset_f = _shrunk(offset, n_t, 0.0, K_TEMP)
    anomaly = np.where(valid, tmean - clim - offset_f[:, None], np.nan)
    pairs = valid[:, 1:] & valid[:, :-1]
    n_pairs = pairs.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        a0, a1 = np.where(pairs, anomaly[:, :-1], 0.0), np.where(pairs, anomaly[:, 1:], 0.0)
        phi = np.sum(a0 * a1, axis=1) / np.sqrt(np.sum(a0 * a0, axis=1) * np.sum(a1 * a1, axis=1))
        sigma = np.sqrt(_mean(anomaly * anomaly))
    # Rain: wet-day frequency and amount per month, persistence and the amount's shape overall.
    has_rain = ~np.isnan(rain_mm)
    wet = has_rain & (np.nan_to_num(rain_mm) >= WET_DAY_MM)
    month_idx = np.asarray(months) - 1
    p_wet = np.empty((n_fields, 12))
    mean_wet = np.empty((n_fields, 12))
    prior_p = np.asarray(prior.wet_day_probability)
    excess = np.where(wet, np.nan_to_num(rain_mm) - WET_DAY_MM, 0.0)
    for m in range(12):
        in_m = month_idx == m
        days = (has_rain[:, in_m]).sum(axis=1).astype(np.float64)
        wets = (wet[:, in_m]).sum(axis=1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_wet[:, m] = _shrunk(wets / days, days, prior_p[m], K_WET)
            mean_wet[:, m] = WET_DAY_MM + _shrunk(
                excess[:, in_m].sum(axis=1) / wets, wets, prior.wet_day_mean_mm - WET_DAY_MM, K_AMOUNT
            )
    rain_pairs = has_rain[:, 1:] & has_rain[:, :-1]
    after_wet = rain_pairs & wet[:, :-1]
    after_dry = rain_pairs & ~wet[:, :-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        p_ww = (after_wet & wet[:, 1:]).sum(axis=1) / after_wet.sum(axis=1)
        p_dw = (after_dry & wet[:, 1:]).sum(axis=1) / after_dry.sum(axis=1)
        # P(W|W) = p + r (1 - p) and P(W|D) = p (1 - r) give r = P(W|W) - P(W|D).
        persistence = np.clip(p_ww - p_dw, 0.0, 0.9)
        n_wet = wet.sum(axis=1).astype(np.float64)
        ex = np.where(wet, excess, np.nan)
        ex_mean = _mean(ex)
        ex_var = _mean((ex - ex_mean[:, None]) ** 2)
        shape = np.clip(ex_mean**2 / ex_var, 0.2, 5.0)
    return FittedWeather(
        temp_offset_c=offset_f,
        diurnal_range_c=_shrunk(dtr, n_t, prior.diurnal_range_c, K_TEMP),
        temp_phi=np.clip(_shrunk(phi, n_pairs, prior.temp_phi, K_PAIRS), 0.0, 0.95),
        temp_sigma_c=_shrunk(sigma, n_t, prior.temp_sigma_c, K_TEMP),
        wet_day_probability=p_wet,
        wet_day_mean_mm=mean_wet,
        persistence=_shrunk(
            persistence, rain_pairs.sum(axis=1).astype(np.float64), prior.persistence, K_PAIRS
        ),
        rain_shape=_shrunk(shape, n_wet, prior.rain_shape, K_AMOUNT),
        days_read=n_t.astype(np.int_),
    )


def future_weather(
    rngs: Sequence[np.random.Generator],
    *,
    start: dt.date,
    n_days: int,
    n_members: int,
    elevation_m: F64,
    fitted: FittedWeather,
    et0_scale: F64,
    prior: Prior = PRIOR,
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
    p = fitted.wet_day_probability[:, months - 1][:, None, :]  # (fields, 1, days)
    r = fitted.persistence[:, None]
    if not n_fields:
        empty = np.zeros((0, n_members, n_days))
        return empty, empty, empty, empty
    draws = np.stack([g.random((n_members, 2 * n_days + 1)) for g in rngs])
    normals = np.stack([g.standard_normal((n_members, n_days + 1)) for g in rngs])
    amounts = np.stack(
        [g.gamma(k, 1.0, (n_members, n_days)) for g, k in zip(rngs, fitted.rain_shape, strict=True)]
    )
    scale = (fitted.wet_day_mean_mm[:, months - 1] - WET_DAY_MM) / fitted.rain_shape[:, None]
    amounts = WET_DAY_MM + amounts * scale[:, None, :]
    wet = np.zeros((*shape, n_days), dtype=bool)
    state = draws[:, :, 0] < p[:, :, 0]
    phi = fitted.temp_phi[:, None]
    sigma = fitted.temp_sigma_c[:, None]
    anomaly = sigma * normals[:, :, 0]
    temp_anom = np.empty((*shape, n_days))
    innovation = sigma * np.sqrt(1 - phi**2)
    for i in range(n_days):
        p_i = p[:, :, i]
        p_wet = np.where(state, p_i + r * (1 - p_i), p_i * (1 - r))
        state = draws[:, :, 1 + i] < p_wet
        wet[..., i] = state
        anomaly = phi * anomaly + innovation * normals[:, :, 1 + i]
        temp_anom[..., i] = anomaly
    rain = np.where(wet, amounts, 0.0)
    tmean = (
        climatology_tmean(elevation_m, months, prior)[:, None, :]
        + fitted.temp_offset_c[:, None, None]
        + temp_anom
    )
    half = fitted.diurnal_range_c[:, None, None] / 2
    tmax = tmean + half
    tmin = tmean - half
    ra = fao.extraterrestrial_radiation_daily(lat_rad=np.radians(lat_deg), day_of_year=doy)
    et0 = fao.et0_hargreaves(tmin_c=tmin, tmax_c=tmax, ra=ra[None, None, :]) * et0_scale[:, None, None]
    return tmin, tmax, rain, et0
