"""A sensor a cooperative bought, through a real Mosquitto into the store: a SenseCAP S2105 on its
ChirpStack topic, and an operator's own profile picked up while ingest runs (issue 15, finding 6)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import yaml

from ingest.nodes import NodeRegistry, RegisteredNode
from panen.devservices import MosquittoServer
from sensors import Reading
from sensors.topics import Format, chirpstack_uplink_topic
from storage import TimeSeriesStore
from tests.ingest.helpers import T0, dead_letters, publish, running, wait_for

S2105_EUI = "2cf7f1c04430008a"
OWN_EUI = "70b3d57ed0050001"


def _uplink(ts_ms: int, obj: object) -> bytes:
    time = dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"time": time, "deviceInfo": {"devEui": "x"}, "object": obj}).encode()


def test_a_sensecap_s2105_and_an_operators_own_profile(
    store: TimeSeriesStore, mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    registry = NodeRegistry(
        [
            RegisteredNode(
                "s2105-1", "c1", "f1", Format.CHIRPSTACK_V4, dev_eui=S2105_EUI, profile="sensecap-s2105"
            ),
            RegisteredNode("acme-1", "c1", "f2", Format.CHIRPSTACK_V4, dev_eui=OWN_EUI, profile="acme-soil"),
        ]
    )
    # What the SenseCAP S210x decoder (TheThingsNetwork/lorawan-devices, sensecap210x-common-decoder.js)
    # puts in ChirpStack's `object`.
    s2105 = {
        "valid": True,
        "err": 0,
        "payload": "01061090650000010710A89000000108104C0100003A4F",
        "messages": [
            {"type": "report_telemetry", "measurementId": 4102, "measurementValue": 26.0},
            {"type": "report_telemetry", "measurementId": 4103, "measurementValue": 36.9},
            {"type": "report_telemetry", "measurementId": 4108, "measurementValue": 0.33},
        ],
    }
    own = {"vwc_ratio": 0.281, "t_kelvin": 295.15}
    with running(
        store, registry, mosquitto_server.port, tmp_path, topic_prefix, registry_refresh_s=0.2
    ) as ingest:
        publish(
            mosquitto_server.port,
            [
                (chirpstack_uplink_topic("app", S2105_EUI, f"{topic_prefix}/"), _uplink(T0, s2105)),
                (chirpstack_uplink_topic("app", OWN_EUI, f"{topic_prefix}/"), _uplink(T0, own)),
            ],
        )
        wait_for(lambda: len(store.raw(start_ms=0, end_ms=2**62, node_id="s2105-1")) == 3, 20, "S2105 stored")
        wait_for(
            lambda: any(d["reason"] == "unknown_profile" for d in dead_letters(tmp_path)), 20, "a letter"
        )
        # The operator writes a profile for their sensor; ingest reads it without a restart.
        (tmp_path / "profiles").mkdir()
        (tmp_path / "profiles" / "acme-soil.yaml").write_text(
            yaml.safe_dump(
                {
                    "name": "acme-soil",
                    "device": "ACME soil probe",
                    "decoder": "ACME's own decoder, v1",
                    "fields": {
                        "vwc_ratio": {"metric": "soil_vwc_pct", "unit": "/"},
                        "t_kelvin": {"metric": "soil_temp_c", "unit": "K"},
                    },
                }
            )
        )
        wait_for(lambda: ingest.profiles.get("acme-soil") is not None, 10, "the profile loaded")
        publish(
            mosquitto_server.port,
            [(chirpstack_uplink_topic("app", OWN_EUI, f"{topic_prefix}/"), _uplink(T0 + 60_000, own))],
        )
        wait_for(lambda: len(store.raw(start_ms=0, end_ms=2**62, node_id="acme-1")) == 2, 20, "own profile")
    s2105_rows = {(r.metric, r.value) for r in store.raw(start_ms=0, end_ms=2**62, node_id="s2105-1")}
    assert s2105_rows == {("soil_temp_c", 26.0), ("soil_vwc_pct", 36.9), ("soil_ec_ds_m", 0.33)}
    acme = sorted(store.raw(start_ms=0, end_ms=2**62, node_id="acme-1"), key=lambda r: r.metric)
    assert [(r.metric, round(r.value, 6), r.ts_ms) for r in acme] == [
        ("soil_temp_c", 22.0, T0 + 60_000),
        ("soil_vwc_pct", 28.1, T0 + 60_000),
    ]
    assert all(isinstance(r, Reading) for r in acme)
