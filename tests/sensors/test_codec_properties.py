"""Codecs raise only their own error, whatever the input (issue 15: one huge number used to throw
OverflowError out of a codec and lose the message's valid readings)."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sensors.codecs import (
    CodecError,
    decode_chirpstack_v4,
    decode_native,
    decode_senml,
    decode_tts_v3,
    parse_json,
)

NOW_MS = 1_784_000_000_000
# Keys the codecs look for, so that generated documents reach past the first check.
KEYS = st.sampled_from(
    ["n", "v", "t", "u", "s", "vs", "vb", "bn", "bt", "bu", "bv", "bs", "ts", "values", "samples",
     "uplink_message", "decoded_payload", "received_at", "end_device_ids", "dev_eui", "rx_metadata",
     "rssi", "snr", "object", "time", "rxInfo", "batteryLevel", "water_SOIL", "conduct_SOIL", "ec",
     "moisture", "air_temp_c", "soil_vwc_pct", "messages", "measurementId", "measurementValue"]
) | st.text(max_size=8)  # fmt: skip
# Integers past float range (2**1024 ≈ 1.8e308) and past 64 bits, as JSON can carry them.
NUMBERS = (
    st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.sampled_from([10**400, -(10**400), 2**63, 2**64, 2**1024])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1.7e308, -1.7e308, 5e-324])
)
LEAVES = st.none() | st.booleans() | NUMBERS | st.text(max_size=12)
DOCUMENTS = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=30,
)
CODECS = [
    lambda doc: decode_native(doc, arrival_ms=NOW_MS),
    lambda doc: decode_senml(doc, now_ms=NOW_MS),
    lambda doc: decode_tts_v3(doc, profile="dragino-lse01"),
    lambda doc: decode_tts_v3(doc, profile="nobody-knows"),
    lambda doc: decode_chirpstack_v4(doc, event="up", profile="milesight-em500-smtc"),
    lambda doc: decode_chirpstack_v4(doc, event="status", profile=None),
]


@settings(max_examples=400, deadline=None)
@given(doc=DOCUMENTS, codec=st.sampled_from(range(len(CODECS))))
def test_a_codec_raises_only_codec_error(doc: object, codec: int) -> None:
    try:
        CODECS[codec](doc)
    except CodecError as exc:
        reason, detail = exc.reason, exc.detail
        assert reason
        assert detail


@settings(max_examples=200, deadline=None)
@given(doc=DOCUMENTS)
def test_parse_json_of_any_document_is_the_document_or_a_codec_error(doc: object) -> None:
    assert parse_json(json.dumps(doc).encode()) == doc


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_nesting_is_bad_json_not_a_crash(depth: int) -> None:
    payload = b"[" * depth + b"]" * depth
    if depth <= 1_000:  # orjson reads up to 1,024 levels: valid JSON, and the document it is
        doc = parse_json(payload)
        for _ in range(depth - 1):
            doc = doc[0]
        assert doc == []
        return
    with pytest.raises(CodecError) as caught:
        parse_json(payload)
    assert caught.value.reason == "bad_json"


@settings(max_examples=300, deadline=None)
@given(
    doc=DOCUMENTS,
    text=st.text(max_size=40),
    number=st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True)),
    cut=st.integers(min_value=0, max_value=200),
)
# Found by this test in CI: orjson reads a negative 19-digit integer below int64's range as a float.
@example(doc=None, text="", number=-9_223_372_036_854_775_809, cut=0)
@example(doc=None, text="", number=-(10**19) + 1, cut=0)
@example(doc=None, text="", number=2**64 - 1, cut=0)
def test_parse_json_answers_as_the_standard_library_does(
    doc: object, text: str, number: object, cut: int
) -> None:
    """orjson is only a faster way to ``json.loads``'s answer: the same document, or bad_json where it
    refuses, for any document, big integers, NaN and infinities, and any text cut short."""
    for payload in (
        json.dumps([doc, text, number]).encode(),
        json.dumps({"ts": number, "values": {"air_temp_c": number}}).encode(),
        json.dumps(doc).encode()[:cut],
        text.encode("utf-8", "surrogatepass"),
    ):
        try:
            expected = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            with pytest.raises(CodecError):
                parse_json(payload)
            continue
        got = parse_json(payload)
        assert json.dumps(got) == json.dumps(expected)  # NaN != NaN, so compare the texts


# Documents shaped as each format, so that the values, not the shapes, are what varies.
METRICS = st.sampled_from(["air_temp_c", "soil_vwc_pct", "battery_v", "rain_mm", "nope"])
SENML_VALUES = st.sampled_from(["air_temp_c", "soil_vwc_pct", "x:", "Cel", "%RH", "/", "lat", "S/m"])
SENML_PACK = st.lists(
    st.dictionaries(
        st.sampled_from(["n", "v", "t", "u", "s", "vs", "bn", "bt", "bu", "bv", "bs", "bver"]),
        LEAVES | SENML_VALUES | st.lists(LEAVES, max_size=2),
        max_size=5,
    ),
    max_size=6,
)
NATIVE = st.fixed_dictionaries(
    {"ts": NUMBERS | LEAVES, "values": st.dictionaries(METRICS, NUMBERS | LEAVES, max_size=4)}
) | st.fixed_dictionaries(
    {"samples": st.lists(st.fixed_dictionaries({"ts": NUMBERS, "values": st.dictionaries(METRICS, NUMBERS)}))}
)
EM500 = st.fixed_dictionaries(
    {
        "time": st.just("2026-11-30T01:02:03Z") | LEAVES,
        "object": st.dictionaries(
            st.sampled_from(["moisture", "temperature", "ec", "battery", "other"]),
            NUMBERS | LEAVES | st.text(max_size=6).map(lambda t: t or "1e999"),
            max_size=5,
        ),
        "rxInfo": st.lists(st.dictionaries(st.sampled_from(["rssi", "snr"]), NUMBERS | LEAVES), max_size=3),
    }
)
SHAPED = [
    ("panen/v1/c1/n0/up", NATIVE),
    ("panen/v1/c1/senml-1/senml", SENML_PACK),
    ("application/a/device/24e124000000a001/event/up", EM500),
]


@settings(max_examples=600, deadline=None)
@given(data=st.data(), which=st.sampled_from(range(len(SHAPED))))
def test_the_pipeline_never_raises_on_values_of_any_size(data: st.DataObject, which: int) -> None:
    from ingest.pipeline import decode_message
    from tests.ingest.helpers import registry

    topic, shape = SHAPED[which]
    doc = data.draw(shape)
    result = decode_message(topic, json.dumps(doc).encode(), arrival_ms=NOW_MS, registry=registry())
    assert all(letter.reason != "internal_error" for letter in result.dead)
    for letter in result.dead:
        json.loads(letter.to_json())
