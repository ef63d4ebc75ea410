"""Ingest's parts on their own: topics, URL, spool, dead-letter log, and the pipeline's promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.deadletters import DeadLetterLog
from ingest.nodes import RegistryError, nodes_from_document
from ingest.pipeline import MAX_PAYLOAD_BYTES, DeadLetter, decode_message
from ingest.spool import Spool, SpoolFull
from sensors import Reading
from sensors.topics import Format, Route, parse_mqtt_url, route, subscriptions
from tests.ingest.helpers import T0, native, registry

NOW = T0 + 3_600_000


def test_routes() -> None:
    assert route("panen/v1/batu/n7/up") == Route(Format.NATIVE, coop_id="batu", node_id="n7")
    assert route("panen/v1/batu/n7/senml") == Route(Format.SENML, coop_id="batu", node_id="n7")
    assert route("v3/agri@ttn/devices/eui-1/up") == Route(Format.TTS_V3)
    assert route("application/a/device/24E1/event/status") == Route(
        Format.CHIRPSTACK_V4, dev_eui="24e1", event="status"
    )
    assert route("x/panen/v1/batu/n7/up", prefix="x/") == Route(Format.NATIVE, coop_id="batu", node_id="n7")
    for bad in (
        "panen/v1/batu//up",
        "panen/v1/_dead/n/up",
        "application/a/device/d/event/join",
        "panen/v1/up",
    ):
        assert route(bad) is None, bad
    assert subscriptions("p/", "g")[0] == "$share/g/p/panen/v1/+/+/up"


def test_mqtt_urls() -> None:
    t = parse_mqtt_url("mqtt://ingest:p%40ss@broker.local:1884")
    assert (t.host, t.port, t.username, t.password, t.tls) == ("broker.local", 1884, "ingest", "p@ss", False)
    assert parse_mqtt_url("mqtts://h").port == 8883
    with pytest.raises(ValueError, match="mqtt://"):
        parse_mqtt_url("http://h")


def test_registry_from_a_fleet_document() -> None:
    doc = {
        "cooperatives": [
            {
                "id": "pendem",
                "fields": [{"id": "pendem-f01", "node": {"id": "pendem-n01", "format": "senml"}}],
                "station": {
                    "id": "pendem-ws",
                    "node": {
                        "id": "pendem-ws1",
                        "format": "tts-v3",
                        "dev_eui": "A1",
                        "profile": "dragino-lse01",
                    },
                },
            }
        ]
    }
    nodes = nodes_from_document(doc)
    assert [(n.node_id, n.coop_id, n.site_id, n.format, n.dev_eui) for n in nodes] == [
        ("pendem-n01", "pendem", "pendem-f01", Format.SENML, ""),
        ("pendem-ws1", "pendem", "pendem-ws", Format.TTS_V3, "a1"),
    ]
    with pytest.raises(RegistryError, match="malformed"):
        nodes_from_document({"nodes": [{"id": "x", "coop": "c", "format": "morse"}]})


def test_spool_is_fifo_survives_restart_skips_torn_lines_and_is_bounded(tmp_path: Path) -> None:
    a = [Reading("n", "c", "f", "air_temp_c", 1.0, T0)]
    b = [Reading("n", "c", "f", "air_temp_c", 2.0, T0 + 1), Reading("n", "c", "f", "rain_mm", 0.5, T0 + 1)]
    spool = Spool(tmp_path, max_bytes=10_000)
    spool.append(a)
    spool.append(b)
    assert (len(spool), spool.bytes > 0) == (3, True)
    segment = next(tmp_path.glob("segment-*.jsonl"))
    with segment.open("ab") as f:
        f.write(b'[["n","c","f","air_te')  # a crash in the middle of an append
    reopened = Spool(tmp_path, max_bytes=10_000)
    assert len(reopened) == 3
    written: list[list[Reading]] = []
    assert reopened.replay(lambda batch: written.append(list(batch))) == 3
    assert written == [a, b]
    assert (len(reopened), reopened.bytes, list(tmp_path.glob("segment-*"))) == (0, 0, [])
    tiny = Spool(tmp_path / "tiny", max_bytes=60)
    with pytest.raises(SpoolFull):
        tiny.append(b * 3)
    assert len(tiny) == 0


def test_spool_replay_stops_on_failure_and_keeps_the_rest(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.append([Reading("n", "c", "f", "air_temp_c", 1.0, T0)])

    def refuse(_batch: object) -> None:
        raise ConnectionError("store down")

    with pytest.raises(ConnectionError):
        spool.replay(refuse)
    assert len(spool) == 1
    spool.append([Reading("n", "c", "f", "air_temp_c", 2.0, T0 + 1)])
    got: list[float] = []
    spool.replay(lambda batch: got.extend(r.value for r in batch))
    assert got == [1.0, 2.0]


def test_dead_letter_log_rotates_and_stays_bounded(tmp_path: Path) -> None:
    log = DeadLetterLog(tmp_path / "deadletters.jsonl", max_bytes=2_000)
    letter = DeadLetter("bad_json", "payload is not JSON", "t", T0, "n", b"\xff\x00" * 10)
    for _ in range(100):
        log.append([letter])
    assert (tmp_path / "deadletters.jsonl").stat().st_size <= 2_000
    assert (tmp_path / "deadletters.1.jsonl").stat().st_size <= 2_000
    line = json.loads((tmp_path / "deadletters.jsonl").read_text().splitlines()[0])
    assert line["reason"] == "bad_json"
    assert "payload_b64" in line


def test_pipeline_payload_too_large_is_refused_before_parsing() -> None:
    big = b"[" + b"1," * MAX_PAYLOAD_BYTES + b"1]"
    result = decode_message("panen/v1/c1/n0/up", big, arrival_ms=NOW, registry=registry())
    assert [d.reason for d in result.dead] == ["too_large"]
    assert len(result.dead[0].payload) <= 4096


def test_pipeline_wrong_cooperative_in_topic_is_unknown_node() -> None:
    result = decode_message("panen/v1/other/n0/up", native(1), arrival_ms=NOW, registry=registry())
    assert [d.reason for d in result.dead] == ["unknown_node"]


REG = registry()
TOPICS = st.sampled_from(
    [
        "panen/v1/c1/n0/up",
        "panen/v1/c1/senml-1/senml",
        "v3/a@t/devices/d/up",
        "application/a/device/24e124000000a001/event/up",
        "panen/v1/c1//up",
        "panen/v1/c1/n0/senml",
    ]
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@given(topic=TOPICS, payload=st.binary(max_size=300) | JSONISH.map(lambda v: json.dumps(v).encode()))
def test_pipeline_never_raises_and_accounts_for_everything(topic: str, payload: bytes) -> None:
    result = decode_message(topic, payload, arrival_ms=NOW, registry=REG)
    for reading in result.readings:
        assert reading.node_id
        assert reading.coop_id == "c1"
    for letter in result.dead:
        assert letter.reason
        assert letter.detail
        json.loads(letter.to_json())
    # Every message is accounted for: readings, records skipped by design, or dead letters saying why.
    assert result.readings or result.skipped or result.dead


@pytest.mark.parametrize("payload", [b'{"samples": []}', b"[]", b'{"ts": 1784000000000, "values": {}}'])
def test_a_message_with_nothing_in_it_is_an_empty_dead_letter(payload: bytes) -> None:
    result = decode_message("panen/v1/c1/n0/up", payload, arrival_ms=NOW, registry=registry())
    assert [d.reason for d in result.dead] == ["empty"]


def test_a_filling_spool_is_reported_once_until_it_drains(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from ingest.service import IngestConfig, IngestService
    from sensors.topics import MqttTarget
    from storage.sqlite import SqliteStore

    batch = [Reading("n", "c", "f", "air_temp_c", float(i), T0 + i) for i in range(20)]
    probe = Spool(tmp_path / "probe", max_bytes=10**6)
    probe.append(batch)
    size = probe.bytes
    cfg = IngestConfig(MqttTarget("127.0.0.1", 1), tmp_path, spool_max_bytes=size * 10)
    service = IngestService(cfg, store=SqliteStore(tmp_path / "ts.sqlite3"), registry=registry())
    with caplog.at_level("ERROR", logger="panen.ingest"):
        for _ in range(9):  # ~90 % full
            service.spool.append(batch)
            service.sink.update_spool_metrics()
        service.sink.update_spool_metrics()
        assert sum("spool is" in r.getMessage() for r in caplog.records) == 1
        service.spool.replay(lambda _batch: None)  # drained
        service.sink.update_spool_metrics()
        for _ in range(9):
            service.spool.append(batch)
            service.sink.update_spool_metrics()
        assert sum("spool is" in r.getMessage() for r in caplog.records) == 2
