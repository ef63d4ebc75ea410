"""A store per cooperative on a real InfluxDB 1.x with authentication on (issue 18): a cooperative's
read credentials read its own readings and forecasts through the dashboards' own InfluxQL, and InfluxDB
refuses every query for another cooperative's data; Coosae's credentials read the shared series; ingest
and the forecast service write with their own credentials only where they must."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dashboards.build import dashboards, panel_queries
from firmware_sim.fleet import batu_fleet
from ingest.metrics import IngestMetrics
from panen.devservices import InfluxServer
from services.alerts import evaluate_alerts
from services.forecasting import ForecastService
from services.registry_import import import_fleet
from services.tenancy import API_USER, COOSAE_USER, INGEST_USER, coop_user, tenant_password
from services.track_record import skill_points
from storage import StoreAuthError, local_day
from storage.db.engine import open_registry, sqlite_url
from storage.influx import InfluxStore
from tests.dashboards.test_dashboards import expand
from tests.season import NOW_MS, load_season

SECRET = "tenant-test-secret"
TODAY = local_day(NOW_MS)
ADMIN = ("admin", "admin-pw")
A, B = "oro-oro-ombo", "pesanggrahan"


@pytest.fixture(scope="module")
def tenancy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An influxd with auth on, a registry of two cooperatives, `panen store tenants` run, a season
    written by the ingest user and forecasts by the API user."""
    work = tmp_path_factory.mktemp("tenancy")
    server = InfluxServer(work / "influxd")
    config = server.config_path.read_text().replace(
        "  log-enabled = false", "  log-enabled = false\n  auth-enabled = true"
    )
    server.config_path.write_text(config)
    server.start()
    # Whatever fails while setting up, the server and the stores are stopped (no influxd left behind).
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        httpx.post(
            f"{server.url}/query",
            data={"q": f"CREATE USER {ADMIN[0]} WITH PASSWORD '{ADMIN[1]}' WITH ALL PRIVILEGES"},
        ).raise_for_status()
        fleet = batu_fleet(anchor=TODAY).subset(2, 3)
        assert [c.id for c in fleet.cooperatives] == [A, B]
        registry = sqlite_url(work / "registry.sqlite3")
        sessions = open_registry(registry)
        with sessions() as session:
            import_fleet(session, fleet)
        env = {
            **os.environ,
            "PANEN_DATA_DIR": str(work),
            "PANEN_DB_URL": registry,
            "PANEN_INFLUX_URL": server.url,
            "PANEN_INFLUX_USER": ADMIN[0],
            "PANEN_INFLUX_TOKEN": ADMIN[1],
            "PANEN_INFLUX_TENANTS": "true",
            "PANEN_TENANT_SECRET": SECRET,
            "PANEN_RETENTION_RAW_DAYS": "0",
            "COLUMNS": "200",
        }

        def tenants(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "panen", "store", "tenants", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )

        done = tenants()
        assert done.returncode == 0, done.stdout + done.stderr

        def as_user(user: str) -> InfluxStore:
            return InfluxStore(server.url, user=user, token=tenant_password(SECRET, user), tenants=True)

        ingest = stack.enter_context(contextlib.closing(as_user(INGEST_USER)))
        load_season(ingest, fleet, days=20)
        api = stack.enter_context(contextlib.closing(as_user(API_USER)))
        # What the continuous queries do on their own: each cooperative's tiers, from its raw readings.
        assert api.rollup(start_ms=NOW_MS - 21 * 86_400_000, end_ms=NOW_MS + 86_400_000, now_ms=NOW_MS) > 0
        run = ForecastService(api, sessions, members=16).run(TODAY)
        evaluate_alerts(api, sessions, run, now_ms=NOW_MS + 86_400_000)  # every node silent a day later
        metrics = IngestMetrics()
        metrics.readings_stored.inc(10)
        ingest.write_series([metrics.stats_point("ingest-1", NOW_MS - 60_000)])
        with sessions() as session:  # the track record, as each refresh writes it
            api.write_series(skill_points(api, session, NOW_MS))
        yield {
            "server": server,
            "ingest": ingest,
            "api": api,
            "as_user": as_user,
            "tenants": tenants,
            "fleet": fleet,
        }


