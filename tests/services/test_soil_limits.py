"""The irrigation alert tells the farmer the threshold on the soil the forecast used (issue 38): its
texture's, moved to where the fleet's probes drain to, not the pedotransfer function's alone."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from forecast.drivers import irrigation_threshold_vwc_pct
from forecast.engine import MODEL_VERSION, FieldForecast
from forecast.learning import PRIOR
from forecast.soils import calibrated_soil
from services.alerts import _irrigation
from services.forecasting import ForecastRun
from services.notify.messages import alert_message
from storage.db import Field

DAY = dt.date(2026, 12, 1)


def _run(limits: dict[str, tuple[float, int]]) -> ForecastRun:
    forecast = FieldForecast(
        "f1", "c1", "potato", DAY, DAY, DAY, DAY, 10.0, 20.0, 30.0, 10.0, 20.0, 30.0,
        water_stress_so_far=0.4, depletion_mm=60.0, raw_mm=40.0, days_to_irrigation=0.0,
        days_observed=60, members_harvest_date=[DAY], members_tonnes=np.array([20.0]), yield_factor=1.0,
    )  # fmt: skip
    calibration = dataclasses.replace(PRIOR, soil_upper_vwc=limits)
    return ForecastRun(DAY, dt.datetime.now(dt.UTC), {"f1": forecast}, {}, 1, MODEL_VERSION, calibration, 0.0)


def test_the_irrigation_alerts_threshold_is_on_the_soil_the_forecast_used() -> None:
    field = Field(
        id="f1", coop_id="c1", commodity="potato", area_ha=1.0, soil_texture="andosol",
        planting_date=DAY - dt.timedelta(days=60), elevation_m=1400.0, lat=-7.8, lon=112.5,
    )  # fmt: skip
    blind = _irrigation(_run({}), {"f1": field}, {"f1": 30.0})
    told = _irrigation(_run({"andosol": (45.0, 30)}), {"f1": field}, {"f1": 30.0})
    (before,), (after,) = blind, told
    ptf = irrigation_threshold_vwc_pct(soil_texture="andosol", depletion_fraction=0.35)
    assert before.facts["threshold_vwc_pct"] == ptf
    fc, wp = calibrated_soil("andosol", {"andosol": (45.0, 30)})
    assert after.facts["threshold_vwc_pct"] == 100 * (fc - 0.35 * (fc - wp))
    # The fleet says andosol holds 45 %: the crop needs water from about 36 %, not below 28 %.
    assert float(after.facts["threshold_vwc_pct"]) - float(before.facts["threshold_vwc_pct"]) > 6.0


def test_the_irrigation_alert_says_when_the_forecast_has_the_crop_dying_without_water() -> None:
    """Issue 38, crop death on in forecasts: a farmer told only "siram hari ini" cannot tell a dry day
    from a crop about to die. The alert's facts carry the forecast's chance of death (from one weather
    in ten, the field page's rule) and its message says it, in both languages; below that, nothing."""
    field = Field(
        id="f1", coop_id="c1", commodity="potato", area_ha=1.0, soil_texture="andosol",
        planting_date=DAY - dt.timedelta(days=60), elevation_m=1400.0, lat=-7.8, lon=112.5,
    )  # fmt: skip
    run = _run({})
    for share, words in ((0.34, "3 dari 10"), (0.05, None)):
        run.forecasts["f1"] = dataclasses.replace(run.forecasts["f1"], crop_death_share=share)
        (finding,) = _irrigation(run, {"f1": field}, {"f1": 30.0})
        texts = [
            alert_message(kind=finding.kind, subject="Tegal atas", facts=finding.facts,
                          english=finding.message, language=lang, link="", event="raised",
                          unacknowledged_h=0.0).body
            for lang in ("id", "en")
        ]  # fmt: skip
        if words is None:
            assert "death_in_ten" not in finding.facts
            assert not any("mati" in t or "die" in t for t in texts)
        else:
            assert finding.facts["death_in_ten"] == 3
            assert f"Tanpa air, tanaman bisa mati ({words} kemungkinan cuaca)." in texts[0]
            assert "Without water the crop may die (3 in 10 weathers)." in texts[1]
