"""A farmer's field book: what the field page shows of one field, and what a farmer writes in it.

:func:`field_view` gathers, for one field: soil moisture over the last week against the irrigation
threshold, the open alerts, the harvest forecast (window P10-P90 and tonnes), the nodes' battery and
last contact, the recent harvest records, and how old the newest reading is. :func:`set_planting_date`
records a new planting (the forecast starts the season from it).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from forecast.crops import load_crops
from forecast.drivers import irrigation_threshold_vwc_pct
from forecast.engine import FieldForecast
from forecast.learning import LeftOut
from forecast.orchard import is_orchard
from forecast.soils import calibrated_soil
from services import InvalidInput, id_date
from services.fleet import NodeState, fleet_health
from services.forecasting import ForecastRun, death_in_ten, season_records
from services.names import shown
from services.numbers import format_id
from storage import StoreError, TimeSeriesStore, local_day
from storage.db import Alert, Field, HarvestRecord, Node
from storage.db.base import mark_edited
from storage.retention import Resolution

__all__ = [
    "FieldView",
    "NodeView",
    "alert_order",
    "field_view",
    "picking_until",
    "set_planting_date",
]

# The page's registry reads, built once (issue 42: building a statement, its clauses and its cache key
# on every page was a fifth of the page's own time; a built statement keeps its key).
_NODES = select(Node).where(Node.site_id == bindparam("field")).order_by(Node.id)
_OPEN_ALERTS = (  # newest first
    select(Alert).where(Alert.active, Alert.field_id == bindparam("field")).order_by(Alert.id.desc())
)
_RECORDS = (  # one query for the list's last five and the season's state
    select(HarvestRecord)
    .where(HarvestRecord.field_id == bindparam("field"), HarvestRecord.voided_at.is_(None))
    .order_by(HarvestRecord.harvest_date.desc(), HarvestRecord.id.desc())
)

WEEK = dt.timedelta(days=7)
STALE_AFTER = dt.timedelta(hours=3)  # three hourly uplinks missed: say the page is old
MAX_POINTS = 168  # one point an hour over the week: enough for a phone's 320 px


@dataclass(frozen=True)
class NodeView:
    """One node on the field."""

    node_id: str
    battery: str | None  # "3,61 V" or "78 %": the detail
    battery_low: bool
    last_contact: dt.datetime | None
    battery_state: str | None = None  # "baik", "lemah" or "ganti baterai": what a farmer reads
    name: str = ""  # what the farmer calls it, else its id (services.names)
    state: str = "tidak diketahui"  # the fleet view's state, in the farmer's words (STATE_WORDS)


@dataclass(frozen=True)
class FieldView:
    """What the field page shows; times are UTC instants."""

    field: Field
    soil: list[tuple[int, float]]  # (ms, VWC %) hourly means over the last week
    soil_now_pct: float | None
    # The water state in one word, by the irrigation alert's own rule (FieldForecast.needs_water) on
    # the day's water balance, not by one hourly reading (issue 39: "36 % · perlu disiram" showed
    # beside no irrigation alert); None without a forecast.
    needs_water: bool | None
    threshold_pct: float | None
    field_capacity_pct: float
    alerts: list[Alert]
    forecast: FieldForecast | None
    # A multi-pick crop (tomato, chili, strawberry): the last pick day, P50 (its first pick plus the
    # crop's picking window); None for a crop harvested at once.
    picking_until: dt.date | None
    nodes: list[NodeView]
    harvests: list[HarvestRecord]
    newest_reading: dt.datetime | None
    store_error: str | None  # the store could not be read: the page says so instead of failing
    # What the current season's records say now (not at the last refresh: a harvest just recorded
    # ends it): the day a harvest closed it (None while open), and the tonnes picked so far of a
    # multi-pick crop.
    closed_on: dt.date | None = None
    picked_t: float = 0.0
    # The field's own harvest records learning left out, and why (forecast.learning.LeftOut): the
    # farmer reads why the forecast did not learn from them, and may find a slip to correct.
    left_out: tuple[LeftOut, ...] = ()

    @property
    def death_in_ten(self) -> int | None:
        """In how many of ten weathers the forecast has the crop dying of drought, when the page warns
        (:func:`services.forecasting.death_in_ten`, the irrigation alert's rule too)."""
        return death_in_ten(self.forecast)

    def crop_may_have_died(self, today: dt.date) -> bool:
        """The forecast has the crop dying in most members on a day already past: the drought the
        sensors measured killed it in the model, and only the farmer can say whether it lives."""
        f = self.forecast
        return (
            f is not None
            and f.crop_death_share >= 0.5
            and f.crop_death_date_p50 is not None
            and f.crop_death_date_p50 <= today
        )

    def age(self, now: dt.datetime) -> dt.timedelta | None:
        """How old the newest reading is."""
        return None if self.newest_reading is None else now - self.newest_reading

    def stale(self, now: dt.datetime) -> bool:
        """Whether the data is old enough to say so loudly."""
        age = self.age(now)
        return age is None or age > STALE_AFTER


# A battery a farmer should replace now, not this week [est: a Li-SOCl2 or alkaline pack near the
# end of its plateau; the alert's "low" is 3.4 V or 20 %, services/fleet.py].
REPLACE_BELOW_V, REPLACE_BELOW_PCT = 3.3, 10.0
# The fleet view's node states (services.fleet), as the sensor card says them.
STATE_WORDS = {
    NodeState.OK: "aktif",
    NodeState.LATE: "terlambat",
    NodeState.SILENT: "diam",
    NodeState.LOW_BATTERY: "baterai lemah",
    NodeState.UNKNOWN: "tidak diketahui",
}
# Which alert a farmer reads first: the crop's danger before the equipment's (a frost before a battery).
_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
_EQUIPMENT = ("node_offline", "battery_low")


def _battery_state(metric: str, value: float, low: bool) -> str | None:
    """The battery in a word: baik, lemah (replace this week) or ganti baterai (now)."""
    if not metric:
        return None
    flat = value < REPLACE_BELOW_V if metric == "battery_v" else value < REPLACE_BELOW_PCT
    return "ganti baterai" if flat else "lemah" if low else "baik"


def alert_order(alert: Alert) -> tuple[int, int]:
    """Sort key of a field's alerts: severity, then the crop's before the equipment's."""
    return (_SEVERITY_RANK.get(alert.severity, 3), alert.kind in _EQUIPMENT)


def picking_until(forecast: FieldForecast | None) -> dt.date | None:
    """A multi-pick crop's last pick day (P50 first pick plus its picking window), else None: the
    forecast's dates are of the first pick, and the crop is picked for weeks after (issue 38)."""
    if forecast is None or forecast.harvest_date_p50 is None:
        return None
    crop = load_crops().get(forecast.commodity)
    if crop is None or not crop.multi_pick:
        return None
    return forecast.harvest_date_p50 + dt.timedelta(days=crop.harvest_window_days)


def _day_mean(hourly: list[tuple[int, float]]) -> float | None:
    """The mean of the last 24 hours of an hourly series: the day's figure, not one stray reading."""
    if not hourly:
        return None
    last = hourly[-1][0]
    day = [v for t, v in hourly if t > last - 86_400_000]
    return sum(day) / len(day)


def field_view(
    store: TimeSeriesStore, session: Session, field: Field, run: ForecastRun | None, now: dt.datetime
) -> FieldView:
    """Everything the field page shows of ``field`` at ``now``."""
    now_ms = int(now.timestamp() * 1000)
    crop = load_crops().get(field.commodity)
    # The soil the forecast used: its texture's, moved to what the fleet's probes say (forecast/soils.py).
    limits = run.calibration.soil_upper_vwc if run is not None else {}
    threshold = (
        irrigation_threshold_vwc_pct(
            soil_texture=field.soil_texture, depletion_fraction=crop.depletion_fraction, upper_limits=limits
        )
        if crop is not None
        else None
    )
    nodes = list(session.scalars(_NODES, {"field": field.id}))
    soil: list[tuple[int, float]] = []
    node_views: list[NodeView] = []
    newest: int | None = None
    error = None
    try:
        # The hourly tier, not raw readings (issue 42: the week's raw readings were a fifth of the page's
        # time): an hour's mean over every node of the field, as the chart draws it.
        hours = store.buckets(
            Resolution.HOUR,
            site_id=field.id,
            metrics=["soil_vwc_pct"],
            start_ms=now_ms - int(WEEK.total_seconds() * 1000),
            end_ms=now_ms + 1,
            coop_id=field.coop_id,
        )
        soil = [(b.start_ms, b.mean) for b in hours][-MAX_POINTS:]
        latest = store.latest(node_ids=[n.id for n in nodes]) if nodes else []
        health = fleet_health(nodes, latest, now_ms)  # the fleet view's states (issue 40)
        for h in health:
            st = h.status
            metric, value = (st.battery_metric, st.battery_value) if st else ("", 0.0)
            text = (
                f"{format_id(value, 2)} V" if metric == "battery_v" else f"{value:.0f} %" if metric else None
            )
            low = st is not None and st.battery_low
            battery = _battery_state(metric, value, low)
            node_views.append(
                NodeView(h.node.id, text, low, h.last_seen, battery, shown(h.node), STATE_WORDS[h.state])
            )
        newest = max((h.status.last_ms for h in health if h.status is not None), default=None)
    except StoreError as exc:
        error = str(exc)
        node_views = [NodeView(n.id, None, False, None, name=shown(n)) for n in nodes]
    # A frost before a battery (issue 39).
    alerts = sorted(session.scalars(_OPEN_ALERTS, {"field": field.id}), key=alert_order)
    records = list(session.scalars(_RECORDS, {"field": field.id}))
    closed, picked = season_records([field], records)
    forecast = run.forecasts.get(field.id) if run is not None else None
    if run is not None and field.edited_at is not None and field.edited_at > run.computed_at:
        forecast = None  # the field changed (a new planting) after the run: the next refresh forecasts it
    return FieldView(
        field=field,
        soil=soil,
        soil_now_pct=_day_mean(soil),
        needs_water=None if forecast is None else forecast.needs_water,
        threshold_pct=threshold,
        field_capacity_pct=100 * calibrated_soil(field.soil_texture, limits)[0],
        alerts=alerts,
        forecast=forecast,
        picking_until=picking_until(forecast),
        nodes=node_views,
        harvests=records[:5],
        newest_reading=None if newest is None else dt.datetime.fromtimestamp(newest / 1000, dt.UTC),
        store_error=error,
        closed_on=closed.get(field.id),
        picked_t=picked.get(field.id, 0.0),
        left_out=run.calibration.left_out_of(field.id) if run is not None else (),
    )


def set_planting_date(
    session: Session, field: Field, planting_date: dt.date, *, by: str, commodity: str | None = None
) -> Field:
    """Record that ``field`` was planted on ``planting_date`` (a new season), with ``commodity`` if the
    crop changed (a rotation: the past seasons' records stay with the forecasts they were paired with,
    under the crop they were).

    Raises:
        InvalidInput: the date is in the future (WIB) or more than a year ago; the crop is unknown, an
            orchard's, or given for an orchard (trees are not rotated).
    """
    today = local_day(time.time_ns() // 1_000_000)
    if planting_date > today:
        raise InvalidInput(
            f"planting_date: {planting_date} is in the future (today is {today} WIB)",
            farmer=f"tanggal tanam {id_date(planting_date)} belum tiba (hari ini {id_date(today)}).",
        )
    if planting_date < today - dt.timedelta(days=366):
        raise InvalidInput(
            f"planting_date: {planting_date} is more than a year ago",
            farmer=f"tanggal tanam {id_date(planting_date)} lebih dari setahun yang lalu.",
        )
    if commodity is not None and commodity != field.commodity:
        crops = load_crops()
        if commodity not in crops or crops[commodity].perennial or is_orchard(field.commodity):
            raise InvalidInput(
                f"commodity: {commodity!r} cannot follow {field.commodity!r} on field {field.id!r} "
                f"(annual crops: {', '.join(sorted(c for c, p in crops.items() if not p.perennial))})",
                farmer="tanaman ini tidak bisa dicatat untuk lahan ini.",
            )
        field.commodity = commodity
    field.planting_date = planting_date
    mark_edited(field, by)
    session.commit()
    return field
