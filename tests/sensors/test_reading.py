"""The metric catalogue and the reading validator."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors import (
    CATALOGUE,
    Quality,
    Reading,
    Rejection,
    RejectReason,
    make_reading,
    make_readings,
    metric_names,
)
from sensors.reading import EARLIEST_TS_MS, FUTURE_TOLERANCE_MS

NOW = 1_784_000_000_000  # 2026-07-14


def make(
    value: object = 20.0, metric: object = "air_temp_c", ts: object = NOW, node: object = "n1"
) -> object:
    return make_reading(
        node_id=node,  # type: ignore[arg-type]
        coop_id="c1",
        site_id="f1",
        metric=metric,  # type: ignore[arg-type]
        value=value,
        ts_ms=ts,
        now_ms=NOW,
    )


def test_catalogue_has_the_platform_metrics_with_units_in_names() -> None:
    required = {
        "air_temp_c", "air_rh_pct", "soil_vwc_pct", "soil_temp_c", "soil_ec_ds_m", "rain_mm",
        "solar_w_m2", "wind_m_s", "leaf_wetness_pct", "battery_v", "rssi_dbm",
    }  # fmt: skip
    assert required <= set(CATALOGUE)
    for m in CATALOGUE.values():
        assert m.low < m.high, m.name
        assert m.description, m.name
        assert m.unit, m.name
    assert metric_names()[0] == "air_temp_c"
    assert CATALOGUE["rain_mm"].daily == "sum"


def test_valid_reading() -> None:
    assert make(18.5) == Reading("n1", "c1", "f1", "air_temp_c", 18.5, NOW, Quality.VALID)
    assert make(3, metric="soil_vwc_pct") == Reading("n1", "c1", "f1", "soil_vwc_pct", 3.0, NOW)


@pytest.mark.parametrize(
    ("metric", "value"),
    [("air_temp_c", 80.0), ("air_rh_pct", 101.0), ("rain_mm", -0.5), ("soil_vwc_pct", 120)],
)
def test_out_of_range_is_kept_but_flagged(metric: str, value: float) -> None:
    got = make(value, metric=metric)
    assert isinstance(got, Reading)
    assert got.quality is Quality.IMPLAUSIBLE
    assert got.value == value


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"value": math.nan}, RejectReason.NAN),
        ({"value": math.inf}, RejectReason.INFINITE),
        ({"value": -math.inf}, RejectReason.INFINITE),
        ({"value": "21.5"}, RejectReason.NOT_A_NUMBER),
        ({"value": None}, RejectReason.NOT_A_NUMBER),
        ({"value": True}, RejectReason.NOT_A_NUMBER),
        ({"value": [1.0]}, RejectReason.NOT_A_NUMBER),
        ({"metric": "air_temp_f"}, RejectReason.UNKNOWN_METRIC),
        ({"metric": None}, RejectReason.UNKNOWN_METRIC),
        ({"ts": NOW + FUTURE_TOLERANCE_MS + 1}, RejectReason.FUTURE_TIMESTAMP),
        ({"ts": EARLIEST_TS_MS - 1}, RejectReason.ANCIENT_TIMESTAMP),
        ({"ts": 0}, RejectReason.ANCIENT_TIMESTAMP),
        ({"ts": 1.5e12}, RejectReason.BAD_TIMESTAMP),
        ({"ts": "2026-07-14"}, RejectReason.BAD_TIMESTAMP),
        ({"node": ""}, RejectReason.BAD_ID),
        ({"node": "a\nb"}, RejectReason.BAD_ID),
        ({"node": "back\\slash"}, RejectReason.BAD_ID),
        ({"node": "x" * 129}, RejectReason.BAD_ID),
        ({"node": 42}, RejectReason.BAD_ID),
    ],
)
def test_invalid_values_are_rejected_with_a_reason(kwargs: dict[str, object], reason: RejectReason) -> None:
    got = make(**kwargs)  # type: ignore[arg-type]
    assert isinstance(got, Rejection)
    assert got.reason is reason
    assert got.detail  # a sentence for people


def test_timestamp_limits_are_inclusive() -> None:
    assert isinstance(make(ts=NOW + FUTURE_TOLERANCE_MS), Reading)
    assert isinstance(make(ts=EARLIEST_TS_MS), Reading)


@given(value=st.floats(allow_nan=True, allow_infinity=True), metric=st.sampled_from(sorted(CATALOGUE)))
def test_every_float_is_classified_consistently(value: float, metric: str) -> None:
    got = make(value, metric=metric)
    spec = CATALOGUE[metric]
    if math.isnan(value):
        assert isinstance(got, Rejection)
        assert got.reason is RejectReason.NAN
    elif math.isinf(value):
        assert isinstance(got, Rejection)
        assert got.reason is RejectReason.INFINITE
    else:
        assert isinstance(got, Reading)
        assert got.quality is (Quality.VALID if spec.low <= value <= spec.high else Quality.IMPLAUSIBLE)


ANY_VALUE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**1100), max_value=2**1100),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)
ANY_TS = st.one_of(
    st.integers(min_value=EARLIEST_TS_MS - 10, max_value=NOW + FUTURE_TOLERANCE_MS + 10),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=5),
)
ANY_METRIC = st.one_of(st.sampled_from(sorted(CATALOGUE)), st.text(max_size=8), st.integers(), st.none())


@given(samples=st.lists(st.tuples(ANY_METRIC, ANY_VALUE, ANY_TS), max_size=12))
def test_make_readings_decides_each_sample_as_make_reading_does(
    samples: list[tuple[object, object, object]],
) -> None:
    """Ingest's batch validator is make_reading's rule, over the whole input space, in input order."""
    readings, refused = make_readings("n1", "c1", "f1", samples, NOW)
    expected = [(s, make(s[1], metric=s[0], ts=s[2])) for s in samples]
    assert readings == [r for _, r in expected if isinstance(r, Reading)]
    assert [type(r) for r in readings] == [Reading] * len(readings)
    assert refused == [(s, r) for s, r in expected if isinstance(r, Rejection)]
