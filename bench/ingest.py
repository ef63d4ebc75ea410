"""Ingest benchmark on a real Mosquitto: backlog drain rate against a bare paho subscriber,
``panen ingest --workers 2`` (two supervised processes in a shared group) against one process, and
publish-to-stored latency under a steady stream.

Method (the publisher must not compete with the consumer for the 2 cores):
1. The consumer's persistent session is created, then it goes offline.
2. A backlog of ``--messages`` messages (5 readings each) is published into that session.
3. The consumer starts; the drain time runs from its connection to its last message handled.
   Ingest stamps both itself (Prometheus gauges ``panen_ingest_last_connect_timestamp_seconds`` and
   ``panen_ingest_last_stored_timestamp_seconds``), so its counters are polled only every 250 ms:
   polling at 50 Hz had taken about a sixth of the 2 cores from the processes measured.
The bare subscriber does nothing with a message but count it (paho's automatic acks), measured in
the same run on the same kind of backlog. Latency: a 2k messages/s stream with the publish time as
each reading's timestamp; the store is polled every 20 ms, so figures are rounded up to that.
The CPU time of ingest (its worker processes included), Mosquitto and InfluxDB over each drain, read
from ``/proc``, says how many cores they kept busy. Each figure is the median of ``--rounds`` rounds
(each round runs the four drains back to back);
``*_min`` keys give the worst round.
Run: ``python -m bench.ingest [--messages 40000] [--rounds 3]``; ``--split`` measures instead where a
message's time goes, stage by stage (``bench/ingest_split.py``).
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware_sim.runner import Publisher
from ingest.metrics import scrape
from panen.devservices import InfluxServer, MosquittoServer, free_port
from sensors.topics import MqttTarget
from storage import TimeSeriesStore
from storage.influx import InfluxStore

NODES = [f"n{i}" for i in range(20)]
METRICS = ("air_temp_c", "air_rh_pct", "soil_vwc_pct", "soil_temp_c", "battery_v")
T0 = 1_784_000_000_000


def _props(expiry: int = 600) -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = expiry
    props.ReceiveMaximum = 10_000
    return props


def message(prefix: str, node: str, ts: int) -> tuple[str, bytes]:
    """A native message of 5 readings."""
    return f"{prefix}panen/v1/c1/{node}/up", json.dumps(
        {"ts": ts, "values": dict.fromkeys(METRICS, 20.5)}
    ).encode()


def publish_backlog(port: int, prefix: str, count: int, start: int = 0) -> None:
    """``count`` QoS 1 messages of 5 readings, each acknowledged by the broker before this returns."""
    publish_messages(
        port,
        f"bench-pub-{prefix}",
        (message(prefix, NODES[i % len(NODES)], T0 + i * 1000) for i in range(start, start + count)),
    )


def publish_messages(port: int, client_id: str, messages: Iterable[tuple[str, bytes]]) -> None:
    """Publish (topic, payload) at QoS 1, each acknowledged by the broker before this returns."""
    pub = Publisher(MqttTarget("127.0.0.1", port), client_id)
    try:
        for topic, payload in messages:
            pub.publish(topic, payload)
    finally:
        pub.close()


def bare_drain(port: int, prefix: str, count: int, start: int = 0) -> float:
    """Messages/s of a paho subscriber that only counts, draining its persistent session."""
    topic = f"{prefix}panen/v1/+/+/up"
    client_id = f"bare-{prefix}"
    setup = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    setup.connect("127.0.0.1", port, clean_start=False, properties=_props())
    setup.subscribe(topic, qos=1)
    setup.loop_start()
    time.sleep(0.5)
    setup.disconnect()
    setup.loop_stop()
    publish_backlog(port, prefix, count, start)
    got = 0
    done = threading.Event()
    first: list[float] = []

    def on_message(*_: object) -> None:
        nonlocal got
        got += 1
        if got == count:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.on_connect = lambda *a: first.append(time.perf_counter())
    client.connect("127.0.0.1", port, clean_start=False, properties=_props())
    client.loop_start()
    done.wait(300)
    elapsed = time.perf_counter() - first[0]
    client.loop_stop()
    client.disconnect()
    return count / elapsed


def metrics_values(port: int) -> dict[str, float]:
    values = scrape(f"http://127.0.0.1:{port}/metrics")
    names = (
        "panen_ingest_readings_stored_total",
        "panen_ingest_broker_connected",
        "panen_ingest_last_stored_timestamp_seconds",
        "panen_ingest_last_connect_timestamp_seconds",
    )
    return {n: values.get(n, 0.0) for n in names}


def _free_ports(n: int) -> int:
    """The first of ``n`` consecutive free loopback ports (``panen ingest --workers n`` uses them all)."""
    while True:
        base = free_port()
        taken = False
        for p in range(base + 1, base + n):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", p))
                except OSError:
                    taken = True
        if not taken:
            return base


class Ingest:
    """``panen ingest`` in a subprocess (with ``workers`` > 1: ``--workers``, one process supervising
    that many, each with its own metrics port), its metrics summed over the workers."""

    def __init__(
        self, port: int, prefix: str, data_dir: Path, env: dict[str, str], name: str, group: str | None,
        workers: int = 1,
    ):  # fmt: skip
        self.metrics_port = _free_ports(workers)
        self.workers = workers
        args = [sys.executable, "-m", "panen", "ingest", "--metrics-port", str(self.metrics_port),
                "--topic-prefix", prefix, "--client-id", f"ingest-{name}-{prefix}"]  # fmt: skip
        if group:
            args += ["--shared-group", group]
        if workers > 1:
            args += ["--workers", str(workers)]
        data_dir.mkdir(parents=True, exist_ok=True)
        registry = data_dir / "registry.yaml"
        registry.write_text(
            yaml.safe_dump({"nodes": [{"id": n, "coop": "c1", "site": f"f-{n}"} for n in NODES]})
        )
        self.proc = subprocess.Popen(
            args,
            env={
                **os.environ,
                "PANEN_MQTT_URL": f"mqtt://127.0.0.1:{port}",
                "PANEN_DATA_DIR": str(data_dir / name),
                "PANEN_REGISTRY_FILE": str(registry),
                "PANEN_LOG_LEVEL": "warning",
                **env,
            },
            stderr=subprocess.DEVNULL,
        )

    def values(self) -> dict[str, float]:
        """Readings stored summed, the newest store write, the first connect (the drain starts with it),
        connected only if all are."""
        per_worker = []
        for i in range(self.workers):
            try:
                per_worker.append(metrics_values(self.metrics_port + i))
            except httpx.HTTPError:
                return {}
        return {
            "panen_ingest_readings_stored_total": sum(
                v["panen_ingest_readings_stored_total"] for v in per_worker
            ),
            "panen_ingest_broker_connected": min(v["panen_ingest_broker_connected"] for v in per_worker),
            "panen_ingest_last_stored_timestamp_seconds": max(
                v["panen_ingest_last_stored_timestamp_seconds"] for v in per_worker
            ),
            "panen_ingest_last_connect_timestamp_seconds": min(
                v["panen_ingest_last_connect_timestamp_seconds"] for v in per_worker
            ),
        }

    def wait_connected(self) -> float:
        """Wait for the connection; returns its time as ingest stamped it (Unix seconds)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            values = self.values()
            if values.get("panen_ingest_broker_connected") == 1:
                return values["panen_ingest_last_connect_timestamp_seconds"]
            time.sleep(0.02)
        raise RuntimeError("ingest did not connect")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def cpu_seconds(pids: Iterable[int]) -> float:
    """CPU seconds (user and system) used so far by these processes and all their descendants (found
    by each process's parent in ``/proc``: not every kernel has ``/proc/<pid>/task/<tid>/children``)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, CPU seconds)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # it ended meanwhile
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    wanted = set(pids)
    while True:  # the descendants: children of wanted processes, until no more are found
        more = {pid for pid, (parent, _) in stats.items() if parent in wanted} - wanted
        if not more:
            break
        wanted |= more
    return sum(stats[pid][1] for pid in wanted if pid in stats)


class CpuTrace:
    """CPU seconds of some processes and their descendants, read every 0.1 s in a thread, so that the
    CPU spent between two instants stamped elsewhere (ingest's connect and last write) can be read."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)
        self.samples: list[tuple[float, float]] = []  # (Unix time, CPU seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.samples.append((time.time(), cpu_seconds(self.pids)))
            if self._stop.wait(0.1):
                return

    def between(self, start: float, end: float) -> float:
        """CPU seconds spent from ``start`` to ``end`` (Unix time), interpolated between samples."""
        self._stop.set()
        self._thread.join()

        def at(t: float) -> float:
            times = [s[0] for s in self.samples]
            i = min(max(bisect.bisect(times, t), 1), len(times) - 1)
            (t0, c0), (t1, c1) = self.samples[i - 1], self.samples[i]
            return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c1

        return at(end) - at(start)


def ingest_drain(
    port: int,
    prefix: str,
    count: int,
    env: dict[str, str],
    tmp: Path,
    workers: int,
    start: int = 0,
    servers: Sequence[int] = (),
    backlog: Sequence[tuple[str, bytes]] | None = None,
) -> tuple[float, float]:
    """Messages/s drained into the store by ``panen ingest --workers <workers>``, and how many of the
    machine's cores ingest and ``servers`` (the broker's and the store's pids) kept busy meanwhile.
    The backlog is ``count`` of :func:`message`'s from ``start`` on, or ``backlog`` if given."""
    first = Ingest(port, prefix, tmp, env, f"w{workers}", None, workers)
    first.wait_connected()
    time.sleep(0.5)  # its sessions and subscriptions exist: the backlog queues for them
    first.stop()
    if backlog is None:
        publish_backlog(port, prefix, count, start)
    else:
        publish_messages(port, f"bench-pub-{prefix}", backlog)
    procs = [Ingest(port, prefix, tmp, env, f"w{workers}", None, workers)]
    trace = CpuTrace([w.proc.pid for w in procs] + list(servers))  # ~4 ms of CPU a tenth of a second
    began = min(w.wait_connected() for w in procs)
    total = count * len(METRICS)
    while True:
        # Polled slowly: scraping costs CPU in this process and in ingest's, which the measured
        # processes need (at 50 Hz it took about a sixth of the 2 cores). The end is when the
        # last batch landed, as ingest stamps it.
        values = [w.values() for w in procs]
        if sum(v.get("panen_ingest_readings_stored_total", 0.0) for v in values) >= total:
            break
        time.sleep(0.25)
    end = max(v["panen_ingest_last_stored_timestamp_seconds"] for v in values)
    elapsed = end - began
    cores = trace.between(began, end) / elapsed
    for w in procs:
        w.stop()
    return count / elapsed, cores


def latency(
    port: int, prefix: str, store: TimeSeriesStore, env: dict[str, str], tmp: Path, seconds: float
) -> tuple[list[float], int]:
    """Publish-to-stored latency [ms] of a 2k messages/s stream (its ``air_temp_c`` readings), and how
    many of them were not seen stored within 30 s after the stream."""
    worker = Ingest(port, prefix, tmp, env, "lat", None)
    worker.wait_connected()
    time.sleep(0.5)
    pub = Publisher(MqttTarget("127.0.0.1", port), f"bench-lat-{prefix}")
    seen: dict[tuple[str, int], float] = {}
    stop = threading.Event()

    def poll() -> None:
        since = int(time.time() * 1000) - 1000
        while not stop.is_set():
            now_ms = time.time() * 1000
            for n in NODES:
                for r in store.raw(start_ms=since, end_ms=2**62, node_id=n, metrics=["air_temp_c"]):
                    seen.setdefault((r.node_id, r.ts_ms), now_ms - r.ts_ms)
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    rate = 2000
    sent: set[tuple[str, int]] = set()
    last_ts: dict[str, int] = {}
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        due = start + i / rate
        lag = due - time.perf_counter()
        if lag > 0:
            time.sleep(lag)
        node = NODES[i % len(NODES)]
        ts = int(time.time() * 1000)
        # Distinct timestamps per node (a catch-up burst after a pause could repeat a millisecond,
        # and the store would keep one of the two).
        ts = max(ts, last_ts.get(node, 0) + 1)
        last_ts[node] = ts
        sent.add((node, ts))
        pub.publish(*message(prefix, node, ts))
        i += 1
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not sent <= seen.keys():
        time.sleep(0.1)
    stop.set()
    poller.join()
    pub.close()
    worker.stop()
    missing = len(sent - seen.keys())
    if missing:
        print(f"latency: {missing} readings not seen stored within 30 s", file=sys.stderr)
    return [seen[k] for k in sent if k in seen], missing


def pct(values: Sequence[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]
    )


@contextlib.contextmanager
def bench_servers(tmp: Path) -> Iterator[tuple[MosquittoServer, InfluxServer]]:
    """A Mosquitto that queues a whole backlog for an offline session, and an influxd with panen's
    database, in ``tmp``; both stopped afterwards."""
    broker = MosquittoServer(tmp / "mq", extra_config="max_queued_messages 1000000\nmax_inflight_messages 0")
    influxd = InfluxServer(tmp / "influxd")
    broker.start()
    try:
        influxd.start()
        try:
            influxd.create_database()
            yield broker, influxd
        finally:
            influxd.stop()
    finally:
        broker.stop()


def drain_round(
    r: int, of: int, n: int, port: int, influx_env: dict[str, str], tmp: Path, servers: Sequence[int]
) -> dict[str, float]:
    """Round ``r``'s four drains, back to back: the bare subscriber, one ingest process on InfluxDB and
    on SQLite, two on InfluxDB. Every run has its own topics, sessions and timestamps."""
    say = f"round {r + 1}/{of}:"
    print(say, "bare paho drain ...", file=sys.stderr)
    bare = bare_drain(port, f"bare{r}/", n, (4 * r) * n)
    print(say, "ingest, 1 process, InfluxDB ...", file=sys.stderr)
    one, one_cores = ingest_drain(port, f"one{r}/", n, influx_env, tmp / f"r{r}", 1, (4 * r + 1) * n, servers)
    print(say, "ingest, 1 process, SQLite ...", file=sys.stderr)
    one_sqlite, _ = ingest_drain(port, f"sqlite{r}/", n, {}, tmp / f"sq{r}", 1, (4 * r + 2) * n)
    print(say, "ingest, 2 processes, shared group, InfluxDB ...", file=sys.stderr)
    two, two_cores = ingest_drain(port, f"two{r}/", n, influx_env, tmp / f"r{r}", 2, (4 * r + 3) * n, servers)
    result = {
        "bare": bare,
        "one": one,
        "sqlite": one_sqlite,
        "two": two,
        "one_cores": one_cores,
        "two_cores": two_cores,
    }
    print(say, json.dumps({k: round(v, 2) for k, v in result.items()}), file=sys.stderr)
    return result


def summary(rounds: list[dict[str, float]], lat: list[float], lat_missing: int) -> dict[str, object]:
    """The rounds' medians and ratios (and the worst round's), and the latency's percentiles."""

    def median(key: str) -> float:
        return statistics.median(x[key] for x in rounds)

    def ratios(num: str, den: str) -> list[float]:
        return [x[num] / x[den] for x in rounds]

    one = median("one")
    return {
        "bare_drain_msg_s": round(median("bare")),
        "ingest_influx_msg_s": round(one),
        "ingest_influx_readings_s": round(one * len(METRICS)),
        "ingest_sqlite_msg_s": round(median("sqlite")),
        "ingest_sqlite_readings_s": round(median("sqlite") * len(METRICS)),
        "two_workers_influx_msg_s": round(median("two")),
        # Medians of the rounds' ratios, and the worst round.
        "ratio_vs_bare_drain": round(statistics.median(ratios("one", "bare")), 3),
        "ratio_vs_bare_drain_min": round(min(ratios("one", "bare")), 3),
        "ratio_vs_bare_drain_sqlite": round(statistics.median(ratios("sqlite", "bare")), 3),
        "ratio_vs_bare_drain_sqlite_min": round(min(ratios("sqlite", "bare")), 3),
        "two_worker_speedup": round(statistics.median(ratios("two", "one")), 3),
        # Cores kept busy by ingest, Mosquitto and InfluxDB together during the drains (of the machine's
        # os.cpu_count()): a second process can only add what the first one leaves idle.
        "one_process_cores_busy": round(median("one_cores"), 2),
        "two_workers_cores_busy": round(median("two_cores"), 2),
        "cpu_count": os.cpu_count(),
        "two_worker_speedup_min": round(min(ratios("two", "one")), 3),
        "latency_readings": len(lat),
        "latency_readings_not_stored": lat_missing,
        "p50_latency_ms": round(pct(lat, 50), 1),
        "p99_latency_ms": round(pct(lat, 99), 1),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument(
        "--rounds", type=int, default=3, help="drain rounds (bare, 1 process ×2 stores, 2 processes each)"
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="where a message's time goes, stage by stage (bench/ingest_split.py)",
    )
    args = parser.parse_args(argv)
    if args.split:
        from bench import ingest_split

        ingest_split.main(args.messages)
        return
    n = args.messages
    out: dict[str, object] = {
        "bench": "ingest",
        "backlog_messages": n,
        "readings_per_message": len(METRICS),
        "rounds": args.rounds,
    }
    with tempfile.TemporaryDirectory(prefix="panen-bench-ingest-") as tmpdir:
        tmp = Path(tmpdir)
        with bench_servers(tmp) as (broker, influxd):
            influx_env = {"PANEN_INFLUX_URL": influxd.url, "PANEN_INFLUX_DB": "panen"}
            # The four drains of a round run back to back, so each ratio compares runs made in
            # the same conditions; every run has its own topics, sessions and timestamps (nothing
            # overwrites an earlier run's points).
            pids = [p for p in (broker.pid, influxd.pid) if p is not None]
            rounds = [
                drain_round(r, args.rounds, n, broker.port, influx_env, tmp, pids) for r in range(args.rounds)
            ]
            print("latency at 2k messages/s ...", file=sys.stderr)
            store = InfluxStore(influxd.url)
            lat, lat_missing = latency(broker.port, "lat/", store, influx_env, tmp, args.latency_seconds)
            store.close()

    out.update(summary(rounds, lat, lat_missing))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
