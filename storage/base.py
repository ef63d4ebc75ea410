"""The time-series store port: what every adapter does, and the records it speaks in.

Semantics every adapter keeps (the contract tests in ``tests/storage`` check each of them):

- A reading is identified by (node, metric, timestamp). Writing the same identity again replaces
  the value and quality: the last write wins. This is what lets ingest retry a batch safely.
- Times are UTC instants in milliseconds. Days for people and forecasts are *local days in
  Asia/Jakarta* (WIB, UTC+7, no daylight saving): a reading at 17:30 UTC belongs to the next day.
- Daily aggregates skip implausible values unless asked, so a stuck sensor reading 99 °C does not
  warp a forecast.
- Forecast points are kept apart from readings (their own measurement/table) and are identified by
  (site, timestamp, value name); like readings, the last write wins.
- Derived series (:class:`Series`: the purchase plan, alert states, ingest's counters) are kept apart
  again, each point identified by (series, its tags, timestamp, value name); the last write wins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from sensors import Reading

if TYPE_CHECKING:
    from storage.retention import Resolution

__all__ = [
    "WIB_OFFSET_MS",
    "Bucket",
    "DailyAggregate",
    "ForecastPoint",
    "StoreAuthError",
    "StoreError",
    "StoreRejected",
    "StoreUnavailable",
    "TimeSeriesStore",
    "local_day",
    "local_day_start_ms",
]

# Asia/Jakarta has been UTC+7 without daylight saving since 1964, so a fixed offset is exact.
WIB_OFFSET_MS = 7 * 3_600_000
DAY_MS = 86_400_000


class StoreError(Exception):
    """Base of every storage error; ``str()`` carries the server's own message where there is one."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or failed on its side (connection refused, timeout, HTTP 5xx)."""


class StoreAuthError(StoreError):
    """The store refused the credentials (HTTP 401/403)."""


class StoreRejected(StoreError):
    """The store refused the data or the query itself (HTTP 4xx other than auth, a statement error)."""


@dataclass(frozen=True, slots=True)
class DailyAggregate:
    """Summary of one metric at one site over one local (WIB) day.

    Attributes:
        site_id: Field or weather-station id.
        metric: Catalogue metric name.
        day: The local calendar day in Asia/Jakarta.
        min: Smallest value of the day [metric unit].
        mean: Arithmetic mean of the day's values [metric unit].
        max: Largest value of the day [metric unit].
        sum: Sum of the day's values [metric unit], e.g. daily rain from per-interval rain.
        count: Number of values that day.
    """

    site_id: str
    metric: str
    day: dt.date
    min: float
    mean: float
    max: float
    sum: float
    count: int


@dataclass(frozen=True, slots=True)
class Bucket:
    """Summary of one metric at one site over one hour or one local day (see ``storage.retention``).

    Attributes:
        site_id: Field or weather-station id.
        metric: Catalogue metric name.
        start_ms: Where the bucket begins [ms since epoch, UTC]: a whole UTC hour, or 00:00 WIB.
        min: Smallest valid value [metric unit].
        mean: Mean of the valid values (``sum / count``) [metric unit].
        max: Largest valid value [metric unit].
        sum: Sum of the valid values [metric unit].
        count: Number of valid values.
    """

    site_id: str
    metric: str
    start_ms: int
    min: float
    mean: float
    max: float
    sum: float
    count: int


@dataclass(frozen=True, slots=True)
class ForecastPoint:
    """A set of named forecast values for one site, issued at one instant.

    Attributes:
        site_id: The field the forecast is for.
        coop_id: The field's cooperative.
        commodity: The crop being forecast.
        ts_ms: Instant the forecast was issued [ms since epoch, UTC].
        values: Named numbers, e.g. ``{"harvest_tonnes_p50": 41.2}``; names must be identifiers.
    """

    site_id: str
    coop_id: str
    commodity: str
    ts_ms: int
    values: Mapping[str, float] = field(default_factory=dict)


class Series(StrEnum):
    """The derived series the platform writes for dashboards, which read only the store."""

    PLAN = "plan"  # the purchase plan of all cooperatives, per ISO week and commodity
    ALERT = "alert"  # each alert evaluation: 1 while an alert is active, 0 when it clears
    INGEST = "ingest"  # each ingest process's counters (readings stored, dead letters, spool)
    SKILL = "skill"  # the forecasts' track record per commodity, cooperative and lead (each refresh)


