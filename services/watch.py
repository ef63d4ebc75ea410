"""What the API's ``/metrics`` says about the platform beyond HTTP (issue 40): the figures that answer
an operator's night, read from the registry, the store and the latest forecast at each scrape.

Prometheus' conventions: base units (``_seconds``), a gauge per state with bounded labels (alert kind
and severity, channel kind, node state and cooperative: 24 cooperatives × 5 states at most). Ages are
computed at the scrape, so an alerting rule compares them with a threshold directly.

- ``panen_alerts_open{kind,severity}``: active alerts.
- ``panen_outbox_messages{status,channel}``: notifications pending, failed or capped.
- ``panen_outbox_oldest_due_age_seconds{channel}``: how long the oldest due message has waited.
- ``panen_nodes{coop,state}``: nodes by state (:mod:`services.fleet`).
- ``panen_forecast_refresh_age_seconds``, ``panen_forecast_refresh_duration_seconds``,
  ``panen_forecast_refresh_failing``: the latest forecast's age, how long it took, and 1 while the
  newest cycle failed (the previous forecasts are served).
- ``panen_forecast_fields{outcome}``: fields forecast, closed by a harvest, or not forecast.
- ``panen_learning_records{outcome}``: harvest records the latest forecast learnt from, and left out.

``panen_notification_delivery_seconds{channel}`` (a histogram, observed by the sender) is declared
here too, so that every metric of the platform has one home.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from services.fleet import NodeState, fleet_health
from services.kinds import NotificationStatus
from services.notify.outbox import utc_now
from storage import StoreError
from storage.db import Alert, Field, Node, Notification

if TYPE_CHECKING:
    from services.refresh import Platform

__all__ = ["PlatformCollector", "delivery_timer"]

_WAITING = (NotificationStatus.PENDING, NotificationStatus.FAILED, NotificationStatus.CAPPED)


def delivery_timer(registry: CollectorRegistry) -> Callable[[str, float], None]:
    """``panen_notification_delivery_seconds{channel}`` in ``registry``: seconds from a notification
    entering the outbox to its delivery, by channel kind (quiet hours it was held back for included: a
    frost is never held); returns what the sender calls after each delivery (its ``on_sent``)."""
    histogram = Histogram(
        "panen_notification_delivery_seconds",
        "Seconds from a notification entering the outbox to its delivery (held-back quiet hours included)",
        ["channel"],
        buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600),
        registry=registry,
    )

    def observe(channel: str, seconds: float) -> None:
        histogram.labels(channel).observe(seconds)

    return observe


class PlatformCollector(Collector):
    """The platform's figures, read at each scrape."""

    def __init__(self, platform: Platform) -> None:
        """A collector over ``platform``'s registry, store and forecasts."""
        self.platform = platform

    def describe(self) -> list[GaugeMetricFamily]:
        """Nothing up front: the registry must not call :meth:`collect` when this is registered."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Every figure of the module's list."""
        now = utc_now()
        now_ms = int(now.timestamp() * 1000)
        alerts = GaugeMetricFamily("panen_alerts_open", "Active alerts", labels=["kind", "severity"])
        outbox = GaugeMetricFamily(
            "panen_outbox_messages", "Notifications pending, failed or capped", labels=["status", "channel"]
        )
        oldest = GaugeMetricFamily(
            "panen_outbox_oldest_due_age_seconds",
            "Seconds the oldest due, undelivered notification has waited since it was written",
            labels=["channel"],
        )
        with self.platform.sessions() as session:
            for kind, severity, n in session.execute(
                select(Alert.kind, Alert.severity, func.count())
                .where(Alert.active)
                .group_by(Alert.kind, Alert.severity)
            ):
                alerts.add_metric([kind, severity], n)
            waiting = (
                select(Notification.status, Notification.channel_kind, func.count())
                .where(Notification.status.in_(_WAITING))
                .group_by(Notification.status, Notification.channel_kind)
            )
            for status, channel, n in session.execute(waiting):
                outbox.add_metric([status, channel], n)
            due = (
                select(Notification.channel_kind, func.min(Notification.created_at))
                .where(Notification.status == NotificationStatus.PENDING, Notification.due_at <= now)
                .group_by(Notification.channel_kind)
            )
            for channel, first in session.execute(due):
                oldest.add_metric([channel], max(0.0, (now - first).total_seconds()))
            nodes = list(session.scalars(select(Node)))
            fields = session.scalar(select(func.count()).select_from(Field)) or 0
        yield from (alerts, outbox, oldest)
        yield self._nodes(nodes, now_ms)
        yield from self._forecasts(fields, now)

    def _nodes(self, nodes: list[Node], now_ms: int) -> GaugeMetricFamily:
        family = GaugeMetricFamily("panen_nodes", "Sensor nodes by state", labels=["coop", "state"])
        counts: dict[tuple[str, NodeState], int] = {}
        try:
            latest = self.platform.store.latest(node_ids=[n.id for n in nodes]) if nodes else []
            states = [(h.node.coop_id, h.state) for h in fleet_health(nodes, latest, now_ms)]
        except StoreError:
            states = [(n.coop_id, NodeState.UNKNOWN) for n in nodes]
        for coop, state in states:
            counts[(coop, state)] = counts.get((coop, state), 0) + 1
        for (coop, state), n in sorted(counts.items()):
            family.add_metric([coop, state], n)
        return family

    def _forecasts(self, fields: int, now: dt.datetime) -> Iterator[GaugeMetricFamily]:
        run = self.platform.forecasts.latest
        failing = GaugeMetricFamily(
            "panen_forecast_refresh_failing",
            "1 while the newest forecast cycle failed (the last good is served)",
        )
        failing.add_metric([], 1.0 if self.platform.last_failure is not None else 0.0)
        yield failing
        if run is None:
            return
        age = GaugeMetricFamily("panen_forecast_refresh_age_seconds", "Seconds since the latest forecast")
        age.add_metric([], max(0.0, (now - run.computed_at).total_seconds()))
        took = GaugeMetricFamily(
            "panen_forecast_refresh_duration_seconds", "Seconds the latest forecast took to compute"
        )
        took.add_metric([], run.seconds)
        outcome = GaugeMetricFamily("panen_forecast_fields", "Fields by forecast outcome", labels=["outcome"])
        outcome.add_metric(["forecast"], len(run.forecasts))
        outcome.add_metric(["closed"], len(run.closed))
        outcome.add_metric(["not_forecast"], max(0, fields - len(run.forecasts) - len(run.closed)))
        learning = GaugeMetricFamily(
            "panen_learning_records",
            "Harvest records the latest forecast learnt from or left out",
            labels=["outcome"],
        )
        used = sum(n for _days, n in run.calibration.date_bias_days.values())
        learning.add_metric(["used"], used)
        learning.add_metric(["excluded"], len(run.calibration.excluded))
        yield from (age, took, outcome, learning)