def _query(server: InfluxServer, user: str, database: str, statement: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/query",
        data={"db": database, "q": statement, "epoch": "ms"},
        auth=(user, tenant_password(SECRET, user)),
        timeout=30,
    )


def _series(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert all("error" not in r for r in results), results
    return [s for r in results for s in r.get("series", [])]


def _dashboard_statements(
    name: str, coop: str, field: str, server: InfluxServer, user: str, database: str
) -> list[str]:
    """Every variable and panel query of a dashboard, expanded as Grafana does for ``coop``/``field``."""
    dashboard = dashboards()[name]
    window = {"from_ms": NOW_MS - 30 * 86_400_000, "to_ms": time.time_ns() // 1_000_000 + 2 * 86_400_000}
    values: dict[str, str] = {"coop": coop, "field": field}
    statements = []
    for variable in dashboard["templating"]["list"]:
        text = expand(variable["query"], **window, values=values).replace("oro-oro-ombo", coop)
        statements.append(text)
        if variable["name"] not in values:
            response = _query(server, user, database, text)
            if response.status_code == 200:
                values[variable["name"]] = str(_series(response)[0]["values"][0][1])
    for _, query in panel_queries(dashboard):
        statements.append(
            expand(query.replace("$field", field).replace("$coop", coop), **window, values=values)
        )
    return statements


def test_a_cooperative_reads_its_own_data_through_the_dashboards_and_nothing_else(
    tenancy: dict[str, Any],
) -> None:
    server: InfluxServer = tenancy["server"]
    user = coop_user(A)
    own = f"panen_{A}"
    statements = _dashboard_statements("my-field.json", A, f"{A}-f01", server, user, own)
    for statement in statements:
        series = _series(_query(server, user, own, statement))
        assert series, f"no data for {statement}"
    health = _dashboard_statements("fleet-health.json", A, f"{A}-f01", server, user, own)
    for statement in health:
        if '"ingest"' not in statement:  # ingest's counters are Coosae's, in the shared database
            assert _series(_query(server, user, own, statement)), statement
    # The same InfluxQL for the other cooperative, in its database or qualified from one's own: refused.
    other = f"panen_{B}"
    for statement in _dashboard_statements("my-field.json", B, f"{B}-f01", server, user, own):
        refused = _query(server, user, other, statement)
        assert refused.status_code == 403, statement
        assert "not authorized" in refused.json()["error"]
    for sneaky in (
        f'SELECT * FROM "{other}"."raw"."soil_vwc_pct" LIMIT 1',
        f'SELECT * FROM "{own}"."raw"."soil_vwc_pct", "{other}"."raw"."soil_vwc_pct" LIMIT 1',
        'SELECT * FROM "panen"."autogen"."plan" LIMIT 1',
        'SELECT * FROM "panen"."autogen"."forecast" LIMIT 1',
        f'SELECT * INTO "{own}"."autogen"."stolen" FROM "{other}"."raw"."soil_vwc_pct"',
        "SHOW USERS",
        f'DROP DATABASE "{other}"',
    ):
        assert _query(server, user, own, sneaky).status_code == 403, sneaky
    # What it can see: only its own database, and only its own cooperative's tags in it.
    (databases,) = _series(_query(server, user, own, "SHOW DATABASES"))
    assert [row[0] for row in databases["values"]] == [own]
    (coops,) = _series(
        _query(server, user, own, 'SHOW TAG VALUES FROM "raw"."soil_vwc_pct" WITH KEY = "coop"')
    )
    assert {row[1] for row in coops["values"]} == {A}


def test_coosae_reads_the_shared_series_and_every_cooperative(tenancy: dict[str, Any]) -> None:
    server: InfluxServer = tenancy["server"]
    for statement in _dashboard_statements(
        "supply-outlook.json", A, f"{A}-f01", server, COOSAE_USER, "panen"
    ):
        assert _series(_query(server, COOSAE_USER, "panen", statement)), statement
    (forecasts,) = _series(_query(server, COOSAE_USER, "panen", 'SELECT count("tonnes_p50") FROM "forecast"'))
    assert forecasts["values"][0][1] >= 6  # every field of both cooperatives
    for coop in (A, B):
        assert _series(
            _query(server, COOSAE_USER, f"panen_{coop}", 'SELECT count("value") FROM "raw"."air_temp_c"')
        )
    assert _query(server, COOSAE_USER, "panen", 'DROP DATABASE "panen"').status_code == 403
    write = httpx.post(
        f"{server.url}/write",
        params={"db": "panen", "precision": "ms"},
        content=f"plan,week=x p50=1 {NOW_MS}",
        auth=(COOSAE_USER, tenant_password(SECRET, COOSAE_USER)),
    )
    assert write.status_code == 403  # Coosae reads; it does not write


def test_ingest_and_the_api_write_only_where_they_must(tenancy: dict[str, Any]) -> None:
    server: InfluxServer = tenancy["server"]
    ingest: InfluxStore = tenancy["ingest"]
    api: InfluxStore = tenancy["api"]
    # Each reading is in its cooperative's database and nowhere else.
    for coop in (A, B):
        (rows,) = _series(
            _query(
                server,
                API_USER,
                f"panen_{coop}",
                'SHOW TAG VALUES FROM "raw"."soil_vwc_pct" WITH KEY = "coop"',
            )
        )
        assert {row[1] for row in rows["values"]} == {coop}
    assert _series(_query(server, API_USER, "panen", 'SELECT count("value") FROM "raw"."soil_vwc_pct"')) == []
    # Ingest writes, it reads nothing.
    with pytest.raises(StoreAuthError):
        ingest.raw(start_ms=0, end_ms=NOW_MS + 1, site_id=f"{A}-f01")
    for statement in ('SELECT * FROM "forecast" LIMIT 1', "SHOW USERS"):
        assert _query(server, INGEST_USER, "panen", statement).status_code == 403
    # The API reads across cooperatives as one store, and its alerts reached the cooperatives too.
    field = f"{B}-f01"
    assert api.raw(start_ms=NOW_MS - 86_400_000, end_ms=NOW_MS + 1, site_id=field)
    # Yesterday too: in the first hour after midnight WIB today may have no hourly reading yet.
    yesterday = TODAY - dt.timedelta(days=1)
    assert api.daily(site_ids=[field], metrics=["air_temp_c"], start_day=yesterday, end_day=TODAY, coop_id=B)
    (alerts,) = _series(
        _query(server, coop_user(B), f"panen_{B}", 'SELECT count("node_offline") FROM "alert"')
    )
    assert alerts["values"][0][1] > 0
    assert _query(server, API_USER, "panen", "SHOW USERS").status_code == 403  # not an admin


def test_setting_up_again_changes_nothing_and_a_dry_run_hides_passwords(tenancy: dict[str, Any]) -> None:
    server: InfluxServer = tenancy["server"]
    before = _series(_query(server, API_USER, f"panen_{A}", 'SELECT count("value") FROM "raw"."air_temp_c"'))
    again = tenancy["tenants"]()
    assert again.returncode == 0, again.stdout + again.stderr
    assert (
        _series(_query(server, API_USER, f"panen_{A}", 'SELECT count("value") FROM "raw"."air_temp_c"'))
        == before
    )
    assert _series(_query(server, coop_user(A), f"panen_{A}", "SHOW DATABASES"))  # passwords unchanged
    dry = tenancy["tenants"]("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f'GRANT READ ON "panen_{A}" TO "coop_{A}"' in dry.stdout
    assert SECRET not in dry.stdout
    assert tenant_password(SECRET, coop_user(A)) not in dry.stdout
