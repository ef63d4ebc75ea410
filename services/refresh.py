"""The refresh cycle: every field's forecast, then contracts against it, then the alerts that depend on
both; and a scheduler thread that runs the cycle at an interval.

The API runs the scheduler (``panen api --refresh-minutes``), ``POST /v1/forecasts/recompute`` runs
one cycle, and ``panen refresh`` runs one without the API: a cron job needs no web server.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services import ServiceError
from services.alerts import contract_findings, evaluate_alerts
from services.contracts import AT_RISK_BELOW, ContractService
from services.forecasting import ForecastService
from services.kinds import AlertKind
from services.notify.outbox import NotifyConfig, enqueue_raised
from services.track_record import skill_points
from storage import TimeSeriesStore
from storage.db import Alert

__all__ = [
    "Platform",
    "RefreshFailed",
    "RefreshFailure",
    "RefreshResult",
    "RefreshScheduler",
    "evaluate_all_alerts",
    "refresh",
]

log = logging.getLogger("panen.refresh")


@dataclass(frozen=True)
class RefreshResult:
    """What one cycle did."""

    issued: dt.date
    fields: int
    seconds: float
    active_alerts: dict[str, int]
    finished_at: dt.datetime

    def as_dict(self) -> dict[str, object]:
        """The JSON the API answers a recompute with."""
        return {
            "issued": self.issued.isoformat(),
            "fields": self.fields,
            "seconds": self.seconds,
            "active_alerts": self.active_alerts,
        }


@dataclass(frozen=True)
class RefreshFailure:
    """A cycle that failed: when, and why. The last good forecasts stay in use."""

    at: dt.datetime
    reason: str


class RefreshFailed(ServiceError):
    """The cycle failed; the previous forecasts are still served (see :attr:`Platform.last_failure`)."""


@dataclass
class Platform:
    """The services of one store and registry, built once (by the API, or by ``panen refresh``)."""

    store: TimeSeriesStore
    sessions: sessionmaker[Session]
    forecasts: ForecastService
    contracts: ContractService = field(init=False)
    last_refresh: RefreshResult | None = None
    last_failure: RefreshFailure | None = None  # set while the newest cycle failed
    notify: NotifyConfig = field(default_factory=NotifyConfig)  # links and policy of the alerts' messages

    def __post_init__(self) -> None:
        self.contracts = ContractService(self.sessions, self.forecasts)


def evaluate_all_alerts(platform: Platform) -> dict[str, int]:
    """Evaluate every alert rule, contracts at risk included, on the latest forecasts; returns how many
    alerts are active per kind."""
    run = platform.forecasts.latest
    extra = contract_findings(platform.contracts.report(run), AT_RISK_BELOW) if run is not None else []
    return evaluate_alerts(platform.store, platform.sessions, run, extra=extra, notify=platform.notify)


def refresh(platform: Platform) -> RefreshResult:
    """One cycle: recompute every forecast (written to the store), then contracts and alerts.

    A cycle that fails for any reason (the store, a record the engine cannot use, a bug) leaves the
    last good forecasts in use, is remembered in ``platform.last_failure`` (``/ready`` says
    "degraded" with it) and raises a ``refresh_failed`` alert for offtaker and admin, which the next
    good cycle clears.

    Raises:
        RefreshFailed: saying why.
    """
    try:
        run = platform.forecasts.run()
        counts = evaluate_all_alerts(platform)
        with platform.sessions() as session:  # the track record, for the supply-outlook dashboard
            platform.store.write_series(skill_points(platform.store, session, time.time_ns() // 1_000_000))
    except Exception as exc:
        reason = f"{type(exc).__name__}: {str(exc)[:300]}"
        platform.last_failure = RefreshFailure(dt.datetime.now(dt.UTC), reason)
        log.exception("forecast refresh failed; the last good forecasts stay in use")
        try:
            _alert_failure(platform.sessions, reason, platform.notify)
        except Exception:  # the registry may be what failed: the log and /ready still say so
            log.exception("cannot raise the refresh_failed alert")
        raise RefreshFailed(reason) from exc
    platform.last_failure = None
    maintain(platform.store)
    result = RefreshResult(run.issued, len(run.forecasts), run.seconds, counts, dt.datetime.now(dt.UTC))
    platform.last_refresh = result
    log.info("forecasts for %d fields in %.1f s; active alerts %s", result.fields, result.seconds, counts)
    return result


def maintain(store: TimeSeriesStore, now_ms: int | None = None) -> dict[str, int]:
    """Roll up new readings and drop those past their window, where the store does not do it itself
    (the embedded SQLite store; on InfluxDB, which has retention policies and continuous queries, the
    days readings reached late). A failure is logged, not raised: the raw readings are still there,
    and the next cycle tries again."""
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    try:
        counts = store.maintain(now_ms=now)
    except Exception:
        log.exception("store maintenance (rollup, retention) failed; the next refresh tries again")
        return {}
    if any(counts.values()):
        log.info("store maintenance: %s", counts)
    return counts


def _alert_failure(sessions: sessionmaker[Session], reason: str, notify: NotifyConfig) -> None:
    now = dt.datetime.now(dt.UTC)
    with sessions() as session:
        active = session.scalars(
            select(Alert).where(
                Alert.active, Alert.kind == AlertKind.REFRESH_FAILED, Alert.subject == "forecast-refresh"
            )
        ).first()
        message = f"the forecast refresh failed ({reason}); the previous forecasts are still served"[:500]
        if active is None:
            alert = Alert(
                kind=AlertKind.REFRESH_FAILED,
                subject="forecast-refresh",
                coop_id=None,
                field_id=None,
                severity="critical",
                message=message,
                first_seen=now,
                last_seen=now,
                active=True,
            )
            session.add(alert)
            session.flush()
            enqueue_raised(session, [alert], now, notify)
        else:
            active.last_seen, active.message = now, message
        session.commit()


# How long stopping waits for a refresh cycle in progress: the default fleet's takes a few seconds;
# a service manager's stop timeout is usually 10-90 s [est].
STOP_WAIT_S = 60.0


class RefreshScheduler:
    """Runs ``cycle`` at start and then every ``every_s`` seconds in a daemon thread, until stopped.

    A failed cycle is logged and the next one runs on time: one bad run must not stop forecasting.
    """

    def __init__(self, cycle: Callable[[], object], every_s: float) -> None:
        """Schedule ``cycle`` (e.g. ``lambda: refresh(platform)``)."""
        self.cycle = cycle
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="forecast-refresh", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.cycle()
            except RefreshFailed:
                pass  # logged, kept in last_failure and raised as an alert by refresh()
            except Exception:  # a failed run must not stop the next one
                log.exception("scheduled forecast refresh failed")
            self._stop.wait(self.every_s)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self, timeout_s: float = STOP_WAIT_S) -> bool:
        """Ask the thread to finish after its current cycle and wait for it, up to ``timeout_s``;
        returns whether it has finished. Whoever closes the store next must not close it under a cycle
        still writing to it (SQLite's connections crash the process when closed mid-statement from
        another thread)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("forecast refresh still running %.0f s after it was asked to stop", timeout_s)
            return False
        return True
