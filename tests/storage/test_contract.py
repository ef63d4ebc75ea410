"""The time-series store contract, run against the SQLite adapter and a real InfluxDB."""

from __future__ import annotations

import datetime as dt

import pytest

from sensors import Quality, Reading
from storage import (
    DailyAggregate,
    ForecastPoint,
    Series,
    SeriesPoint,
    StoreRejected,
    TimeSeriesStore,
    local_day_start_ms,
)

# 2026-07-15 00:00 WIB, a dry-season day; 17:00 UTC the day before.
DAY = dt.date(2026, 7, 15)
T0 = local_day_start_ms(DAY)
HOUR = 3_600_000


def reading(
    metric: str = "air_temp_c",
    value: float = 20.0,
    ts: int = T0,
    node: str = "n1",
    site: str = "f1",
    coop: str = "c1",
    quality: Quality = Quality.VALID,
) -> Reading:
    return Reading(node, coop, site, metric, value, ts, quality)


def test_write_then_read_back_everything(store: TimeSeriesStore) -> None:
    written = [
        reading("air_temp_c", 18.25, T0 + HOUR),
        reading("soil_vwc_pct", 41.5, T0 + HOUR),
        reading("air_temp_c", 17.0, T0 + 2 * HOUR),
        reading("air_temp_c", 99.0, T0 + 3 * HOUR, quality=Quality.IMPLAUSIBLE),
    ]
    assert store.write(written) == 4
    got = store.raw(start_ms=T0, end_ms=T0 + 4 * HOUR, node_id="n1")
    assert got == sorted(written, key=lambda r: (r.ts_ms, r.metric))


def test_raw_range_is_half_open_and_filters(store: TimeSeriesStore) -> None:
    store.write(
        [
            reading(ts=T0),
            reading(ts=T0 + HOUR),
            reading(ts=T0, node="n2", site="f2"),
            reading("rain_mm", 1.2, ts=T0),
        ]
    )
    assert [
        r.ts_ms for r in store.raw(start_ms=T0, end_ms=T0 + HOUR, node_id="n1", metrics=["air_temp_c"])
    ] == [T0]
    assert {r.node_id for r in store.raw(start_ms=T0, end_ms=T0 + 1, site_id="f2")} == {"n2"}
    assert store.raw(start_ms=T0, end_ms=T0 + HOUR, node_id="n1", metrics=[]) == []
    assert store.raw(start_ms=T0 + 2 * HOUR, end_ms=T0 + 3 * HOUR, node_id="n1") == []
    # "All of time" works too, although InfluxDB cannot represent bounds this far out.
    assert len(store.raw(start_ms=-(2**62), end_ms=2**62, node_id="n1")) == 3


def test_rewrite_is_idempotent_last_write_wins(store: TimeSeriesStore) -> None:
    store.write([reading(value=10.0), reading(value=11.0, ts=T0 + HOUR)])
    store.write([reading(value=12.5)])  # the same node, metric and timestamp again
    store.write([reading(value=13.0, ts=T0 + HOUR), reading(value=14.0, ts=T0 + HOUR)])  # twice in one call
    got = store.raw(start_ms=T0, end_ms=T0 + 2 * HOUR, node_id="n1")
    assert [(r.ts_ms, r.value) for r in got] == [(T0, 12.5), (T0 + HOUR, 14.0)]
    # Retrying a whole batch changes nothing.
    batch = [reading(value=float(i), ts=T0 + 10 * HOUR + i) for i in range(50)]
    store.write(batch)
    store.write(batch)
    assert len(store.raw(start_ms=T0 + 10 * HOUR, end_ms=T0 + 11 * HOUR, node_id="n1")) == 50


def test_rewrite_replaces_the_quality_flag(store: TimeSeriesStore) -> None:
    store.write([reading(value=80.0, quality=Quality.IMPLAUSIBLE)])
    store.write([reading(value=21.0)])
    (only,) = store.raw(start_ms=T0, end_ms=T0 + 1, node_id="n1")
    assert (only.value, only.quality) == (21.0, Quality.VALID)


