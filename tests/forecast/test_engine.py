"""The forecast engine on simulated fields: conservation, batch invariance, sensors, plans, learning."""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.simdata import daily_series, field_specs, observed_for
from firmware_sim.fleet import batu_fleet
from firmware_sim.runner import prepare
from forecast import engine
from forecast import season as season_module
from forecast.crops import CropArrays, crop_arrays, load_crops
from forecast.drivers import Observed, infer_irrigated
from forecast.engine import MODEL_VERSION, FieldSpec, forecast_fields
from forecast.learning import PRIOR, Calibration, HarvestOutcome, learn
from forecast.orchard import ORCHARD_CROPS
from forecast.plan import iso_week, plan_members, purchase_plan
from forecast.season import SeasonInputs, run_season
from tests.forecast.helpers import steady_field

ANCHOR = dt.date(2026, 11, 28)
DAY_MS = 86_400_000


@cache
def world() -> tuple[list[FieldSpec], dict[str, Observed], dt.date]:
    fleet = batu_fleet(anchor=ANCHOR).subset(6, 10)
    grid_start = min(f.planting_date for f in fleet.fields) - dt.timedelta(days=2)
    ms = (grid_start - dt.date(1970, 1, 1)).days * DAY_MS - 7 * 3_600_000
    end_ms = (ANCHOR - dt.date(1970, 1, 1)).days * DAY_MS - 7 * 3_600_000
    run = prepare(fleet, start_ms=ms, end_ms=end_ms, seed=3, interval_min=60, horizon_days=30)
    days = [grid_start + dt.timedelta(days=i) for i in range((ANCHOR - grid_start).days)]
    return field_specs(fleet), observed_for(fleet, daily_series(run.samples, days)), grid_start


def test_crop_library_has_every_crop_with_sane_values() -> None:
    crops = load_crops()
    assert {c for c, p in crops.items() if p.perennial} == {"apple", "citrus"}
    # The crop library's orchards are the orchard library's (forecast/orchards.toml), no other.
    assert {c for c, p in crops.items() if p.perennial} == set(ORCHARD_CROPS)
    assert {c for c, p in crops.items() if not p.perennial} == {
        "potato",
        "cabbage",
        "carrot",
        "tomato",
        "chili",
        "shallot",
        "sweet_corn",
        "rice",
        "strawberry",
    }
    for c in crops.values():
        assert c.base_temp_c < c.upper_temp_c
        assert 0 < c.depletion_fraction < 1
        assert 500 < c.thermal_time_to_maturity_cd < 3000
        assert abs(sum(c.stage_fractions) - 1) < 0.02
        assert all(0.0 <= ky <= 1.6 for ky in c.ky_stages)  # FAO-33's per-period Ky run 0.2-1.5
    with pytest.raises(KeyError, match="pear"):
        crop_arrays(["pear"])


def _planted_today(crop: CropArrays, days: int, rain_mm: np.ndarray, *, et0_mm: float) -> SeasonInputs:
    """Rain-fed fields of ``crop`` planted on day 0 with ``days`` of observed weather, this rain
    (fields, 4 members, days) and a constant ET0."""
    n = len(crop.base_temp_c)
    base = _inputs(n_fields=n, days=days)
    return dataclasses.replace(
        base,
        crop=crop,
        planting_day=np.zeros(n, dtype=int),
        today=np.full(n, days),
        irrigated=np.zeros(n, dtype=bool),
        rain_mm=rain_mm,
        et0_mm=np.full_like(base.et0_mm, et0_mm),
    )


def _inputs(n_fields: int = 3, members: int = 4, days: int = 120, vwc: float = np.nan) -> SeasonInputs:
    rng = np.random.default_rng(0)
    shape = (n_fields, members, days)
    return SeasonInputs(
        crop=crop_arrays(["potato", "rice", "chili"][:n_fields] if n_fields <= 3 else ["potato"] * n_fields),
        theta_fc=np.full(n_fields, 0.40),
        theta_wp=np.full(n_fields, 0.20),
        area_ha=np.ones(n_fields),
        planting_day=np.full(n_fields, 5),
        today=np.full(n_fields, 40),
        irrigated=np.array([i % 2 == 0 for i in range(n_fields)]),
        yield_factor=np.ones(n_fields),
        tmin_c=np.full(shape, 14.0) + rng.normal(0, 1, shape),
        tmax_c=np.full(shape, 26.0) + rng.normal(0, 1, shape),
        rain_mm=rng.gamma(0.3, 12.0, shape),
        et0_mm=np.full(shape, 4.0),
        soil_vwc_pct=np.full((n_fields, days), vwc),
    )


def test_a_drought_over_the_whole_season_costs_its_relative_transpiration() -> None:
    """Issue 38: relative yield is the season's relative transpiration, ΣTa/ΣTc (AquaCrop's yield =
    HI × WP* Σ Tr/ET0). Issue 19: a product of one loss per growth period charged a season-long
    deficit once per period: tomato in Tunis at 0.005 of its potential where AquaCrop has 0.25."""
    base = _inputs()
    inputs = dataclasses.replace(
        base,
        crop=dataclasses.replace(base.crop, senescence_share=None),  # no crop death: that is priced apart
        irrigated=np.zeros(3, dtype=bool),
        rain_mm=np.zeros((3, 4, 120)),
    )
    r = run_season(inputs)
    ratio = r.relative_transpiration
    assert (ratio < 0.9).all()  # dry
    np.testing.assert_allclose(r.relative_yield, np.clip(ratio, 0, 1), atol=1e-9)
    ky = np.array([load_crops()[c].ky_stages for c in ("potato", "rice", "chili")])
    product = np.prod(np.clip(1 - ky[:, None, :] * (1 - ratio[..., None]), 0, 1), axis=-1)
    # Strictly above wherever the product leaves anything (rice with no water at all has nothing either way).
    assert (r.relative_yield >= product).all()
    assert (r.relative_yield > product)[product > 0].all()
    assert (product > 0).sum() >= 8


