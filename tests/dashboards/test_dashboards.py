"""Dashboards: regenerating them changes nothing, and every panel query (with Grafana's macros expanded
as Grafana does) parses and returns series on a real InfluxDB holding a simulated season."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dashboards.build import DATASOURCE_UID, OUT_DIR, dashboards, panel_queries, render
from firmware_sim.fleet import batu_fleet
from ingest.metrics import IngestMetrics
from panen.devservices import InfluxServer
from services.alerts import evaluate_alerts
from services.forecasting import ForecastService
from services.registry_import import import_fleet
from services.track_record import skill_points
from storage import local_day_start_ms
from storage.db.engine import open_registry, sqlite_url
from storage.influx import InfluxStore
from storage.retention import Resolution
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
    # What the continuous queries do hourly, at once: the hourly and daily tiers of the season.
    assert store.rollup(start_ms=NOW_MS - 60 * 86_400_000, end_ms=NOW_MS + 86_400_000, now_ms=NOW_MS) > 0
    run = ForecastService(store, sessions, members=20).run(TODAY)
    # A day later every node is silent: node_offline alerts for every field.
    evaluate_alerts(store, sessions, run, now_ms=NOW_MS + 86_400_000)
    evaluate_alerts(store, sessions, run)  # and back: cleared (0)
    metrics = IngestMetrics()
    metrics.readings_stored.inc(1000)
    metrics.dead_letters.labels("bad_json").inc(3)
    store.write_series([metrics.stats_point("ingest-1", NOW_MS - 60_000)])
    with sessions() as session:  # the track record, as each refresh writes it (no harvest yet: 0 records)
        store.write_series(skill_points(store, session, NOW_MS))
    store.close()
    return database


def expand(query: str, *, from_ms: int, to_ms: int, values: dict[str, str] | None = None) -> str:
    """Grafana's InfluxQL macro expansion (public/app/plugins/datasource/influxdb): its global
    ``${__from}``/``${__to}`` [ms], ``$timeFilter``, ``$__interval``, then the variables' values
    (single-valued, so inserted as they are)."""
    text = (
        query.replace("${__from}", str(from_ms))
        .replace("${__to}", str(to_ms))
        .replace("$timeFilter", f"time >= {from_ms}ms and time <= {to_ms}ms")
        .replace("$__interval", "1h")
        .replace("$field", FIELD)
        .replace("$coop", COOP)
    )
    for name, value in sorted((values or {}).items(), key=lambda kv: -len(kv[0])):
        text = text.replace(f"${name}", value)
    return text


def variable_values(
    influx: InfluxServer, database: str, dashboard: dict[str, Any], **window: int
) -> dict[str, str]:
    """Each variable's first value, as Grafana would pick it for this time range."""
    values: dict[str, str] = {}
    for variable in dashboard["templating"]["list"]:
        series = _run(influx, database, expand(variable["query"], **window, values=values))
        assert series, variable["name"]
        values[variable["name"]] = str(series[0]["values"][0][1])  # type: ignore[index]
    return values


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
    values = variable_values(influx_server, season_db, dashboard, **window)
    for title, query in panel_queries(dashboard):
        series = _run(influx_server, season_db, expand(query, **window, values=values))
        assert series, f"{title}: no series for {expand(query, **window, values=values)}"
        assert any(any(v is not None for v in row[1:]) for s in series for row in s["values"]), title  # type: ignore[index,union-attr]


@pytest.mark.parametrize(
    ("days", "tier"), [(1, "raw"), (7, "raw"), (30, "hourly"), (92, "daily"), (400, "daily")]
)
def test_reading_charts_read_the_tier_that_fits_the_range(
    influx_server: InfluxServer, season_db: str, days: int, tier: str
) -> None:
    # The hidden variables pick the tier from the range alone; the soil-moisture chart then reads it,
    # and its points agree with the store's own aggregates of the same buckets.
    dashboard = dashboards()["my-field.json"]
    to_ms = local_day_start_ms(TODAY)  # whole local days, so each charted day can be compared
    window = {"from_ms": to_ms - days * 86_400_000, "to_ms": to_ms}
    values = variable_values(influx_server, season_db, dashboard, **window)
    assert values["rp"] == tier
    query = next(q for title, q in panel_queries(dashboard) if "Soil moisture" in title)
    text = expand(query, **window, values=values).replace("time(1h)", "time(1d, 17h)")
    assert f'"{tier}"."soil_vwc_pct"' in text
    series = _run(influx_server, season_db, text)
    charted = {int(row[0]): row[1] for s in series for row in s["values"] if row[1] is not None}  # type: ignore[index,union-attr]
    store = InfluxStore(influx_server.url, database=season_db)
    try:
        expected = {
            b.start_ms: b.mean
            for b in store.buckets(
                Resolution.DAY,
                site_id=FIELD,
                metrics=["soil_vwc_pct"],
                start_ms=window["from_ms"],
                end_ms=to_ms,
            )
        }
    finally:
        store.close()
    whole = {ts: v for ts, v in charted.items() if ts >= window["from_ms"] and ts + 86_400_000 <= to_ms}
    assert whole, text
    for ts, mean in whole.items():
        assert mean == pytest.approx(expected[ts], rel=1e-9), ts


