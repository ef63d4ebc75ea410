"""Shared API fixtures: a real store (SQLite and InfluxDB), a registry (SQLite and PostgreSQL) holding
a small simulated fleet with a season of readings, and one token per role."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, create_token
from bench.simdata import readings
from firmware_sim.fleet import load_fleet
from firmware_sim.runner import prepare
from panen.forecasting import ForecastService
from storage import TimeSeriesStore, local_day
from storage.registry import import_fleet, open_registry

NOW_MS = time.time_ns() // 1_000_000
TODAY = local_day(NOW_MS)


def load_season(store: TimeSeriesStore, fleet: object) -> None:
    """40 days of hourly simulated readings of every node, written straight to the store."""
    run = prepare(
        fleet, start_ms=NOW_MS - 40 * 86_400_000, end_ms=NOW_MS, seed=4, interval_min=60, horizon_days=150
    )  # type: ignore[arg-type]
    store.write(list(readings(run.samples)))


@pytest.fixture
def client(
    store: TimeSeriesStore, registry_url: str
) -> Iterator[tuple[TestClient, dict[str, str], ForecastService]]:
    fleet = load_fleet(anchor=TODAY).subset(2, 3)
    sessions = open_registry(registry_url)
    with sessions() as session:
        import_fleet(session, fleet)
        tokens = {
            "admin": create_token(session, name="admin", role=Role.ADMIN),
            "offtaker": create_token(session, name="coosae", role=Role.OFFTAKER),
            "manager": create_token(session, name="ketua", role=Role.COOP_MANAGER, coop_id="oro-oro-ombo"),
            "farmer": create_token(
                session, name="petani", role=Role.FARMER, farmer_id="oro-oro-ombo-f01-farmer"
            ),
        }
    load_season(store, fleet)
    service = ForecastService(store, sessions, members=50)
    service.run(TODAY)
    with TestClient(create_app(store, sessions, service)) as c:
        yield c, tokens, service


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
