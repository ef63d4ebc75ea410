"""InfluxDB adapter: error translation and portability rules, against real influxd processes."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from panen.devservices import InfluxServer, free_port
from sensors import Reading
from storage import StoreAuthError, StoreRejected, StoreUnavailable
from storage.influx import InfluxStore, quote_ident, quote_string
from storage.retention import Retention

T0 = 1_784_000_000_000


def test_unreachable_server_is_unavailable() -> None:
    store = InfluxStore(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(StoreUnavailable, match="unreachable"):
        store.write([Reading("n", "c", "f", "air_temp_c", 1.0, T0)])
    with pytest.raises(StoreUnavailable):
        store.ping()


def test_missing_database_is_unavailable_and_says_how_to_fix(influx_server: InfluxServer) -> None:
    store = InfluxStore(influx_server.url, database=f"absent_{uuid.uuid4().hex[:8]}")
    with pytest.raises(StoreUnavailable, match="panen store init"):
        store.write([Reading("n", "c", "f", "air_temp_c", 1.0, T0)])


def test_bad_statement_carries_the_server_message(influx_store: InfluxStore) -> None:
    with pytest.raises(StoreRejected, match="error parsing query"):
        influx_store.query("SELEKT nothing")


def test_type_conflict_is_rejected_with_partial_write_message(influx_store: InfluxStore) -> None:
    # Someone else wrote "value" as a string into our measurement: InfluxDB answers 400 partial write.
    httpx.post(
        f"{influx_store.url}/write",
        params={"db": influx_store.database, "rp": "raw", "precision": "ms"},
        content=f'air_temp_c,coop=c,node=n value="warm" {T0}',
    ).raise_for_status()
    with pytest.raises(StoreRejected, match="field type conflict"):
        influx_store.write([Reading("n", "c", "f", "air_temp_c", 1.0, T0 + 1)])


def test_keyword_named_tags_and_quoting() -> None:
    assert quote_ident("field") == '"field"'
    assert quote_ident('we"ird') == '"we\\"ird"'
    assert quote_string("it's") == "'it\\'s'"


@pytest.mark.parametrize("compress", [True, False, None])
def test_many_bodies_are_sent_for_a_large_write(influx_store: InfluxStore, compress: bool | None) -> None:
    """30k readings are about 3 MB of line protocol: several bodies, gzipped (as across a network) or
    not (as to this machine's loopback, the default here), all of them stored."""
    store = InfluxStore(influx_store.url, database=influx_store.database, compress=compress)
    assert store._compress is (compress is True)
    batch = [Reading(f"node-{i % 30}", "c", "f", "soil_vwc_pct", 30.0 + i % 7, T0 + i) for i in range(30_000)]
    store.write(batch)
    rows = store.query('SELECT count("value"), sum("value") FROM "raw"."soil_vwc_pct"')
    store.close()
    assert rows[0]["values"][0][1:] == [30_000, sum(30.0 + i % 7 for i in range(30_000))]


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8086", True),
        ("http://127.0.0.2:8086", True),
        ("http://localhost:8086", True),
        ("http://[::1]:8086", True),
        ("http://10.0.0.5:8086", False),
        ("https://influx.coosae.example:8086", False),
    ],
)
def test_bodies_are_gzipped_unless_the_server_is_on_loopback(url: str, loopback: bool) -> None:
    store = InfluxStore(url)
    assert store._compress is not loopback
    store.close()


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> InfluxServer:
    """An influxd with authentication on and an admin user "panen"."""
    server = InfluxServer(tmp_path_factory.mktemp("influxd-auth"))
    config = server.config_path.read_text().replace(
        "  log-enabled = false", "  log-enabled = false\n  auth-enabled = true"
    )
    Path(server.config_path).write_text(config)
    server.start()
    # With no users yet, 1.x accepts exactly one statement unauthenticated: creating the admin.
    httpx.post(
        f"{server.url}/query", data={"q": "CREATE USER panen WITH PASSWORD 's3cret' WITH ALL PRIVILEGES"}
    ).raise_for_status()
    admin = InfluxStore(server.url, user="panen", token="s3cret", retention=Retention(None, None))
    admin.create_database()
    admin.close()
    yield server  # type: ignore[misc]
    server.stop()


def test_basic_auth_user_and_token_is_accepted(auth_server: InfluxServer) -> None:
    store = InfluxStore(auth_server.url, user="panen", token="s3cret")
    store.write([Reading("n", "c", "f", "air_temp_c", 1.0, T0)])
    assert len(store.raw(start_ms=T0, end_ms=T0 + 1, node_id="n")) == 1


def test_wrong_token_is_an_auth_error(auth_server: InfluxServer) -> None:
    store = InfluxStore(auth_server.url, user="panen", token="wrong")
    with pytest.raises(StoreAuthError, match="401"):
        store.write([Reading("n", "c", "f", "air_temp_c", 1.0, T0)])
    with pytest.raises(StoreAuthError):
        store.raw(start_ms=T0, end_ms=T0 + 1, node_id="n")