def test_a_days_transpiration_counts_as_its_share_of_the_days_demand() -> None:
    """AquaCrop's biomass is WP* Σ(Tr/ET0) (Steduto et al. 2009): a day's transpiration counts as its
    share of the day's demand, so relative yield is Σ(Ta/ET0) / Σ(Tc/ET0). ΣTa/ΣTc weighted each day
    by its ET0: a dry summer's stressed days are its hottest, and potato ran 0.12 of relative yield
    below AquaCrop at Tunis and Córdoba. Here one watered day's demand is tripled (a downpour the
    day before, that day and the day after, so every later day starts from the same soil): a
    season's relative transpiration must not move; by ET0 weights it rose."""
    crop = dataclasses.replace(crop_arrays(["potato", "tomato", "cabbage"]), senescence_share=None)
    days = 110
    rain = np.zeros((3, 4, days))
    rain[:, :, 49:52] = 100.0  # days 49-51: soaked to field capacity, so unstressed on day 50
    runs = []
    for demand in (5.0, 15.0, 0.0):  # 0: a day without demand grows nothing, and is not counted
        inputs = _planted_today(crop, days, rain, et0_mm=5.0)
        et0 = inputs.et0_mm.copy()
        et0[:, :, 50] = demand
        runs.append(run_season(dataclasses.replace(inputs, et0_mm=et0)))
    low, high, none = runs
    assert (low.relative_transpiration < 0.8).all(), low.relative_transpiration  # a dry season otherwise
    np.testing.assert_allclose(high.relative_transpiration, low.relative_transpiration, atol=1e-12)
    # Without demand the watered day is left out of both sums (AquaCrop adds biomass only when ET0 > 0),
    # so the season's ratio is its dry days' a little more: below, not equal and not NaN.
    assert np.isfinite(none.relative_transpiration).all()
    assert (none.relative_transpiration < low.relative_transpiration).all()


def test_a_wet_surface_over_a_dry_root_zone_is_not_a_watered_crop() -> None:
    """Issue 38: yield answered to ΣETa/ΣETc with soil evaporation in both, so a crop whose roots were
    dry looked a quarter watered on a surface that light rain kept wet (0.28-0.37 here before). On
    transpiration (Ta/Tc, as AquaCrop's Tr/Trx) a root zone the probe shows at wilting point all
    season is a crop that hardly transpired, however much the wet surface evaporated."""
    crop = dataclasses.replace(crop_arrays(["potato", "tomato", "cabbage"]), senescence_share=None)
    days = 110
    drizzle = np.full((3, 4, days), 2.0)  # 2 mm every day: the surface evaporates it
    inputs = dataclasses.replace(
        _planted_today(crop, days, drizzle, et0_mm=5.0),
        theta_fc=np.full(3, 0.30),
        theta_wp=np.full(3, 0.12),
        soil_vwc_pct=np.full((3, days), 12.5),  # the probe reads the root zone at wilting point
    )
    r = run_season(inputs)
    assert r.total_eta_mm.mean() > 0.25 * 2.0 * days  # the wet surface did evaporate
    assert (r.relative_transpiration < 0.1).all(), r.relative_transpiration
    assert (r.relative_yield < 0.15).all(), r.relative_yield


def test_water_balance_conserves_water() -> None:
    for vwc in (np.nan, 25.0):
        r = run_season(_inputs(vwc=vwc))
        change = r.final_depletion_mm - r.initial_depletion_mm
        booked = (
            -r.total_rain_mm
            - r.total_irrigation_mm
            + r.total_eta_mm
            + r.total_percolation_mm
            + r.total_correction_mm
        )
        np.testing.assert_allclose(change, booked, atol=1e-9)
        assert r.total_rain_mm.sum() > 0
        assert r.total_percolation_mm.sum() > 0
        assert (r.total_irrigation_mm[0] > 0).all()  # the irrigated field is irrigated in the future
        assert (r.total_irrigation_mm[1] == 0).all()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 60), min_size=3, max_size=3), st.sampled_from([np.nan, 30.0]))
def test_the_forecast_days_water_is_the_state_at_the_end_of_the_day_before(
    todays: list[int], vwc: float
) -> None:
    """Each field's depletion, RAW and TAW "today" are its state after the last observed day, however
    the fields' forecast days differ within one batch: the same field run on a grid that ends on its
    forecast day ends there."""
    base = _inputs(days=60, vwc=vwc)
    inputs = dataclasses.replace(base, today=np.array(todays))
    r = run_season(inputs)
    for i, k in enumerate(todays):
        cut = dataclasses.replace(
            inputs,
            today=np.full(3, k),
            tmin_c=inputs.tmin_c[:, :, :k],
            tmax_c=inputs.tmax_c[:, :, :k],
            rain_mm=inputs.rain_mm[:, :, :k],
            et0_mm=inputs.et0_mm[:, :, :k],
            soil_vwc_pct=inputs.soil_vwc_pct[:, :k],
        )
        ended = run_season(cut)
        np.testing.assert_allclose(r.depletion_today_mm[i], ended.final_depletion_mm[i, 0], atol=1e-9)
        np.testing.assert_allclose(r.taw_mm[i], ended.taw_mm[i], atol=1e-9)
        np.testing.assert_allclose(r.raw_today_mm[i], ended.raw_today_mm[i], atol=1e-9)


def test_soil_moisture_readings_pull_the_state_toward_the_sensor() -> None:
    dry = run_season(_inputs(vwc=21.0))  # near wilting point
    wet = run_season(_inputs(vwc=40.0))  # at field capacity
    free = run_season(_inputs())
    assert (dry.depletion_today_mm > free.depletion_today_mm).all()
    assert (wet.depletion_today_mm < free.depletion_today_mm + 1e-9).all()
    assert dry.water_stress_so_far.mean() > wet.water_stress_so_far.mean()
    assert (dry.relative_yield.mean(axis=1) < wet.relative_yield.mean(axis=1)).all()


def test_field_alone_equals_field_in_a_batch_of_ten_thousand() -> None:
    specs, observed, grid_start = world()
    target = specs[7]
    alone = forecast_fields([target], observed, grid_start=grid_start, today=ANCHOR, members=50, seed=5)[0]
    crowd = [dataclasses.replace(specs[i % len(specs)], field_id=f"copy-{i}") for i in range(9_999)]
    copies = {f"copy-{i}": observed[specs[i % len(specs)].field_id] for i in range(9_999)}
    batch = forecast_fields(
        [*crowd[:4000], target, *crowd[4000:]],
        {**observed, **copies},
        grid_start=grid_start,
        today=ANCHOR,
        members=50,
        seed=5,
        horizon_days=150,
    )
    inside = next(f for f in batch if f.field_id == target.field_id)
    alone_short = forecast_fields(
        [target], observed, grid_start=grid_start, today=ANCHOR, members=50, seed=5, horizon_days=150
    )[0]
    assert inside.members_harvest_date == alone_short.members_harvest_date
    np.testing.assert_array_equal(inside.members_tonnes, alone_short.members_tonnes)
    assert inside.tonnes_p50 == alone_short.tonnes_p50
    assert alone.tonnes_p50 > 0


