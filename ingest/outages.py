"""What ingest is waiting out: the outages that leave it running but degraded.

Ingest loses nothing while the store is down, the disk is full or the broker is away (it spools,
or stops acknowledging so that the broker keeps the backlog), so none of these stops it or turns
``/healthz`` to 503; but an operator must see each one, with its reason and how long it has
lasted, on ``/healthz`` (``"status": "degraded"``) and as ``panen_ingest_degraded{reason} 1``.
Each change of state is logged once (one line when an outage starts, one when it ends), not once
per failed request.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from enum import StrEnum

from prometheus_client import CollectorRegistry, Gauge

__all__ = ["Outage", "Outages"]

log = logging.getLogger("panen.ingest")


class Outage(StrEnum):
    """Why ingest is degraded (the ``reason`` label of ``panen_ingest_degraded``)."""

    STORE_UNREACHABLE = "store_unreachable"  # writes fail: readings go to the spool
    STORE_SLOW = "store_slow"  # a write has been waiting longer than ``store_slow_s``
    DISK_FULL = "disk_full"  # the spool's disk refuses appends: messages stay unacknowledged
    SPOOL_FULL = "spool_full"  # the spool reached its bound: messages stay unacknowledged
    BROKER_UNREACHABLE = "broker_unreachable"  # no MQTT connection


@dataclass(frozen=True)
class _State:
    since: float  # monotonic [s]
    detail: str


class Outages:
    """The outages under way, thread-safe; each start and end logged once."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Export ``panen_ingest_degraded{reason}`` (0 or 1 for every :class:`Outage`) in ``registry``."""
        self._lock = threading.Lock()
        self._now: dict[Outage, _State] = {}
        self._gauge = Gauge(
            "panen_ingest_degraded",
            "1 while ingest waits out this outage (it loses nothing meanwhile), else 0",
            ["reason"],
            registry=registry,
        )
        for outage in Outage:
            self._gauge.labels(outage.value).set(0)

    def begin(self, outage: Outage, detail: str) -> None:
        """The outage is under way (a repeat keeps its start and takes the newer detail)."""
        with self._lock:
            state = self._now.get(outage)
            self._now[outage] = _State(state.since if state else time.monotonic(), detail)
        if state is None:
            self._gauge.labels(outage.value).set(1)
            log.error("degraded: %s (%s)", outage.value.replace("_", " "), detail)

    def end(self, outage: Outage) -> None:
        """The outage is over (nothing happens if it was not under way)."""
        with self._lock:
            state = self._now.pop(outage, None)
        if state is not None:
            self._gauge.labels(outage.value).set(0)
            log.warning(
                "%s is over after %.0f s", outage.value.replace("_", " "), time.monotonic() - state.since
            )

    def active(self, outage: Outage) -> bool:
        """Whether ``outage`` is under way."""
        with self._lock:
            return outage in self._now

    def describe(self) -> tuple[str, ...]:
        """One line per outage under way: what, for how long, and the last error."""
        now = time.monotonic()
        with self._lock:
            states = sorted(self._now.items())
        return tuple(f"{o.value} for {now - s.since:.0f} s: {s.detail}" for o, s in states)
