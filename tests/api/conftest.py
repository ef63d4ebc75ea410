"""Shared API fixtures: a real store (SQLite and InfluxDB), a registry (SQLite and PostgreSQL) holding
a small simulated fleet with a season of readings, and one token per role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from firmware_sim.fleet import batu_fleet
from services.access import Role, create_token
from services.forecasting import ForecastService
from services.registry_import import import_fleet
from storage import TimeSeriesStore, local_day
from storage.db.engine import open_registry
from tests.season import NOW_MS, load_season

TODAY = local_day(NOW_MS)

# Each store with one registry, not every pair: SQLite store with SQLite registry, InfluxDB with
# PostgreSQL. The store and the registry are independent parts, each tested whole by its own suite
# (tests/storage), and the full 2 x 2 product doubled the API tests' time past CI's 20-minute budget.
_PAIRS = {("sqlite", "sqlite"), ("influx", "postgres")}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the API tests of a store and a registry that are not one of :data:`_PAIRS`."""
    keep, drop = [], []
    here = Path(__file__).parent
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        pair = (params.get("store"), params.get("registry_url"))
        mixed = None not in pair and pair not in _PAIRS and here in item.path.parents
        (drop if mixed else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def client(
    store: TimeSeriesStore, registry_url: str
) -> Iterator[tuple[TestClient, dict[str, str], ForecastService]]:
    fleet = batu_fleet(anchor=TODAY).subset(2, 3)
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
