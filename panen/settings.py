"""Settings from the environment (prefix ``PANEN_``) and an optional ``.env`` file.

Obtain them through :func:`get_settings`, never at import time, so tests can set the environment
and call ``get_settings.cache_clear()``. Every setting that is left unset selects an embedded
default, so panen runs on a laptop with nothing installed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


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
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `PANEN_INFLUX_URL=` in a .env file means "not configured", not "the empty URL".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def registry_url(self) -> str:
        """The registry database: ``db_url`` or a SQLite file in ``data_dir``."""
        return self.db_url or f"sqlite:///{self.data_dir / 'registry.sqlite3'}"

    @property
    def sqlite_store_path(self) -> Path:
        """Where the embedded time-series store lives."""
        return self.data_dir / "timeseries.sqlite3"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once (``get_settings.cache_clear()`` re-reads them)."""
    return Settings()
