"""Settings from the environment (prefix ``PANEN_``) and an optional ``.env`` file.

Obtain them through :func:`get_settings`, never at import time, so tests can set the environment
and call ``get_settings.cache_clear()``. Every setting that is left unset selects an embedded
default, so panen runs on a laptop with nothing installed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "hide_password", "reference_markdown"]


# Defaults written once, in the configuration of the service they belong to; a setting falls back to
# it. Imported when a default is needed, so reading the settings stays light for every command.
# Except notifications': anything under services/ imports SQLAlchemy (services.audit), and that took
# 0.37 s of every command's start, ingest's too; their defaults are written here as well, and
# tests/panen/test_settings.py holds them equal to services.notify.outbox.NotifyConfig's.
def _retention(name: str) -> Callable[[], Any]:
    def default() -> Any:
        from storage.retention import Retention

        return getattr(Retention(), name)

    return default


class Settings(BaseSettings):
    """panen's settings. Each field is read from ``PANEN_<NAME>`` (case-insensitive)."""

    model_config = SettingsConfigDict(env_prefix="PANEN_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        Path("./data"), description="Folder for the embedded store, registry, spool and dead letters."
    )
    mqtt_url: str | None = Field(
        None,
        description="Broker, e.g. mqtt://user:pass@127.0.0.1:1883; unset runs an embedded broker.",
    )
    influx_url: str | None = Field(
        None, description="InfluxDB base URL, e.g. http://127.0.0.1:8086; unset uses embedded SQLite."
    )
    influx_db: str = Field("panen", description="InfluxDB v1 database (on 2.x, the bucket's DBRP name).")
    influx_user: str | None = Field(None, description="InfluxDB v1 user; with 2.x/3.x any name works.")
    influx_token: SecretStr | None = Field(None, description="InfluxDB v1 password or 2.x/3.x API token.")
    influx_tenants: bool = Field(
        False,
        description=(
            "One InfluxDB database per cooperative (<PANEN_INFLUX_DB>_<coop>), so Grafana can be given "
            "credentials that read one cooperative only; `panen store tenants` sets them up."
        ),
    )
    tenant_secret: SecretStr | None = Field(
        None, description="Secret the per-cooperative InfluxDB users' passwords are derived from (HMAC)."
    )
    retention_raw_days: int = Field(
        default_factory=_retention("raw_days"),
        ge=0,
        description="Days raw readings are kept (0: forever); hourly and daily aggregates outlive them.",
    )
    retention_hourly_days: int = Field(
        default_factory=_retention("hourly_days"),
        ge=0,
        description="Days hourly aggregates are kept (0: forever).",
    )
    retention_resample_days: int = Field(
        default_factory=_retention("resample_days"),
        ge=1,
        description="Each rollup recomputes this many past days, so late readings are counted.",
    )
    retention_every_s: int = Field(
        default_factory=_retention("every_s"), ge=1, description="How often InfluxDB's rollups run [s]."
    )
    db_url: str | None = Field(
        None, description="Registry database (SQLAlchemy URL, e.g. postgresql+psycopg://…); unset: SQLite."
    )
    registry_file: Path | None = Field(
        None,
        description=(
            "Node registry file (YAML/JSON: a nodes list or a fleet file) for ingest; unset: the "
            "registry database's nodes."
        ),
    )
    fleet_file: Path | None = Field(
        None, description="Fleet file for the simulator (default: the Kota Batu fleet)."
    )
    fleet_secret: SecretStr = Field(
        SecretStr("panen-demo-fleet"),
        description="Secret the simulated nodes' MQTT passwords are derived from (HMAC); set your own.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token the API's /metrics asks for; unset: it answers loopback clients only.",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Where people reach the API: the field page links in alert messages start with it.",
    )
    notify_whatsapp_token: SecretStr | None = Field(None, description="WhatsApp Cloud API access token.")
    notify_whatsapp_phone_id: str | None = Field(
        None, description="WhatsApp Cloud API sender phone number id."
    )
    notify_whatsapp_template: str | None = Field(
        None,
        description="Approved WhatsApp template for messages panen starts (its body: one {{1}} parameter).",
    )
    notify_telegram_bot_token: SecretStr | None = Field(None, description="Telegram bot token.")
    notify_smtp_url: SecretStr | None = Field(
        None,
        description="Apprise mailto:// or mailtos:// URL of the SMTP account, without a recipient, "
        "e.g. mailtos://user:pass@smtp.example.org?from=panen@example.org.",
    )
    notify_ntfy_url: str = Field("ntfys://ntfy.sh", description="ntfy server (Apprise URL) for ntfy topics.")
    notify_retry_min_s: float = Field(
        30.0,
        description="First retry of a failed message after about this long.",
    )
    notify_retry_max_s: float = Field(
        1800.0,
        description="Retries of a failed message at most this far apart.",
    )
    notify_give_up_h: float = Field(
        24.0,
        description="A message still failing this many hours on is failed.",
    )
    notify_lease_s: float = Field(
        120.0,
        description="A message 'sending' this long belongs to a dead sender and is sent again.",
    )
    dask_scheduler: str | None = Field(
        None, description="Dask scheduler for the forecasts, e.g. tcp://127.0.0.1:8786; unset: in-process."
    )
    log_format: str = Field("text", description="Log format of the services: text or json.")
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")

    @field_validator(
        "mqtt_url",
        "influx_url",
        "influx_user",
        "influx_token",
        "registry_file",
        "fleet_file",
        "db_url",
        "metrics_token",
        "notify_whatsapp_token",
        "notify_whatsapp_phone_id",
        "notify_whatsapp_template",
        "notify_telegram_bot_token",
        "notify_smtp_url",
        "dask_scheduler",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `PANEN_INFLUX_URL=` in a .env file means "not configured", not "the empty URL".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def shown(self) -> dict[str, Any]:
        """The settings as JSON values for people to read: secrets as ``**********``, and the password
        in any URL's user information as ``***`` (issue 37: ``panen settings`` printed the broker's,
        the database's, ntfy's and InfluxDB's passwords)."""
        return {
            k: hide_password(v) if isinstance(v, str) else v for k, v in self.model_dump(mode="json").items()
        }

    @property
    def registry_url(self) -> str:
        """The registry database: ``db_url`` or a SQLite file in ``data_dir``."""
        return self.db_url or f"sqlite:///{self.data_dir / 'registry.sqlite3'}"

    @property
    def sqlite_store_path(self) -> Path:
        """Where the embedded time-series store lives."""
        return self.data_dir / "timeseries.sqlite3"


def hide_password(url: str) -> str:
    """``url`` with the password of its user information written ``***`` (``mqtt://ingest:***@host``);
    anything else as it is."""
    parts = urlsplit(url)
    if "@" not in parts.netloc or ":" not in parts.netloc.rsplit("@", 1)[0]:
        return url
    user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{parts.netloc.rsplit('@', 1)[1]}"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once (``get_settings.cache_clear()`` re-reads them)."""
    return Settings()


def reference_markdown() -> str:
    """Every setting as a Markdown table (variable, default, meaning): ``docs/configuration.md``'s
    reference, generated so that it cannot drift from the settings (a test compares them)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        factory = field.default_factory
        default = factory() if factory is not None else field.default  # type: ignore[call-arg]
        if isinstance(default, SecretStr):
            shown = "(a demo value: set your own)"
        elif default is None:
            shown = "unset"
        elif isinstance(default, Path) and not default.is_absolute():
            shown = f"`./{default.as_posix()}`"
        else:
            shown = f"`{default}`"
        meaning = (field.description or "").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
        rows.append(f"| `PANEN_{name.upper()}` | {shown} | {meaning} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # docs/configuration.md's table: python -m panen.settings
    print(reference_markdown(), end="")