def test_daily_aggregates_split_at_wib_midnight(store: TimeSeriesStore) -> None:
    store.write(
        [
            reading(value=10.0, ts=T0 - HOUR),  # 23:00 WIB on 14 July
            reading(value=20.0, ts=T0 - 1),  # 23:59:59.999 WIB on 14 July
            reading(value=1.0, ts=T0),  # 00:00 WIB on 15 July, still 14 July in UTC
            reading(value=3.0, ts=T0 + 6 * HOUR),
            reading(value=8.0, ts=T0 + 23 * HOUR),  # 23:00 WIB on 15 July (16:00 UTC)
            reading("rain_mm", 2.5, T0 + HOUR),
            reading("rain_mm", 0.0, T0 + 2 * HOUR),
            reading("rain_mm", 4.0, T0 + 3 * HOUR),
        ]
    )
    got = store.daily(
        site_ids=["f1"], metrics=["air_temp_c", "rain_mm"], start_day=DAY - dt.timedelta(days=1), end_day=DAY
    )
    assert got == [
        DailyAggregate("f1", "air_temp_c", DAY - dt.timedelta(days=1), 10.0, 15.0, 20.0, 30.0, 2),
        DailyAggregate("f1", "air_temp_c", DAY, 1.0, 4.0, 8.0, 12.0, 3),
        DailyAggregate("f1", "rain_mm", DAY, 0.0, pytest.approx(6.5 / 3), 4.0, 6.5, 3),  # type: ignore[arg-type]
    ]
    # The day range is inclusive at both ends and measured in WIB days.
    only_15 = store.daily(site_ids=["f1"], metrics=["air_temp_c"], start_day=DAY, end_day=DAY)
    assert [a.day for a in only_15] == [DAY]


def test_daily_aggregates_per_site_and_skip_implausible(store: TimeSeriesStore) -> None:
    store.write(
        [
            reading(value=10.0, site="f1"),
            reading(value=99.0, site="f1", ts=T0 + HOUR, quality=Quality.IMPLAUSIBLE),
            reading(value=30.0, site="f2", node="n2"),
            reading(value=50.0, site="f3", node="n3"),  # not asked for
        ]
    )
    plain = store.daily(site_ids=["f1", "f2"], metrics=["air_temp_c"], start_day=DAY, end_day=DAY)
    assert [(a.site_id, a.max, a.count) for a in plain] == [("f1", 10.0, 1), ("f2", 30.0, 1)]
    everything = store.daily(
        site_ids=["f1"], metrics=["air_temp_c"], start_day=DAY, end_day=DAY, include_implausible=True
    )
    assert [(a.max, a.count) for a in everything] == [(99.0, 2)]
    assert store.daily(site_ids=[], metrics=["air_temp_c"], start_day=DAY, end_day=DAY) == []


@pytest.mark.parametrize(
    "node",
    ["node with spaces", "a,b=c", 'quote"d', "it's", "=lead", "trail ", "ünïcode-ladang"],
)
def test_identifiers_with_awkward_characters_round_trip(store: TimeSeriesStore, node: str) -> None:
    site = f"site {node}"
    coop = f"coop,{node}"
    store.write([reading(node=node, site=site, coop=coop, value=1.5)])
    (by_node,) = store.raw(start_ms=T0, end_ms=T0 + 1, node_id=node)
    assert (by_node.node_id, by_node.site_id, by_node.coop_id) == (node, site, coop)
    assert store.raw(start_ms=T0, end_ms=T0 + 1, site_id=site) == [by_node]
    assert store.latest(node_ids=[node]) == [by_node]
    (agg,) = store.daily(site_ids=[site], metrics=["air_temp_c"], start_day=DAY, end_day=DAY)
    assert agg.site_id == site


def test_zero_and_negative_values(store: TimeSeriesStore) -> None:
    written = [
        reading("air_temp_c", -3.5, T0),  # a frost night at Sumberbrantas
        reading("rain_mm", 0.0, T0),
        reading("rssi_dbm", -117.0, T0),
        reading("soil_temp_c", -0.0, T0 + 1),
        reading("solar_w_m2", 0.0, T0 + 2),
    ]
    store.write(written)
    got = {(r.metric, r.ts_ms): r.value for r in store.raw(start_ms=T0, end_ms=T0 + 3, node_id="n1")}
    assert got == {(r.metric, r.ts_ms): r.value for r in written}
    (rain,) = store.daily(site_ids=["f1"], metrics=["rain_mm"], start_day=DAY, end_day=DAY)
    assert (rain.sum, rain.count) == (0.0, 1)


def test_empty_site_means_unassigned(store: TimeSeriesStore) -> None:
    store.write([reading(site="")])
    (got,) = store.raw(start_ms=T0, end_ms=T0 + 1, node_id="n1")
    assert got.site_id == ""


def test_latest_per_node_and_metric(store: TimeSeriesStore) -> None:
    store.write(
        [
            reading("air_temp_c", 1.0, T0),
            reading("air_temp_c", 2.0, T0 + 2 * HOUR),
            reading("air_temp_c", 3.0, T0 + HOUR),
            reading("battery_v", 3.6, T0 + HOUR),
            reading("air_temp_c", 9.0, T0 + 5 * HOUR, node="n2", site="f2"),
        ]
    )
    assert [(r.node_id, r.metric, r.value, r.ts_ms) for r in store.latest()] == [
        ("n1", "air_temp_c", 2.0, T0 + 2 * HOUR),
        ("n1", "battery_v", 3.6, T0 + HOUR),
        ("n2", "air_temp_c", 9.0, T0 + 5 * HOUR),
    ]
    assert [r.node_id for r in store.latest(site_ids=["f2"])] == ["n2"]
    assert [r.metric for r in store.latest(node_ids=["n1"])] == ["air_temp_c", "battery_v"]
    assert store.latest(node_ids=[]) == []


