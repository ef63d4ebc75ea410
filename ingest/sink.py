"""Where a batch's readings become durable: the store, else the spool; and where refusals are logged.

- :meth:`Sink.persist`: write to the store; if it is unavailable (or the spool still holds older
  readings, so order is kept) append to the fsynced spool; if the spool is full, wait and retry, so
  the batch's messages stay unacknowledged and the broker's session holds the rest.
- :meth:`Sink.write_store`: a batch the store *rejects* is split in halves until the offending
  readings are isolated and dead-lettered (``store_rejected``); the rest is stored.
- :meth:`Sink.replay_forever`: while the spool holds readings, write them back oldest first.
- :meth:`Sink.log_dead`: append dead letters to the local log; a disk that refuses costs the log
  lines, never the stream.

Every failed store write, replay and spool append is counted, and each outage (store unreachable or
slow, disk or spool full) is an :class:`ingest.outages.Outage` from its first failure to its first
success: ingest is degraded, not dead, and says so once, not per batch.
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
from ingest.files import disk_is_full
from ingest.metrics import IngestMetrics
from ingest.outages import Outage, Outages
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
    outages: Outages
    store_slow_s: float = 10.0  # a write waiting longer than this makes the store "slow"
    replay_failures: int = field(default=0, init=False)
    last_replay_progress: float = field(default=0.0, init=False)  # monotonic [s]
    _write_started: float | None = field(default=None, init=False)  # monotonic [s], while a write waits
    append_failing: bool = field(default=False, init=False)  # the disk refused the last spool append
    _spool_high: bool = field(default=False, init=False)
    _dead_log_warned: float = field(default=-60.0, init=False)

    def __post_init__(self) -> None:
        self.metrics.spool_capacity.set(self.spool.max_bytes)
        self.metrics.watch_spool_disk(self.spool.directory)
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
                self._spool_waits_no_more()
                return
            except StoreError:
                pass  # counted, and the outage logged, by write_store: spool the batch
        try:
            self.spool.append(readings)
        except SpoolFull as exc:
            self.metrics.spool_append_errors.labels("spool_full").inc()
            self.outages.begin(
                Outage.SPOOL_FULL,
                f"{exc}: no longer acknowledging messages; the broker's session holds them",
            )
            raise _NotDurable(str(exc)) from exc
        except OSError as exc:
            kind = "disk_full" if disk_is_full(exc) else "disk_error"
            self.metrics.spool_append_errors.labels(kind).inc()
            self.append_failing = True
            self.outages.begin(
                Outage.DISK_FULL,
                f"the spool's disk refuses appends ({exc.strerror or exc}): no longer acknowledging "
                "messages; the broker's session holds them",
            )
            raise _NotDurable(str(exc)) from exc
        self._spool_waits_no_more()
        self.update_spool_metrics()

    def _spool_waits_no_more(self) -> None:
        """A batch was made durable: neither the spool's bound nor its disk holds ingest up now.
        (The disk-full outage ends at the next health check that finds room: see
        :meth:`ingest.service.IngestService._check_disk`.)"""
        self.append_failing = False
        self.outages.end(Outage.SPOOL_FULL)

    def _retry(
        self,
        what: str,
        *,
        on: type[Exception] | tuple[type[Exception], ...] = _NotDurable,
        attempts: Callable[[], None] | None = None,
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
        """Write, isolating readings the store itself rejects so the rest of the batch is kept.

        Raises:
            StoreError: the store is unavailable (counted; the outage begins).
        """
        started = time.perf_counter()
        self._write_started = time.monotonic()
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
        except StoreError as exc:
            self.metrics.store_errors.labels(type(exc).__name__).inc()
            self.outages.begin(Outage.STORE_UNREACHABLE, f"{exc}; readings wait in the spool")
            raise
        finally:
            self._write_started = None
        self.metrics.write_seconds.observe(time.perf_counter() - started)
        self.metrics.readings_stored.inc(len(readings))
        self.metrics.mark_stored()
        self.outages.end(Outage.STORE_UNREACHABLE)

    def check_slow(self) -> None:
        """Begin or end the "store slow" outage: a write waiting longer than ``store_slow_s``."""
        started = self._write_started
        waited = 0.0 if started is None else time.monotonic() - started
        if waited > self.store_slow_s:
            self.outages.begin(Outage.STORE_SLOW, f"a write has waited {waited:.0f} s for the store")
        else:
            self.outages.end(Outage.STORE_SLOW)

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
                # OSError: the disk refused a read, a rename or a truncation; a state to wait out,
                # like the store's, never a reason for the replayer to die.
                done = self._retry("replaying the spool", on=(StoreError, OSError))(
                    self._replay_once, heartbeat
                )
            except (StoreError, OSError):
                continue  # stopping
            log.info("replayed %d spooled readings into the store", done)

    def _replay_once(self, heartbeat: Callable[[], None]) -> int:
        heartbeat()
        try:
            done = self.spool.replay(lambda readings: self._write_and_count(readings, heartbeat))
        except (StoreError, OSError) as exc:
            self.replay_failures += 1
            self.metrics.replay_errors.labels(type(exc).__name__).inc()
            raise
        else:
            if len(self.spool) == 0:  # nothing more needs the disk: batches go to the store again
                self._spool_waits_no_more()
            return done
        finally:
            self.update_spool_metrics()
            self.report_corrupt()

    def _write_and_count(self, readings: Sequence[Reading], heartbeat: Callable[[], None]) -> None:
        self.write_store(readings)
        self.last_replay_progress = time.monotonic()
        heartbeat()
