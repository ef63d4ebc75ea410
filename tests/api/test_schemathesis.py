"""Schemathesis against the API's own OpenAPI document, as a farmer and as an admin.

A real uvicorn server serves the app over a simulated fleet; the schemathesis CLI generates
requests for every operation (valid and edge-case parameters and bodies) and checks that none causes
a server error and that every documented response matches its schema. (The CLI is used rather than
the pytest plugin, which does not support pytest 9.)
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from api.app import create_app
from firmware_sim.fleet import batu_fleet
from panen.devservices import free_port, wait_until_answers
from services.access import Role, create_token
from services.forecasting import ForecastService
from services.registry_import import import_fleet
from storage import local_day
from storage.db.engine import open_registry, sqlite_url
from storage.sqlite import SqliteStore
from tests.api.conftest import load_season

TODAY = local_day(time.time_ns() // 1_000_000)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    fleet = batu_fleet(anchor=TODAY).subset(1, 2)
    store = SqliteStore(tmp / "ts.sqlite3")
    sessions = open_registry(sqlite_url(tmp / "registry.sqlite3"))
    with sessions() as session:
        import_fleet(session, fleet)
        tokens = {
            "admin": create_token(session, name="admin", role=Role.ADMIN),
            "farmer": create_token(
                session, name="petani", role=Role.FARMER, farmer_id=f"{fleet.fields[0].id}-farmer"
            ),
        }
    load_season(store, fleet)
    service = ForecastService(store, sessions, members=20)
    service.run(TODAY)
    port = free_port()
    config = uvicorn.Config(
        create_app(store, sessions, service), host="127.0.0.1", port=port, log_level="warning"
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_until_answers(f"{url}/health", 20)
    yield url, tokens
    instance.should_exit = True
    thread.join(10)
    store.close()


@pytest.mark.parametrize("role", ["farmer", "admin"])
def test_api_conforms_to_its_schema_and_never_fails(
    server: tuple[str, dict[str, str]], role: str, tmp_path: Path
) -> None:
    url, tokens = server
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    result = subprocess.run(
        [cli, "run", f"{url}/openapi.json", "--header", f"Authorization: Bearer {tokens[role]}",
         "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance",
         "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "15",
         "--generation-deterministic", "--no-color"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout.lower() or "operations" in result.stdout.lower()


def test_server_keeps_answering_after_clients_abandon_requests(server: tuple[str, dict[str, str]]) -> None:
    # Clients that hang up mid-request once leaked registry connections until the API stopped answering.
    import concurrent.futures

    url, tokens = server
    headers = {"Authorization": f"Bearer {tokens['admin']}"}

    def abandon(_: int) -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{url}/v1/fields", headers=headers, timeout=0.005)

    for _ in range(2):
        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            list(pool.map(abandon, range(80)))
        r = httpx.get(f"{url}/v1/cooperatives", headers=headers, timeout=15)
        assert r.status_code == 200
