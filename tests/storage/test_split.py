"""``panen store split`` (issue 18): a season of the simulated fleet in one database moves into one
database per cooperative; counts per cooperative match before and after; an interrupted split resumes
and a rerun copies nothing; the per-cooperative store then answers as the single one did."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_sim.fleet import batu_fleet
from panen.devservices import InfluxServer
from services.forecasting import ForecastService
from services.registry_import import import_fleet
from storage import local_day
from storage.db.engine import open_registry, sqlite_url
from storage.influx import InfluxStore
from storage.retention import Retention
from tests.season import NOW_MS, load_season

TODAY = local_day(NOW_MS)


@pytest.fixture
def single(influx_server: InfluxServer, tmp_path: Path) -> Iterator[tuple[InfluxStore, list[str], str]]:
    database = f"split_{time.time_ns()}"
    store = InfluxStore(influx_server.url, database=database, retention=Retention(None, None))
    store.create_database()
    fleet = batu_fleet(anchor=TODAY).subset(3, 2)
    sessions = open_registry(sqlite_url(tmp_path / "registry.sqlite3"))
    with sessions() as session:
        import_fleet(session, fleet)
    load_season(store, fleet, days=45)
    store.rollup(start_ms=NOW_MS - 46 * 86_400_000, end_ms=NOW_MS + 86_400_000, now_ms=NOW_MS)
    ForecastService(store, sessions, members=8).run(TODAY)
    yield store, [c.id for c in fleet.cooperatives], f"{fleet.cooperatives[0].id}-f01"
    store.close()


def test_split_moves_everything_resumes_and_reruns_as_a_no_op(
    single: tuple[InfluxStore, list[str], str],
) -> None:
    store, coops, field = single
    before_daily = store.daily(
        site_ids=[field],
        metrics=["air_temp_c", "rain_mm"],
        start_day=TODAY - dt.timedelta(days=40),
        end_day=TODAY,
    )
    tenants = InfluxStore(store.url, database=store.database, tenants=True, retention=Retention(None, None))
    lines: list[str] = []

    def interrupt(line: str) -> None:
        lines.append(line)
        raise RuntimeError("power cut")  # after the first cooperative

    with pytest.raises(RuntimeError, match="power cut"):
        tenants.split_to_tenants(progress=interrupt)
    counts = tenants.split_to_tenants(progress=lines.append)
    assert sorted(counts) == sorted(coops)
    for coop, (shared, own) in counts.items():
        assert shared == own > 0, coop
    copied = {line.split(":")[0]: int(re.search(r"(\d+) month", line).group(1)) for line in lines[1:]}  # type: ignore[union-attr]
    assert copied[coops[0]] == 0  # done before the cut: not copied again
    assert min(copied[c] for c in coops[1:]) > 0
    # A rerun copies nothing and changes no count.
    rerun: list[str] = []
    assert tenants.split_to_tenants(progress=rerun.append) == counts
    assert all(" 0 month(s) copied" in line for line in rerun), rerun
    # Each cooperative's database holds its own cooperative only, forecasts included.
    for coop in coops:
        tags = tenants.query(
            f'SHOW TAG VALUES ON "{tenants.tenant_database(coop)}" FROM "raw"."air_temp_c" WITH KEY = "coop"'
        )
        assert {row[1] for s in tags for row in s["values"]} == {coop}
        forecast = tenants.query(
            f'SELECT count("tonnes_p50") FROM "{tenants.tenant_database(coop)}"."autogen"."forecast"'
        )
        assert forecast[0]["values"][0][1] == 2
    # And the store per cooperative answers as the single one did.
    after = tenants.daily(
        site_ids=[field],
        metrics=["air_temp_c", "rain_mm"],
        start_day=TODAY - dt.timedelta(days=40),
        end_day=TODAY,
        coop_id=coops[0],
    )
    assert after == before_daily
    tenants.close()
