"""Settings from the environment and .env, and the store they select."""

from __future__ import annotations

from pathlib import Path

import pytest

from panen.settings import Settings, get_settings
from panen.wiring import open_store
from storage.influx import InfluxStore
from storage.sqlite import SqliteStore


def test_defaults_select_embedded_services(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DATA_DIR", "MQTT_URL", "INFLUX_URL", "INFLUX_DB", "INFLUX_USER", "INFLUX_TOKEN"):
        monkeypatch.delenv(f"PANEN_{name}", raising=False)
    s = Settings()
    assert (s.data_dir, s.mqtt_url, s.influx_url, s.influx_db) == (Path("data"), None, None, "panen")
    store = open_store(s)
    assert isinstance(store, SqliteStore)
    store.close()
    assert (tmp_path / "data" / "timeseries.sqlite3").is_file()


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "PANEN_INFLUX_URL=http://127.0.0.1:8086\nPANEN_INFLUX_TOKEN=t0k\nPANEN_MQTT_URL=\n"
    )
    monkeypatch.setenv("PANEN_INFLUX_DB", "kebun")
    s = Settings()
    assert s.influx_url == "http://127.0.0.1:8086"
    assert s.influx_db == "kebun"
    assert s.mqtt_url is None  # blank in .env means unset
    assert s.influx_token is not None
    assert s.influx_token.get_secret_value() == "t0k"
    assert "t0k" not in repr(s)
    store = open_store(s)
    assert isinstance(store, InfluxStore)
    store.close()


def test_get_settings_is_cached_until_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    monkeypatch.setenv("PANEN_INFLUX_DB", "one")
    first = get_settings()
    monkeypatch.setenv("PANEN_INFLUX_DB", "two")
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().influx_db == "two"
    get_settings.cache_clear()


def test_the_configuration_reference_is_the_settings() -> None:
    """docs/configuration.md's table is generated from the settings: a new or changed setting
    without the page regenerated (`python -m panen.settings`) fails here."""
    from pathlib import Path

    from panen.settings import reference_markdown

    page = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    table = page.split("<!-- settings:begin -->\n", 1)[1].split("<!-- settings:end -->", 1)[0]
    assert table == reference_markdown()


def test_notification_defaults_are_the_outbox_s_own(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings write the notifications' defaults beside NotifyConfig's (so that reading the settings
    imports no SQLAlchemy); with nothing set, notify_config() is exactly NotifyConfig()."""
    from panen.wiring import notify_config
    from services.notify.outbox import NotifyConfig

    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        if name.startswith("notify_") or name == "public_url":
            monkeypatch.delenv(f"PANEN_{name.upper()}", raising=False)
    assert notify_config(Settings()) == NotifyConfig()


def test_reading_the_settings_imports_no_registry_machinery() -> None:
    """Every command reads the settings first: ingest's start was 0.37 s longer while they imported
    the services (and SQLAlchemy with them) for the notifications' defaults."""
    import subprocess
    import sys

    code = "import sys; from panen.settings import get_settings; get_settings(); print(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "sqlalchemy" not in loaded
    assert "'services" not in loaded
