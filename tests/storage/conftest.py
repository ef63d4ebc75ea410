"""The contract suite also runs on an InfluxDB store with one database per cooperative (issue 18)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator

import pytest

from panen.devservices import InfluxServer
from sensors import Reading
from storage import ForecastPoint, SeriesPoint, TimeSeriesStore
from storage.influx import InfluxStore
from storage.retention import Retention


class _TenantsOnDemand(InfluxStore):
    """A per-cooperative store whose cooperatives' databases are set up at their first reading, as
    ``panen store tenants`` would have done beforehand (the suite's cooperatives are made up per test)."""

    def _ensure(self, coops: Iterable[str]) -> None:
        known = set(self.tenant_databases())
        for coop in set(coops) - {""}:
            if self.tenant_database(coop) not in known:
                self.create_tenant(coop)

    def write(self, readings: Iterable[Reading]) -> int:
        batch = list(readings)
        self._ensure(r.coop_id for r in batch)
        return super().write(batch)

    def write_forecasts(self, points: Iterable[ForecastPoint]) -> int:
        batch = list(points)
        self._ensure(p.coop_id for p in batch)
        return super().write_forecasts(batch)

    def write_series(self, points: Iterable[SeriesPoint]) -> int:
        batch = list(points)
        self._ensure(p.tags.get("coop", "") for p in batch)
        return super().write_series(batch)


@pytest.fixture
def influx_tenants_store(influx_server: InfluxServer) -> Iterator[InfluxStore]:
    name = f"tt_{uuid.uuid4().hex[:12]}"
    store = _TenantsOnDemand(influx_server.url, database=name, tenants=True, retention=Retention(None, None))
    store.create_database()
    yield store
    for database in [*store.tenant_databases(), name]:
        store.query(f'DROP DATABASE "{database}"')
    store.close()


@pytest.fixture(params=["sqlite", "influx", "influx_tenants"])
def store(request: pytest.FixtureRequest) -> TimeSeriesStore:
    """Each store adapter in turn: the contract tests run against every one."""
    fixture: TimeSeriesStore = request.getfixturevalue(f"{request.param}_store")
    return fixture
