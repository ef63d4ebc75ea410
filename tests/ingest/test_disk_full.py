"""Ingest when the disk under its spool fills (issue 35): nothing acknowledged is lost, it recovers by
itself, and it starts on a full disk.

The spool lives on a real small file system (a tmpfs the test mounts, so root is needed, as in CI),
and the store is a real influxd that the test stops and starts; nothing is faked.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.files import append_all_or_nothing
from ingest.metrics import scrape
from ingest.spool import Spool
from panen.devservices import InfluxServer, MosquittoServer, free_port
from sensors import Reading
from storage.influx import InfluxStore
from tests.ingest.helpers import dead_letters, publish, registry, running, stored, wait_for
from tests.ingest.test_resilience import NODES, ingest_process, stream


class SmallDisk:
    """A tmpfs of ``size_kib`` mounted at ``path``; :meth:`fill` takes its free space, :meth:`free`
    gives it back."""

    def __init__(self, path: Path, size_kib: int) -> None:
        self.path = path
        path.mkdir(parents=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "panen-test", str(path)], check=True
        )
        self.filler = path / "filler"

    def fill(self, leave_bytes: int = 0) -> None:
        """Write a filler file until only ``leave_bytes`` (rounded to pages) are free."""
        with self.filler.open("ab") as f:
            chunk = b"\0" * 4096
            with contextlib.suppress(OSError):  # ENOSPC: full, as wanted
                while os.statvfs(self.path).f_bavail * os.statvfs(self.path).f_frsize > leave_bytes:
                    f.write(chunk)
                    f.flush()

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 4 MiB file system of its own (needs root, as CI has: ``mount -t tmpfs``)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root (CI runs as root)")
    disk = SmallDisk(tmp_path / "disk", 4096)
    yield disk
    disk.unmount()


@pytest.fixture
def influx_off(tmp_path: Path) -> Iterator[InfluxServer]:
    """An influxd of the test's own, not started: the store is down until the test starts it."""
    server = InfluxServer(tmp_path / "influxd")
    yield server
    server.stop()


def test_a_failed_append_leaves_no_partial_line_for_the_next_one_to_join(small_disk: SmallDisk) -> None:
    spool = Spool(small_disk.path / "spool", max_bytes=10**9)
    from tests.ingest.test_spool_states import _batch

    spool.append(_batch(0))
    small_disk.fill(leave_bytes=8192)
    big = _batch(1, 2_000)  # ~100 KB: more than is free, so the write stops part way
    with pytest.raises(OSError, match="No space left") as failed:
        spool.append(big)
    assert failed.value.errno == errno.ENOSPC
    small_disk.free()
    spool.append(_batch(2))
    again = Spool(small_disk.path / "spool", max_bytes=10**9)
    assert again.take_corrupt() == []
    assert again.readings == 20
    written: list[object] = []
    assert again.replay(written.extend) == 20


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    steps=st.lists(
        st.tuples(st.integers(1, 3_000), st.sampled_from(["append", "fill", "free"])), min_size=3, max_size=25
    ),
    leave_kib=st.integers(0, 64),
)
def test_the_spool_holds_exactly_the_batches_whose_append_succeeded(
    small_disk: SmallDisk, steps: list[tuple[int, str]], leave_kib: int
) -> None:
    """Any mix of appends of any size, a disk filled and freed between them: what the spool gives
    back is every batch whose append returned, in order, and nothing else."""
    from tests.ingest.test_spool_states import _batch

    directory = small_disk.path / f"spool-{uuid.uuid4().hex[:8]}"
    spool = Spool(directory, max_bytes=10**9)
    kept: list[Reading] = []
    for k, (size, action) in enumerate(steps):
        if action == "fill":
            small_disk.fill(leave_bytes=leave_kib * 1024)
        elif action == "free":
            small_disk.free()
        else:
            batch = _batch(k, size)
            try:
                spool.append(batch)
            except OSError:
                continue
            kept.extend(batch)
    small_disk.free()
    again = Spool(directory, max_bytes=10**9)
    assert again.take_corrupt() == []
    written: list[Reading] = []
    again.replay(written.extend)
    assert written == kept
    shutil.rmtree(directory)


def test_append_all_or_nothing_cuts_a_failed_append_back(small_disk: SmallDisk) -> None:
    path = small_disk.path / "log"
    append_all_or_nothing(path, b"first\n")
    small_disk.fill(leave_bytes=0)
    with pytest.raises(OSError, match="No space left"):
        append_all_or_nothing(path, b"x" * 100_000 + b"\n")
    assert path.read_bytes() == b"first\n"


