"""Every long-running thread of ingest is watched: a thread that died or stopped beating, or a replay
that makes no progress while the store answers, turns ingest's health red (``/healthz`` answers 503
with the reason), and red for longer than a grace period stops ingest with an error, so that systemd
or Docker (``restart:``) starts it again. A dead thread is restarted at once and the health stays
red for ten checks after (50 s at the defaults): if the thread keeps working, it turns green again
without a restart of the process; if it dies again, the red goes on into the grace period.

Each thread calls its heartbeat on every turn of its loop; the time of the last one is exported, as
of the last check, as ``panen_ingest_thread_heartbeat_timestamp_seconds{thread}``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge

from ingest.errors import IngestUnhealthy

__all__ = ["Health", "IngestUnhealthy", "Supervisor"]

log = logging.getLogger("panen.ingest")


@dataclass(frozen=True)
class Health:
    """Whether ingest is healthy, why not, the outages it is waiting out, and each thread's state.

    ``ok`` is False only when ingest itself is broken (a thread died or is stuck): then ``/healthz``
    answers 503 and, past the grace period, ingest exits for a restart. ``degraded`` lists the
    outages it waits out without losing anything (:mod:`ingest.outages`); a restart would not
    help those, so ``/healthz`` still answers 200, with ``"status": "degraded"`` and the reasons.
    """

    ok: bool
    reasons: tuple[str, ...]
    threads: dict[str, dict[str, object]]
    degraded: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """``ok``, ``degraded`` or ``unhealthy``."""
        if not self.ok:
            return "unhealthy"
        return "degraded" if self.degraded else "ok"

    def as_json(self) -> dict[str, object]:
        """The body of ``/healthz``."""
        return {
            "status": self.status,
            "reasons": list(self.reasons),
            "degraded": list(self.degraded),
            "threads": self.threads,
        }


@dataclass
class _Worker:
    name: str
    target: Callable[[Callable[[], None]], None] | None  # None: a thread started elsewhere
    stale_after_s: float
    thread: threading.Thread | None = None
    last_beat: float = field(default_factory=time.monotonic)
    error: str = ""
    restarts: int = 0
    restarted_at: float | None = None


class Supervisor:
    """Starts the worker threads, watches them, and reports health (see the module docstring)."""

    def __init__(
        self,
        *,
        registry: CollectorRegistry,
        stop: threading.Event,
        check_every_s: float = 5.0,
        grace_s: float = 60.0,
        extra_checks: tuple[Callable[[], str | None], ...] = (),
        degraded: Callable[[], tuple[str, ...]] = tuple,
        on_fatal: Callable[[IngestUnhealthy], None] = lambda _exc: None,
    ) -> None:
        """Watch threads every ``check_every_s``; ``extra_checks`` return a reason or None;
        ``degraded`` returns the outages under way (reported, never fatal)."""
        self._stop = stop
        self._degraded = degraded
        self.check_every_s = check_every_s
        self.grace_s = grace_s
        # A restarted thread keeps the health red this long: long enough to be seen by whoever asks,
        # and for the thread to show that it works again.
        self.recovery_s = 10 * check_every_s
        self._extra_checks = extra_checks
        self._on_fatal = on_fatal
        self._workers: dict[str, _Worker] = {}
        self._lock = threading.Lock()
        self._unhealthy_since: float | None = None
        self._health = Health(True, (), {})
        self._beats = Gauge(
            "panen_ingest_thread_heartbeat_timestamp_seconds",
            "When each ingest thread last went round its loop (UNIX time)",
            ["thread"],
            registry=registry,
        )
        self._healthy = Gauge("panen_ingest_healthy", "1 while ingest is healthy, else 0", registry=registry)
        self._healthy.set(1)

    def add(
        self, name: str, target: Callable[[Callable[[], None]], None] | None, *, stale_after_s: float
    ) -> None:
        """A thread running ``target(heartbeat)`` (``None``: one started elsewhere, which beats through
        :meth:`heartbeat`); unhealthy if it has not beaten for ``stale_after_s``."""
        self._workers[name] = _Worker(name, target, stale_after_s)

    def heartbeat(self, name: str) -> Callable[[], None]:
        """The heartbeat of ``name`` (for a thread the supervisor did not start, such as the network)."""
        worker = self._workers[name]

        def beat() -> None:  # on the hot path: one assignment; the gauge is set by check()
            worker.last_beat = time.monotonic()

        return beat

    def _start(self, worker: _Worker) -> None:
        beat = self.heartbeat(worker.name)

        target = worker.target
        assert target is not None

        def run() -> None:
            try:
                target(beat)
            except Exception as exc:  # a bug of ours: say so, and let check() restart the thread
                worker.error = f"{type(exc).__name__}: {exc}"
                log.exception("ingest thread %s died", worker.name)

        beat()
        worker.thread = threading.Thread(target=run, name=worker.name, daemon=True)
        worker.thread.start()

    def start(self, *, watch: bool = True) -> None:
        """Start every added thread whose target is not run elsewhere, and the watcher."""
        for worker in self._workers.values():
            if worker.target is not None:
                self._start(worker)
        if watch:
            threading.Thread(target=self._watch, name="ingest-supervisor", daemon=True).start()

    def thread(self, name: str) -> threading.Thread | None:
        """The thread running worker ``name`` now (a restart replaces it)."""
        return self._workers[name].thread

    def threads(self) -> list[threading.Thread]:
        """The started worker threads."""
        return [w.thread for w in self._workers.values() if w.thread is not None]

    def check(self) -> Health:
        """Check every thread (restarting dead ones) and the extra checks; returns the health now."""
        reasons: list[str] = []
        now = time.monotonic()
        states: dict[str, dict[str, object]] = {}
        for w in self._workers.values():
            dead = w.thread is not None and not w.thread.is_alive() and not self._stop.is_set()
            age = now - w.last_beat
            if dead:
                reasons.append(f"thread {w.name} died ({w.error or 'no error recorded'}); restarted")
                w.restarts += 1
                w.restarted_at = now
                self._start(w)
            elif w.restarted_at is not None and now - w.restarted_at < self.recovery_s:
                reasons.append(f"thread {w.name} was restarted {now - w.restarted_at:.0f} s ago ({w.error})")
            elif age > w.stale_after_s:
                reasons.append(f"thread {w.name} has not gone round its loop for {age:.0f} s")
            states[w.name] = {"heartbeat_age_s": round(age, 1), "restarts": w.restarts}
            self._beats.labels(w.name).set(time.time() - age)
        for extra in self._extra_checks:
            reason = extra()
            if reason:
                reasons.append(reason)
        health = Health(not reasons, tuple(reasons), states, self._degraded())
        with self._lock:
            previous = self._health
            self._health = health
            if health.ok:
                self._unhealthy_since = None
            elif self._unhealthy_since is None:
                self._unhealthy_since = now
        self._healthy.set(1 if health.ok else 0)
        if health.ok and not previous.ok:
            log.info("ingest is healthy again")
        elif not health.ok and health.reasons != previous.reasons:
            log.error("ingest is unhealthy: %s", "; ".join(health.reasons))
        return health

    @property
    def health(self) -> Health:
        """The health found by the last check."""
        return self._health

    def _watch(self) -> None:
        while not self._stop.wait(self.check_every_s):
            health = self.check()
            since = self._unhealthy_since
            if since is not None and time.monotonic() - since > self.grace_s:
                exc = IngestUnhealthy(
                    f"unhealthy for more than {self.grace_s:g} s: {'; '.join(health.reasons)}"
                )
                log.error("%s; stopping so that the service manager restarts ingest", exc)
                self._on_fatal(exc)
                return
