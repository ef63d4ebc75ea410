"""Dead letters stay useful under a flood (issue 15, finding 5): one letter per message, counted by
reason; republishing rate-limited per reason; the log bounded by age as well as size."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.deadletters import DeadLetterLog
from ingest.pipeline import MAX_LISTED_REFUSALS, DeadLetter, decode_message
from panen.devservices import MosquittoServer
from storage import TimeSeriesStore
from tests.ingest.helpers import T0, dead_letters, publish, registry, running, wait_for

NOW = T0 + 3_600_000


def _flood(keys: int) -> bytes:
    values = {f"bogus_{i}": 1.0 for i in range(keys)}
    return json.dumps({"ts": T0, "values": {"air_temp_c": 18.0, **values}}).encode()


def test_a_message_with_ten_thousand_unknown_keys_is_one_letter() -> None:
    result = decode_message("panen/v1/c1/n0/up", _flood(10_000), arrival_ms=NOW, registry=registry())
    assert [r.metric for r in result.readings] == ["air_temp_c"]
    (letter,) = result.dead
    assert letter.reasons == {"unknown_metric": 10_000}
    line = json.loads(letter.to_json())
    assert len(line["refused"]) == MAX_LISTED_REFUSALS
    assert line["refused_not_listed"] == 10_000 - 1 - MAX_LISTED_REFUSALS
    assert len(letter.to_json()) < 16 * 1024  # 2.4 MB of log before
    assert "10000 refusals" in letter.detail


def test_a_flood_is_one_log_line_per_message_and_republishing_is_rate_limited(
    sqlite_store: TimeSeriesStore, mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    seen: list[str] = []
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    watcher.on_message = lambda c, u, m: seen.append(m.topic)
    subscribed = threading.Event()
    watcher.on_subscribe = lambda *a: subscribed.set()
    watcher.connect("127.0.0.1", mosquitto_server.port)
    watcher.subscribe(f"{topic_prefix}/panen/v1/_dead/#", qos=0)
    watcher.loop_start()
    assert subscribed.wait(5)
    ghosts = [(f"{topic_prefix}/panen/v1/c1/ghost-{i}/up", b'{"ts": 1, "values": {}}') for i in range(300)]
    try:
        with running(
            sqlite_store,
            registry(),
            mosquitto_server.port,
            tmp_path,
            topic_prefix,
            dead_letter_publish_burst=20,
            dead_letter_publish_per_s=1.0,
        ) as ingest:
            publish(mosquitto_server.port, [(f"{topic_prefix}/panen/v1/c1/n1/up", _flood(10_000)), *ghosts])
            wait_for(lambda: len(dead_letters(tmp_path)) == 301, 20, "301 letters")
            counted = {
                s.labels["reason"]: s.value
                for m in ingest.metrics.registry.collect()
                for s in m.samples
                if s.name == "panen_ingest_dead_letters_total"
            }
            unpublished = sum(
                s.value
                for m in ingest.metrics.registry.collect()
                for s in m.samples
                if s.name == "panen_ingest_dead_letters_unpublished_total"
            )
            wait_for(lambda: len(seen) + unpublished >= 301, 5, "every letter republished or counted")
    finally:
        watcher.loop_stop()
        watcher.disconnect()
    assert counted == {"unknown_metric": 10_000.0, "unknown_node": 300.0}
    # One burst per reason and about one a second after it; the rest are logged and counted only.
    assert 20 <= len(seen) <= 20 + 1 + 30
    assert len(seen) + unpublished == 301
    assert [r.metric for r in sqlite_store.raw(start_ms=0, end_ms=2**62, node_id="n1")] == ["air_temp_c"]


def test_the_log_keeps_no_letter_longer_than_its_age_bound(tmp_path: Path) -> None:
    """A week of letters at random moments, with ingest's 15 s checks, on a fake clock (max age 300 s)."""
    import random

    rng = random.Random(15)
    now = [1_000_000.0]
    age, check = 300.0, 15.0
    log = DeadLetterLog(tmp_path / "dead.jsonl", max_bytes=10**9, max_age_s=age, clock=lambda: now[0])
    written: list[float] = []
    for step in range(2_000):
        now[0] += check
        if rng.random() < 0.3:  # letters come in bursts and lulls
            for _ in range(rng.randint(1, 3)):
                written.append(now[0])
                log.append([DeadLetter("bad_json", str(now[0]), "t", int(now[0] * 1000))])
        log.expire()
        kept = [
            float(json.loads(line)["detail"])
            for f in (log.previous, log.path)
            if f.exists()
            for line in f.read_text().splitlines()
        ]
        assert all(now[0] - t <= age + check for t in kept), step
        assert [t for t in written if now[0] - t < age / 2] == [t for t in kept if now[0] - t < age / 2], step
        if step == 1_000:  # a restart: the reopened log knows its current file's age from its first letter
            log = DeadLetterLog(tmp_path / "dead.jsonl", max_bytes=10**9, max_age_s=age, clock=lambda: now[0])
