"""Build the configured adapters from :class:`panen.settings.Settings`.

Only the stores are imported here at start: ``panen ingest`` reaches this module, and every command
pays for what it imports before it does anything (the registry's SQLAlchemy, notifications and the
forecast engine had made ingest take 0.8 s to connect). The rest is imported where it is built.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from panen.settings import Settings, hide_password
from storage import TimeSeriesStore
from storage.influx import InfluxStore
from storage.retention import Retention
from storage.sqlite import SqliteStore

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from services.forecasting import ForecastService
    from services.notify.outbox import NotifyConfig

__all__ = ["describe_store", "forecast_service", "notify_config", "open_store", "retention"]


def retention(settings: Settings) -> Retention:
    """How long the store keeps each tier, from the ``PANEN_RETENTION_*`` settings (0 = forever)."""
    return Retention(
        raw_days=settings.retention_raw_days or None,
        hourly_days=settings.retention_hourly_days or None,
        resample_days=min(settings.retention_resample_days, settings.retention_raw_days or 2**31),
        every_s=settings.retention_every_s,
    )


def open_store(settings: Settings) -> TimeSeriesStore:
    """The time-series store the settings select: InfluxDB if ``influx_url`` is set, else SQLite."""
    if settings.influx_url:
        token = settings.influx_token.get_secret_value() if settings.influx_token else None
        if token is None and settings.influx_tenants and settings.tenant_secret and settings.influx_user:
            # A per-cooperative store's service users have passwords derived from the tenant secret.
            from services.tenancy import tenant_password

            token = tenant_password(settings.tenant_secret.get_secret_value(), settings.influx_user)
        return InfluxStore(
            settings.influx_url,
            database=settings.influx_db,
            user=settings.influx_user,
            token=token,
            retention=retention(settings),
            tenants=settings.influx_tenants,
        )
    return SqliteStore(settings.sqlite_store_path, retention=retention(settings))


def describe_store(settings: Settings) -> str:
    """One line naming the store in use, without secrets."""
    if settings.influx_url:
        return f"InfluxDB {hide_password(settings.influx_url)} database {settings.influx_db!r}"
    return f"SQLite {settings.sqlite_store_path}"


def notify_config(settings: Settings) -> NotifyConfig:
    """How notifications go out, from the ``PANEN_PUBLIC_URL`` and ``PANEN_NOTIFY_*`` settings."""
    from services.notify.channels import ChannelSettings
    from services.notify.outbox import NotifyConfig

    def secret(value: object) -> str | None:
        return value.get_secret_value() if value is not None else None  # type: ignore[attr-defined]

    return NotifyConfig(
        public_url=settings.public_url,
        channels=ChannelSettings(
            whatsapp_token=secret(settings.notify_whatsapp_token),
            whatsapp_phone_id=settings.notify_whatsapp_phone_id,
            whatsapp_template=settings.notify_whatsapp_template,
            telegram_bot_token=secret(settings.notify_telegram_bot_token),
            smtp_url=secret(settings.notify_smtp_url),
            ntfy_url=settings.notify_ntfy_url,
        ),
        retry_min_s=settings.notify_retry_min_s,
        retry_max_s=settings.notify_retry_max_s,
        give_up_after=dt.timedelta(hours=settings.notify_give_up_h),
        lease_s=settings.notify_lease_s,
    )


def forecast_service(
    settings: Settings, store: TimeSeriesStore, sessions: sessionmaker[Session], *, members: int = 50
) -> ForecastService:
    """The forecasting service, its chunks on the Dask cluster of ``PANEN_DASK_SCHEDULER`` if set."""
    from services.compute import DaskCompute
    from services.forecasting import ForecastService  # numpy and the engine: only when forecasting

    compute = DaskCompute(settings.dask_scheduler) if settings.dask_scheduler else None
    return ForecastService(store, sessions, members=members, compute=compute)
