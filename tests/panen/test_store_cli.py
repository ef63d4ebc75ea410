"""``panen store init``, ``rollup`` and ``influx2-setup`` as an operator runs them: init sets up the
tiers on a real InfluxDB 1.x and running it again with other windows alters them; a rollup reports
what it wrote; the 2.x set-up prints its requests or says what it needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from panen.devservices import InfluxServer
from sensors import Reading
from storage.influx import InfluxStore
from storage.retention import HOUR_MS


def _panen(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": "200", **env}
    return subprocess.run(
        [sys.executable, "-m", "panen", *args], env=full, capture_output=True, text=True, timeout=120
    )


def test_store_init_and_rollup_on_influxdb(influx_server: InfluxServer, tmp_path: Path) -> None:
    database = f"cli_{time.time_ns()}"
    env = {
        "PANEN_DATA_DIR": str(tmp_path),
        "PANEN_INFLUX_URL": influx_server.url,
        "PANEN_INFLUX_DB": database,
    }
    first = _panen(env, "store", "init")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "ready" in first.stderr
    store = InfluxStore(influx_server.url, database=database)
    try:

        def policies() -> dict[str, str]:
            return {
                row[0]: row[1]
                for s in store.query(f'SHOW RETENTION POLICIES ON "{database}"')
                for row in s["values"]
            }

        assert policies() == {"autogen": "0s", "raw": "2160h0m0s", "hourly": "17520h0m0s", "daily": "0s"}
        assert sorted(store.continuous_queries()) == ["panen_daily", "panen_hourly"]
        again = _panen(
            env | {"PANEN_RETENTION_RAW_DAYS": "30", "PANEN_RETENTION_HOURLY_DAYS": "0"}, "store", "init"
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert policies() == {"autogen": "0s", "raw": "720h0m0s", "hourly": "0s", "daily": "0s"}
        now = time.time_ns() // 1_000_000
        store.write([Reading("n1", "c", "f", "air_temp_c", 20.0 + i, now - i * HOUR_MS) for i in range(48)])
        rolled = _panen(env, "store", "rollup", "--days", "3")
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        assert "rolled up" in rolled.stderr
        (series,) = store.query('SELECT sum("count") FROM "daily"."air_temp_c"')
        assert series["values"][0][1] == 48
    finally:
        store.close()


def test_store_rollup_names_the_store_when_it_is_down(tmp_path: Path) -> None:
    down = _panen(
        {"PANEN_DATA_DIR": str(tmp_path), "PANEN_INFLUX_URL": "http://127.0.0.1:9"}, "store", "rollup"
    )
    assert down.returncode == 1
    assert "rollup failed" in down.stderr
    assert "127.0.0.1:9" in down.stderr


def test_influx2_setup_prints_requests_or_asks_for_the_org(tmp_path: Path) -> None:
    env = {"PANEN_DATA_DIR": str(tmp_path)}
    missing = _panen(env, "store", "influx2-setup")
    assert missing.returncode == 2
    assert "--org-id" in missing.stderr
    printed = _panen(env, "store", "influx2-setup", "--org-id", "abc123")
    assert printed.returncode == 0, printed.stderr
    requests = [json.loads(line) for line in printed.stdout.splitlines()]
    assert [r["path"] for r in requests].count("/api/v2/buckets") == 3
    assert [r["path"] for r in requests].count("/api/v2/tasks") == 2
    assert {r["body"]["orgID"] for r in requests} == {"abc123"}
