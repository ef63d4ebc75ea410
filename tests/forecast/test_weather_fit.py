"""The weather generator is fitted to each field's readings (issue 38): with years of readings it
forecasts the weather those readings had, not the prior's; with none, the prior's."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np

from forecast.weather import PRIOR, WET_DAY_MM, FittedWeather, fit_weather, future_weather

START = dt.date(2023, 1, 1)


def _known(n: int) -> FittedWeather:
    """A place wetter, more persistent and warmer than the prior."""
    p = np.array([0.85, 0.85, 0.8, 0.6, 0.4, 0.3, 0.3, 0.3, 0.3, 0.5, 0.8, 0.85])
    return FittedWeather(
        temp_offset_c=np.full(n, 2.0),
        diurnal_range_c=np.full(n, 6.0),
        temp_phi=np.full(n, 0.8),
        temp_sigma_c=np.full(n, 1.5),
        wet_day_probability=np.tile(p, (n, 1)),
        wet_day_mean_mm=np.full((n, 12), 25.0),
        persistence=np.full(n, 0.6),
        rain_shape=np.full(n, 1.5),
        days_read=np.zeros(n, dtype=np.int_),
    )


def test_years_of_readings_give_back_the_weather_they_had() -> None:
    days = 3 * 365
    elevation = np.array([1200.0])
    truth = _known(1)
    rng = [np.random.default_rng(5)]
    tmin, tmax, rain, _ = future_weather(rng, start=START, n_days=days, n_members=1, elevation_m=elevation,
                                         fitted=truth, et0_scale=np.ones(1))  # fmt: skip
    months = np.array([(START + dt.timedelta(days=i)).month for i in range(days)])
    fit = fit_weather(tmin[:, 0], tmax[:, 0], rain[:, 0], months, elevation)
    # Three years of a month (93 days) against the prior's 30 pseudo-days, and wet spells' noise.
    np.testing.assert_allclose(fit.wet_day_probability[0], truth.wet_day_probability[0], atol=0.15)
    assert abs(fit.persistence[0] - 0.6) < 0.1
    assert abs(fit.wet_day_mean_mm[0].mean() - 25.0) < 3.0
    assert abs(fit.rain_shape[0] - 1.5) < 0.4
    assert abs(fit.temp_offset_c[0] - 2.0) < 0.3
    assert abs(fit.diurnal_range_c[0] - 6.0) < 0.3
    assert abs(fit.temp_phi[0] - 0.8) < 0.1
    assert fit.days_read[0] == days


def test_no_readings_give_the_prior_and_gaps_are_not_dry_days() -> None:
    days = 60
    nan = np.full((1, days), np.nan)
    months = np.array([(START + dt.timedelta(days=i)).month for i in range(days)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the demo's printout showed numpy's "Mean of empty slice"
        fit = fit_weather(nan, nan, nan, months, np.array([1000.0]))
    np.testing.assert_allclose(fit.wet_day_probability[0], PRIOR.wet_day_probability)
    assert fit.persistence[0] == PRIOR.persistence
    assert fit.wet_day_mean_mm[0, 0] == PRIOR.wet_day_mean_mm
    assert fit.temp_offset_c[0] == 0.0
    assert fit.days_read[0] == 0
    # A month of a gauge that read 0 mm is a dry month; one that read nothing says nothing.
    dry = fit_weather(nan, nan, np.zeros((1, days)), months, np.array([1000.0]))
    assert dry.wet_day_probability[0, 0] < 0.5 * PRIOR.wet_day_probability[0]
    assert WET_DAY_MM == 1.0
