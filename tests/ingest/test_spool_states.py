"""Ingest starts with any spool an earlier run left (issue 15): full (test_long_outage), a torn
last line, a corrupted line, a stray file; and a kill -9 in the middle of a replay loses nothing."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from ingest.spool import Spool
from panen.devservices import InfluxServer, MosquittoServer
from sensors import Reading
from storage.influx import InfluxStore
from storage.sqlite import SqliteStore
from tests.ingest.helpers import T0, dead_letters, registry, running, stored, wait_for
from tests.ingest.test_resilience import ingest_process

NODES = ["n0", "n1", "n2", "n3"]


def _batch(k: int, size: int = 10) -> list[Reading]:
    return [
        Reading(NODES[i % 4], "c1", f"f{i % 4}", "air_temp_c", float(i), T0 + k * 1_000_000 + i)
        for i in range(size)
    ]


def _damaged_spool(directory: Path) -> int:
    """A spool as a crash and a bad disk leave it: returns how many readings are still readable."""
    spool = Spool(directory, max_bytes=10**9)
    for k in range(3):
        spool.append(_batch(k))
    segment = next(directory.glob("segment-*.jsonl"))
    lines = segment.read_bytes().splitlines(keepends=True)
    lines[1] = b'[["n0", "c1", "f0", "air_temp_c", 1.0, 17\xff\xfe garbage\n'  # a corrupted line
    torn = json.dumps([["n1", "c1", "f1", "air_temp_c", 2.0, T0, 0]]).encode()[:-7]  # cut mid-append
    segment.write_bytes(b"".join(lines) + torn)
    (directory / "notes.txt").write_text("an operator's stray file")
    (directory / "segment-1.jsonl.bak").write_text("a backup someone made")
    return 20


def test_a_damaged_spool_replays_what_it_can_and_keeps_the_rest_aside(tmp_path: Path) -> None:
    readable = _damaged_spool(tmp_path / "spool")
    spool = Spool(tmp_path / "spool", max_bytes=10**9)
    assert spool.readings == readable
    corrupt = spool.take_corrupt()
    assert sorted((c.segment, c.line, c.torn) for c in corrupt) == [
        ("notes.txt", 0, False),
        ("segment-000000000001.jsonl", 2, False),
        ("segment-000000000001.jsonl", 4, True),
        ("segment-1.jsonl.bak", 0, False),
    ]
    for c in corrupt:
        assert c.kept_at.exists()  # raw bytes kept
    assert b"garbage" in next(c.kept_at.read_bytes() for c in corrupt if c.line == 2)
    written: list[Reading] = []
    assert spool.replay(written.extend) == readable
    assert len(written) == readable
    assert spool.take_corrupt() == []  # reported once, not at every read
    assert Spool(tmp_path / "spool", max_bytes=10**9).take_corrupt() == []


def test_ingest_starts_on_a_damaged_spool_stores_it_and_dead_letters_the_rest(
    mosquitto_server: MosquittoServer, topic_prefix: str, tmp_path: Path
) -> None:
    readable = _damaged_spool(tmp_path / "spool")
    store = SqliteStore(tmp_path / "ts.sqlite3")
    with running(store, registry(), mosquitto_server.port, tmp_path, topic_prefix) as ingest:
        wait_for(lambda: ingest.spool.readings == 0, 20, "the spool replayed")
    assert stored(store, NODES) == readable
    letters = [d for d in dead_letters(tmp_path) if d["reason"] == "spool_corrupt"]
    assert len(letters) == 4
    assert any("torn by a crash" in str(d["detail"]) for d in letters)
    assert all("raw bytes kept in" in str(d["detail"]) for d in letters)


def test_kill_9_during_a_replay_then_restart_stores_every_spooled_reading_once(
    mosquitto_server: MosquittoServer, influx_server: InfluxServer, tmp_path: Path
) -> None:
    database = f"replay_{os.getpid()}_{time.monotonic_ns() % 10**6}"
    influx_server.create_database(database)
    spool = Spool(tmp_path / "spool", max_bytes=10**10)
    batches = 400
    for k in range(batches):  # 400 batches of 500: a few segments, enough for a replay to be caught
        spool.append(_batch(k, 500))
    total = batches * 500
    influx = {"PANEN_INFLUX_URL": influx_server.url, "PANEN_INFLUX_DB": database}
    prefix = f"kill9-{database}"
    store = InfluxStore(influx_server.url, database=database)
    try:
        proc = ingest_process(mosquitto_server.port, tmp_path, prefix, influx)
        # The replay is under way once any reading is stored: asked with one cheap query (each node's
        # newest), as counting every stored reading took long enough for the whole replay to finish
        # before the kill (a CI run failed so).
        wait_for(lambda: bool(store.latest(node_ids=NODES)), 60, "the replay under way")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        left = Spool(tmp_path / "spool", max_bytes=10**10)
        assert 0 < _count(store) < total or left.readings > 0
        proc = ingest_process(mosquitto_server.port, tmp_path, prefix, influx)
        try:
            wait_for(lambda: _count(store) == total, 120, "every reading stored")
            wait_for(lambda: not list((tmp_path / "spool").glob("segment-*.jsonl")), 30, "the spool emptied")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        assert _count(store) == total  # once each: rewrites of the same identity replace
    finally:
        store.close()
        influx_server.drop_database(database)


def _count(store: InfluxStore) -> int:
    return sum(len(store.raw(start_ms=0, end_ms=2**62, node_id=n)) for n in NODES)
