"""Real services for the tests: an ``influxd`` and a ``mosquitto`` on free loopback ports.

Both are started once per test session in a temporary folder and stopped at the end. Tests that
need isolation get their own InfluxDB database (:func:`influx_store`) or their own MQTT topic
prefix (:func:`topic_prefix`), never a mock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from panen.devservices import InfluxServer, MosquittoServer, PostgresServer
from storage import TimeSeriesStore
from storage.influx import InfluxStore
from storage.sqlite import SqliteStore
from tests.scratch import scratch_influx

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def influx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """A real influxd for the whole session."""
    server = InfluxServer(tmp_path_factory.mktemp("influxd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mosquitto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoServer]:
    """A real mosquitto for the whole session."""
    # Ingest's persistent sessions must be able to hold a whole test stream while ingest is down.
    server = MosquittoServer(tmp_path_factory.mktemp("mosquitto"), extra_config="max_queued_messages 1000000")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix unique to the test, so tests sharing the broker cannot see each other's messages."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def influx_store(influx_server: InfluxServer) -> Iterator[InfluxStore]:
    """An :class:`InfluxStore` on a fresh database of the session's influxd, dropped afterwards."""
    with scratch_influx(influx_server) as store:
        yield store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    """A :class:`SqliteStore` in a fresh file."""
    store = SqliteStore(tmp_path / "ts.sqlite3")
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "influx"])
def store(request: pytest.FixtureRequest) -> TimeSeriesStore:
    """Each store adapter in turn: the contract tests run against both."""
    fixture: TimeSeriesStore = request.getfixturevalue(f"{request.param}_store")
    return fixture


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real PostgreSQL for the whole session (registry tests)."""
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh registry database: a SQLite file, then a database on the session's PostgreSQL, dropped
    after the test with whatever connections the test's engines still pool (PostgreSQL has 100 slots;
    a run's hundreds of registries used to exhaust them: "too many clients already")."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.sqlite3'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"r_{uuid.uuid4().hex[:12]}"
    yield server.create_database(name)
    server.drop_database(name)
