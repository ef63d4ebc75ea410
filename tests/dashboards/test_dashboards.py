"""Dashboards: regenerating them changes nothing, and every panel query (with Grafana's macros expanded
as Grafana does) parses and returns series on a real InfluxDB holding a simulated season."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import yaml

from dashboards.build import DATASOURCE_UID, OUT_DIR, dashboards, panel_queries, render
from firmware_sim.fleet import batu_fleet
from ingest.metrics import IngestMetrics
from panen.devservices import InfluxServer
from services.alerts import evaluate_alerts
from services.forecasting import ForecastService
from storage.influx import InfluxStore
from storage.registry import import_fleet, open_registry, sqlite_url
from tests.api.conftest import NOW_MS, TODAY, load_season

COOP, FIELD = "oro-oro-ombo", "oro-oro-ombo-f01"


def test_regenerating_changes_nothing() -> None:
    built = dashboards()
    assert sorted(p.name for p in OUT_DIR.glob("*.json")) == sorted(built)
    for name, dashboard in built.items():
        assert (OUT_DIR / name).read_text() == render(dashboard), (
            f"{name} is stale: python -m dashboards.build"
        )
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == DATASOURCE_UID
            assert " / " in panel["title"], panel["title"]  # Bahasa Indonesia / English


@pytest.fixture(scope="module")
def season_db(influx_server: InfluxServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    database = f"dash_{time.time_ns()}"
    influx_server.create_database(database)
    store = InfluxStore(influx_server.url, database=database)
    fleet = batu_fleet(anchor=TODAY).subset(1, 10)
    sessions = open_registry(sqlite_url(tmp_path_factory.mktemp("dash") / "registry.sqlite3"))
    with sessions() as session:
        import_fleet(session, fleet)
    load_season(store, fleet)
    run = ForecastService(store, sessions, members=20).run(TODAY)
    # A day later every node is silent: node_offline alerts for every field.
    evaluate_alerts(store, sessions, run, now_ms=NOW_MS + 86_400_000)
    evaluate_alerts(store, sessions, run)  # and back: cleared (0)
    metrics = IngestMetrics()
    metrics.readings_stored.inc(1000)
    metrics.dead_letters.labels("bad_json").inc(3)
    store.write_series([metrics.stats_point("ingest-1", NOW_MS - 60_000)])
    store.close()
    return database


def expand(query: str, *, from_ms: int, to_ms: int) -> str:
    """Grafana's InfluxQL macro expansion (public/app/plugins/datasource/influxdb)."""
    return (
        query.replace("$timeFilter", f"time >= {from_ms}ms and time <= {to_ms}ms")
        .replace("$__interval", "1h")
        .replace("$field", FIELD)
        .replace("$coop", COOP)
    )


def _run(influx: InfluxServer, database: str, query: str) -> list[dict[str, object]]:
    response = httpx.get(
        f"{influx.url}/query", params={"db": database, "q": query, "epoch": "ms"}, timeout=30
    )
    assert response.status_code == 200, (query, response.text)
    results = response.json()["results"]
    assert all("error" not in r for r in results), (query, results)
    return [s for r in results for s in r.get("series", [])]


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_every_panel_query_returns_series(influx_server: InfluxServer, season_db: str, name: str) -> None:
    dashboard = dashboards()[name]
    # Forecasts, alerts and stats carry the time they were computed, after NOW_MS; a day on covers
    # the alerts evaluated "a day later" too, as a dashboard open then would.
    now_ms = time.time_ns() // 1_000_000
    window = {"from_ms": NOW_MS - 30 * 86_400_000, "to_ms": now_ms + 86_400_000 + 60_000}
    for variable in dashboard["templating"]["list"]:
        values = _run(influx_server, season_db, expand(variable["query"], **window))
        assert values, variable["name"]
    for title, query in panel_queries(dashboard):
        series = _run(influx_server, season_db, expand(query, **window))
        assert series, f"{title}: no series for {expand(query, **window)}"
        assert any(any(v is not None for v in row[1:]) for s in series for row in s["values"]), title  # type: ignore[index,union-attr]


def test_provisioning_points_at_the_dashboards() -> None:
    root = Path(__file__).parents[2]
    provider = (root / "deploy/grafana/provisioning/dashboards/panen.yaml").read_text()
    assert "/var/lib/grafana/dashboards/panen" in provider
    datasource = (root / "deploy/grafana/provisioning/datasources/influxdb.yaml").read_text()
    assert f"uid: {DATASOURCE_UID}" in datasource
    assert "dbName: panen" in datasource
    assert "Token ${INFLUXDB_TOKEN}" in datasource


def test_pushed_datasource_matches_the_provisioned_one() -> None:
    from dashboards.push import datasource_payload

    root = Path(__file__).parents[2]
    provisioned = yaml.safe_load((root / "deploy/grafana/provisioning/datasources/influxdb.yaml").read_text())
    (ds,) = provisioned["datasources"]
    pushed = datasource_payload("http://influxdb:8086", "panen", "t0k")
    for key in ("uid", "type", "access", "url"):
        assert pushed[key] == ds[key], key
    assert pushed["jsonData"] == ds["jsonData"]
    assert pushed["secureJsonData"]["httpHeaderValue1"] == "Token t0k"
    assert "secureJsonData" not in datasource_payload("http://x", "panen", None)