def test_disk_fills_mid_stream_then_space_is_freed_and_every_acknowledged_reading_is_stored_once(
    small_disk: SmallDisk, influx_off: InfluxServer, mosquitto_server: MosquittoServer, topic_prefix: str
) -> None:
    store = InfluxStore(influx_off.url, timeout_s=5)
    data = small_disk.path / "ingest"
    config = {"backoff_min_s": 0.05, "backoff_max_s": 0.3, "disk_min_free_bytes": 0}
    try:
        with running(store, registry(), mosquitto_server.port, data, topic_prefix, **config) as ingest:
            small_disk.fill(leave_bytes=64 * 1024)  # the store is down: batches go to a nearly full spool
            messages = stream(topic_prefix, 6_000)
            publisher = threading.Thread(
                target=publish, args=(mosquitto_server.port, messages), kwargs={"rate_per_s": 3_000}
            )
            publisher.start()
            append_errors = ingest.metrics.spool_append_errors.labels("disk_full")
            wait_for(lambda: append_errors._value.get() >= 3, 30, "appends refused by the full disk")
            small_disk.free()
            publisher.join(60)
            wait_for(lambda: ingest.spool.readings >= 30_000, 60, "the stream spooled once space returned")
            influx_off.start()
            influx_off.create_database()
            wait_for(lambda: stored(store, NODES) >= 30_000 and ingest.spool.readings == 0, 60, "drained")
        assert stored(store, NODES) == 30_000  # nothing lost, and no reading twice
        assert [d for d in dead_letters(data) if d["reason"] == "spool_corrupt"] == []
    finally:
        store.close()


def test_the_spool_fills_the_disk_while_the_store_is_down_and_everything_drains_without_a_hand(
    small_disk: SmallDisk, influx_off: InfluxServer, mosquitto_server: MosquittoServer, topic_prefix: str
) -> None:
    """The spool itself fills the disk; kill -9 while full and restart; the store returns: all drains,
    with no manual step, and ingest never exits (restarts included)."""
    data = small_disk.path
    port = free_port()
    env = {"PANEN_INFLUX_URL": influx_off.url, "PANEN_INFLUX_DB": "panen"}
    extra = ("--metrics-port", str(port), "--health-grace-s", "3", "--backoff-max-s", "0.5")
    proc = ingest_process(mosquitto_server.port, data, topic_prefix, env, *extra)
    try:
        _wait_healthz(port, proc)
        publish(mosquitto_server.port, stream(topic_prefix, 24_000))  # ~6 MB of spool for a 4 MiB disk
        wait_for(lambda: _metric(port, "panen_ingest_spool_append_errors_total") > 0, 60, "the disk full")
        assert proc.poll() is None
        # /healthz is as of the last check (every 5 s): wait for the one that sees both outages.
        wait_for(lambda: len(_healthz(port)[1]["degraded"]) >= 2, 30, "both outages on /healthz")
        status, body = _healthz(port)
        assert status == 200
        assert body["status"] == "degraded"
        assert any(r.startswith("disk_full") for r in body["degraded"])
        assert any(r.startswith("store_unreachable") for r in body["degraded"])

        proc.send_signal(signal.SIGKILL)  # the state that hurts most: a full disk, a full spool
        proc.wait(10)
        proc = ingest_process(mosquitto_server.port, data, topic_prefix, env, *extra)
        _wait_healthz(port, proc)
        wait_for(lambda: _healthz(port)[1]["status"] == "degraded", 30, "degraded after the restart")
        assert any(r.startswith("disk_full") for r in _healthz(port)[1]["degraded"])

        influx_off.start()
        influx_off.create_database()
        store = InfluxStore(influx_off.url)
        try:
            wait_for(lambda: proc.poll() is not None or stored(store, NODES) >= 120_000, 180, "drained")
            assert proc.poll() is None, "ingest exited"
            assert stored(store, NODES) == 120_000
        finally:
            store.close()
        wait_for(lambda: not list((data / "spool").glob("segment-*")), 30, "the spool emptied")
        assert not list((data / "spool").glob("*.rewrite"))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _healthz(port: int) -> tuple[int, dict[str, list[str] | str]]:
    r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    return r.status_code, r.json()


def _wait_healthz(port: int, proc: subprocess.Popen[bytes]) -> None:
    def answers() -> bool:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "ingest exited"
        try:
            _healthz(port)
        except httpx.HTTPError:
            return False
        return True

    wait_for(answers, 30, "ingest's /healthz")


def _metric(port: int, name: str) -> float:
    return scrape(f"http://127.0.0.1:{port}/metrics").get(name, 0.0)


def test_a_dead_letter_the_full_disk_cut_short_leaves_no_half_line(small_disk: SmallDisk) -> None:
    from ingest.deadletters import DeadLetterLog
    from ingest.pipeline import DeadLetter

    log = DeadLetterLog(small_disk.path / "deadletters.jsonl", max_bytes=10**9)
    letter = DeadLetter("bad_json", "x", "t", 1, payload=b"y" * 3000)
    log.append([letter])
    small_disk.fill(leave_bytes=4096)
    with pytest.raises(OSError, match="No space left"):
        log.append([letter] * 50)
    small_disk.free()
    log.append([letter])
    lines = log.path.read_text().splitlines()
    assert len(lines) == 2
    assert all(json.loads(line)["reason"] == "bad_json" for line in lines)
