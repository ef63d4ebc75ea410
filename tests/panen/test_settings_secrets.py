"""``panen settings`` shows no password (issue 37: it printed those inside PANEN_MQTT_URL, PANEN_DB_URL,
PANEN_NOTIFY_NTFY_URL and PANEN_INFLUX_URL while saying "secrets hidden")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from panen.settings import hide_password

SECRET_URLS = {
    "PANEN_MQTT_URL": "mqtt://ingest:mqtt-Secret-1@broker:1883",
    "PANEN_DB_URL": "postgresql+psycopg://panen:pg-Secret-2@db:5432/panen",
    "PANEN_NOTIFY_NTFY_URL": "ntfys://user:ntfy-Secret-3@ntfy.example.org/batu",
    "PANEN_INFLUX_URL": "http://panen:influx-Secret-4@influx:8086",
    "PANEN_NOTIFY_SMTP_URL": "smtp://mail:smtp-Secret-5@mail.example.org:587",
    "PANEN_FLEET_SECRET": "fleet-Secret-6",
}


def test_panen_settings_prints_no_password(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANEN_")}
    env.update({"PANEN_DATA_DIR": str(tmp_path), **SECRET_URLS})
    out = subprocess.run([sys.executable, "-m", "panen", "settings"], env=env, capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    for value in SECRET_URLS.values():
        secret = value.rsplit("@", 1)[0].rsplit(":", 1)[-1] if "@" in value else value
        assert secret not in out.stdout + out.stderr, secret
    shown = json.loads(out.stdout)
    assert shown["mqtt_url"] == "mqtt://ingest:***@broker:1883"  # still says where and as whom


_PART = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=12)


@given(st.sampled_from(["mqtt", "http", "postgresql+psycopg", "ntfys"]), _PART, _PART, _PART)
def test_no_url_keeps_its_password(scheme: str, user: str, password: str, host: str) -> None:
    url = f"{scheme}://{user}:{password}@{host}.example:1/x?y=1"
    shown = hide_password(url)
    assert shown == f"{scheme}://{user}:***@{host}.example:1/x?y=1"
    assert hide_password(f"{scheme}://{host}.example/x") == f"{scheme}://{host}.example/x"
