"""``panen ingest --workers 2`` on a real Mosquitto and InfluxDB (issue 21): two processes in one
shared group share the stream and store all of it; a worker killed with SIGKILL is back, connected,
within 10 s, and what was published meanwhile is stored all the same."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from panen.devservices import InfluxServer, MosquittoServer, free_port
from storage.influx import InfluxStore
from tests.ingest.helpers import native, publish, stored, wait_for
from tests.ingest.test_resilience import NODES, stream


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return sorted(out)


def _connected_since(port: int) -> float | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    values = {}
    for line in text.splitlines():
        if line.startswith("panen_ingest_"):
            name, _, value = line.partition(" ")
            values[name] = float(value)
    if values.get("panen_ingest_broker_connected") != 1:
        return None
    return values.get("panen_ingest_last_connect_timestamp_seconds")


def test_two_workers_share_the_stream_and_a_killed_one_is_back_within_10_s(
    mosquitto_server: MosquittoServer, influx_server: InfluxServer, influx_store: InfluxStore, tmp_path: Path,
    topic_prefix: str,
) -> None:  # fmt: skip
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        yaml.safe_dump({"nodes": [{"id": n, "coop": "c1", "site": f"f{n[1:]}"} for n in NODES]})
    )
    port = free_port()
    pool = subprocess.Popen(
        [sys.executable, "-m", "panen", "ingest", "--workers", "2", "--metrics-port", str(port),
         "--topic-prefix", f"{topic_prefix}/", "--client-id", f"w-{topic_prefix}"],
        env={**os.environ, "PANEN_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto_server.port}",
             "PANEN_DATA_DIR": str(tmp_path), "PANEN_REGISTRY_FILE": str(registry),
             "PANEN_INFLUX_URL": influx_server.url, "PANEN_INFLUX_DB": influx_store.database},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: all(_connected_since(port + i) for i in range(2)), 30, "both workers connected")
        publish(mosquitto_server.port, stream(topic_prefix, 400))
        wait_for(lambda: stored(influx_store, NODES) == 400 * 5, 30, "the first 400 messages stored")
        workers = _children(pool.pid)
        assert len(workers) == 2
        first_connect = _connected_since(port)
        victim = next(w for w in workers if f"w-{topic_prefix}-w0" in Path(f"/proc/{w}/cmdline").read_text())
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        # Published while worker 0 is dead: the other takes them (its share, or all of them).
        later = [
            (f"{topic_prefix}/panen/v1/c1/{NODES[i % 4]}/up", native(400 + i, NODES[i % 4]))
            for i in range(400)
        ]
        publish(mosquitto_server.port, later)
        wait_for(lambda: (_connected_since(port) or 0) > (first_connect or 0), 10, "worker 0 back")
        back_s = time.monotonic() - killed_at
        assert back_s < 10
        wait_for(lambda: stored(influx_store, NODES) == 800 * 5, 30, "all 800 messages stored")
        assert victim not in _children(pool.pid)
        assert len(_children(pool.pid)) == 2
        assert (tmp_path / "ingest-w1" / "spool").exists()  # each worker its own spool
    finally:
        pool.send_signal(signal.SIGTERM)
        pool.wait(40)
    assert pool.returncode == 0
    assert _children(pool.pid) == []