# The tags each series is keyed by (InfluxDB tags; the SQLite adapter keeps them as one JSON key).
SERIES_TAGS: dict[Series, tuple[str, ...]] = {
    Series.PLAN: ("week", "commodity"),
    Series.ALERT: ("subject", "coop", "field"),
    Series.INGEST: ("client",),
    Series.SKILL: ("commodity", "coop", "lead"),
}


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One point of a derived series.

    Attributes:
        series: Which series.
        tags: What the point is about, by the series' tag names (:data:`SERIES_TAGS`): for the plan
            ``week`` (ISO week, ``2026-W49``) and ``commodity``; for alerts ``subject`` (a field, node
            or contract), ``coop`` and ``field``; for ingest ``client`` (its MQTT client id). An empty
            value means "none".
        ts_ms: Instant it was computed [ms since epoch, UTC].
        values: Named numbers; names must be identifiers.
    """

    series: Series
    tags: Mapping[str, str]
    ts_ms: int
    values: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.tags) - set(SERIES_TAGS[self.series])
        if unknown:
            raise ValueError(f"series {self.series.value} has no tag(s) {sorted(unknown)}")


def local_day(ts_ms: int) -> dt.date:
    """The Asia/Jakarta calendar day that contains the UTC instant ``ts_ms`` [ms]."""
    return dt.date(1970, 1, 1) + dt.timedelta(days=(ts_ms + WIB_OFFSET_MS) // DAY_MS)


def local_day_start_ms(day: dt.date) -> int:
    """The UTC instant [ms] at which local day ``day`` begins in Asia/Jakarta (00:00 WIB)."""
    return (day - dt.date(1970, 1, 1)).days * DAY_MS - WIB_OFFSET_MS


@runtime_checkable
class TimeSeriesStore(Protocol):
    """The storage port. Adapters are thread-safe; ``close()`` releases connections."""

    def write(self, readings: Iterable[Reading]) -> int:
        """Store readings idempotently (last write of a node/metric/timestamp wins).

        Returns:
            The number of readings written.

        Raises:
            StoreUnavailable: the store could not be reached; nothing can be assumed written.
            StoreRejected: the store refused the data.
        """
        ...

    def raw(
        self,
        *,
        start_ms: int,
        end_ms: int,
        node_id: str | None = None,
        site_id: str | None = None,
        metrics: Sequence[str] | None = None,
    ) -> list[Reading]:
        """Readings with ``start_ms <= ts < end_ms`` of one node or one site, ordered by time then metric."""
        ...

    def latest(
        self, *, node_ids: Sequence[str] | None = None, site_ids: Sequence[str] | None = None
    ) -> list[Reading]:
        """The most recent reading per node and metric (all nodes when no filter is given)."""
        ...

    def daily(
        self,
        *,
        site_ids: Sequence[str],
        metrics: Sequence[str],
        start_day: dt.date,
        end_day: dt.date,
        include_implausible: bool = False,
        coop_id: str | None = None,
    ) -> list[DailyAggregate]:
        """Aggregates per site, metric and WIB day for ``start_day <= day <= end_day`` (with
        ``coop_id``, of that cooperative's nodes only).

        Days without readings are absent, not zero. Ordered by site, metric, day. A day is
        answered from the daily aggregates, or from the raw readings where the aggregates may lag
        them (see ``storage.retention``). Implausible values are not aggregated, so
        ``include_implausible`` reads raw readings only, and reaches only days still in raw.
        """
        ...

    def buckets(
        self,
        resolution: Resolution,
        *,
        site_id: str,
        metrics: Sequence[str],
        start_ms: int,
        end_ms: int,
        coop_id: str | None = None,
    ) -> list[Bucket]:
        """Hourly or daily aggregates of one site's valid values for buckets beginning in
        ``[start_ms, end_ms)`` (with ``coop_id``, of that cooperative's nodes only), from the stored
        aggregates, or from the raw readings where the aggregates may lag them (see
        ``storage.retention``). Ordered by metric, then time."""
        ...

    def changed_days(
        self, since: object | None, *, start_day: dt.date, end_day: dt.date
    ) -> tuple[frozenset[dt.date] | None, object]:
        """The days in ``start_day <= day <= end_day`` whose :meth:`daily` answer may differ from the
        one read after ``since`` was returned, and the token to pass next time (opaque, kept in
        memory). None for the days means "any of them": no token, or one this store does not know.

        Call it before the read it covers: whatever changes after the call is in the next answer.
        This is what lets the forecast refresh read only what changed since its last run (issue 42).
        """
        ...

    def rollup(self, *, start_ms: int, end_ms: int, now_ms: int) -> int:
        """Recompute the hourly and daily aggregates of the raw readings in ``[start_ms, end_ms)``
        (the backfill ``panen store rollup`` runs); returns how many aggregates were written.

        Buckets that the raw window may have begun to cut at ``now_ms`` are left as they are:
        recomputing them from what is left would undercount.
        """
        ...

    def maintain(self, *, now_ms: int) -> dict[str, int]:
        """Roll up what is new and drop what is past its window, where the store does not do it
        itself; returns counts by kind. SQLite does all of it here; InfluxDB expires and rolls up the
        recent days on its own (retention policies, continuous queries or tasks) and here rolls up
        again only the days that readings reached late."""
        ...

    def write_forecasts(self, points: Iterable[ForecastPoint]) -> int:
        """Store forecast points (last write of a site/timestamp/value name wins); returns how many.

        Empty ``coop_id`` or ``commodity`` mean "none".
        """
        ...

    def write_series(self, points: Iterable[SeriesPoint]) -> int:
        """Store points of derived series (last write of a series/tags/timestamp/name wins); returns
        how many."""
        ...

    def series(self, series: Series, *, start_ms: int, end_ms: int) -> list[SeriesPoint]:
        """A derived series' points computed in ``start_ms <= ts < end_ms``, ordered by time."""
        ...

    def forecasts(
        self,
        *,
        start_ms: int,
        end_ms: int,
        site_ids: Sequence[str] | None = None,
        coop_ids: Sequence[str] | None = None,
    ) -> list[ForecastPoint]:
        """Forecast points issued in ``start_ms <= ts < end_ms``, ordered by site then time."""
        ...

    def ping(self) -> None:
        """Return if the store answers; raise :class:`StoreError` otherwise."""
        ...

    def close(self) -> None:
        """Release connections. The store must not be used afterwards."""
        ...
