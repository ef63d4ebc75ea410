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

import tenacity

from ingest.deadletters import DeadLetterLog
from ingest.errors import SpoolFull
from ingest.metrics import IngestMetrics
from ingest.pipeline import DeadLetter
from ingest.retry import retrying
from ingest.spool import Spool
from sensors import Reading
from storage import StoreError, StoreRejected, TimeSeriesStore

__all__ = ["Sink"]

log = logging.getLogger("panen.ingest")


class _NotDurable(Exception):
    """The batch could not be made durable yet (the spool is full or the disk refused it)."""


@dataclass
class Sink:
    """The store, the spool in front of it, and the dead-letter log of one ingest process.

    Waits (spool full, store down) follow :func:`ingest.retry.retrying` with ``backoff``, until
    ``stop`` is set.
    """

    store: TimeSeriesStore
    spool: Spool
    dead_log: DeadLetterLog
    metrics: IngestMetrics
    stop: threading.Event
    backoff: tuple[float, float]  # (min_s, max_s) of the retry policy, ingest.retry
    replay_failures: int = field(default=0, init=False)
    last_replay_progress: float = field(default=0.0, init=False)  # monotonic [s]
    _spool_warned: bool = field(default=False, init=False)
    _spool_high: bool = field(default=False, init=False)
    _dead_log_warned: float = field(default=-60.0, init=False)

    def __post_init__(self) -> None:
        self.metrics.spool_capacity.set(self.spool.max_bytes)
        self.update_spool_metrics()
        self.report_corrupt()

    def report_corrupt(self) -> None:
        """Each spool line that could not be read becomes a ``spool_corrupt`` dead letter (its raw
        bytes are kept in the spool's quarantine folder, the first 4 KiB in the letter too)."""
        corrupt = self.spool.take_corrupt()
        if not corrupt:
            return
        now_ms = time.time_ns() // 1_000_000
        letters = []
        for c in corrupt:
            where = f"{c.segment} line {c.line}" if c.line else c.segment
            why = (
                "torn by a crash mid-append (its messages were not acknowledged and come again)"
                if c.torn
                else c.error
            )
            letters.append(
                DeadLetter(
                    "spool_corrupt",
                    f"spool {where}: {why}; raw bytes kept in {c.kept_at}",
                    "",
                    now_ms,
                    payload=c.raw[:4096],
                )
            )
        self.log_dead(letters)
        self.metrics.dead_letters.labels("spool_corrupt").inc(len(letters))

    def persist(self, readings: list[Reading], heartbeat: Callable[[], None] = lambda: None) -> bool:
        """Make the readings durable in the store or the spool; False only if stopping first.

        While the spool is full (or the disk refuses it) this waits with the retry policy and the
        batch's messages stay unacknowledged: the broker's session holds what follows.
        """
        if not readings:
            return True
        try:
            self._retry("appending to the full spool", attempts=heartbeat)(self._persist_once, readings)
        except _NotDurable:
            return False  # stopping
        return True

    def _persist_once(self, readings: list[Reading]) -> None:
        if len(self.spool) == 0:
            try:
                self.write_store(readings)
                return
            except StoreError as exc:
                self.metrics.store_errors.labels(type(exc).__name__).inc()
                log.warning("store write failed (%s); spooling %d readings", exc, len(readings))
        try:
            self.spool.append(readings)
        except SpoolFull as exc:
            if not self._spool_warned:
                log.error(
                    "spool full (%d bytes): no longer acknowledging messages until the store is back; "
                    "the broker's session holds them",
                    self.spool.bytes,
                )
                self._spool_warned = True
            raise _NotDurable(str(exc)) from exc
        except OSError as exc:
            log.error("cannot append to the spool: %s", exc)
            raise _NotDurable(str(exc)) from exc
        self.update_spool_metrics()

    def _retry(
        self, what: str, *, on: type[Exception] = _NotDurable, attempts: Callable[[], None] | None = None
    ) -> tenacity.Retrying:
        return retrying(
            on=on,
            min_s=self.backoff[0],
            max_s=self.backoff[1],
            stop=self.stop,
            log=log,
            what=what,
            attempts=attempts,
        )

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

    def replay_forever(self, heartbeat: Callable[[], None] = lambda: None) -> None:
        """While not stopped: replay the spool into the store whenever it holds readings, retrying
        with the policy while the store is down. ``heartbeat`` is called on every turn."""
        while not self.stop.is_set():
            heartbeat()
            if len(self.spool) == 0:
                self.stop.wait(0.5)
                continue
            try:
                done = self._retry("replaying the spool", on=StoreError)(self._replay_once, heartbeat)
            except StoreError:
                continue  # stopping
            self._spool_warned = False
            log.info("replayed %d spooled readings into the store", done)

    def _replay_once(self, heartbeat: Callable[[], None]) -> int:
        heartbeat()
        try:
            return self.spool.replay(lambda readings: self._write_and_count(readings, heartbeat))
        except StoreError:
            self.replay_failures += 1
            raise
        finally:
            self.update_spool_metrics()
            self.report_corrupt()

    def _write_and_count(self, readings: Sequence[Reading], heartbeat: Callable[[], None]) -> None:
        self.write_store(readings)
        self.last_replay_progress = time.monotonic()
        heartbeat()
