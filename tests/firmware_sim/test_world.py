"""The simulated world: reproducible, plausible, conserving water, colder uphill, wetter in the wet season."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from firmware_sim.environment import simulate
from firmware_sim.fleet import DEFAULT_FLEET_PATH, batu_fleet
from firmware_sim.runner import prepare
from sensors import CATALOGUE
from storage.fleetfile import load_fleet

ANCHOR = dt.date(2026, 11, 28)
END_MS = 1_795_824_000_000  # 2026-11-28 in UTC ms, roughly
FLEET = batu_fleet(anchor=ANCHOR)


def small_run(seed: int, days: int = 3):
    fleet = FLEET.subset(3, 10)
    return prepare(fleet, start_ms=END_MS - days * 86_400_000, end_ms=END_MS, seed=seed, horizon_days=150)


def test_fleet_file_has_24_cooperatives_and_a_node_per_field_and_station() -> None:
    assert len(FLEET.cooperatives) == 24
    assert len(FLEET.fields) == 254  # 240 annual fields and 14 orchards
    assert {c.kind for c in FLEET.cooperatives} == {"desa", "kelurahan"}
    assert sum(c.kind == "kelurahan" for c in FLEET.cooperatives) == 5
    nodes = [f.node for f in FLEET.fields] + [s.node for s in FLEET.stations]
    assert len({n.id for n in nodes}) == 278
    assert {n.format for n in nodes} == {"native", "senml", "tts-v3", "chirpstack-v4"}
    sb = next(c for c in FLEET.cooperatives if c.id == "sumberbrantas")
    assert all(1400 <= f.elevation_m <= 1700 for f in sb.fields)
    assert {f.commodity for f in sb.fields} <= {"potato", "carrot", "cabbage"}


def test_same_seed_same_readings_other_seed_other_readings() -> None:
    a, b, c = small_run(7), small_run(7), small_run(8)
    for sa, sb in zip(a.samples, b.samples, strict=True):
        assert np.array_equal(sa.device_ms, sb.device_ms)
        for metric in sa.values:
            assert np.array_equal(sa.values[metric], sb.values[metric], equal_nan=True)
    assert any(
        not np.array_equal(sa.values["air_temp_c"], sc.values["air_temp_c"])
        for sa, sc in zip(a.samples, c.samples, strict=True)
        if "air_temp_c" in sa.values
    )
    assert [t.yield_t_ha for t in a.env.truths] == [t.yield_t_ha for t in b.env.truths]


def test_values_fall_inside_the_catalogue_ranges_without_faults() -> None:
    run = prepare(FLEET, start_ms=END_MS - 5 * 86_400_000, end_ms=END_MS, seed=3, interval_min=60)
    for s in run.samples:
        for metric, values in s.values.items():
            spec = CATALOGUE[metric]
            assert not np.isnan(values).any(), (s.node.id, metric)
            assert values.min() >= spec.low, (s.node.id, metric, values.min())
            assert values.max() <= spec.high, (s.node.id, metric, values.max())


def test_water_balance_conserves_water() -> None:
    env = simulate(
        FLEET, start=dt.date(2026, 6, 1), end=dt.date(2027, 3, 1), seed=5, hourly_from=dt.date(2027, 2, 27)
    )
    inflow = env.daily_rain_mm + env.daily_irrigation_mm
    outflow = env.daily_et_mm + env.daily_drainage_mm + env.daily_runoff_mm
    storage = np.concatenate([env.initial_storage_mm[:, None], env.daily_storage_mm], axis=1)
    np.testing.assert_allclose(np.diff(storage, axis=1), inflow - outflow, atol=1e-9)
    assert env.daily_rain_mm.sum() > 0
    assert env.daily_et_mm.sum() > 0
    assert env.daily_drainage_mm.sum() > 0


def test_altitude_lowers_temperature() -> None:
    env = simulate(FLEET, start=dt.date(2026, 9, 1), end=dt.date(2026, 10, 1), seed=2)
    mean_temp = env.air_temp_c.mean(axis=1)
    elevation = np.array([f.elevation_m for f in FLEET.fields] + [s.elevation_m for s in FLEET.stations])
    assert np.corrcoef(elevation, mean_temp)[0, 1] < -0.95
    slope = np.polyfit(elevation, mean_temp, 1)[0]
    assert -0.0070 < slope < -0.0050  # Braak's 0.55-0.60 °C per 100 m
    sumberbrantas = mean_temp[env.site_index("sumberbrantas-ws")]
    pendem = mean_temp[env.site_index("pendem-ws")]
    assert pendem - sumberbrantas > 4.0


def test_wet_season_is_wetter_and_highland_dry_nights_are_cold() -> None:
    env = simulate(FLEET, start=dt.date(2026, 1, 1), end=dt.date(2027, 1, 1), seed=11)
    months = np.array([d.month for d in env.days])
    wet = np.isin(months, [11, 12, 1, 2, 3, 4])
    rain = env.daily_rain_mm.mean(axis=0)
    assert rain[wet].mean() > 3 * rain[~wet].mean()
    assert (env.daily_rain_mm.mean(axis=0) > 0).sum() > 100  # rain days a year (134 at Bumiaji)
    annual = env.daily_rain_mm.sum(axis=1).mean()
    assert 1500 < annual < 3500, annual
    hours = env.hours_ms
    month_of_hour = np.array([dt.datetime.fromtimestamp(h / 1000 + 7 * 3600, dt.UTC).month for h in hours])
    high = env.site_index("sumberbrantas-ws")
    dry_min = env.air_temp_c[high, np.isin(month_of_hour, [7, 8])].min()
    wet_min = env.air_temp_c[high, np.isin(month_of_hour, [1, 2])].min()
    assert dry_min < wet_min


def test_every_crop_gets_a_true_harvest_and_yield() -> None:
    run = small_run(4)
    truths = {t.field_id: t for t in run.env.truths}
    fleet_ids = {f.id for f in run.fleet.fields}
    assert set(truths) == fleet_ids
    for t in truths.values():
        assert t.harvest_date is not None
        assert t.harvest_date > t.planting_date
        assert 0 < t.yield_t_ha < 60
        assert t.tonnes == pytest.approx(t.yield_t_ha * t.area_ha, rel=1e-2, abs=1e-3)


def test_fleet_file_is_the_generator_output() -> None:
    from firmware_sim.fleet import default_fleet

    assert load_fleet(DEFAULT_FLEET_PATH) == default_fleet(ANCHOR)


def test_orchards_grow_where_batu_has_them_and_their_growers_keep_records() -> None:
    """Issue 20: apple in Tulungrejo, Bumiaji, Sumbergondo and Bulukerto, keprok in Punten and
    Oro-oro Ombo, each with its trees; every crop's records are those a grower would enter (a
    defoliation starting an apple crop, a flowering, a fruit count after it), and its true yield is
    within what Batu's orchards give."""
    from forecast.orchard import is_orchard

    orchards = [f for f in FLEET.fields if is_orchard(f.commodity)]
    where = {(FLEET.coop_of(f.id).id, f.commodity) for f in orchards}
    assert where == {
        ("tulungrejo", "apple"), ("bumiaji", "apple"), ("sumbergondo", "apple"), ("bulukerto", "apple"),
        ("punten", "citrus"), ("oro-oro-ombo", "citrus"),
    }  # fmt: skip
    assert all(f.tree_count and 100 <= f.tree_count / f.area_ha <= 2000 for f in orchards)
    assert all(f.elevation_m >= 950 for f in orchards if f.commodity == "apple")
    env = simulate(
        FLEET, start=dt.date(2026, 6, 1), end=dt.date(2027, 9, 1), seed=4, hourly_from=dt.date(2027, 8, 30)
    )
    truths = {t.field_id: t for t in env.truths if is_orchard(t.commodity)}
    assert set(truths) == {f.id for f in orchards}
    for f in orchards:
        t, mine = truths[f.id], [r for r in env.orchard_records if r.field_id == f.id]
        assert t.harvest_date is not None, f.id
        assert t.maturity_date is not None
        days = (t.maturity_date - t.planting_date).days
        assert (100 <= days <= 180) if f.commodity == "apple" else (180 <= days <= 300), (f.id, days)
        kinds = [r.kind for r in mine]
        if f.commodity == "apple":
            assert mine[0].kind == "defoliation"
            assert mine[0].day == t.planting_date
        else:
            assert "defoliation" not in kinds
            assert kinds[0] == "flowering"
            assert mine[0].day == t.planting_date
        for r in mine:
            if r.kind == "fruit_count":
                assert r.fruits_per_tree is not None
                assert r.fruits_per_tree > 0
                assert r.trees_sampled is not None
                assert 5 <= r.trees_sampled <= 15
                assert t.planting_date < r.day < t.harvest_date
        assert 0.3 < t.yield_t_ha < 40, (f.id, t.yield_t_ha)