def test_forecasts_have_sane_percentiles_and_context() -> None:
    specs, observed, grid_start = world()
    for f in forecast_fields(specs, observed, grid_start=grid_start, today=ANCHOR, members=50):
        assert f.members == 50
        assert f.tonnes_p10 <= f.tonnes_p50 <= f.tonnes_p90
        assert f.harvest_date_p50 is not None
        assert f.harvest_date_p10 <= f.harvest_date_p50 <= f.harvest_date_p90  # type: ignore[operator]
        assert f.days_observed > 0
        assert 0 <= f.water_stress_so_far <= 1


def test_a_learnt_date_spread_is_the_whole_spread_not_one_more_on_top_of_the_ensembles() -> None:
    """Issue 19: the records measure the whole error of a forecast's P50 (weather, thermal time and
    all), so the members add only what their own spread lacks; added on top, 92 % of harvests fell
    within P10-P90 once learning had narrowed the errors. The prior's spread stays on top."""
    from forecast.learning import PRIOR, Calibration

    specs, observed, grid_start = world()
    crops = {s.commodity for s in specs}
    varieties = {(s.commodity, s.variety): (3.0, 10) for s in specs}  # every variety has records

    def spread(calibration: Calibration) -> float:
        """The members' harvest-date s.d., averaged over the fields (200 members each)."""
        sds = []
        for f in forecast_fields(
            specs, observed, grid_start=grid_start, today=ANCHOR, members=200, calibration=calibration
        ):
            days = [(d - ANCHOR).days for d in f.members_harvest_date if d is not None]
            assert len(days) > 150
            sds.append(float(np.std(days)))
        return float(np.mean(sds))

    own = spread(Calibration(sigma_date_days=dict.fromkeys(crops, 0.0), variety_date_bias_days=varieties))
    assert 2.0 < own < 6.0  # weather and thermal time alone
    learnt = spread(Calibration(sigma_date_days=dict.fromkeys(crops, 8.0), variety_date_bias_days=varieties))
    assert learnt == pytest.approx(8.0, rel=0.04)  # on top, it was hypot(8, own): 9 % or more wider
    assert spread(PRIOR) == pytest.approx(np.hypot(own, PRIOR.date_sigma("potato")), rel=0.04)


def test_purchase_plan_sums_members_not_percentiles() -> None:
    specs, observed, grid_start = world()
    forecasts = forecast_fields(specs, observed, grid_start=grid_start, today=ANCHOR, members=50)
    keys, weeks, totals = plan_members(forecasts, start=ANCHOR, weeks=26)
    # Every member's tonnes of every field land in exactly one cooperative × commodity row.
    for m in range(50):
        in_plan = totals[:, :, m].sum()
        direct = 0.0
        for f in forecasts:
            day = f.members_harvest_date[m]
            window = load_crops()[f.commodity].harvest_window_days
            if day is not None:
                inside = [
                    (day + dt.timedelta(days=k) - (ANCHOR - dt.timedelta(days=ANCHOR.weekday()))).days // 7
                    for k in range(window)
                ]
                # A harvest before the first week is overdue, still to be bought: it counts in week 0.
                direct += f.members_tonnes[m] * sum(w < 26 for w in inside) / window
        assert in_plan == pytest.approx(direct, rel=1e-9)
    rows = purchase_plan(forecasts, start=ANCHOR, weeks=26)
    assert rows
    assert weeks[0] == iso_week(ANCHOR)
    for row in rows:
        k = keys.index((row.commodity, row.coop_id))
        w = weeks.index(row.iso_week)
        assert row.tonnes_p50 == pytest.approx(np.percentile(totals[k, w], 50), abs=1e-3)
        assert row.tonnes_p10 <= row.tonnes_p50 <= row.tonnes_p90


def test_learning_shrinks_and_reports_evidence() -> None:
    day = dt.date(2026, 3, 1)

    def rec(coop: str, actual: float, forecast: float, late: int = 0) -> HarvestOutcome:
        return HarvestOutcome("f", coop, "potato", day + dt.timedelta(days=late), actual, day, forecast)

    # Two cooperatives really differ (about x1.5 and x0.7), each with plenty of records.
    records = [rec("a", 15.0 * (1 + 0.02 * i), 10.0, late=4) for i in range(20)] + [
        rec("b", 7.0 * (1 + 0.02 * i), 10.0, late=4) for i in range(20)
    ]
    cal = learn(records)
    assert cal.factor("potato", "a") == pytest.approx(1.5 * 1.2, rel=0.15)
    assert cal.factor("potato", "b") == pytest.approx(0.7 * 1.2, rel=0.15)
    assert cal.yield_factor[("potato", "a")][1] == 20
    assert cal.date_bias("potato") > cal.prior_date_bias_days + 3  # harvests came 4 days late
    # One noisy record per cooperative: no real difference shows, factors stay at the crop's.
    noisy = learn([rec("a", 12.0, 10.0), rec("b", 9.0, 10.0), rec("c", 10.5, 10.0)])
    assert noisy.factor("potato", "a") == pytest.approx(noisy.factor("potato", ""), rel=0.05)
    assert noisy.factor("rice", "a") == 1.0  # no evidence, no change


def test_a_cooperative_that_departs_in_crop_after_crop_is_believed_sooner() -> None:
    """Issue 38: how far a cooperative's own records are believed (τ²) is learnt from its records,
    not fixed at the prior's 0.15: a village whose harvests fell short in every crop it grows has
    shown it differs, and its one rice record moves its rice factor further than the same record
    does for a village whose other crops came in as forecast. Before, both kept a fifth of it."""
    day = dt.date(2026, 3, 1)

    def rec(coop: str, crop: str, ratio: float) -> HarvestOutcome:
        return HarvestOutcome(f"{coop}-{crop}", coop, crop, day, 10.0 * ratio, day, 10.0)

    crops = ("potato", "cabbage", "carrot", "sweet_corn")
    high = [rec("high", "rice", 0.4)] + [rec("high", c, 0.55) for c in crops]
    usual = [rec("usual", "rice", 0.4)] + [rec("usual", c, 1.0) for c in crops]
    cal = learn(high + usual)
    rice = {
        coop: float(np.log(cal.factor("rice", coop) / cal.factor("rice", ""))) for coop in ("high", "usual")
    }
    own = float(np.log(0.4)) - float(np.log(cal.factor("rice", "")))  # all that its record says
    assert rice["high"] < rice["usual"] - 0.05, rice
    assert rice["high"] / own > 0.4  # believed for more than two fifths
    # Never more than the prior's spread twice over allows: τ² ≤ 4 × 0.15², one record's SE² 0.09.
    assert rice["high"] / own <= 0.09 / (0.09 + 0.09) + 1e-9