def _lost(ours: Any, back: Any, path: str = "") -> list[str]:
    """Where ``back`` lost or changed something of ``ours`` (defaults it adds are fine)."""
    if isinstance(ours, dict) and isinstance(back, dict):
        return [
            lost
            for key, value in ours.items()
            for lost in (
                [f"{path}.{key} dropped"] if key not in back else _lost(value, back[key], f"{path}.{key}")
            )
        ]
    if isinstance(ours, list) and isinstance(back, list) and len(ours) == len(back):
        return [
            lost
            for i, (a, b) in enumerate(zip(ours, back, strict=True))
            for lost in _lost(a, b, f"{path}[{i}]")
        ]
    return [] if ours == back else [f"{path}: {ours!r} became {back!r}"]


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_dashboards_are_what_grafanas_schema_describes(name: str) -> None:
    # grafana-foundation-sdk's models are generated from Grafana's own dashboard schema: every key we
    # write must be one it knows, of the type it knows, or the round trip drops or changes it.
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    ours = dashboards()[name]
    back = json.loads(json.dumps(Dashboard.from_json(ours), cls=JSONEncoder))
    assert _lost(ours, back) == []
    # And a cooperative's and Coosae's copies (panen grafana sync) too.
    from services.grafana_sync import fixed_coop, per_coop_datasource

    for copy in (fixed_coop(ours, "oro-oro-ombo"), per_coop_datasource(ours)):
        again = json.loads(json.dumps(Dashboard.from_json(copy), cls=JSONEncoder))
        assert _lost(copy, again) == []


def test_the_pushed_datasource_is_the_one_the_dashboards_name() -> None:
    """``panen dashboards push`` (your own Grafana) creates the datasource the dashboards' queries name:
    InfluxQL on the given database; a token, when given, as InfluxDB 2.x/3.x want it."""
    from dashboards.push import datasource_payload

    pushed = datasource_payload("http://influxdb:8086", "panen", "t0k")
    assert (pushed["uid"], pushed["type"], pushed["access"]) == (DATASOURCE_UID, "influxdb", "proxy")
    assert pushed["jsonData"]["dbName"] == "panen"
    assert pushed["secureJsonData"]["httpHeaderValue1"] == "Token t0k"
    assert "secureJsonData" not in datasource_payload("http://x", "panen", None)
    used = {ds.get("uid") for d in dashboards().values() for ds in _datasources(d)}
    assert used <= {DATASOURCE_UID, "${datasource}", None}, used


def _datasources(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("datasource"), dict):
                found.append(node["datasource"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(dashboard)
    return found


def test_compose_provisions_grafana_through_the_sync_and_mounts_no_stale_files() -> None:
    """Issue 40: deploy/grafana/provisioning described InfluxDB 2.x with one token and was mounted by
    nothing, beside a README describing InfluxDB 1.11 with an organisation per cooperative. Grafana's
    organisations, datasources and dashboards come from ``panen grafana sync`` alone."""
    root = Path(__file__).parents[2]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    assert compose["services"]["grafana-sync"]["command"] == ["panen", "grafana", "sync"]
    assert not (root / "deploy" / "grafana").exists()
    assert "provisioning" not in (root / "docker-compose.yml").read_text()
    assert "influxdb:1.11" in compose["services"]["influxdb"]["image"]


def test_coosaes_tables_add_expected_tonnes(influx_server: InfluxServer, season_db: str) -> None:
    """Issue 36: the supply outlook's cooperative table is in expected tonnes, which add up: per
    commodity, the sum of its fields' latest expected tonnes in the store."""
    dashboard = dashboards()["supply-outlook.json"]
    query = next(q for title, q in panel_queries(dashboard) if title.startswith("Per koperasi"))
    start_ms, end_ms = NOW_MS - 7 * 86_400_000, NOW_MS + 86_400_000
    series = _run(influx_server, season_db, expand(query, from_ms=start_ms, to_ms=end_ms))
    shown: dict[str, float] = {}
    for s in series:
        tags, row = s["tags"], s["values"][0]  # type: ignore[index]
        assert s["columns"][1] == "expected", s  # type: ignore[index]
        shown[tags["commodity"]] = shown.get(tags["commodity"], 0.0) + row[1]  # type: ignore[index]
    store = InfluxStore(influx_server.url, database=season_db)
    try:
        points = store.forecasts(start_ms=start_ms, end_ms=end_ms)
    finally:
        store.close()
    latest: dict[str, tuple[int, str, float]] = {}
    for p in points:
        if p.site_id not in latest or p.ts_ms >= latest[p.site_id][0]:
            latest[p.site_id] = (p.ts_ms, p.commodity, p.values["tonnes_expected"])
    want: dict[str, float] = {}
    for _, commodity, tonnes in latest.values():
        want[commodity] = want.get(commodity, 0.0) + tonnes
    assert shown
    assert shown == pytest.approx(want, rel=1e-9)
