"""Every payload format through a real Mosquitto and ingest into each store, checked reading by reading."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from panen.devservices import MosquittoServer
from sensors import Quality, Reading
from sensors.codecs import parse_rfc3339_ms
from storage import TimeSeriesStore
from tests.ingest.helpers import T0, dead_letters, publish, registry, running, stored, wait_for

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"


def fixture(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def test_every_format_is_stored_with_metric_unit_and_timestamp(
    store: TimeSeriesStore, mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    tts_ts = parse_rfc3339_ms("2024-06-20T14:34:32.656299995Z")
    cs_ts = parse_rfc3339_ms("2024-05-22T07:47:05.404859+00:00")
    senml = [
        {"bn": "senml-1:", "bt": T0 / 1000, "n": "soil_vwc_pct", "u": "/", "v": 0.315},
        {"n": "soil_ec_ds_m", "u": "S/m", "v": 0.12, "t": 60},
    ]
    status = {"time": "2024-05-22T08:00:00Z", "batteryLevel": 91.0}
    messages = [
        (
            f"{topic_prefix}/panen/v1/c1/n0/up",
            json.dumps({"ts": T0, "values": {"air_temp_c": 17.5, "rain_mm": 0}}).encode(),
        ),
        (f"{topic_prefix}/panen/v1/c1/senml-1/senml", json.dumps(senml).encode()),
        (f"{topic_prefix}/v3/agri-app@ttn/devices/eui-a84041000000b002/up", fixture("tts_v3_up_lse01.json")),
        (
            f"{topic_prefix}/application/ca739e26/device/24e124000000a001/event/up",
            fixture("chirpstack_v4_up_em500smtc.json"),
        ),
        (
            f"{topic_prefix}/application/ca739e26/device/24E124000000A001/event/status",
            json.dumps(status).encode(),
        ),
    ]
    expected = {
        Reading("n0", "c1", "f0", "air_temp_c", 17.5, T0),
        Reading("n0", "c1", "f0", "rain_mm", 0.0, T0),
        Reading("senml-1", "c1", "f-senml", "soil_vwc_pct", 31.5, T0),
        Reading("senml-1", "c1", "f-senml", "soil_ec_ds_m", 1.2, T0 + 60_000),
        Reading("lse01-1", "c1", "f-lse", "soil_vwc_pct", 19.57, tts_ts),
        Reading("lse01-1", "c1", "f-lse", "soil_temp_c", 24.59, tts_ts),
        Reading(
            "lse01-1", "c1", "f-lse", "soil_ec_ds_m", 28.2, tts_ts, Quality.IMPLAUSIBLE
        ),  # above the LSE01's 20 dS/m
        Reading("lse01-1", "c1", "f-lse", "battery_v", 3.625, tts_ts),
        Reading("lse01-1", "c1", "f-lse", "rssi_dbm", -42.0, tts_ts),
        Reading("lse01-1", "c1", "f-lse", "snr_db", 5.8, tts_ts),
        Reading("em500-1", "c1", "f-em", "soil_vwc_pct", 57.5, cs_ts),
        Reading("em500-1", "c1", "f-em", "soil_temp_c", 28.1, cs_ts),
        Reading("em500-1", "c1", "f-em", "soil_ec_ds_m", 0.24, cs_ts),
        Reading("em500-1", "c1", "f-em", "battery_pct", 100.0, cs_ts),
        Reading("em500-1", "c1", "f-em", "rssi_dbm", -35.0, cs_ts),
        Reading("em500-1", "c1", "f-em", "snr_db", 11.5, cs_ts),
        Reading("em500-1", "c1", "f-em", "battery_pct", 91.0, parse_rfc3339_ms("2024-05-22T08:00:00Z")),
    }
    nodes = ["n0", "senml-1", "lse01-1", "em500-1"]
    with running(store, registry(), mosquitto_server.port, tmp_path, topic_prefix):
        publish(mosquitto_server.port, messages)
        wait_for(lambda: stored(store, nodes) >= len(expected), 20, "all readings")
    got = {r for n in nodes for r in store.raw(start_ms=0, end_ms=2**62, node_id=n)}
    rounded = {
        Reading(r.node_id, r.coop_id, r.site_id, r.metric, round(r.value, 9), r.ts_ms, r.quality) for r in got
    }
    assert rounded == expected
    assert dead_letters(tmp_path) == []


def test_dead_letters_are_republished_and_logged(
    sqlite_store: TimeSeriesStore, mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    seen: list[mqtt.MQTTMessage] = []
    got_one = threading.Event()
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    watcher.on_message = lambda c, u, m: (seen.append(m), got_one.set())
    watcher.connect("127.0.0.1", mosquitto_server.port)
    watcher.subscribe(f"{topic_prefix}/panen/v1/_dead/#", qos=1)
    watcher.loop_start()
    try:
        with running(sqlite_store, registry(), mosquitto_server.port, tmp_path, topic_prefix):
            publish(
                mosquitto_server.port,
                [
                    (f"{topic_prefix}/panen/v1/c1/ghost/up", b'{"ts": 1, "values": {}}'),
                    (
                        f"{topic_prefix}/panen/v1/c1/n1/up",
                        b'{"ts": ' + str(T0).encode() + b', "values": {"air_temp_c": 1, "frost_f": 2}}',
                    ),
                ],
            )
            wait_for(lambda: len(dead_letters(tmp_path)) == 2, 10, "two dead letters")
            assert got_one.wait(5)
            wait_for(lambda: len(seen) == 2, 5, "two republished dead letters")
    finally:
        watcher.loop_stop()
        watcher.disconnect()
    assert sorted(m.topic.rsplit("/", 1)[1] for m in seen) == ["unknown_metric", "unknown_node"]
    letters = {d["reason"]: d for d in dead_letters(tmp_path)}
    assert letters["unknown_node"]["payload"] == '{"ts": 1, "values": {}}'
    assert letters["unknown_metric"]["sample"] == {"metric": "frost_f", "value": 2, "ts": T0}
    # The good reading of the partly bad message was kept.
    assert [r.metric for r in sqlite_store.raw(start_ms=0, end_ms=2**62, node_id="n1")] == ["air_temp_c"]