def test_one_seasons_date_error_is_learnt_shrunk_for_its_weather() -> None:
    """Issue 38: dates learnt one season's error unshrunk (three pseudo-records against hundreds), so
    the next season's dates carried that season's weather and ran late in every seed pair. A season's
    common error is partly its weather: a crop's bias moves by τ² / (τ² + SE² + season²) of it."""
    from forecast.learning import PRIOR_DATE_BIAS_SIGMA_DAYS, SEASON_DATE_SIGMA_DAYS

    day = dt.date(2026, 3, 1)
    records = [
        HarvestOutcome(f"f{i}", "batu", "potato", day + dt.timedelta(days=6), 10.0, day, 10.0)
        for i in range(300)
    ]
    cal = learn(records)
    learnt = cal.date_bias("potato") - cal.prior_date_bias_days
    tau2 = PRIOR_DATE_BIAS_SIGMA_DAYS**2
    assert learnt == pytest.approx(6 * tau2 / (tau2 + SEASON_DATE_SIGMA_DAYS**2), abs=0.05)
    assert learnt < 5.5  # 300 records of one season are still one season


def test_dates_learn_from_every_lead_a_season_was_forecast_at() -> None:
    """Issue 38: learning paired only the forecasts made a week or two before each harvest, though the
    bias it learns is applied at every lead. A crop forecast on time a fortnight ahead but a week early
    at 30 and 60 days learns part of that week; records without earlier leads learn none of it."""
    day = dt.date(2026, 3, 1)
    base = [
        HarvestOutcome(f"f{i}", "c", "potato", day, 10.0, day, 10.0, elevation_m=1200.0) for i in range(40)
    ]
    early = [dataclasses.replace(r, earlier_forecast_dates=(day - dt.timedelta(days=7),) * 2) for r in base]
    without = learn(base).date_bias("potato")
    with_leads = learn(early).date_bias("potato")
    assert abs(without - learn([]).date_bias("potato")) < 0.5
    assert with_leads - without > 2.0  # two of three leads a week early: about 4.7 days, shrunk
    assert with_leads - without < 14 / 3 + 1e-9


def test_each_registered_variety_learns_its_own_harvest_date() -> None:
    """Issue 19: Granola is dug before Atlantic in the same weather; one date bias per crop left each
    variety days off. A variety's bias is learnt from its records, shrunk toward its crop's; a variety
    without records takes the crop's, with a wider spread; the spread left is around the varieties'."""
    from forecast.learning import PRIOR_VARIETY_DATE_SIGMA_DAYS

    day = dt.date(2026, 3, 1)

    def rec(i: int, variety: str, late: int) -> HarvestOutcome:
        jitter = (i % 3) - 1  # -1, 0, 1 day
        return HarvestOutcome(
            f"f{i}", "batu", "potato", day + dt.timedelta(days=late + jitter), 10.0, day, 10.0, variety
        )

    records = [rec(i, "Granola", -6) for i in range(15)] + [rec(i, "Atlantic", 6) for i in range(15, 30)]
    cal = learn(records)
    crop = cal.date_bias("potato")
    granola, atlantic = cal.date_bias("potato", "Granola"), cal.date_bias("potato", "Atlantic")
    assert granola == pytest.approx(cal.prior_date_bias_days - 6, abs=1.0)
    assert atlantic == pytest.approx(cal.prior_date_bias_days + 6, abs=1.0)
    assert granola < crop < atlantic
    assert cal.variety_date_bias_days[("potato", "Granola")][1] == 15
    assert cal.date_bias("potato", "Kentang Baru") == crop  # no records of its own
    # Around its variety's bias, a record is within a day: the spread left is far below the 6 days
    # the crop's single bias would leave.
    assert cal.date_sigma("potato", "Granola") < 3.0
    assert cal.date_sigma("potato", "Kentang Baru") == pytest.approx(
        np.hypot(cal.date_sigma("potato"), PRIOR_VARIETY_DATE_SIGMA_DAYS)
    )
    # Records that name no variety learn only the crop's bias, as before.
    unnamed = learn([dataclasses.replace(r, variety="") for r in records])
    assert unnamed.variety_date_bias_days == {}
    assert unnamed.date_bias("potato", "Granola") == unnamed.date_bias("potato")


def test_harvest_date_error_that_grows_with_elevation_is_learnt_and_not_extrapolated() -> None:
    """Issue 19: the degree-day sum misjudges development as fields get cooler uphill; records spanning
    700-1,300 m, each harvested 5 days later per 100 m than forecast, teach that slope (shrunk a
    little), which then applies at a field's elevation, only within the records' range."""
    day = dt.date(2026, 3, 1)
    records = [
        HarvestOutcome(
            f"f{i}", "batu", "cabbage", day + dt.timedelta(days=round(0.05 * (e - 1000))), 10.0, day, 10.0,
            elevation_m=float(e),
        )
        for i, e in enumerate(range(700, 1301, 20))
    ]  # fmt: skip
    cal = learn(records)
    per_m, reference, low, high = cal.date_elevation["cabbage"]
    assert 0.04 < per_m <= 0.05
    assert (low, high) == (700.0, 1300.0)
    assert reference == pytest.approx(1000.0)
    base = cal.date_bias("cabbage")
    assert cal.date_bias("cabbage", elevation_m=1200.0) - base == pytest.approx(200 * per_m)
    assert cal.date_bias("cabbage", elevation_m=1700.0) == cal.date_bias("cabbage", elevation_m=1300.0)
    assert cal.date_bias("cabbage", elevation_m=None) == base
    # Around the slope the records are exact, so the spread left is far below the 9 days they span.
    assert cal.date_sigma("cabbage") < 3.5
    # Records all at one elevation say nothing of a slope; nor do records without an elevation.
    flat = learn([dataclasses.replace(r, elevation_m=1000.0) for r in records])
    assert "cabbage" not in flat.date_elevation
    assert learn([dataclasses.replace(r, elevation_m=None) for r in records]).date_elevation == {}


def test_irrigation_is_inferred_from_dry_day_rises() -> None:
    vwc = np.array([30, 29, 28, 35, 34, 33, 40, 39.0])
    rain = np.zeros(8)
    assert infer_irrigated(vwc, rain)
    rain[3] = rain[6] = 20
    assert not infer_irrigated(vwc, rain)


