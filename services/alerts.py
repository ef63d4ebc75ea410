"""Alerts from readings and forecasts, kept in the registry so people can acknowledge them.

Rules (thresholds are named constants with their reasons):

- ``irrigation_needed``: the field's root-zone depletion today is past its readily available water
  (FAO-56: below RAW the crop transpires at less than its potential);
- ``frost_risk``: the field's (else its station's) air temperature fell to 2 °C or below in the last
  24 hours, as happens at Batu's highest fields on clear dry-season nights;
- ``heat_stress``: the field's air temperature passed its crop's upper temperature in the last 24 h;
- ``node_offline``: a node's newest reading is older than three reporting intervals;
- ``battery_low``: a node reports below 3.4 V or 20 %;
- ``contract_at_risk``: an open sales contract's coverage probability is below 0.8 (from
  :mod:`services.contracts`; for offtaker and admin only).

An evaluation raises what holds now (updating ``last_seen`` of alerts already raised) and clears
(``active = False``) what no longer holds; acknowledging keeps an alert active but marks who saw it.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from forecast.crops import load_crops
from forecast.drivers import irrigation_threshold_vwc_pct
from sensors.reading import Reading
from services import OutOfScope
from services.access import Principal, Role
from services.fleet import NodeState, node_state, node_status
from services.forecasting import ForecastRun, death_in_ten
from services.kinds import AlertKind
from services.notify.outbox import Audience, NotifyConfig, enqueue_raised
from storage import Series, SeriesPoint, StoreError, TimeSeriesStore
from storage.db import Alert, Field, Node, Station

__all__ = [
    "ALERT_KINDS",
    "FROST_C",
    "Finding",
    "acknowledge",
    "contract_findings",
    "evaluate_alerts",
]

FROST_C = 2.0  # radiative frost damages young potato and shallot leaves near 0 °C air at 2 m
WINDOW_MS = 86_400_000
ALERT_KINDS = tuple(AlertKind)  # every kind, in the order alerts are listed
log = logging.getLogger("services.alerts")


@dataclass(frozen=True)
class Finding:
    """Something that holds now and should be an active alert."""

    kind: str
    subject: str
    coop_id: str | None
    field_id: str | None
    severity: str
    message: str
    facts: dict[str, float | str] = field(default_factory=dict)  # the figures, for messages in any language


def contract_findings(report: object, threshold: float) -> list[Finding]:
    """``contract_at_risk`` for every open contract whose coverage probability is below ``threshold``
    (a :class:`services.contracts.ContractReport`); these belong to no cooperative, so only offtaker and
    admin see them."""
    out = []
    for spec in report.contracts:  # type: ignore[attr-defined]
        cov = report.coverage[spec.id]  # type: ignore[attr-defined]
        if cov.probability < threshold:
            week = f", riskiest week {cov.riskiest_week}" if cov.riskiest_week else ""
            out.append(
                Finding(
                    AlertKind.CONTRACT_AT_RISK,
                    f"contract-{spec.id}",
                    None,
                    None,
                    "critical" if cov.probability < threshold / 2 else "warning",
                    f"contract {spec.id}: {spec.tonnes:g} t {spec.commodity} from {spec.first_day} to "
                    f"{spec.last_day} is covered with probability {cov.probability:.2f} "
                    f"(below {threshold:g}); "
                    f"shortfall P50 {cov.shortfall_p50:.1f} t, P90 {cov.shortfall_p90:.1f} t{week}",
                    {"probability": float(cov.probability), "shortfall_p50_t": float(cov.shortfall_p50)},
                )
            )
    return out


def _findings(
    store: TimeSeriesStore, session: Session, run: ForecastRun | None, now_ms: int
) -> list[Finding]:
    """Every alert that holds now: irrigation, frost and heat per field, silence and battery per node."""
    fields = {f.id: f for f in session.scalars(select(Field))}
    nodes = list(session.scalars(select(Node)))
    latest = store.latest(node_ids=[n.id for n in nodes]) if nodes else []
    soil_now = {r.site_id: r.value for r in latest if r.metric == "soil_vwc_pct" and r.quality == 0}
    stations = {s.coop_id: s.id for s in session.scalars(select(Station))}
    return [
        *(_irrigation(run, fields, soil_now) if run is not None else []),
        *_temperature(store, fields, stations, now_ms),
        *_node_health(nodes, fields, latest, now_ms),
    ]


def _irrigation(run: ForecastRun, fields: dict[str, Field], soil_now: dict[str, float]) -> list[Finding]:
    """A field whose root-zone depletion is past the readily available water needs watering."""
    crops = load_crops()
    out = []
    for f in run.forecasts.values():
        if not f.needs_water:
            continue
        facts: dict[str, float | str] = {"depletion_mm": f.depletion_mm, "raw_mm": f.raw_mm}
        fld = fields.get(f.field_id)
        crop = crops.get(f.commodity)
        if fld is not None and crop is not None and f.field_id in soil_now:
            facts["soil_vwc_pct"] = soil_now[f.field_id]
            facts["threshold_vwc_pct"] = irrigation_threshold_vwc_pct(
                soil_texture=fld.soil_texture,
                depletion_fraction=crop.depletion_fraction,
                upper_limits=run.calibration.soil_upper_vwc,
            )
        message = (
            f"root-zone depletion {f.depletion_mm:.0f} mm is past the readily available "
            f"{f.raw_mm:.0f} mm: irrigate"
        )
        dying = death_in_ten(f)
        if dying is not None:  # the forecast has the crop dying of drought: say so (issue 38)
            facts["death_in_ten"] = dying
            message += f"; without water the crop may die (in {dying} of 10 weathers)"
        out.append(
            Finding(AlertKind.IRRIGATION_NEEDED, f.field_id, f.coop_id, f.field_id, "warning", message, facts)
        )
    return out


def _temperature(
    store: TimeSeriesStore, fields: dict[str, Field], stations: dict[str, str], now_ms: int
) -> list[Finding]:
    """Frost and heat in the last 24 h, from the field's own node or else its cooperative's station."""
    crops = load_crops()
    recent = store.raw(start_ms=now_ms - WINDOW_MS, end_ms=now_ms + 1, metrics=["air_temp_c"])
    coldest: dict[str, float] = {}
    hottest: dict[str, float] = {}
    for r in recent:
        if r.quality == 0:
            coldest[r.site_id] = min(coldest.get(r.site_id, r.value), r.value)
            hottest[r.site_id] = max(hottest.get(r.site_id, r.value), r.value)
    out = []
    for fld in fields.values():
        station = stations.get(fld.coop_id, "")
        low = coldest.get(fld.id, coldest.get(station, float("inf")))
        if low <= FROST_C:
            message = f"air temperature fell to {low:.1f} °C in the last 24 h"
            out.append(
                Finding(
                    AlertKind.FROST_RISK,
                    fld.id,
                    fld.coop_id,
                    fld.id,
                    "critical",
                    message,
                    {"air_temp_c": low},
                )
            )
        crop = crops.get(fld.commodity)
        high = hottest.get(fld.id, hottest.get(station, float("-inf")))
        if crop is not None and high > crop.upper_temp_c:
            message = (
                f"air temperature reached {high:.1f} °C, above {crop.upper_temp_c:.0f} °C for {fld.commodity}"
            )
            facts: dict[str, float | str] = {
                "air_temp_c": high,
                "limit_c": crop.upper_temp_c,
                "commodity": fld.commodity,
            }
            out.append(Finding(AlertKind.HEAT_STRESS, fld.id, fld.coop_id, fld.id, "warning", message, facts))
    return out


def _node_health(
    nodes: list[Node], fields: dict[str, Field], latest: list[Reading], now_ms: int
) -> list[Finding]:
    """A node silent for more than its allowed intervals, and a node whose battery is low."""
    status = node_status(latest)
    out = []
    for n in nodes:
        field_id = n.site_id if n.site_id in fields else None
        seen = status[n.id].last_ms if n.id in status else None
        if node_state(n, seen, False, now_ms) is NodeState.SILENT:  # the fleet view's own rule
            ago = "never reported" if seen is None else f"silent for {(now_ms - seen) / 3_600_000:.1f} h"
            silent: dict[str, float | str] = {} if seen is None else {"silent_h": (now_ms - seen) / 3_600_000}
            out.append(
                Finding(
                    AlertKind.NODE_OFFLINE, n.id, n.coop_id, field_id, "warning", f"node {n.id} {ago}", silent
                )
            )
        if n.id in status and status[n.id].battery_low:
            value = status[n.id].battery_value
            unit = "V" if status[n.id].battery_metric == "battery_v" else "%"
            message = f"node {n.id} battery at {value:g} {unit}"
            facts: dict[str, float | str] = {"value": value, "unit": unit}
            out.append(Finding(AlertKind.BATTERY_LOW, n.id, n.coop_id, field_id, "warning", message, facts))
    return out


def _finite(facts: dict[str, float | str]) -> dict[str, float | str]:
    # JSON has no NaN (PostgreSQL refuses it): a figure that is not a number is left out.
    return {
        k: v if isinstance(v, str) else float(v)
        for k, v in facts.items()
        if isinstance(v, str) or math.isfinite(v)
    }


def _state(
    subject: str, coop_id: str | None, field_id: str | None, kind: str, value: float, now_ms: int
) -> SeriesPoint:
    tags = {"subject": subject, "coop": coop_id or "", "field": field_id or ""}
    return SeriesPoint(Series.ALERT, tags, now_ms, {kind: value})


def evaluate_alerts(
    store: TimeSeriesStore,
    sessions: sessionmaker[Session],
    run: ForecastRun | None,
    *,
    now_ms: int | None = None,
    extra: Sequence[Finding] = (),
    notify: NotifyConfig | None = None,
) -> dict[str, int]:
    """Raise and clear alerts (the rules above, plus ``extra`` findings such as contracts at risk);
    returns how many are active per kind.

    The messages a newly raised alert causes (:func:`services.notify.outbox.enqueue_raised`, with
    ``notify``'s links and policy) are written in the same transaction as the alert.
    """
    now_ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    now = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC)
    with sessions() as session:
        found = {(f.kind, f.subject): f for f in [*_findings(store, session, run, now_ms), *extra]}
        active = {(a.kind, a.subject): a for a in session.scalars(select(Alert).where(Alert.active))}
        raised = []
        for key, f in found.items():
            alert = active.get(key)
            if alert is None:
                alert = Alert(
                    kind=f.kind,
                    subject=f.subject,
                    coop_id=f.coop_id,
                    field_id=f.field_id,
                    severity=f.severity,
                    message=f.message,
                    first_seen=now,
                    last_seen=now,
                    active=True,
                    facts=_finite(f.facts),
                )
                session.add(alert)
                raised.append(alert)
            else:
                alert.last_seen, alert.message, alert.facts = now, f.message, _finite(f.facts)
        cleared = []
        for key, alert in active.items():
            if key not in found:
                alert.active = False
                cleared.append(alert)
        if raised:
            session.flush()  # ids for the messages' idempotency keys
            enqueue_raised(session, raised, now, notify or NotifyConfig(), Audience.load(session))
        session.commit()
    # Each alert raised or cleared, with its id, for the operator reading the log (issue 40).
    for alert in raised:
        log.info("alert %d raised: %s %s (%s): %s", alert.id, alert.kind, alert.subject, alert.severity,
                 alert.message)  # fmt: skip
    for alert in cleared:
        log.info("alert %d cleared: %s %s", alert.id, alert.kind, alert.subject)
    # Also in the store, for dashboards that read only InfluxDB: 1 while active, 0 when cleared.
    points = [_state(f.subject, f.coop_id, f.field_id, f.kind, 1.0, now_ms) for f in found.values()]
    points += [_state(a.subject, a.coop_id, a.field_id, a.kind, 0.0, now_ms) for a in cleared]
    try:
        store.write_series(points)
    except StoreError as exc:  # the registry has them; a dashboard gap is no reason to fail
        log.warning("cannot write alerts to the store: %s", exc)
    counts: dict[str, int] = {}
    for kind, _ in found:
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def acknowledge(session: Session, principal: Principal, alert: Alert) -> Alert:
    """Mark ``alert`` (already known to be in the caller's scope) as seen by ``principal``; it stays
    active until its cause is gone, and escalations and reminders of it stop.

    Raises:
        OutOfScope: Coosae acknowledging a cooperative's alert.
    """
    if principal.role is Role.OFFTAKER and alert.coop_id is not None:
        # Coosae reads every cooperative, but a frost on a farmer's field is the farmer's and the
        # cooperative's to act on: an acknowledgement from Coosae would tell them someone has.
        raise OutOfScope(
            "Coosae acknowledges only its own alerts (contracts, the forecast refresh); "
            "this one is a cooperative's"
        )
    alert.acknowledged_by = principal.name
    alert.acknowledged_at = dt.datetime.now(dt.UTC)
    session.commit()
    return alert
