"""Everything that persists readings and forecasts: one port, two adapters with the same behaviour.

- :class:`storage.base.TimeSeriesStore`: the protocol (write idempotently, raw, latest, daily
  aggregates over WIB days, forecast points, derived series).
- :class:`storage.influx.InfluxStore`: InfluxDB through its v1-compatible HTTP API (1.x, 2.x ≥ 2.5, 3.x).
- :class:`storage.sqlite.SqliteStore`: the embedded default, one WAL-mode SQLite file.
- :mod:`storage.retention`: raw readings for 90 days, hourly aggregates for 2 years, daily forever.

Errors (all raised as :class:`StoreError` subclasses, with the server's own message)::

    StoreError
    ├── StoreUnavailable   the store cannot be reached or is failing: retry later, spool meanwhile
    ├── StoreAuthError     credentials refused: retrying will not help
    └── StoreRejected      the store refused this data or query as malformed: retrying will not help

    FleetFileError (a ValueError)   a fleet or node-registry document is malformed (storage.fleetfile)

The registry's database (:mod:`storage.db`) raises SQLAlchemy's own errors; the services translate
the ones a person can cause (an id in use) into their own tree.
"""

from storage.base import (
    SERIES_TAGS,
    DailyAggregate,
    ForecastPoint,
    Series,
    SeriesPoint,
    StoreAuthError,
    StoreError,
    StoreRejected,
    StoreUnavailable,
    TimeSeriesStore,
    local_day,
    local_day_start_ms,
)

__all__ = [
    "SERIES_TAGS",
    "DailyAggregate",
    "ForecastPoint",
    "Series",
    "SeriesPoint",
    "StoreAuthError",
    "StoreError",
    "StoreRejected",
    "StoreUnavailable",
    "TimeSeriesStore",
    "local_day",
    "local_day_start_ms",
]