def test_a_watering_split_between_two_daily_means_is_still_seen() -> None:
    """A watering in the day raises two daily means by half each: judged day by day, a field watered
    twice by 5.5 points showed rises of 2.7 and 2.8, 2.5 and 3.0, and passed for rain-fed (half the
    simulated fleet's irrigated fields did). One rise of one watering is counted once; rain explains
    a rise."""
    twice = np.array([30, 29, 28, 30.7, 33.5, 33, 32.5, 32, 34.5, 37.5, 37.0])
    rain = np.zeros(len(twice))
    assert infer_irrigated(twice, rain)
    once_small = np.array([30, 29, 28, 30, 32, 31.5, 31, 30.5, 30, 29.5, 29.0])  # 4 points, once
    assert not infer_irrigated(once_small, rain)
    once_large = np.array([30, 29, 28, 31.5, 35, 34.5, 34, 33.5, 33, 32.5, 32.0])  # 7 points, once
    assert infer_irrigated(once_large, rain)
    wet = rain.copy()
    wet[[3, 9]] = 15.0
    assert not infer_irrigated(twice, wet)
    # Noise of a probe (about a point a day) is no watering.
    noise = 30 + np.random.default_rng(3).normal(0, 0.7, 200)
    assert not infer_irrigated(noise, np.zeros(200))


def test_ranges_are_wider_where_records_have_not_yet_said_anything() -> None:
    """Issue 19: before a crop has records, its yield-gap factor and date bias are unknown too, so the
    members spread wider than after learning; a cooperative without its own records takes its crop's
    factor and the cooperatives' spread around it."""
    from forecast.learning import PRIOR, PRIOR_DATE_BIAS_SIGMA_DAYS, PRIOR_TAU2_COOP, PRIOR_TAU2_CROP

    assert PRIOR.yield_sigma("potato") == pytest.approx(np.sqrt(0.30**2 + PRIOR_TAU2_CROP))
    assert PRIOR.date_sigma("potato") == pytest.approx(np.hypot(5.0, PRIOR_DATE_BIAS_SIGMA_DAYS))
    day = dt.date(2026, 3, 1)
    records = [
        HarvestOutcome(f"f{i}", "batu", "potato", day, 10.0 * (1 + 0.1 * (i % 3)), day, 10.0)
        for i in range(12)
    ]
    learnt = learn(records)
    own, other = learnt.yield_sigma("potato", "batu"), learnt.yield_sigma("potato", "pendem")
    assert own < PRIOR.yield_sigma("potato")
    assert other == pytest.approx(np.sqrt(own**2 + PRIOR_TAU2_COOP))
    assert learnt.date_sigma("potato") < PRIOR.date_sigma("potato")
    # A crop without records keeps the wide prior even when other crops have some.
    assert learnt.yield_sigma("carrot") == PRIOR.yield_sigma("carrot")


def test_a_crop_in_a_drought_dies_early_and_a_watered_one_does_not() -> None:
    """Issue 19: early canopy senescence and crop death under severe water stress (AquaCrop's
    approach). With no rain after its first weeks, sweet corn's canopy goes before thermal maturity:
    its season ends that day, well before the same crop's thermal maturity, and it yields no more
    than the same drought without senescence would say; with rain every day nothing changes."""
    days, n = 160, 2
    base = _inputs(n_fields=n, days=days)
    crop = crop_arrays(["sweet_corn"] * n)
    dry = dataclasses.replace(
        base,
        crop=crop,
        irrigated=np.zeros(n, dtype=bool),
        rain_mm=np.where(np.arange(days) < 20, 8.0, 0.0) * np.ones_like(base.rain_mm),  # then no rain
        et0_mm=np.full_like(base.et0_mm, 6.0),
        today=np.full(n, days),
    )
    wet = dataclasses.replace(dry, rain_mm=np.full_like(base.rain_mm, 8.0))
    no_senescence = dataclasses.replace(crop, senescence_share=np.zeros(n))
    died, thermal = run_season(dry), run_season(dataclasses.replace(dry, crop=no_senescence))
    assert np.all(died.maturity_day < thermal.maturity_day - 10), (died.maturity_day, thermal.maturity_day)
    assert np.all(died.relative_yield <= thermal.relative_yield)  # (both nil here: flowering's Ky is 1.5)
    assert np.all(died.relative_yield >= 0)
    watered, watered_thermal = run_season(wet), run_season(dataclasses.replace(wet, crop=no_senescence))
    np.testing.assert_array_equal(watered.maturity_day, watered_thermal.maturity_day)
    np.testing.assert_allclose(watered.relative_yield, watered_thermal.relative_yield)
    # The water balance still closes for the crop that died (it stops transpiring when it is gone).
    change = died.final_depletion_mm - died.initial_depletion_mm
    booked = -died.total_rain_mm - died.total_irrigation_mm + died.total_eta_mm + died.total_percolation_mm
    np.testing.assert_allclose(change, booked + died.total_correction_mm, atol=1e-9)


