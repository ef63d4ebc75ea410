"""Device profiles as data: every shipped profile on output shaped as its decoder emits it (the
decoders' own examples in TheThingsNetwork/lorawan-devices), the checks a profile file passes at
load, and a library that picks up an operator's file without a restart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from sensors.codecs import CodecError, decode_chirpstack_v4
from sensors.profiles import (
    SHIPPED_DIR,
    ProfileError,
    ProfileLibrary,
    profile_from_document,
    shipped_profiles,
)

TIME = "2026-11-30T01:00:00Z"


def _decode(
    profile: str, obj: object, library: ProfileLibrary | None = None
) -> tuple[dict[str, object], list[str]]:
    got = decode_chirpstack_v4({"time": TIME, "object": obj}, event="up", profile=profile, profiles=library)
    return {m: v for m, v, _ in got.samples}, sorted(p.reason for p in got.problems)


SENSECAP = {
    "valid": True,
    "err": 0,
    "payload": "010610B05F0000010710...",
    "messages": [
        {"type": "report_telemetry", "measurementId": 4102, "measurementValue": 24.5},
        {"type": "report_telemetry", "measurementId": 4103, "measurementValue": 37.2},
        {"type": "report_telemetry", "measurementId": 4108, "measurementValue": 0.42},
        {"type": "upload_battery", "battery": 98},
        {"type": "upload_interval", "interval": 3600},
    ],
}


@pytest.mark.parametrize(
    ("profile", "obj", "expected"),
    [
        # sensecap210x-codec.yaml's telemetry example: air temperature 21.4 °C, humidity 31.4 %RH
        (
            "sensecap-s2103",
            {
                "valid": True,
                "err": 0,
                "payload": "01011098530000010210A87A0000AF51",
                "messages": [
                    {"type": "report_telemetry", "measurementId": 4097, "measurementValue": 21.4},
                    {"type": "report_telemetry", "measurementId": 4098, "measurementValue": 31.4},
                    {"type": "report_telemetry", "measurementId": 4100, "measurementValue": 415},
                ],
            },
            {"air_temp_c": 21.4, "air_rh_pct": 31.4},
        ),
        (
            "sensecap-s2104",
            {**SENSECAP, "messages": SENSECAP["messages"][:2]},
            {"soil_temp_c": 24.5, "soil_vwc_pct": 37.2},
        ),
        (
            "sensecap-s2105",
            SENSECAP,
            {"soil_temp_c": 24.5, "soil_vwc_pct": 37.2, "soil_ec_ds_m": 0.42, "battery_pct": 98},
        ),
        # measurement ids as strings and messages nested one list deeper, as some decoder versions emit
        (
            "sensecap-s2105",
            {
                "messages": [
                    [{"type": "report_telemetry", "measurementId": "4103", "measurementValue": "40.1"}]
                ]
            },
            {"soil_vwc_pct": 40.1},
        ),
        # dl-trs12-codec.yaml example 1: water content in m³/m³, EC in µS/cm
        (
            "decentlab-dl-trs12",
            {
                "battery_voltage": {"displayName": "Battery voltage", "unit": "V", "value": 3.2},
                "device_id": 4307,
                "dielectric_permittivity": {"displayName": "Dielectric permittivity", "value": 1.18},
                "electrical_conductivity": {"displayName": "Electrical conductivity", "value": 1250},
                "protocol_version": 2,
                "soil_temperature": {"displayName": "Soil temperature", "unit": "°C", "value": 31.7},
                "volumetric_water_content": {"displayName": "Volumetric water content", "value": 0.3125},
            },
            {"battery_v": 3.2, "soil_ec_ds_m": 1.25, "soil_temp_c": 31.7, "soil_vwc_pct": 31.25},
        ),
        (
            "dragino-lht65",
            {
                "BatV": 3.05,
                "Bat_status": 3,
                "TempC_SHT": 14.22,
                "Hum_SHT": 88.1,
                "TempC_DS": 12.5,
                "Ext_sensor": "Temperature Sensor",
            },
            {"battery_v": 3.05, "air_temp_c": 14.22, "air_rh_pct": 88.1},
        ),
        (
            "milesight-em300-th",
            {"battery": 88, "temperature": 17.4, "humidity": 91.5},
            {"battery_pct": 88, "air_temp_c": 17.4, "air_rh_pct": 91.5},
        ),
        (
            "milesight-em500-smtc",
            {"moisture": 31, "temperature": 19.5, "ec": 820, "battery": 90},
            {"soil_vwc_pct": 31, "soil_temp_c": 19.5, "soil_ec_ds_m": 0.82, "battery_pct": 90},
        ),
    ],
)
def test_a_shipped_profile_reads_its_decoder(profile: str, obj: object, expected: dict[str, float]) -> None:
    got, problems = _decode(profile, obj)
    assert got == pytest.approx(expected)
    assert problems == []


def test_unknown_fields_and_measurements_are_refused_and_named() -> None:
    obj = {
        **SENSECAP,
        "mystery": 1,
        "messages": [{"type": "report_telemetry", "measurementId": 4999, "measurementValue": 1}],
    }
    got, problems = _decode("sensecap-s2105", obj)
    assert (got, problems) == ({}, ["unknown_metric", "unknown_metric"])
    with pytest.raises(CodecError, match="not one of"):
        _decode("acme-9000", {})


def test_every_shipped_profile_loads_and_cites_its_decoder() -> None:
    library = shipped_profiles()
    assert library.errors == {}
    assert {
        "dragino-lse01",
        "dragino-lht65",
        "milesight-em500-smtc",
        "milesight-em300-th",
        "sensecap-s2103",
        "sensecap-s2104",
        "sensecap-s2105",
        "decentlab-dl-trs12",
    } <= set(library.names())
    for p in library.all():
        assert p.decoder, p.name
        assert "TheThingsNetwork/lorawan-devices" in Path(p.source).read_text()


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ({"name": "x", "fields": {"a": {"metric": "soil_ph"}}}, "not in the catalogue"),
        ({"name": "x", "fields": {"a": {"metric": "soil_vwc_pct", "unit": "Cel"}}}, "cannot be converted"),
        ({"name": "x", "fields": {"a": {"metric": "soil_vwc_pct", "scale": 2}}}, "unknown key"),
        ({"name": "X Y", "fields": {"a": {"metric": "soil_vwc_pct"}}}, "name"),
        ({"name": "x"}, "at least one field"),
        ({"name": "x", "measurements": {"list": "m", "id": "i"}}, "measurements.value"),
        (
            {
                "name": "x",
                "measurements": {
                    "list": "m",
                    "id": "i",
                    "value": "v",
                    "types": {"b": {"metric": "battery_pct"}},
                },
            },
            "field",
        ),
    ],
)
def test_a_profile_file_is_checked_when_it_is_loaded(doc: object, says: str) -> None:
    with pytest.raises(ProfileError, match=says):
        profile_from_document(doc, "mine.yaml")


def test_an_operators_profile_is_picked_up_changed_and_dropped_without_a_restart(tmp_path: Path) -> None:
    library = ProfileLibrary([SHIPPED_DIR, tmp_path])
    assert library.get("acme-soil") is None
    mine = tmp_path / "acme-soil.yaml"
    mine.write_text(
        yaml.safe_dump({"name": "acme-soil", "fields": {"vwc": {"metric": "soil_vwc_pct", "unit": "/"}}})
    )
    assert library.refresh()
    assert _decode("acme-soil", {"vwc": 0.25}, library) == ({"soil_vwc_pct": 25.0}, [])
    mine.write_text(yaml.safe_dump({"name": "acme-soil", "fields": {"vwc": {"metric": "soil_vwc_pct"}}}))
    os.utime(mine, ns=(1, 1))  # a change within the same clock tick is still seen (size and time)
    assert library.refresh()
    assert _decode("acme-soil", {"vwc": 25}, library) == ({"soil_vwc_pct": 25}, [])
    (tmp_path / "broken.yaml").write_text("name: broken\nfields: {a: {metric: nope}}\n")
    assert library.refresh()
    assert "broken.yaml" in next(iter(library.errors))
    assert library.get("acme-soil") is not None  # one bad file leaves the others working
    mine.unlink()
    assert library.refresh()
    assert library.get("acme-soil") is None
    assert not library.refresh()
