"""Node firmware: formats decode back through ingest's codecs, faults, store-and-forward, backfill."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.firmware import FaultRates
from firmware_sim.fleet import DEFAULT_FLEET_PATH, batu_fleet
from firmware_sim.runner import backfill_messages, node_messages, prepare, publish_all, run_live
from ingest.nodes import NodeRegistry
from ingest.pipeline import decode_message
from panen.devservices import MosquittoServer
from sensors.topics import MqttTarget
from storage.fleetfile import node_password, save_fleet
from storage.sqlite import SqliteStore
from tests.ingest.helpers import running, wait_for

NOW_MS = int(time.time() * 1000) // 60_000 * 60_000
FLEET = (
    batu_fleet().shifted(__import__("datetime").datetime.now(__import__("datetime").UTC).date()).subset(2, 10)
)


def registry_for(tmp_path: Path) -> NodeRegistry:
    path = tmp_path / "fleet.yaml"
    save_fleet(FLEET, path)
    return NodeRegistry(path=path)


@pytest.mark.parametrize("fmt", ["native", "senml", "tts-v3", "chirpstack-v4"])
def test_each_format_decodes_back_to_the_simulated_readings(fmt: str, tmp_path: Path) -> None:
    run = prepare(FLEET, start_ms=NOW_MS - 6 * 3_600_000, end_ms=NOW_MS, seed=9, horizon_days=150)
    reg = registry_for(tmp_path)
    samples = next(s for s in run.samples if s.node.format == fmt and not s.station)
    rng = np.random.default_rng(0)
    decoded = []
    for _, topic, payload, _qos in node_messages(samples, batch_samples=12, prefix="", rng=rng):
        result = decode_message(topic, payload, arrival_ms=NOW_MS, registry=reg)
        assert result.dead == [], result.dead[:2]
        decoded += result.readings
    expected = {
        (metric, int(samples.device_ms[i]) if fmt in ("native", "senml") else None): float(values[i])
        for metric, values in samples.values.items()
        for i in range(len(samples.true_ms))
    }
    got = {(r.metric, r.ts_ms if fmt in ("native", "senml") else None) for r in decoded}
    if fmt in ("native", "senml"):
        assert got == set(expected)
        for r in decoded:
            assert r.value == pytest.approx(expected[(r.metric, r.ts_ms)], abs=1e-6)
    else:
        # Network servers stamp uplinks with their own receive time, a few hundred ms after the wake-up.
        assert {m for m, _ in got} == set(samples.values)
        assert len(decoded) == len(samples.true_ms) * len(samples.values)
        for r in decoded:
            i = int(np.argmin(np.abs(samples.true_ms - r.ts_ms)))
            assert 0 < r.ts_ms - samples.true_ms[i] < 1000
            assert r.value == pytest.approx(samples.values[r.metric][i], abs=1e-2)
        assert all(r.site_id == samples.site_id and r.coop_id == samples.coop_id for r in decoded)


def test_faults_are_injected_at_the_configured_rate() -> None:
    rates = FaultRates(outage=2, stuck=2, spike=2, dead=2, corrupt=2)
    run = prepare(
        FLEET, start_ms=NOW_MS - 2 * 86_400_000, end_ms=NOW_MS, seed=1, faults=rates, horizon_days=150
    )
    total = {
        k: sum(s.faults.get(k, 0) for s in run.samples)
        for k in ("outage", "stuck", "spike", "dead", "corrupt")
    }
    nodes = len(run.samples)
    for kind, count in total.items():
        assert 0.4 * 4 * nodes < count < 2.0 * 4 * nodes, (kind, count)  # 2 a day, 2 days
    assert any(np.isnan(v).any() for s in run.samples for v in s.values.values())
    assert not all(s.link_up.all() for s in run.samples)


def test_store_and_forward_delivers_every_buffered_reading_with_its_timestamp(
    mosquitto_server: MosquittoServer, topic_prefix: str
) -> None:
    run = prepare(
        FLEET.subset(1, 1), start_ms=NOW_MS - 4 * 3_600_000, end_ms=NOW_MS, seed=2, horizon_days=150
    )
    node = next(s for s in run.samples if s.node.format == "native")
    node.link_up[5:15] = False  # 100 minutes without a link
    received: list[tuple[float, bytes]] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: (
        received.append((time.monotonic(), m.payload)) if m.topic.endswith("/up") else None
    )
    sub.connect("127.0.0.1", mosquitto_server.port)
    sub.subscribe(f"{topic_prefix}/panen/v1/{node.coop_id}/{node.node.id}/#", qos=1)
    sub.loop_start()
    time.sleep(0.3)
    stop = threading.Event()
    broker = MqttTarget("127.0.0.1", mosquitto_server.port)
    runner = threading.Thread(
        target=run_live,
        args=(run, broker),
        kwargs={"speed": 7200.0, "prefix": f"{topic_prefix}/", "stop": stop},
    )
    runner.start()
    runner.join(30)
    stop.set()

    def timestamps() -> tuple[list[int], list[int]]:
        stamps: list[int] = []
        sizes: list[int] = []
        for _, payload in list(received):
            body = json.loads(payload)
            samples = body.get("samples", [body])
            sizes.append(len(samples))
            stamps += [s["ts"] for s in samples]
        return stamps, sizes

    wait_for(lambda: len(timestamps()[0]) >= len(node.device_ms), 10, "every wake-up")
    time.sleep(0.3)  # anything duplicated would arrive now
    sub.loop_stop()
    stamps, sizes = timestamps()
    assert sorted(stamps) == node.device_ms.tolist()  # every wake-up, each once, original timestamps
    assert max(sizes) == 11  # the ten buffered wake-ups went out with the first one back online


def test_backfill_through_mosquitto_and_ingest_stores_every_reading(
    mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    run = prepare(
        FLEET, start_ms=NOW_MS - 86_400_000, end_ms=NOW_MS, seed=6, interval_min=60, horizon_days=150
    )
    messages = backfill_messages(run, batch_samples=24, prefix=f"{topic_prefix}/")
    expected = sum(
        int(s.link_up.sum() if s.node.format in ("tts-v3", "chirpstack-v4") else len(s.true_ms))
        * len(s.values)
        for s in run.samples
    )
    store = SqliteStore(tmp_path / "ts.sqlite3")
    with running(
        store, registry_for(tmp_path), mosquitto_server.port, tmp_path / "ingest", topic_prefix
    ) as service:
        assert publish_all(MqttTarget("127.0.0.1", mosquitto_server.port), messages) == len(messages)
        wait_for(
            lambda: service.metrics.readings_stored._value.get() >= expected, 60, "all backfill readings"
        )
        assert service.metrics.readings_stored._value.get() == expected
    got = sum(len(store.raw(start_ms=0, end_ms=2**62, node_id=s.node.id)) for s in run.samples)
    assert got == expected
    dead = tmp_path / "ingest" / "deadletters.jsonl"
    assert not dead.exists() or dead.read_text() == ""


def test_node_passwords_derive_from_the_fleet_secret() -> None:
    assert node_password("pendem-n01", "a") == node_password("pendem-n01", "a")
    assert node_password("pendem-n01", "a") != node_password("pendem-n01", "b")
    assert node_password("pendem-n01", "a") != node_password("pendem-n02", "a")
    doc = yaml.safe_load(DEFAULT_FLEET_PATH.read_text())
    assert "password" not in str(doc)


def test_a_sped_up_live_run_never_reports_a_reading_from_the_future(
    mosquitto_server: MosquittoServer, topic_prefix: str
) -> None:
    """Issue 15, finding 7: the demo's sensors at 60× reached a day ahead after ~25 minutes and every
    uplink became a future_timestamp dead letter. Here 10 minutes of lead at 100,000× real time."""
    start = int(time.time() * 1000) - 10 * 60_000
    run = prepare(
        FLEET.subset(1, 2),
        start_ms=start,
        end_ms=start + 30 * 86_400_000,
        seed=3,
        interval_min=1,
        horizon_days=150,
    )
    received: list[tuple[int, bytes]] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: (
        received.append((int(time.time() * 1000), m.payload)) if m.topic.endswith(("/up", "/senml")) else None
    )
    sub.connect("127.0.0.1", mosquitto_server.port)
    sub.subscribe(f"{topic_prefix}/panen/v1/#", qos=1)
    sub.loop_start()
    time.sleep(0.3)
    stop = threading.Event()
    failed: list[BaseException] = []

    def live() -> None:
        try:
            run_live(
                run,
                MqttTarget("127.0.0.1", mosquitto_server.port),
                speed=100_000.0,
                prefix=f"{topic_prefix}/",
                stop=stop,
            )
        except (
            BaseException
        ) as exc:  # the demo's live sensors died this way once: wake-ups due before the connection was up
            failed.append(exc)

    runner = threading.Thread(target=live)
    runner.start()
    time.sleep(3)  # at this speed, 3 s would be 3.5 days of simulated time
    stop.set()
    runner.join(30)
    assert failed == []
    sub.loop_stop()
    stamps = []
    for arrived_ms, payload in received:
        body = json.loads(payload)
        if isinstance(body, list):  # SenML: base time in seconds
            stamps += [(arrived_ms, int(r["bt"] * 1000)) for r in body if "bt" in r]
        else:
            stamps += [(arrived_ms, s["ts"]) for s in body.get("samples", [body])]
    assert len(stamps) >= 10  # the lead was caught up on
    # Node clocks drift (±20 ppm, resynced every 6 h): a second of slack, not a day.
    assert max(ts - arrived for arrived, ts in stamps) < 1_000