def test_every_forecast_says_whether_a_crop_can_die_and_does_as_it_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 38: every forecast's basis (its model version) says whether a crop can be forecast to die,
    so a planner reading a drought field's tonnes knows. Sweet corn after 55 days without rain under
    1.5 times the ET0, on a sandy and on a clay soil. Without death the drought costs yield, never the
    season: both soils' members are harvested on the same days, the sandy field's with fewer tonnes.
    With death the same drought ends both seasons weeks early, so this is a case a death would change."""
    assert ("no crop death" in MODEL_VERSION) is (not engine.EARLY_SENESCENCE)
    specs, observed, grid_start = world()
    spec = next(s for s in specs if s.field_id == "sisir-f08")
    seen = observed[spec.field_id]
    drought = dataclasses.replace(
        seen,
        rain_mm=np.where(np.isnan(seen.rain_mm), np.nan, 0.0),
        soil_vwc_pct=np.full_like(seen.soil_vwc_pct, np.nan),  # no probe to say otherwise
        et0_mm=seen.et0_mm * 1.5,
    )

    def forecast(texture: str) -> engine.FieldForecast:
        field = dataclasses.replace(spec, soil_texture=texture)
        return forecast_fields(
            [field], {field.field_id: drought}, grid_start=grid_start, today=ANCHOR, members=50, seed=5
        )[0]

    monkeypatch.setattr(engine, "EARLY_SENESCENCE", False)
    sandy, clay = forecast("sandy_loam"), forecast("clay_loam")
    assert sandy.members_harvest_date == clay.members_harvest_date
    assert sandy.tonnes_p50 < clay.tonnes_p50
    assert sandy.crop_death_share == clay.crop_death_share == sandy.canopy_lost_p50 == 0.0
    monkeypatch.setattr(engine, "EARLY_SENESCENCE", True)
    died_sandy, died_clay = forecast("sandy_loam"), forecast("clay_loam")
    assert died_sandy.members_harvest_date != died_clay.members_harvest_date
    for died in (died_sandy, died_clay):
        assert died.crop_death_date_p50 < sandy.harvest_date_p50 - dt.timedelta(days=14)  # type: ignore[operator]
        assert died.tonnes_p50 < clay.tonnes_p50 / 2
        # And the forecast says so: the planner's chance of failure, the farmer's warning, and what
        # learning reads to set the harvest's record apart (its P50 member is dead: all canopy lost).
        assert died.crop_death_share > 0.5
        assert died.canopy_lost_p50 == 1.0


@pytest.mark.parametrize("dead", [0, 1, 25, 49])
def test_a_harvest_date_is_a_harvests_and_a_death_is_counted_apart(
    monkeypatch: pytest.MonkeyPatch, dead: int
) -> None:
    """Issue 38, found on the skill bench: a member whose crop died had its death's day counted as a
    harvest date, so with most members dead the P50 was a death weeks past (a farmer read a harvest
    date a month ago; a planner a truck booked for nothing). The dates are the living members'; the
    share and the median day of the deaths are said apart; the tonnes, which the plan sums, still count
    what a dead crop had built on its death's day. Only when every member dies are the dates the
    deaths'. Which members die is injected into the real season's result (the model decides whether,
    not this test)."""
    specs, observed, grid_start = world()
    spec = next(s for s in specs if s.field_id == "sisir-f08")
    members, death_day = 50, 30.0

    def forecast() -> engine.FieldForecast:
        return forecast_fields(
            [spec], {spec.field_id: observed[spec.field_id]}, grid_start=grid_start, today=ANCHOR,
            members=members, seed=5,
        )[0]  # fmt: skip

    alive = forecast()
    real = engine.run_season

    def with_deaths(inputs: SeasonInputs) -> Any:
        result = real(inputs)
        died = np.zeros_like(result.died)
        died[0, :dead] = True
        maturity = np.where(died, death_day, result.maturity_day)
        return dataclasses.replace(result, died=died, maturity_day=maturity)

    monkeypatch.setattr(engine, "run_season", with_deaths)
    f = forecast()
    death = grid_start + dt.timedelta(days=int(death_day))
    assert f.crop_death_share == dead / members
    assert f.crop_death_date_p50 == (death if dead else None)
    # The plan reads which members died (their tonnes are what the crop had built).
    assert (f.members_died is None) == (dead == 0)
    if f.members_died is not None:
        assert f.members_died.tolist() == [True] * dead + [False] * (members - dead)
    assert f.members_harvest_date[:dead] == [death] * dead
    assert f.members_harvest_date[dead:] == alive.members_harvest_date[dead:]
    np.testing.assert_array_equal(f.members_tonnes, alive.members_tonnes)
    living = sorted(d for d in f.members_harvest_date[dead:] if d is not None)
    for day in (f.harvest_date_p10, f.harvest_date_p50, f.harvest_date_p90):
        assert day is not None
        assert living[0] <= day <= living[-1]


def test_when_every_member_dies_the_dates_are_the_deaths(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page still has a day to show (and, once it is past, says the crop may already be dead)."""
    specs, observed, grid_start = world()
    spec = next(s for s in specs if s.field_id == "sisir-f08")
    real = engine.run_season

    def all_die(inputs: SeasonInputs) -> Any:
        result = real(inputs)
        days = 30.0 + np.arange(result.died.shape[1])[None, :] % 3
        return dataclasses.replace(
            result, died=np.ones_like(result.died), maturity_day=days + 0 * result.maturity_day
        )

    monkeypatch.setattr(engine, "run_season", all_die)
    f = forecast_fields(
        [spec],
        {spec.field_id: observed[spec.field_id]},
        grid_start=grid_start,
        today=ANCHOR,
        members=30,
        seed=5,
    )[0]
    assert f.crop_death_share == 1.0
    assert f.harvest_date_p10 == grid_start + dt.timedelta(days=30)
    assert f.harvest_date_p50 == f.crop_death_date_p50 == grid_start + dt.timedelta(days=31)
    assert f.harvest_date_p90 == grid_start + dt.timedelta(days=32)


def test_a_drought_under_a_hot_sky_kills_sooner_than_the_same_water_loss_under_a_mild_one() -> None:
    """AquaCrop starts canopy senescence at a lower depletion on a day of high demand (p_up +
    0.04 (5 - ET0) log10(10 - 9 p_up)). Two sweet corn fields lose the same water each day (one has
    half the Kc under twice the ET0, so ETc is the same): the one under the hotter sky dies first."""
    days, n = 160, 2
    base = _inputs(n_fields=n, days=days)
    crop = crop_arrays(["sweet_corn"] * n)
    # Single Kc, so halving it halves ETc (a dual Kc's soil evaporation does not scale with Kcb).
    crop = dataclasses.replace(crop, kc=crop.kc * np.array([[1.0], [0.5]]), kcb=None)
    dry = dataclasses.replace(
        base,
        crop=crop,
        irrigated=np.zeros(n, dtype=bool),
        rain_mm=np.where(np.arange(days) < 20, 8.0, 0.0) * np.ones_like(base.rain_mm),
        et0_mm=np.array([5.0, 10.0])[:, None, None] * np.ones_like(base.et0_mm),
        today=np.full(n, days),
    )
    result = run_season(dry)
    np.testing.assert_allclose(result.total_eta_mm[0], result.total_eta_mm[1], rtol=0.2)
    mild, hot = result.maturity_day
    assert np.all(hot < mild - 1), (mild, hot)


