"""The fleet's state, node by node (issue 40): what an operator woken at night needs to see at once.

A node is **ok**, **late** (it missed an uplink or two: radio noise, a gateway's hiccup), **silent**
(more than :data:`OFFLINE_INTERVALS` intervals without an uplink, or never heard: the rule of the
``node_offline`` alert, which reads it from here) or **low_battery** (reporting, with a battery under
the ``battery_low`` alert's threshold). One state per node, the most urgent first: a silent node
with a flat battery is silent. The API's ``/v1/nodes``, ``panen fleet``, the field page's sensor card
and the metrics all read it from here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from sensors.reading import Reading
from services import registry
from services.access import Principal
from storage import StoreError, TimeSeriesStore
from storage.db import Node

__all__ = [
    "BATTERY_LOW_PCT",
    "BATTERY_LOW_V",
    "OFFLINE_INTERVALS",
    "NodeHealth",
    "NodeState",
    "NodeStatus",
    "fleet_health",
    "health_in_scope",
    "node_state",
    "node_status",
]

OFFLINE_INTERVALS = 3  # one missed uplink is radio noise; three in a row is a node to visit
BATTERY_LOW_V = 3.4  # Li-SOCl2 and Li-ion cells sag fast below 3.4 V under radio load
BATTERY_LOW_PCT = 20.0
# Missed uplinks before a node is late rather than ok: one interval and a half, so that a node whose
# clock drifts or whose uplink waited for a duty-cycle slot is not called late [est].
LATE_INTERVALS = 1.5


@dataclass(frozen=True)
class NodeStatus:
    """A node's last contact and battery, from its latest readings."""

    last_ms: int
    battery_metric: str  # battery_v or battery_pct; "" when the node reports no battery
    battery_value: float

    @property
    def battery_low(self) -> bool:
        """Below :data:`BATTERY_LOW_V` or :data:`BATTERY_LOW_PCT`."""
        return (self.battery_metric == "battery_v" and self.battery_value < BATTERY_LOW_V) or (
            self.battery_metric == "battery_pct" and self.battery_value < BATTERY_LOW_PCT
        )


def node_status(latest: Sequence[Reading]) -> dict[str, NodeStatus]:
    """Each node's :class:`NodeStatus` from the store's latest readings (``TimeSeriesStore.latest``)."""
    newest: dict[str, int] = {}
    battery: dict[str, tuple[str, float]] = {}
    for r in latest:
        newest[r.node_id] = max(newest.get(r.node_id, 0), r.ts_ms)
        if r.metric in ("battery_v", "battery_pct"):
            battery[r.node_id] = (r.metric, r.value)
    return {node: NodeStatus(ms, *battery.get(node, ("", 0.0))) for node, ms in newest.items()}


class NodeState(StrEnum):
    """A node's state, most urgent first (``unknown``: the store cannot be read right now)."""

    UNKNOWN = "unknown"
    SILENT = "silent"
    LATE = "late"
    LOW_BATTERY = "low_battery"
    OK = "ok"


@dataclass(frozen=True)
class NodeHealth:
    """One node as the operator sees it."""

    node: Node
    state: NodeState
    last_seen: dt.datetime | None
    silent_s: float | None  # since its last uplink; None when never heard
    battery_v: float | None
    battery_pct: float | None
    rssi_dbm: float | None
    snr_db: float | None
    status: NodeStatus | None = None  # its last contact and battery reading; None when never heard


def node_state(node: Node, last_ms: int | None, battery_low: bool, now_ms: int) -> NodeState:
    """The state of ``node`` whose last uplink was at ``last_ms`` (None: never), at ``now_ms``."""
    interval_ms = node.interval_min * 60_000
    if last_ms is None or now_ms - last_ms > OFFLINE_INTERVALS * interval_ms:
        return NodeState.SILENT
    if now_ms - last_ms > LATE_INTERVALS * interval_ms:
        return NodeState.LATE
    return NodeState.LOW_BATTERY if battery_low else NodeState.OK


def fleet_health(nodes: Sequence[Node], latest: Sequence[Reading], now_ms: int) -> list[NodeHealth]:
    """Each of ``nodes`` with its state, from the store's latest readings (``TimeSeriesStore.latest``)."""
    status = node_status(latest)
    values: dict[tuple[str, str], float] = {(r.node_id, r.metric): r.value for r in latest}
    out = []
    for n in nodes:
        st = status.get(n.id)
        last_ms = st.last_ms if st is not None else None
        out.append(
            NodeHealth(
                node=n,
                state=node_state(n, last_ms, st is not None and st.battery_low, now_ms),
                last_seen=None if last_ms is None else dt.datetime.fromtimestamp(last_ms / 1000, dt.UTC),
                silent_s=None if last_ms is None else max(0.0, (now_ms - last_ms) / 1000),
                battery_v=values.get((n.id, "battery_v")),
                battery_pct=values.get((n.id, "battery_pct")),
                rssi_dbm=values.get((n.id, "rssi_dbm")),
                snr_db=values.get((n.id, "snr_db")),
                status=st,
            )
        )
    return out


def health_in_scope(
    store: TimeSeriesStore,
    session: Session,
    principal: Principal,
    now_ms: int,
    *,
    site_id: str | None = None,
    node_id: str | None = None,
    state: NodeState | None = None,
) -> list[NodeHealth]:
    """The nodes ``principal`` may see (at ``site_id``, or the one ``node_id``) with their state, only
    those in ``state`` if given. With the store unreadable every node is ``unknown``: the fleet view
    is what an operator opens when something is down, so it still lists the fleet.

    Raises:
        OutOfScope, NotFound: as :func:`services.registry.nodes` and ``node_in_scope``.
    """
    if node_id is not None:
        nodes = [registry.node_in_scope(session, principal, node_id)]
    else:
        nodes = registry.nodes(session, principal, site_id)
    try:
        latest = store.latest(node_ids=[n.id for n in nodes]) if nodes else []
    except StoreError:
        out = [NodeHealth(n, NodeState.UNKNOWN, None, None, None, None, None, None) for n in nodes]
    else:
        out = fleet_health(nodes, latest, now_ms)
    return [h for h in out if state is None or h.state is state]
