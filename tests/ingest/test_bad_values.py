"""A message's valid readings survive its bad values (issue 15, findings 3 and 4)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ingest.pipeline import decode_message
from tests.ingest.helpers import T0, registry

NOW = T0 + 3_600_000
NOW_RFC3339 = dt.datetime.fromtimestamp(NOW / 1000, dt.UTC).isoformat()
EM500_TOPIC = "application/a/device/24e124000000a001/event/up"


def _decode(topic: str, doc: object) -> tuple[dict[str, float], list[str]]:
    result = decode_message(topic, json.dumps(doc).encode(), arrival_ms=NOW, registry=registry())
    return {r.metric: r.value for r in result.readings}, sorted(d.reason for d in result.dead)


@pytest.mark.parametrize(
    ("topic", "doc", "kept", "reasons"),
    [
        # a value of 10**400: no float holds it
        (
            "panen/v1/c1/n0/up",
            {"ts": NOW, "values": {"air_temp_c": 20.5, "soil_vwc_pct": 10**400}},
            {"air_temp_c": 20.5},
            ["out_of_range"],
        ),
        # an integer timestamp beyond 64 bits, beside a good sample
        (
            "panen/v1/c1/n0/up",
            {
                "samples": [
                    {"ts": 10**30, "values": {"air_temp_c": 1.0}},
                    {"ts": NOW, "values": {"rain_mm": 2.0}},
                ]
            },
            {"rain_mm": 2.0},
            ["out_of_range"],
        ),
        # SenML bt + t overflowing float range on the second record only
        (
            "panen/v1/c1/senml-1/senml",
            [{"n": "air_temp_c", "v": 20.0}, {"n": "soil_vwc_pct", "bt": 1.7e308, "t": 1.7e308, "v": 30}],
            {"air_temp_c": 20.0},
            ["out_of_range"],
        ),
        # a device profile scaling a huge integer (EC in µS/cm to dS/m)
        (
            EM500_TOPIC,
            {"time": NOW_RFC3339, "object": {"ec": 10**400, "moisture": 31}},
            {"soil_vwc_pct": 31},
            ["out_of_range"],
        ),
        # finding 4: a SenML record with a name but no value
        (
            "panen/v1/c1/senml-1/senml",
            [{"n": "air_temp_c", "v": 20.0}, {"n": "soil_vwc_pct"}],
            {"air_temp_c": 20.0},
            ["not_a_number"],
        ),
    ],
)
def test_valid_readings_are_kept_and_the_bad_value_gets_its_reason(
    topic: str, doc: object, kept: dict[str, float], reasons: list[str]
) -> None:
    readings, dead = _decode(topic, doc)
    assert readings == kept
    assert dead == reasons


def test_a_senml_record_of_base_fields_only_is_no_reading_and_no_letter() -> None:
    readings, dead = _decode(
        "panen/v1/c1/senml-1/senml", [{"bn": "dev:", "bt": NOW / 1000}, {"n": "air_temp_c", "v": 1.0}]
    )
    assert (readings, dead) == ({"air_temp_c": 1.0}, [])