def test_roots_that_reach_depth_later_leave_a_crop_short_of_water_sooner() -> None:
    """A crop's roots reach their full depth at the share of its thermal time its parameters give
    (AquaCrop's MaxRooting: maize at 0.83 of its season), not always at the end of development.
    In the same dry spell the crop whose roots deepen later has less water to draw: it transpires
    less of its demand and yields less; roots at full depth by the end of development are the
    default's."""
    days, n = 160, 2
    base = _inputs(n_fields=n, days=days)
    crop = crop_arrays(["sweet_corn"] * n)
    development_end = float(crop.stage_ends[0, 1])
    # Without crop death: both die within a day of each other near maturity, and which of them
    # loses the last days of ripening (priced apart, by FAO-33's per-period Ky) is not what this asks.
    crop = dataclasses.replace(
        crop, root_full_fraction=np.array([development_end, 0.83]), senescence_share=None
    )
    dry = dataclasses.replace(
        base,
        crop=crop,
        irrigated=np.zeros(n, dtype=bool),
        rain_mm=np.where(np.arange(days) < 20, 8.0, 0.0) * np.ones_like(base.rain_mm),
        tmin_c=np.broadcast_to(base.tmin_c[:1], base.tmin_c.shape).copy(),  # the same weather on both
        tmax_c=np.broadcast_to(base.tmax_c[:1], base.tmax_c.shape).copy(),
        today=np.full(n, days),
    )
    late = run_season(dry)
    default = run_season(dataclasses.replace(dry, crop=dataclasses.replace(crop, root_full_fraction=None)))
    np.testing.assert_array_equal(late.relative_yield[0], default.relative_yield[0])
    assert np.all(late.total_eta_mm[1] < late.total_eta_mm[0] - 1.0)
    assert np.all(late.relative_transpiration[1] < late.relative_transpiration[0] - 0.01)
    assert late.relative_yield[1].mean() < late.relative_yield[0].mean()


def test_a_dry_soil_surface_stops_evaporating_and_a_often_wetted_one_evaporates_more() -> None:
    """FAO-56's dual Kc (Ch. 7): a young crop's water loss is mostly the soil's evaporation, which a
    dry surface stops once its evaporable water (TEW, Eq. 73) is gone and frequent rain keeps near
    Kc_max (Fig. 29). The single Kc_ini of 0.6 had a young tomato lose 0.6 ET0 a day however dry the
    surface; a field without basal coefficients (an orchard's) keeps the single Kc."""
    days, n = 20, 2
    crop = crop_arrays(["tomato"] * n)
    rain = np.zeros((n, 4, days))
    rain[1, :, 1::2] = 10.0  # the second field: 10 mm every other day
    inputs = _planted_today(crop, days, rain, et0_mm=5.0)
    dual = run_season(inputs)
    single = run_season(dataclasses.replace(inputs, crop=dataclasses.replace(crop, kcb=None)))
    et0_total = 5.0 * days
    # Dry: a moist seedbed's evaporable water and the seedlings' own transpiration (Kcb_ini 0.15), no more.
    tew = 1000 * (0.40 - 0.5 * 0.20) * 0.10
    assert np.all(dual.total_eta_mm[0] < tew + 0.25 * et0_total)
    assert np.all(dual.total_eta_mm[0] < single.total_eta_mm[0] - 10.0)
    # Wetted every other day: more than Kc_ini's 0.6 ET0, up to Kc_max's 1.2.
    assert np.all(dual.total_eta_mm[1] > 0.75 * et0_total)
    assert np.all(dual.total_eta_mm[1] <= 1.2 * et0_total)
    np.testing.assert_allclose(single.total_eta_mm[1], 0.6 * et0_total, rtol=0.05)
    # The water balance closes with the surface's evaporation in it.
    change = dual.final_depletion_mm - dual.initial_depletion_mm
    booked = -dual.total_rain_mm - dual.total_irrigation_mm + dual.total_eta_mm + dual.total_percolation_mm
    np.testing.assert_allclose(change, booked + dual.total_correction_mm, atol=1e-9)


def test_a_basal_kc_above_kc_max_raises_kc_max_instead_of_evaporating_less_than_nothing() -> None:
    """FAO-56 Eq. 72: Kc_max = max(1.2, Kcb + 0.05). A crop whose Kcb passes 1.15 (a tall crop in a
    windy dry climate) on soil wetted every day loses between Kcb and Kcb + 0.05 of ET0; with Kc_max
    held at 1.2 its Ke, Kr (1.2 - Kcb), would be negative and take water back."""
    days = 30
    crop = dataclasses.replace(crop_arrays(["sweet_corn"]), kcb=np.array([[1.3, 1.3, 1.3]]))
    inputs = _planted_today(crop, days, np.full((1, 4, days), 10.0), et0_mm=4.0)
    eta = run_season(inputs).total_eta_mm
    assert np.all(eta >= 1.3 * 4.0 * days - 1e-6)
    assert np.all(eta <= 1.35 * 4.0 * days + 1e-6)


def test_an_orchard_crop_that_flowered_today_has_a_harvest_date() -> None:
    """Keprok takes about eight months from bloom to picking, longer than an annual crop's horizon:
    a crop that has just flowered still gets its date, the same alone as beside annual fields."""
    specs, observed, grid_start = world()
    annual = specs[0]
    keprok = dataclasses.replace(
        annual,
        field_id="keprok-young",
        commodity="citrus",
        planting_date=ANCHOR - dt.timedelta(days=3),
        thermal_time_cd=1670.0,
        potential_yield_t_ha=8.0,
        yield_sigma_log=0.3,
    )
    drivers = {**observed, keprok.field_id: observed[annual.field_id]}
    alone = forecast_fields([keprok], drivers, grid_start=grid_start, today=ANCHOR, members=50, seed=2)[0]
    both = forecast_fields([annual, keprok], drivers, grid_start=grid_start, today=ANCHOR, members=50, seed=2)
    assert alone.harvest_date_p10 is not None
    assert alone.harvest_date_p90 is not None
    assert all(day is not None for day in alone.members_harvest_date)
    assert (alone.harvest_date_p10 - ANCHOR).days > 200  # beyond the annual crops' horizon
    assert both[1].members_harvest_date == alone.members_harvest_date
    np.testing.assert_array_equal(both[1].members_tonnes, alone.members_tonnes)
    # The annual field beside it is forecast as it is alone.
    first = forecast_fields([annual], drivers, grid_start=grid_start, today=ANCHOR, members=50, seed=2)[0]
    assert both[0].members_harvest_date == first.members_harvest_date


