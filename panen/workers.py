"""``panen ingest --workers N``: N ingest processes in one MQTT v5 shared group, supervised.

Each worker is a ``panen ingest`` process of its own (a process, not a thread: decoding and batching
are CPU-bound Python) with a distinct client id (``<id>-w<i>``, so each keeps its persistent session),
its own spool and dead letters (worker 0 in the data folder, as a single ingest has them, so going from
one process to several loses no spooled reading; worker i in ``ingest-w<i>/``) and its own
``/metrics`` on ``--metrics-port`` + i. A worker that exits is started again after a capped back-off
(1 s, doubling to 30 s, reset after a minute of good running); one that exits with code 3 (the broker
refused its credentials) stops the pool with that code, since a restart cannot fix a password.
SIGTERM and SIGINT stop every worker and wait for them.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["EXIT_AUTH", "Worker", "WorkerPool"]

EXIT_AUTH = 3
log = logging.getLogger("panen.workers")


@dataclass
class Worker:
    """One supervised process."""

    index: int
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    delay_s: float = 1.0
    due_at: float = field(default=0.0)


class WorkerPool:
    """Starts ``commands`` (one argv per worker), restarts the ones that die, stops them all."""

    def __init__(
        self,
        commands: Sequence[list[str]],
        *,
        max_delay_s: float = 30.0,
        healthy_after_s: float = 60.0,
        spawn: Callable[[list[str]], subprocess.Popen[bytes]] = subprocess.Popen,
    ) -> None:
        """Supervise one process per command."""
        self.workers = [Worker(i, list(args)) for i, args in enumerate(commands)]
        self.max_delay_s = max_delay_s
        self.healthy_after_s = healthy_after_s
        self.spawn = spawn
        self._stop = threading.Event()

    def _start(self, worker: Worker) -> None:
        worker.process = self.spawn(worker.args)
        worker.started_at = time.monotonic()

    def run(self, *, poll_s: float = 0.2) -> int:
        """Supervise until :meth:`stop` (then 0) or a worker's refused credentials (then 3)."""
        for worker in self.workers:
            self._start(worker)
        try:
            while not self._stop.wait(poll_s):
                now = time.monotonic()
                for worker in self.workers:
                    proc = worker.process
                    if proc is not None and proc.poll() is None:
                        if now - worker.started_at > self.healthy_after_s:
                            worker.delay_s = 1.0
                        continue
                    if proc is not None:  # it just exited
                        code = proc.returncode
                        if code == EXIT_AUTH:
                            log.error("ingest worker %d: the broker refused its credentials", worker.index)
                            return EXIT_AUTH
                        worker.process = None
                        worker.due_at = now + worker.delay_s
                        log.warning(
                            "ingest worker %d exited (%s); restarting in %.0f s",
                            worker.index,
                            code,
                            worker.delay_s,
                        )
                        worker.delay_s = min(worker.delay_s * 2, self.max_delay_s)
                    if now >= worker.due_at:
                        worker.restarts += 1
                        self._start(worker)
            return 0
        finally:
            self._terminate()

    def stop(self) -> None:
        """Ask :meth:`run` to stop every worker and return."""
        self._stop.set()

    def _terminate(self, grace_s: float = 30.0) -> None:
        running = [w.process for w in self.workers if w.process is not None and w.process.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
