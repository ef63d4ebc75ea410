"""Retention and downsampling on a real InfluxDB 1.x and on SQLite: after simulated ageing, raw readings
older than the window are gone, the hourly and daily aggregates equal what the raw readings gave, and a
forecast computed before and after is the same. Also: InfluxDB's continuous queries really run, and the
2.x set-up requests match InfluxDB's API schemas."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from firmware_sim.fleet import batu_fleet
from panen.devservices import InfluxServer
from sensors import Reading, metric_names
from services.forecasting import ForecastService
from services.registry_import import import_fleet
from storage import TimeSeriesStore, local_day
from storage.base import DAY_MS, Bucket, DailyAggregate
from storage.db.engine import open_registry, sqlite_url
from storage.fleetfile import Fleet
from storage.influx import InfluxStore
from storage.retention import HOUR_MS, Resolution, Retention, influx2_requests, influx2_shell
from storage.sqlite import SqliteStore
from tests.ingest.helpers import wait_for
from tests.season import NOW_MS, load_season

TODAY = local_day(NOW_MS)
SEASON_DAYS = 40
RAW_DAYS = 12  # the window the ageing shrinks raw readings to
HOURLY_DAYS = 25
FIXTURES = Path(__file__).parents[1] / "fixtures" / "influx2"


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return batu_fleet(anchor=TODAY).subset(1, 8)


@pytest.fixture
def sessions(fleet: Fleet, tmp_path: Path) -> sessionmaker[Session]:
    made = open_registry(sqlite_url(tmp_path / "registry.sqlite3"))
    with made() as session:
        import_fleet(session, fleet)
    return made


@pytest.fixture(scope="module")
def ageing_influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """An influxd that drops expired shards every second and runs continuous queries."""
    server = InfluxServer(
        tmp_path_factory.mktemp("influxd-ageing"), retention_check_s=1, continuous_queries=True
    )
    server.start()
    yield server
    server.stop()


def _sites(fleet: Fleet) -> list[str]:
    return sorted([f.id for f in fleet.fields] + [s.id for s in fleet.stations])


def _dailies(store: TimeSeriesStore, fleet: Fleet) -> dict[tuple[str, str, dt.date], DailyAggregate]:
    rows = store.daily(
        site_ids=_sites(fleet),
        metrics=metric_names(),
        start_day=TODAY - dt.timedelta(days=SEASON_DAYS + 1),
        end_day=TODAY,
    )
    return {(a.site_id, a.metric, a.day): a for a in rows}


def _hours(store: TimeSeriesStore, site: str, start_ms: int) -> dict[tuple[str, int], Bucket]:
    rows = store.buckets(
        Resolution.HOUR, site_id=site, metrics=metric_names(), start_ms=start_ms, end_ms=NOW_MS
    )
    return {(b.metric, b.start_ms): b for b in rows}


def _forecast(store: TimeSeriesStore, sessions: sessionmaker[Session]) -> dict[str, tuple[Any, ...]]:
    run = ForecastService(store, sessions, members=16, seed=3).run(TODAY)
    return {
        f.field_id: (
            f.harvest_date_p50,
            f.tonnes_p10,
            f.tonnes_p50,
            f.tonnes_p90,
            f.depletion_mm,
            f.days_observed,
        )
        for f in run.forecasts.values()
    }


def _same_aggregates(before: dict[Any, Any], after: dict[Any, Any]) -> None:
    assert after.keys() == before.keys()
    for key, a in before.items():
        b = after[key]
        assert b.count == a.count, key
        assert (b.min, b.max) == (a.min, a.max), key
        assert b.sum == pytest.approx(a.sum, rel=1e-9, abs=1e-9), key
        assert b.mean == pytest.approx(a.mean, rel=1e-9, abs=1e-9), key


def _same_forecast(before: dict[str, tuple[Any, ...]], after: dict[str, tuple[Any, ...]]) -> None:
    assert before
    assert after.keys() == before.keys()
    for field, values in before.items():
        assert after[field][0] == values[0], field  # the P50 harvest date
        assert after[field][1:] == pytest.approx(values[1:], rel=1e-9), field


def _check_ageing(
    store: TimeSeriesStore,
    fleet: Fleet,
    sessions: sessionmaker[Session],
    age: Any,
    *,
    slack_ms: int,
) -> None:
    """Take aggregates and a forecast, run ``age`` (which shrinks the raw window to RAW_DAYS), compare."""
    site = _sites(fleet)[0]
    hourly_start = NOW_MS - HOURLY_DAYS * DAY_MS + DAY_MS
    daily_before, hours_before = _dailies(store, fleet), _hours(store, site, hourly_start)
    forecast_before = _forecast(store, sessions)
    raw_before = store.raw(start_ms=0, end_ms=NOW_MS + 1, site_id=site)
    assert min(r.ts_ms for r in raw_before) < NOW_MS - (SEASON_DAYS - 1) * DAY_MS  # a season to age

    age()

    cutoff = NOW_MS - RAW_DAYS * DAY_MS
    raw_after = store.raw(start_ms=0, end_ms=NOW_MS + 1, site_id=site)
    assert raw_after, "the window's readings are kept"
    assert min(r.ts_ms for r in raw_after) >= cutoff - slack_ms, "raw readings past the window are gone"
    assert [r for r in raw_before if r.ts_ms >= cutoff] == [r for r in raw_after if r.ts_ms >= cutoff]
    _same_aggregates(daily_before, _dailies(store, fleet))
    _same_aggregates(hours_before, _hours(store, site, hourly_start))
    _same_forecast(forecast_before, _forecast(store, sessions))


def test_sqlite_ages_gracefully(fleet: Fleet, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    store = SqliteStore(
        tmp_path / "ts.sqlite3", retention=Retention(raw_days=RAW_DAYS, hourly_days=HOURLY_DAYS)
    )
    load_season(store, fleet, days=SEASON_DAYS)
    counts: dict[str, int] = {}

    def age() -> None:
        counts.update(store.maintain(now_ms=NOW_MS))  # the first run rolls up everything there is

    _check_ageing(store, fleet, sessions, age, slack_ms=0)
    assert min(counts["rolled_up"], counts["raw_deleted"], counts["hourly_deleted"]) > 0, counts
    site = _sites(fleet)[0]
    old_hours = store.buckets(
        Resolution.HOUR,
        site_id=site,
        metrics=["air_temp_c"],
        start_ms=0,
        end_ms=NOW_MS - HOURLY_DAYS * DAY_MS,
    )
    assert old_hours == [], "hourly aggregates past their window are gone"
    # A second run a day later rolls up only the recent days, and keeps the aggregates it cannot redo.
    again = store.maintain(now_ms=NOW_MS + HOUR_MS)
    assert 0 < again["rolled_up"] < counts["rolled_up"]
    store.close()


def test_sqlite_late_readings_are_rolled_up_and_raw_wins_meanwhile(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "ts.sqlite3", retention=Retention(raw_days=30))
    day_start = (NOW_MS // DAY_MS - 2) * DAY_MS + 17 * HOUR_MS  # 00:00 WIB two days ago
    store.write([Reading("n1", "c", "f", "air_temp_c", 10.0 + i, day_start + i * HOUR_MS) for i in range(6)])
    store.maintain(now_ms=NOW_MS)
    (rolled,) = store.daily(
        site_ids=["f"], metrics=["air_temp_c"], start_day=local_day(day_start), end_day=local_day(day_start)
    )
    assert (rolled.count, rolled.sum) == (6, sum(10.0 + i for i in range(6)))
    # A spool replayed after an outage brings readings of that day late: raw (more readings) wins until
    # the next maintenance, which folds them in.
    store.write([Reading("n1", "c", "f", "air_temp_c", 30.0, day_start + 10 * HOUR_MS)])
    (late,) = store.daily(
        site_ids=["f"], metrics=["air_temp_c"], start_day=local_day(day_start), end_day=local_day(day_start)
    )
    assert (late.count, late.max) == (7, 30.0)
    store.maintain(now_ms=NOW_MS + HOUR_MS)
    store.write([])  # nothing new
    stored = store._rolled(
        store._conn(), Resolution.DAY, ["f"], ["air_temp_c"], day_start, day_start + DAY_MS, None
    )
    assert [(row[7], row[5]) for row in stored] == [(7, 30.0)]  # count, max
    store.close()


def test_influx_ages_gracefully(
    ageing_influx: InfluxServer, fleet: Fleet, sessions: sessionmaker[Session]
) -> None:
    database = f"age_{time.time_ns()}"
    forever = InfluxStore(ageing_influx.url, database=database, retention=Retention(None, None))
    forever.create_database()
    load_season(forever, fleet, days=SEASON_DAYS)
    # The backfill `panen store rollup` runs: the continuous queries' own SELECT … INTO, over the season.
    assert (
        forever.rollup(start_ms=NOW_MS - (SEASON_DAYS + 2) * DAY_MS, end_ms=NOW_MS + DAY_MS, now_ms=NOW_MS)
        > 0
    )
    aged = InfluxStore(
        ageing_influx.url, database=database, retention=Retention(raw_days=RAW_DAYS, hourly_days=HOURLY_DAYS)
    )

    def age() -> None:
        # `panen store init` with the shorter windows: it alters the policies, and InfluxDB drops the
        # expired shard groups (of one day) at its next retention check.
        aged.create_database()
        site = _sites(fleet)[0]
        cutoff = NOW_MS - RAW_DAYS * DAY_MS - DAY_MS
        wait_for(
            lambda: min(r.ts_ms for r in aged.raw(start_ms=0, end_ms=NOW_MS + 1, site_id=site)) >= cutoff,
            timeout_s=60,
        )
        hourly_cutoff = NOW_MS - HOURLY_DAYS * DAY_MS - 7 * DAY_MS  # the hourly policy's 7-day shards
        wait_for(
            lambda: (
                not aged.query(
                    f'SELECT count("count") FROM "hourly"."air_temp_c" WHERE time < {hourly_cutoff}ms'
                )
            ),
            timeout_s=60,
        )

    try:
        # InfluxDB drops whole shard groups: raw readings up to one day past the window may remain.
        _check_ageing(aged, fleet, sessions, age, slack_ms=DAY_MS)
        policies = {
            row[0]: row[1]
            for s in aged.query(f'SHOW RETENTION POLICIES ON "{database}"')
            for row in s["values"]
        }
        assert (policies["raw"], policies["daily"]) == (f"{RAW_DAYS * 24}h0m0s", "0s")
    finally:
        forever.close()
        aged.close()


def test_influx_continuous_queries_roll_up_new_readings(ageing_influx: InfluxServer) -> None:
    database = f"cq_{time.time_ns()}"
    store = InfluxStore(
        ageing_influx.url, database=database, retention=Retention(raw_days=30, every_s=1, resample_days=2)
    )
    store.create_database()
    assert sorted(store.continuous_queries()) == ["panen_daily", "panen_hourly"]
    hour = NOW_MS // HOUR_MS * HOUR_MS - 3 * HOUR_MS
    readings = [
        Reading(f"n{i % 3}", "c", "f", "soil_vwc_pct", 20.0 + i % 7, hour + i * 60_000) for i in range(120)
    ]
    readings.append(
        Reading("n0", "c", "f", "soil_vwc_pct", 99.0, hour + 5, quality=1)
    )  # implausible: not rolled
    store.write(readings)

    def rolled() -> list[list[Any]]:
        series = store.query(
            'SELECT sum("count"), sum("sum"), max("max") FROM "hourly"."soil_vwc_pct" '
            "GROUP BY time(1h) fill(none)"
        )
        return [row for s in series for row in s["values"]]

    wait_for(lambda: sum(row[1] for row in rolled()) == 120, timeout_s=30)
    by_hour = {row[0]: row for row in rolled()}
    for start in (hour, hour + HOUR_MS):
        valid = [r.value for r in readings if start <= r.ts_ms < start + HOUR_MS and r.quality == 0]
        assert by_hour[start][1:] == [len(valid), pytest.approx(sum(valid)), max(valid)]
    # The same readings a second time (a retried batch) change nothing in the tiers.
    store.write(readings)
    time.sleep(2.5)
    assert sum(row[1] for row in rolled()) == 120
    store.close()


def test_influx_refuses_readings_before_init_with_the_remedy(ageing_influx: InfluxServer) -> None:
    from storage import StoreUnavailable

    database = f"bare_{time.time_ns()}"
    store = InfluxStore(ageing_influx.url, database=database)
    store.query(f'CREATE DATABASE "{database}"')
    with pytest.raises(StoreUnavailable, match="panen store init"):
        store.write([Reading("n", "c", "f", "air_temp_c", 1.0, NOW_MS)])
    store.create_database()
    assert store.write([Reading("n", "c", "f", "air_temp_c", 1.0, NOW_MS)]) == 1
    store.close()


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return schema


def _conforms(body: dict[str, Any], schema: dict[str, Any]) -> None:
    assert set(schema["required"]) <= body.keys(), (schema["title"], body.keys())
    assert body.keys() <= schema["properties"].keys(), (schema["title"], body.keys())
    types = {"string": str, "boolean": bool, "array": list, "integer": int}
    for key, value in body.items():
        spec = schema["properties"][key]
        assert isinstance(value, types[spec["type"]]), (schema["title"], key)
        if "enum" in spec:
            assert value in spec["enum"], (schema["title"], key, value)
        if spec["type"] == "array":
            for item in value:
                _conforms(item, _schema(spec["items"]))


def test_influx2_requests_match_the_api_schemas() -> None:
    retention = Retention(raw_days=90, hourly_days=730)
    requests = influx2_requests(
        org_id="0123456789abcdef",
        bucket="panen",
        database="panen",
        retention=retention,
        measurements=metric_names(),
    )
    by_path: dict[str, list[dict[str, Any]]] = {}
    for method, path, body in requests:
        assert method == "POST"
        by_path.setdefault(path, []).append(body)
    schemas = {
        "/api/v2/buckets": "PostBucketRequest",
        "/api/v2/dbrps": "DBRPCreate",
        "/api/v2/tasks": "TaskCreateRequest",
    }
    assert by_path.keys() == schemas.keys()
    for path, bodies in by_path.items():
        for body in bodies:
            _conforms(body, _schema(schemas[path]))
    buckets = {b["name"]: b["retentionRules"] for b in by_path["/api/v2/buckets"]}
    assert buckets == {
        "panen_raw": [{"type": "expire", "everySeconds": 90 * 86_400}],
        "panen_hourly": [{"type": "expire", "everySeconds": 730 * 86_400}],
        "panen_daily": [],  # no rule: kept forever
    }
    assert {(d["database"], d["retention_policy"], d["bucketID"]) for d in by_path["/api/v2/dbrps"]} == {
        ("panen", "raw", "{bucket:panen_raw}"),
        ("panen", "hourly", "{bucket:panen_hourly}"),
        ("panen", "daily", "{bucket:panen_daily}"),
    }
    hourly, daily = (t["flux"] for t in by_path["/api/v2/tasks"])
    for flux, target, every in (
        (hourly, "panen_hourly", "every: 1h, offset: 0h"),
        (daily, "panen_daily", "every: 1d, offset: 17h"),
    ):
        assert flux.startswith("option task = {name: ")
        needed = ['from(bucket: "panen_raw")', f'to(bucket: "{target}")', every, "r.quality == 0"]
        needed += ["range(start: -7d)", *metric_names()]
        assert [n for n in needed if n not in flux] == []


def test_the_compose_influx2_script_is_current_and_uses_only_documented_cli_flags() -> None:
    root = Path(__file__).parents[2]
    script = (root / "deploy/influxdb/initdb/panen-tiers.sh").read_text()
    generated = influx2_shell(
        bucket="panen", database="panen", retention=Retention(), measurements=metric_names()
    )
    assert script == generated, (
        "stale: panen store influx2-setup --shell > deploy/influxdb/initdb/panen-tiers.sh"
    )
    assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0
    documented = json.loads((FIXTURES / "cli_flags.json").read_text())["commands"]
    used: set[str] = set()
    for line in script.splitlines():
        for call in re.findall(r"influx ((?:v1 )?[a-z]+(?: [a-z]+)?) ((?:--[a-z-]+(?: \S+)? ?)*)", line):
            command, flags = call
            command = command if command in documented else command.split()[0]
            assert command in documented, line
            for flag in re.findall(r"--[a-z-]+", flags):
                assert flag in documented[command], (command, flag)
            used.add(command)
    assert used == set(documented), used
    # Each tier once, each task's Flux the one the API request carries.
    requests = influx2_requests(
        org_id="o", bucket="panen", database="panen", retention=Retention(), measurements=metric_names()
    )
    for _, path, body in requests:
        if path == "/api/v2/tasks":
            assert body["flux"].rstrip("\n") in script