def test_a_rain_gauge_outage_is_not_a_drought() -> None:
    """Found seeding the demo's past season: days without a rain reading were read as 0 mm, so a
    season with no station data forecast rice at 0 t. With the whole season's rain missing (and no
    soil sensor to correct the water balance), the members draw the missing days: the fields' yields
    and stress are those of the observed rain, give or take the weather's spread."""
    specs, observed, grid_start = world()
    no_soil = {
        k: dataclasses.replace(o, soil_vwc_pct=np.full_like(o.soil_vwc_pct, np.nan))
        for k, o in observed.items()
    }
    gauge_down = {
        k: dataclasses.replace(o, rain_mm=np.full_like(o.rain_mm, np.nan)) for k, o in no_soil.items()
    }
    seen = {
        f.field_id: f
        for f in forecast_fields(specs, no_soil, grid_start=grid_start, today=ANCHOR, members=30)
    }
    blind = forecast_fields(specs, gauge_down, grid_start=grid_start, today=ANCHOR, members=30)
    ratios = [
        f.tonnes_expected / seen[f.field_id].tonnes_expected
        for f in blind
        if seen[f.field_id].tonnes_expected
    ]
    assert len(ratios) >= 50
    assert 0.9 <= float(np.median(ratios)) <= 1.1, sorted(ratios)
    assert min(ratios) >= 0.6, sorted(ratios)
    stress_seen = np.mean([f.water_stress_so_far for f in seen.values()])
    stress_blind = np.mean([f.water_stress_so_far for f in blind])
    assert abs(stress_blind - stress_seen) <= 0.1, (stress_seen, stress_blind)


def test_once_records_measured_the_yield_error_the_members_add_only_what_their_weather_lacks() -> None:
    """Issue 38: a crop's learnt yield spread is the whole error of the forecasts its records were
    paired with, weather and all, yet it was drawn on top of the members' own weather spread (a
    rain-fed field's members were sqrt(2) times as wide as the records said when the two were equal).
    As the dates do, the members now add only what their own spread lacks; before any record (the
    prior's spread is a perturbation of the yield-gap factor, on top of the weather) nothing changes."""
    grid_start = dt.date(2026, 9, 1)
    days = 30
    rng = np.random.default_rng(5)
    observed = steady_field(days, tmin_c=14.0, tmax_c=25.0, rain_mm=rng.gamma(0.4, 10.0, days))
    spec = FieldSpec("f1", "c1", "potato", grid_start + dt.timedelta(days=5), 1.0, "loam", 1400.0)

    def spread(s: FieldSpec, calibration: Calibration) -> float:
        today = grid_start + dt.timedelta(days=days)
        (f,) = forecast_fields([s], observed, grid_start=grid_start, today=today, members=300, seed=1,
                               calibration=calibration)  # fmt: skip
        return float(np.std(np.log(f.members_tonnes)))

    weather = spread(dataclasses.replace(spec, yield_sigma_log=0.0), PRIOR)  # the members' own spread
    assert weather > 0.05
    learnt = dataclasses.replace(
        PRIOR, sigma_yield_log={"potato": weather}, yield_factor={("potato", "c1"): (1.0, 5)}
    )
    # The records say the whole error is `weather`: the members are that wide, not sqrt(2) times.
    assert spread(spec, learnt) < 1.15 * weather
    # Before any record the prior's spread is on top of the weather's.
    assert spread(spec, PRIOR) == pytest.approx(np.hypot(PRIOR.yield_sigma("potato"), weather), rel=0.15)


def test_a_learnt_spread_on_a_field_whose_members_all_yield_nothing_is_no_error() -> None:
    """The path the spread's change walks when no member grows anything (a field of no area, a crop
    the drought took in every member): no log of zero, no NaN, a forecast of nothing."""
    grid_start = dt.date(2026, 9, 1)
    days = 30
    observed = steady_field(days, tmin_c=14.0, tmax_c=25.0, rain_mm=np.zeros(days))
    spec = FieldSpec("f1", "c1", "potato", grid_start + dt.timedelta(days=5), 0.0, "loam", 1400.0)
    learnt = dataclasses.replace(
        PRIOR, sigma_yield_log={"potato": 0.2}, yield_factor={("potato", "c1"): (1.0, 5)}
    )
    today = grid_start + dt.timedelta(days=days)
    (f,) = forecast_fields([spec], observed, grid_start=grid_start, today=today, members=20, seed=1,
                           calibration=learnt)  # fmt: skip
    assert np.all(f.members_tonnes == 0.0)
    assert (f.tonnes_p10, f.tonnes_p50, f.tonnes_p90) == (0.0, 0.0, 0.0)
    assert f.harvest_date_p50 is not None


@settings(max_examples=25, deadline=None)
@given(
    crops=st.lists(st.sampled_from(sorted(load_crops())), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
    dry_from=st.integers(0, 90),
    dry_days=st.integers(0, 60),
    et0_high=st.floats(3.0, 10.0),
)
def test_the_senescence_steps_candidates_miss_no_stressed_cell(
    crops: list[str], seed: int, dry_from: int, dry_days: int, et0_high: float
) -> None:
    """The senescence step computes the exact, ET0-adjusted threshold only on its candidates: cells
    past their field's lowest threshold of the day (at its members' highest ET0) and cells in an
    episode (22b6379, for speed). Whatever the season (dry spells that end and come back, so episodes
    end and start again; members' ET0 apart; orchards beside annual crops), the season is the same as
    with every cell a candidate: no stressed cell is missed and no episode is left running."""
    rng = np.random.default_rng(seed)
    n, members, days = len(crops), 4, 150
    shape = (n, members, days)
    rain = rng.gamma(0.4, 10.0, shape)
    rain[:, :, dry_from : dry_from + dry_days] = 0.0
    inputs = SeasonInputs(
        crop=crop_arrays(crops),
        theta_fc=rng.uniform(0.25, 0.45, n),
        theta_wp=rng.uniform(0.08, 0.2, n),
        area_ha=np.ones(n),
        planting_day=rng.integers(0, 20, n),
        today=np.full(n, 30),
        irrigated=rng.random(n) < 0.3,
        yield_factor=np.ones(n),
        tmin_c=rng.normal(15, 2, shape),
        tmax_c=rng.normal(27, 2, shape),
        rain_mm=rain,
        et0_mm=rng.uniform(1.0, et0_high, shape),
        soil_vwc_pct=np.full((n, days), np.nan),
        thermal_time_scale=rng.uniform(0.9, 1.1, (n, members)),
    )
    fast = run_season(inputs)
    step = season_module._senescence_day

    def every_cell(p: Any, state: Any, d: int, et0: Any, *rest: Any) -> None:
        state.in_episode = True  # every cell's episode looked at, every day
        step(p, state, d, (et0[0], np.full_like(et0[1], 1e6)), *rest)  # no threshold is lower than 0

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(season_module, "_senescence_day", every_cell)
        full = run_season(inputs)
    for name in ("maturity_day", "relative_yield", "died", "green_canopy", "tonnes", "total_eta_mm"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(full, name), err_msg=name)
