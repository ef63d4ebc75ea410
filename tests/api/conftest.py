"""Shared API fixtures: a real store (SQLite and InfluxDB), a registry (SQLite and PostgreSQL) holding
a small simulated fleet with a season of readings, and one token per role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from firmware_sim.fleet import batu_fleet
from services.access import Role, create_token
from services.forecasting import ForecastService
from storage import TimeSeriesStore, local_day
from storage.registry import import_fleet, open_registry
from tests.season import NOW_MS, load_season

TODAY = local_day(NOW_MS)


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
