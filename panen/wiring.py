"""Build the configured adapters from :class:`panen.settings.Settings`."""

from __future__ import annotations

from panen.settings import Settings
from storage import TimeSeriesStore
from storage.influx import InfluxStore
from storage.sqlite import SqliteStore

__all__ = ["describe_store", "open_store"]


def open_store(settings: Settings) -> TimeSeriesStore:
    """The time-series store the settings select: InfluxDB if ``influx_url`` is set, else SQLite."""
    if settings.influx_url:
        token = settings.influx_token.get_secret_value() if settings.influx_token else None
        return InfluxStore(
            settings.influx_url, database=settings.influx_db, user=settings.influx_user, token=token
        )
    return SqliteStore(settings.sqlite_store_path)


def describe_store(settings: Settings) -> str:
    """One line naming the store in use, without secrets."""
    if settings.influx_url:
        return f"InfluxDB {settings.influx_url} database {settings.influx_db!r}"
    return f"SQLite {settings.sqlite_store_path}"
