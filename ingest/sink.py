"""Where a batch's readings become durable: the store, else the spool; and where refusals are logged.

- :meth:`Sink.persist`: write to the store; if it is unavailable (or the spool still holds older
  readings, so order is kept) append to the fsynced spool; if the spool is full, wait and retry, so
  the batch's messages stay unacknowledged and the broker's session holds the rest.
- :meth:`Sink.write_store`: a batch the store *rejects* is split in halves until the offending
  readings are isolated and dead-lettered (``store_rejected``); the rest is stored.
- :meth:`Sink.replay_forever`: while the spool holds readings, write them back oldest first.
- :meth:`Sink.log_dead`: append dead letters to the local log; a disk that refuses costs the log
  lines, never the stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ingest.deadletters import DeadLetterLog
from ingest.errors import SpoolFull
from ingest.metrics import IngestMetrics
from ingest.pipeline import DeadLetter
from ingest.spool import Spool
from sensors import Reading
from storage import StoreError, StoreRejected, TimeSeriesStore

__all__ = ["Sink"]

log = logging.getLogger("panen.ingest")


@dataclass
class Sink:
    """The store, the spool in front of it, and the dead-letter log of one ingest process.

    ``retry_delay(attempt)`` paces the waits (spool full, store down) until ``stop`` is set.
    """

    store: TimeSeriesStore
    spool: Spool
    dead_log: DeadLetterLog
    metrics: IngestMetrics
    stop: threading.Event
    retry_delay: Callable[[int], float]
    _spool_warned: bool = field(default=False, init=False)
    _spool_high: bool = field(default=False, init=False)
    _dead_log_warned: float = field(default=-60.0, init=False)

    def __post_init__(self) -> None:
        self.metrics.spool_capacity.set(self.spool.max_bytes)
        self.update_spool_metrics()

    def persist(self, readings: list[Reading]) -> bool:
        """Make the readings durable in the store or the spool; False only if stopping first."""
        if not readings:
            return True
        attempt = 0
        while True:
            if len(self.spool) == 0:
                try:
                    self.write_store(readings)
                    return True
                except StoreError as exc:
                    self.metrics.store_errors.labels(type(exc).__name__).inc()
                    log.warning("store write failed (%s); spooling %d readings", exc, len(readings))
            try:
                self.spool.append(readings)
                self.update_spool_metrics()
                return True
            except SpoolFull:
                if not self._spool_warned:
                    log.error(
                        "spool full (%d bytes): no longer acknowledging messages until the store is back; "
                        "the broker's session holds them",
                        self.spool.bytes,
                    )
                    self._spool_warned = True
            except OSError as exc:
                log.error("cannot append to the spool: %s", exc)
            if self.stop.is_set():
                return False
            self.stop.wait(self.retry_delay(attempt))
            attempt += 1

    def write_store(self, readings: Sequence[Reading]) -> None:
        """Write, isolating readings the store itself rejects so the rest of the batch is kept."""
        started = time.perf_counter()
        try:
            self.store.write(readings)
        except StoreRejected as exc:
            if len(readings) == 1:
                reading = readings[0]
                letter = DeadLetter(
                    "store_rejected",
                    str(exc)[:500],
                    "",
                    time.time_ns() // 1_000_000,
                    reading.node_id,
                    sample={"metric": reading.metric, "value": reading.value, "ts": reading.ts_ms},
                )
                self.log_dead([letter])
                self.metrics.dead_letters.labels("store_rejected").inc()
                return
            half = len(readings) // 2
            self.write_store(readings[:half])
            self.write_store(readings[half:])
            return
        self.metrics.write_seconds.observe(time.perf_counter() - started)
        self.metrics.readings_stored.inc(len(readings))
        self.metrics.last_stored.set_to_current_time()

    def log_dead(self, letters: Sequence[DeadLetter]) -> None:
        """Append to the local dead-letter log; a disk that refuses costs the log lines, not the stream.

        The letters are still counted and republished to ``panen/v1/_dead/...``. Failing the batch
        instead would leave its valid readings' messages unacknowledged and, batch after batch,
        stall ingest on a full disk.
        """
        try:
            self.dead_log.append(letters)
        except OSError as exc:
            self.metrics.dead_log_errors.inc()
            now = time.monotonic()
            if now - self._dead_log_warned >= 60:  # once a minute, not once a batch
                log.error("cannot write the dead-letter log %s: %s", self.dead_log.path, exc)
                self._dead_log_warned = now

    def update_spool_metrics(self) -> None:
        """Set the spool gauges; say once that the spool is filling (not on every batch), and again
        only after it drained below half."""
        self.metrics.spool_readings.set(self.spool.readings)
        self.metrics.spool_bytes.set(self.spool.bytes)
        share = self.spool.bytes / self.spool.max_bytes
        if share > 0.8 and not self._spool_high:
            log.error(
                "spool is %.0f%% full: the store has been refusing writes; at 100%% ingest stops "
                "acknowledging and the broker holds the messages",
                100 * share,
            )
            self._spool_high = True
        elif share < 0.5:
            self._spool_high = False

    def replay_forever(self) -> None:
        """While not stopped: replay the spool into the store whenever it holds readings."""
        attempt = 0
        while not self.stop.is_set():
            if len(self.spool) == 0:
                self.stop.wait(0.5)
                continue
            try:
                done = self.spool.replay(self.write_store)
                self._spool_warned = False
                log.info("replayed %d spooled readings into the store", done)
                attempt = 0
            except StoreError as exc:
                self.stop.wait(self.retry_delay(attempt))
                attempt += 1
                log.debug("store still unavailable for replay: %s", exc)
            finally:
                self.update_spool_metrics()
