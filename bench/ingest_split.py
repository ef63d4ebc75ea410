"""Where an ingested message's time goes: ingest's stages one at a time, on a real Mosquitto, InfluxDB
and SQLite, in CPU microseconds per message (issue 41).

Stages, each measured alone on the same random backlog (240 nodes, 5 readings a message, random
values and digits):
- ``network``: ingest's MQTT connection (:class:`ingest.client.BrokerConnection`) draining a queued
  QoS 1 backlog, acknowledging each read's messages at once and doing nothing else: the receive
  path, framing, paho's loop and the PUBACK writes;
- ``decode``: :func:`ingest.pipeline.decode_message` (route, attribution, JSON, codec, validation);
- ``batch``: a chunk per read as the service queues it, then a batch's readings and letters
  gathered and its formats counted, as the flusher does;
- ``store``: ``write()`` of 5,000-reading batches, InfluxDB and SQLite (the process's CPU: formatting,
  gzip, HTTP or SQLite; the server's own CPU is not in it);
- ``ack``: the PUBACK packets of a batch, built as :meth:`ingest.client.BufferedClient.ack_all` does.

Then the whole ``panen ingest`` process draining the same backlog, with its CPU time read from
``/proc``: what it spends beyond the sum of the stages is the cost of running them in threads that
share the GIL (handing it over, waking each other). Run: ``python -m bench.ingest --split``.
"""

from __future__ import annotations

import json
import random
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from bench.ingest import METRICS, bench_servers, ingest_drain, publish_messages
from ingest.client import BrokerConnection, ConnectionSettings, Publish
from ingest.nodes import NodeRegistry, RegisteredNode
from ingest.pipeline import MessageResult, decode_message
from ingest.service import quiet_collector
from sensors.topics import Format, MqttTarget
from storage.influx import InfluxStore
from storage.sqlite import SqliteStore

NODES = [f"n{i}" for i in range(240)]
BATCH_READINGS = 5_000


def random_backlog(prefix: str, count: int, seed: int = 41) -> list[tuple[str, bytes]]:
    """``count`` native messages of 5 readings from random nodes, with random values and digits."""
    rng = random.Random(seed)
    t0 = int(time.time() * 1000) - count * 1000
    out = []
    for i in range(count):
        node = rng.choice(NODES)
        values = {m: round(rng.uniform(0.0, 40.0), rng.randint(1, 4)) for m in METRICS}
        payload = json.dumps({"ts": t0 + i * 1000, "values": values}).encode()
        out.append((f"{prefix}panen/v1/c1/{node}/up", payload))
    return out


def _cpu() -> float:
    return time.process_time()


def _settings(port: int, client_id: str, topic: str) -> ConnectionSettings:
    return ConnectionSettings(
        mqtt=MqttTarget("127.0.0.1", port),
        client_id=client_id,
        subscriptions=(topic,),
        receive_maximum=10_000,
        session_expiry_s=600,
        keepalive_s=30,
        backoff_min_s=0.1,
        backoff_max_s=1.0,
    )


def network(port: int, prefix: str, backlog: list[tuple[str, bytes]]) -> tuple[float, float, list[Publish]]:
    """Drain the backlog through ingest's connection, acking each read: (CPU µs/msg, msg/s, messages)."""
    topic = f"{prefix}panen/v1/+/+/up"
    got: list[Publish] = []
    done = threading.Event()
    stop = threading.Event()
    holder: list[BrokerConnection] = []

    def on_publishes(publishes: list[Publish]) -> None:
        got.extend(publishes)
        holder[0].client.ack_all([p.mid for p in publishes if p.qos == 1])
        if len(got) >= len(backlog):
            done.set()

    def run(connection: BrokerConnection) -> threading.Thread:
        holder[:] = [connection]
        thread = threading.Thread(target=connection.loop)
        thread.start()
        return thread

    # The session exists and is offline while the backlog is published.
    first = BrokerConnection(
        _settings(port, f"split-{prefix}", topic),
        on_publishes=on_publishes,
        on_state=lambda _: None,
        stop=stop,
    )
    thread = run(first)
    first.subscribed.wait(10)
    stop.set()
    thread.join()
    first.close()
    publish_messages(port, f"split-pub-{prefix}", backlog)
    stop = threading.Event()
    connection = BrokerConnection(
        _settings(port, f"split-{prefix}", topic),
        on_publishes=on_publishes,
        on_state=lambda _: None,
        stop=stop,
    )
    began, cpu0 = time.perf_counter(), _cpu()
    thread = run(connection)
    done.wait(300)
    elapsed, cpu = time.perf_counter() - began, _cpu() - cpu0
    stop.set()
    thread.join()
    connection.close()
    return cpu / len(got) * 1e6, len(got) / elapsed, got


def decode(
    publishes: list[Publish], registry: NodeRegistry, prefix: str
) -> tuple[float, list[MessageResult]]:
    """CPU µs per message of decode_message, and the results."""
    arrival = int(time.time() * 1000)
    cpu0 = _cpu()
    results = [
        decode_message(p.topic, p.payload, arrival_ms=arrival, registry=registry, prefix=prefix)
        for p in publishes
    ]
    return (_cpu() - cpu0) / len(publishes) * 1e6, results


