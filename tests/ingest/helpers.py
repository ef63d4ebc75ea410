"""Helpers for ingest tests: run ingest in a thread or a process, publish streams, wait for counts."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.nodes import NodeRegistry, RegisteredNode
from ingest.service import IngestConfig, IngestService
from sensors.topics import Format, MqttTarget
from storage import TimeSeriesStore

T0 = 1_784_000_000_000  # 2026-07-14, in the past relative to the test clock
METRICS5 = ("air_temp_c", "air_rh_pct", "soil_vwc_pct", "soil_temp_c", "battery_v")


def registry(coop: str = "c1", nodes: int = 4) -> NodeRegistry:
    """Native nodes n0..n{nodes-1} in ``coop``, plus the fixture LoRaWAN devices."""
    entries = [RegisteredNode(f"n{i}", coop, f"f{i}", Format.NATIVE) for i in range(nodes)]
    entries += [
        RegisteredNode(
            "lse01-1", coop, "f-lse", Format.TTS_V3, dev_eui="a84041000000b002", profile="dragino-lse01"
        ),
        RegisteredNode(
            "em500-1",
            coop,
            "f-em",
            Format.CHIRPSTACK_V4,
            dev_eui="24e124000000a001",
            profile="milesight-em500-smtc",
        ),
        RegisteredNode("senml-1", coop, "f-senml", Format.SENML),
    ]
    return NodeRegistry(entries)


def native(i: int, node: str = "n0", metrics: Sequence[str] = METRICS5) -> bytes:
    """A native message with one sample of ``metrics`` at T0 + i s."""
    return json.dumps({"ts": T0 + i * 1000, "values": dict.fromkeys(metrics, 20.0 + i % 10)}).encode()


@contextmanager
def running(
    store: TimeSeriesStore, reg: NodeRegistry, port: int, data_dir: Path, prefix: str, **config: object
) -> Iterator[IngestService]:
    """An ingest service in a thread, subscribed and ready; stopped (and flushed) on exit."""
    config = {"batch_age_s": 0.05, "backoff_min_s": 0.2, "backoff_max_s": 1.0, **config}
    cfg = IngestConfig(
        mqtt=MqttTarget("127.0.0.1", port),
        data_dir=data_dir,
        client_id=f"ingest-{prefix}-{config.pop('name', 'a')}",
        topic_prefix=f"{prefix}/",
        **config,  # type: ignore[arg-type]
    )
    service = IngestService(cfg, store=store, registry=reg)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    assert service.subscribed.wait(10), "ingest did not subscribe"
    try:
        yield service
    finally:
        service.stop()
        thread.join(20)
        assert not thread.is_alive()


def publish(
    port: int, messages: Sequence[tuple[str, bytes]], *, qos: int = 1, rate_per_s: float | None = None
) -> None:
    """Publish and wait for every PUBACK; at most 2,000 outstanding (paho wraps message ids past 65,535)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    # Uncapped in paho (a cap makes it rescan every in-flight message per PUBACK); the window
    # below keeps at most 2,000 outstanding.
    client.max_inflight_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    outstanding: deque[mqtt.MQTTMessageInfo] = deque()
    start = time.monotonic()
    for index, (topic, payload) in enumerate(messages):
        if rate_per_s:
            lag = start + index / rate_per_s - time.monotonic()
            if lag > 0:
                time.sleep(lag)
        outstanding.append(client.publish(topic, payload, qos=qos))
        if len(outstanding) >= 2000:
            outstanding.popleft().wait_for_publish(30)
    for info in outstanding:
        info.wait_for_publish(30)
    client.loop_stop()
    client.disconnect()


def wait_for(condition: Callable[[], bool], timeout_s: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def wait_acknowledged(service: IngestService, timeout_s: float = 10) -> None:
    """Wait until ingest holds no unacknowledged message (its ``unacked_messages`` gauge is 0)."""
    wait_for(lambda: service.metrics.pending._child_samples()[0].value == 0, timeout_s, "no unacked message")


def stored(store: TimeSeriesStore, nodes: Sequence[str]) -> int:
    return sum(len(store.raw(start_ms=0, end_ms=2**62, node_id=n)) for n in nodes)


def dead_letters(data_dir: Path) -> list[dict[str, object]]:
    path = data_dir / "deadletters.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