def test_hundred_thousand_readings_in_one_call(store: TimeSeriesStore) -> None:
    metrics = ["air_temp_c", "air_rh_pct", "soil_vwc_pct", "soil_temp_c", "battery_v"]
    nodes = 20
    per_node = 100_000 // (nodes * len(metrics))  # 1,000 timestamps, one a minute
    batch = [
        reading(metric, float(i % 7) + n, T0 + i * 60_000, node=f"n{n:02d}", site=f"f{n:02d}")
        for n in range(nodes)
        for i in range(per_node)
        for metric in metrics
    ]
    assert len(batch) == 100_000
    assert store.write(batch) == 100_000
    end = T0 + per_node * 60_000
    assert len(store.raw(start_ms=T0, end_ms=end, node_id="n07")) == per_node * len(metrics)
    daily = store.daily(
        site_ids=[f"f{n:02d}" for n in range(nodes)], metrics=metrics, start_day=DAY, end_day=DAY
    )
    assert sum(a.count for a in daily) == 100_000
    assert len(daily) == nodes * len(metrics)


def test_forecast_points_are_kept_apart_and_last_write_wins(store: TimeSeriesStore) -> None:
    store.write([reading()])
    store.write_forecasts(
        [
            ForecastPoint("f1", "c1", "potato", T0, {"tonnes_p50": 40.0, "tonnes_p10": 31.5}),
            ForecastPoint("f2", "c2", "carrot", T0, {"tonnes_p50": 12.0}),
        ]
    )
    store.write_forecasts([ForecastPoint("f1", "c1", "potato", T0, {"tonnes_p50": 42.0})])
    got = store.forecasts(start_ms=T0, end_ms=T0 + 1)
    assert [(p.site_id, p.coop_id, p.commodity, p.ts_ms, dict(p.values)) for p in got] == [
        ("f1", "c1", "potato", T0, {"tonnes_p10": 31.5, "tonnes_p50": 42.0}),
        ("f2", "c2", "carrot", T0, {"tonnes_p50": 12.0}),
    ]
    assert [p.site_id for p in store.forecasts(start_ms=T0, end_ms=T0 + 1, coop_ids=["c2"])] == ["f2"]
    assert [p.site_id for p in store.forecasts(start_ms=T0, end_ms=T0 + 1, site_ids=["f1"])] == ["f1"]
    # Forecasts are not readings.
    assert store.raw(start_ms=T0, end_ms=T0 + 1, site_id="f2") == []


def test_derived_series_are_kept_apart_from_forecasts_and_from_each_other(store: TimeSeriesStore) -> None:
    store.write_forecasts([ForecastPoint("f1", "c1", "potato", T0, {"tonnes_p50": 40.0})])
    store.write_series(
        [
            SeriesPoint(Series.PLAN, {"week": "2026-W50", "commodity": "potato"}, T0, {"tonnes_p50": 7.5}),
            SeriesPoint(Series.INGEST, {"client": "ingest-1"}, T0, {"dead_bad_json": 3.0}),
            SeriesPoint(
                Series.ALERT, {"subject": "n1", "coop": "c1", "field": ""}, T0, {"node_offline": 1.0}
            ),
        ]
    )
    # The last write of the same series, tags, time and name wins.
    store.write_series([SeriesPoint(Series.INGEST, {"client": "ingest-1"}, T0, {"dead_bad_json": 4.0})])
    plan = store.series(Series.PLAN, start_ms=T0, end_ms=T0 + 1)
    assert [(dict(p.tags), dict(p.values)) for p in plan] == [
        ({"week": "2026-W50", "commodity": "potato"}, {"tonnes_p50": 7.5})
    ]
    ingest = store.series(Series.INGEST, start_ms=T0, end_ms=T0 + 1)
    assert [(dict(p.tags), dict(p.values)) for p in ingest] == [
        ({"client": "ingest-1"}, {"dead_bad_json": 4.0})
    ]
    alert = store.series(Series.ALERT, start_ms=T0, end_ms=T0 + 1)
    assert [dict(p.tags) for p in alert] == [{"subject": "n1", "coop": "c1", "field": ""}]  # empty: no tag
    assert store.series(Series.PLAN, start_ms=T0 + 1, end_ms=T0 + 2) == []
    assert [p.site_id for p in store.forecasts(start_ms=T0, end_ms=T0 + 1)] == ["f1"]
    with pytest.raises(StoreRejected):
        store.write_series([SeriesPoint(Series.INGEST, {"client": "x"}, T0, {"bad name": 1.0})])
    with pytest.raises(ValueError, match="no tag"):
        SeriesPoint(Series.PLAN, {"site": "2026-W50"}, T0, {"tonnes_p50": 1.0})


def test_ping(store: TimeSeriesStore) -> None:
    store.ping()