def batch(publishes: list[Publish], results: list[MessageResult]) -> float:
    """CPU µs per message of queueing chunks of 400 messages and gathering them into batches."""
    from collections import Counter

    cpu0 = _cpu()
    chunks = []
    for i in range(0, len(results), 400):
        part, sent = results[i : i + 400], publishes[i : i + 400]
        chunks.append(
            ([p.mid for p in sent if p.qos == 1], part, sum([len(r.readings) + len(r.dead) for r in part]))
        )
    for i in range(0, len(chunks), BATCH_READINGS // 2_000):
        taken = [r for c in chunks[i : i + BATCH_READINGS // 2_000] for r in c[1]]
        Counter([r.format for r in taken])
        [x for r in taken for x in r.readings]  # the flusher's gathering, measured
        [d for r in taken for d in r.dead]
        sum(r.implausible for r in taken)
    return (_cpu() - cpu0) / len(results) * 1e6


def store(write: object, results: list[MessageResult]) -> tuple[float, float]:
    """CPU µs and wall µs per message of writing the readings in 5,000-reading batches."""
    readings = [x for r in results for x in r.readings]
    began, cpu0 = time.perf_counter(), _cpu()
    for i in range(0, len(readings), BATCH_READINGS):
        write(readings[i : i + BATCH_READINGS])  # type: ignore[operator]
    n = len(results)
    return (_cpu() - cpu0) / n * 1e6, (time.perf_counter() - began) / n * 1e6


def ack(publishes: list[Publish]) -> float:
    """CPU µs per message of building a batch's PUBACK packets (ack_all, without the socket)."""
    puback = struct.Struct("!BBH")
    mids = [p.mid for p in publishes]
    cpu0 = _cpu()
    for i in range(0, len(mids), 1_000):
        b"".join(puback.pack(0x40, 2, mid) for mid in mids[i : i + 1_000])
    return (_cpu() - cpu0) / len(mids) * 1e6


def whole_process(
    port: int, prefix: str, backlog: list[tuple[str, bytes]], env: dict[str, str], tmp: Path
) -> tuple[float, float]:
    """``panen ingest`` draining the backlog, as ``bench.ingest`` drains: (its CPU µs/msg, msg/s)."""
    registry = tmp / "split-registry.yaml"
    registry.write_text(yaml.safe_dump({"nodes": [{"id": n, "coop": "c1", "site": f"f-{n}"} for n in NODES]}))
    env = {**env, "PANEN_REGISTRY_FILE": str(registry)}
    rate, cores = ingest_drain(port, prefix, len(backlog), env, tmp, 1, backlog=backlog)
    return cores / rate * 1e6, rate  # cores are CPU seconds a second: over msg/s, CPU s a message


def main(messages: int) -> None:
    """Measure each stage and the whole process; print one JSON line."""
    quiet_collector()  # as panen ingest does
    registry = NodeRegistry([RegisteredNode(n, "c1", f"f-{n}", Format.NATIVE) for n in NODES])
    with tempfile.TemporaryDirectory(prefix="panen-bench-split-") as tmpdir:
        tmp = Path(tmpdir)
        with bench_servers(tmp) as (broker, influxd):
            print("network ...", file=sys.stderr)
            net_us, net_rate, publishes = network(broker.port, "net/", random_backlog("net/", messages))
            print("decode, batch, ack ...", file=sys.stderr)
            decode_us, results = decode(publishes, registry, "net/")
            batch_us = batch(publishes, results)
            ack_us = ack(publishes)
            print("store writes ...", file=sys.stderr)
            influx = InfluxStore(influxd.url)
            influx_us, influx_wall = store(influx.write, results)
            influx.close()
            sqlite = SqliteStore(tmp / "split.sqlite")
            sqlite_us, sqlite_wall = store(sqlite.write, results)
            sqlite.close()
            print("the whole process ...", file=sys.stderr)
            env = {"PANEN_INFLUX_URL": influxd.url, "PANEN_INFLUX_DB": "panen"}
            whole_us, whole_rate = whole_process(
                broker.port, "whole/", random_backlog("whole/", messages, 42), env, tmp
            )
    stages = net_us + decode_us + batch_us + influx_us + ack_us
    print(
        json.dumps(
            {
                "bench": "ingest_split",
                "messages": messages,
                "readings_per_message": len(METRICS),
                "network_us": round(net_us, 1),
                "network_only_msg_s": round(net_rate),
                "decode_us": round(decode_us, 2),
                "batch_us": round(batch_us, 2),
                "store_influx_us": round(influx_us, 1),
                "store_influx_wall_us": round(influx_wall, 1),
                "store_sqlite_us": round(sqlite_us, 1),
                "store_sqlite_wall_us": round(sqlite_wall, 1),
                "ack_us": round(ack_us, 2),
                "stages_influx_us": round(stages, 1),
                "process_cpu_us": round(whole_us, 1),
                "threads_overhead_us": round(whole_us - stages, 1),
                "process_msg_s": round(whole_rate),
            }
        )
    )
