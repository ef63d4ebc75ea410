"""Prometheus metrics of one ingest process (its own registry, so tests can run several)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from storage import Series, SeriesPoint

__all__ = ["IngestMetrics", "scrape"]


class IngestMetrics:
    """The counters, gauges and histograms ingest exports on ``/metrics``."""

    def __init__(self) -> None:
        """Create every metric in a fresh registry."""
        # Long: one declaration per exported metric, kept together as the list of what ingest exports.
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter(
            "panen_ingest_messages_received",
            "MQTT messages received, by payload format",
            ["format"],
            registry=r,
        )
        self.readings_stored = Counter(
            "panen_ingest_readings_stored",
            "Readings written to the store (including replayed spool)",
            registry=r,
        )
        self.readings_implausible = Counter(
            "panen_ingest_readings_implausible", "Readings stored with quality flag implausible", registry=r
        )
        self.dead_letters = Counter(
            "panen_ingest_dead_letters", "Refused messages and readings, by reason", ["reason"], registry=r
        )
        self.dead_letters_unpublished = Counter(
            "panen_ingest_dead_letters_unpublished",
            "Dead letters logged but not republished to panen/v1/_dead/... (over the rate per reason)",
            ["reason"],
            registry=r,
        )
        self.dead_log_errors = Counter(
            "panen_ingest_dead_letter_log_errors",
            "Batches of dead letters the local log could not take (disk full or unwritable)",
            registry=r,
        )
        self.spool_readings = Gauge(
            "panen_ingest_spool_readings", "Readings waiting in the spool", registry=r
        )
        self.spool_bytes = Gauge("panen_ingest_spool_bytes", "Bytes in the spool", registry=r)
        self.spool_capacity = Gauge("panen_ingest_spool_capacity_bytes", "Spool size bound", registry=r)
        self.write_seconds = Histogram(
            "panen_ingest_store_write_seconds",
            "Time to write one batch to the store",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.store_errors = Counter(
            "panen_ingest_store_errors",
            "Failed store writes (fresh batches and spool replays alike), by kind",
            ["kind"],
            registry=r,
        )
        self.replay_errors = Counter(
            "panen_ingest_replay_errors",
            "Spool replays that stopped on an error (the store, or the spool's disk), by kind",
            ["kind"],
            registry=r,
        )
        self.spool_append_errors = Counter(
            "panen_ingest_spool_append_errors",
            "Batches the spool could not take (spool_full: its bound; disk_full, disk_error: the disk)",
            ["kind"],
            registry=r,
        )
        self.spool_disk_free = Gauge(
            "panen_ingest_spool_disk_free_bytes",
            "Free bytes on the spool's file system, for an unprivileged process (-1: cannot be read)",
            registry=r,
        )
        self.connected = Gauge("panen_ingest_broker_connected", "1 while connected to the broker", registry=r)
        self.last_connect = Gauge(
            "panen_ingest_last_connect_timestamp_seconds",
            "Unix time of the last successful broker connection (a recent value on an old process: flapping)",
            registry=r,
        )
        self.pending = Gauge(
            "panen_ingest_unacked_messages", "Messages received and not yet acknowledged", registry=r
        )
        # For alerting on an ingest that stores nothing although nodes publish, and for bench.ingest,
        # which reads when the last batch landed instead of polling /metrics fast.
        self.last_stored = Gauge(
            "panen_ingest_last_stored_timestamp_seconds",
            "Unix time of the last successful store write (0: none yet)",
            registry=r,
        )
        self._stored_at = time.time()  # the last successful store write, or the start
        self.since_stored = Gauge(
            "panen_ingest_seconds_since_last_store_write",
            "Seconds since the last successful store write (or since start, if none yet)",
            registry=r,
        )
        self.since_stored.set_function(lambda: time.time() - self._stored_at)

    def mark_stored(self) -> None:
        """A store write succeeded just now."""
        self._stored_at = time.time()
        self.last_stored.set(self._stored_at)

    def watch_spool_disk(self, directory: Path) -> None:
        """Read ``panen_ingest_spool_disk_free_bytes`` off ``directory``'s file system at each scrape."""

        def free() -> float:
            try:
                return float(shutil.disk_usage(directory).free)
            except OSError:
                return -1.0

        self.spool_disk_free.set_function(free)

    def stats_point(self, client_id: str, ts_ms: int) -> SeriesPoint:
        """This process's counters as one point of the store's ``ingest`` series, for dashboards
        that read only InfluxDB: readings stored, dead letters (in all and ``dead_<reason>``), spool."""
        values: dict[str, float] = {}
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name == "panen_ingest_readings_stored_total":
                    values["readings_stored"] = sample.value
                elif sample.name == "panen_ingest_dead_letters_total":
                    reason = "".join(c if c.isalnum() else "_" for c in sample.labels["reason"])
                    values[f"dead_{reason}"] = sample.value
                elif sample.name == "panen_ingest_spool_readings":
                    values["spool_readings"] = sample.value
                elif sample.name == "panen_ingest_spool_bytes":
                    values["spool_bytes"] = sample.value
                elif sample.name == "panen_ingest_unacked_messages":
                    values["unacked"] = sample.value
        values["dead_letters"] = sum(v for k, v in values.items() if k.startswith("dead_"))
        return SeriesPoint(Series.INGEST, {"client": client_id}, ts_ms, values)


def scrape(url: str, timeout_s: float = 2.0) -> dict[str, float]:
    """A running ingest's ``/metrics``: each sample name with its values summed over labels
    (``panen_ingest_dead_letters_total`` is all reasons together).

    Raises:
        httpx.HTTPError: the endpoint did not answer.
    """
    text = httpx.get(url, timeout=timeout_s).text
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals
