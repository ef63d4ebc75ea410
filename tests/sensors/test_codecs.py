"""Every payload codec on the real-shape fixtures of the vendors' devices (tests/fixtures/payloads)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from sensors.codecs import (
    CodecError,
    Sample,
    decode_chirpstack_v4,
    decode_native,
    decode_senml,
    decode_tts_v3,
    parse_rfc3339_ms,
    resolve_senml,
)

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"


def load(name: str) -> object:
    return json.loads((PAYLOADS / name).read_text())


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000)


def test_rfc3339_with_nanoseconds_and_offsets() -> None:
    assert parse_rfc3339_ms("2024-06-20T14:34:32.656299995Z") == ms("2024-06-20T14:34:32.656+00:00")
    assert parse_rfc3339_ms("2024-05-22T07:47:05.404859+00:00") == ms("2024-05-22T07:47:05.404+00:00")
    assert parse_rfc3339_ms("2024-05-22T14:47:05+07:00") == ms("2024-05-22T07:47:05+00:00")
    for bad in ("yesterday", "2024-05-22T07:47:05", 12):
        with pytest.raises(CodecError):
            parse_rfc3339_ms(bad)


def test_tts_v3_dragino_lse01() -> None:
    got = decode_tts_v3(load("tts_v3_up_lse01.json"), profile="dragino-lse01")
    ts = ms("2024-06-20T14:34:32.656+00:00")
    assert sorted(got.samples, key=lambda s: s.metric) == [
        Sample("battery_v", 3.625, ts),
        Sample("rssi_dbm", -42, ts),
        Sample("snr_db", 5.8, ts),
        Sample("soil_ec_ds_m", pytest.approx(28.2), ts),  # 28,200 µS/cm
        Sample("soil_temp_c", 24.59, ts),  # sent as the string "24.59"
        Sample("soil_vwc_pct", 19.57, ts),  # sent as the string "19.57"
    ]
    assert got.skipped == 1  # TempC_DS18B20: probe placement unknown
    assert got.problems == []


def test_tts_without_decoded_payload_or_profile() -> None:
    message = load("tts_v3_up_lse01.json")
    assert isinstance(message, dict)
    with pytest.raises(CodecError) as unknown:
        decode_tts_v3(message, profile="acme-9000")
    assert unknown.value.reason == "unknown_profile"
    del message["uplink_message"]["decoded_payload"]
    with pytest.raises(CodecError) as missing:
        decode_tts_v3(message, profile="dragino-lse01")
    assert missing.value.reason == "no_decoded_payload"


def test_chirpstack_v4_milesight_em500_smtc() -> None:
    got = decode_chirpstack_v4(
        load("chirpstack_v4_up_em500smtc.json"), event="up", profile="milesight-em500-smtc"
    )
    ts = ms("2024-05-22T07:47:05.404+00:00")
    assert sorted(got.samples, key=lambda s: s.metric) == [
        Sample("battery_pct", 100, ts),
        Sample("rssi_dbm", -35, ts),
        Sample("snr_db", 11.5, ts),
        Sample("soil_ec_ds_m", pytest.approx(0.24), ts),  # 240 µS/cm
        Sample("soil_temp_c", 28.1, ts),
        Sample("soil_vwc_pct", 57.5, ts),
    ]


def test_chirpstack_status_event_battery_level() -> None:
    status = {"time": "2024-05-22T07:50:00Z", "margin": 7, "batteryLevel": 87.5, "deviceInfo": {}}
    got = decode_chirpstack_v4(status, event="status", profile="milesight-em500-smtc")
    assert got.samples == [Sample("battery_pct", 87.5, ms("2024-05-22T07:50:00+00:00"))]
    unavailable = decode_chirpstack_v4(
        {"time": "2024-05-22T07:50:00Z", "batteryLevelUnavailable": True}, event="status", profile=None
    )
    assert (unavailable.samples, unavailable.skipped) == ([], 1)


def test_chirpstack_defaults_dropped_by_protobuf_json() -> None:
    # fCnt 0 and an empty rxInfo are simply absent: decoding still works.
    message = {"time": "2024-05-22T07:47:05Z", "object": {"moisture": 30}}
    got = decode_chirpstack_v4(message, event="up", profile="milesight-em500-smtc")
    assert [s.metric for s in got.samples] == ["soil_vwc_pct"]


def test_senml_resolution_matches_rfc8428_resolved_form() -> None:
    resolved = resolve_senml(load("senml_rfc8428_relative_times.json"), now_s=2_000_000_000)
    expected = load("senml_rfc8428_relative_times.resolved.json")
    assert isinstance(expected, list)

    def key(r: dict[str, object]) -> tuple[object, ...]:
        return (r["t"], r["n"])

    assert len(resolved) == len(expected)
    for got, want in zip(sorted(resolved, key=key), sorted(expected, key=key), strict=True):
        assert got["n"] == want["n"]
        assert got["u"] == want["u"]
        assert got["v"] == pytest.approx(want["v"])
        assert got["t"] == pytest.approx(want["t"], abs=1e-6)


def test_senml_multi_units_maps_by_unit_and_skips_location() -> None:
    got = decode_senml(load("senml_rfc8428_multi_units.json"), now_ms=2_000_000_000_000)
    t0 = 1_320_067_464_000
    assert got.samples == [
        Sample("air_rh_pct", 20, t0),
        Sample("air_rh_pct", 20.3, t0 + 60_000),
        Sample("air_rh_pct", 20.7, t0 + 120_000),
        Sample("battery_pct", 98, t0 + 150_000),
        Sample("air_rh_pct", 21.2, t0 + 180_000),
    ]
    assert got.skipped == 8  # four lat + four lon records
    assert got.problems == []


def test_senml_units_ratios_conductivity_relative_times() -> None:
    pack = [
        {"bn": "node-7:", "bt": -60, "n": "soil_vwc_pct", "u": "/", "v": 0.415},
        {"n": "air_rh_pct", "u": "%", "v": 0.8},  # deprecated %: a ratio too
        {"n": "soil_ec_ds_m", "u": "S/m", "v": 0.05, "t": 30},
        {"n": "air_temp_c", "u": "K", "v": 290.15},
        {"n": "air_temp_c", "u": "V", "v": 3.0},
        {"n": "current", "u": "A", "v": 1.2},
        {"n": "air_temp_c", "vs": "warm"},
    ]
    got = decode_senml(pack, now_ms=1_784_000_000_000)
    now_minus_60 = 1_784_000_000_000 - 60_000
    assert [(s.metric, s.ts_ms) for s in got.samples] == [
        ("soil_vwc_pct", now_minus_60),
        ("air_rh_pct", now_minus_60),
        ("soil_ec_ds_m", now_minus_60 + 30_000),
        ("air_temp_c", now_minus_60),
    ]
    assert [s.value for s in got.samples] == [
        pytest.approx(41.5),
        pytest.approx(80.0),
        pytest.approx(0.5),
        pytest.approx(17.0),
    ]
    assert [p.reason for p in got.problems] == ["bad_unit", "unknown_metric", "not_a_number"]


@pytest.mark.parametrize("pack", [{"v": 1}, [1, 2], [{"bn": 5, "v": 1}], [{"bt": "soon", "v": 1}]])
def test_senml_malformed_packs(pack: object) -> None:
    with pytest.raises(CodecError) as err:
        decode_senml(pack, now_ms=1_784_000_000_000)
    assert err.value.reason == "bad_payload"


def test_native_single_batch_and_missing_timestamp() -> None:
    one = decode_native({"ts": 1_784_000_000_000, "values": {"air_temp_c": 18.2, "rain_mm": 0}}, arrival_ms=5)
    assert one.samples == [
        Sample("air_temp_c", 18.2, 1_784_000_000_000),
        Sample("rain_mm", 0, 1_784_000_000_000),
    ]
    batch = decode_native(
        {"samples": [{"ts": 1, "values": {"air_temp_c": 1}}, {"values": {"air_temp_c": 2}}, {"nope": 1}]},
        arrival_ms=99,
    )
    assert batch.samples == [Sample("air_temp_c", 1, 1), Sample("air_temp_c", 2, 99)]
    assert [p.reason for p in batch.problems] == ["bad_payload"]
    assert decode_native([{"ts": 3, "values": {"wind_m_s": 2}}], arrival_ms=0).samples == [
        Sample("wind_m_s", 2, 3)
    ]
    with pytest.raises(CodecError):
        decode_native("hello", arrival_ms=0)
