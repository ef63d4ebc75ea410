"""One retry policy for every wait of ingest: the broker (connect, reconnect), the store (a write
that fell back to the spool), the replay of the spool, and a full spool.

Capped, full-jitter exponential back-off (the AWS architecture blog's "full jitter": a fleet of
reconnecting clients spreads apart) from tenacity, the kept library for it: its exponent is capped
and cannot overflow, which our own ``min * 2**attempt`` did at attempt 1,024 (about 4.3 hours of
outage at the defaults), killing the network loop or, silently, the replayer. The waits sleep on
the service's stop event, so a stop interrupts them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import tenacity

__all__ = ["backoff", "retrying"]


def backoff(min_s: float, max_s: float) -> tenacity.wait.wait_base:
    """The wait: uniform between ``min_s / 2`` and ``min(max_s, min_s * 2**n)`` after try ``n`` (also
    the notification outbox's, which keeps the schedule in its rows)."""
    return tenacity.wait_fixed(min_s / 2) + tenacity.wait_random_exponential(
        multiplier=min_s, max=max(max_s - min_s / 2, 0.0)
    )


def _interruptible(stop: threading.Event) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        stop.wait(seconds)  # returns early when the service stops

    return sleep


def retrying(
    *,
    on: type[BaseException] | tuple[type[BaseException], ...],
    min_s: float,
    max_s: float,
    stop: threading.Event,
    log: logging.Logger,
    what: str,
    level: int = logging.WARNING,
    attempts: Callable[[], None] | None = None,
) -> tenacity.Retrying:
    """Retry on exceptions ``on`` until it succeeds or ``stop`` is set (then the last one is raised).

    Each wait is uniform between ``min_s / 2`` and ``min(max_s, min_s * 2**n)``. ``attempts`` is
    called after every failed attempt (for counters). The log says what failed and the next wait on
    attempts 1, 2, 4, 8, … and every 100th: a night of retries at the cap is a few dozen lines.
    """

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if attempts is not None:
            attempts()
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        n = state.attempt_number
        if n & (n - 1) == 0 or n % 100 == 0:
            log.log(level, "%s failed (%s); retry %d in %.2f s", what, error, n, wait)

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(on),
        wait=backoff(min_s, max_s),
        stop=lambda _state: stop.is_set(),
        sleep=_interruptible(stop),
        before_sleep=before_sleep,
        reraise=True,
    )
