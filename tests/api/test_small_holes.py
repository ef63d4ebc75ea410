"""Issue 16, finding 7: no plain-text 500s, no internals in error bodies, Allow on 405, /metrics
kept from the network."""

from __future__ import annotations

import pytest
import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from firmware_sim.fleet import DEFAULT_FLEET_PATH
from services.forecasting import ForecastService
from storage.sqlite import SqliteStore
from tests.api.conftest import auth

Client = tuple[TestClient, dict[str, str], ForecastService]


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", f"/v1/contracts/{2**63}", {}),
        ("POST", f"/v1/alerts/{2**63}/acknowledge", {}),
        ("POST", f"/v1/harvest-records/{2**64}/void", {}),
        ("GET", "/v1/fields/oro-oro-ombo-f01/readings", {"start_ms": str(2**63)}),
    ],
)
def test_integers_past_64_bits_are_a_422_problem(
    client: Client, method: str, path: str, params: dict[str, str]
) -> None:
    c, tokens, _ = client
    r = c.request(method, path, params=params, headers=auth(tokens["admin"]), json={"reason": "x"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"


def test_a_405_says_what_is_allowed(client: Client) -> None:
    c, tokens, _ = client
    r = c.delete("/v1/profiles", headers=auth(tokens["admin"]))
    assert r.status_code == 405
    assert r.headers["allow"] == "GET"
    assert r.json()["title"] == "Method not allowed"


def test_an_unexpected_error_is_a_problem_with_a_request_id_and_no_internals(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    c, tokens, _ = client
    import api.routes.alerts

    def broken(_platform: object) -> dict[str, int]:  # a fake: a bug no real service makes on purpose
        raise RuntimeError("/secret/path/registry.sqlite3: SELECT * FROM api_token")

    monkeypatch.setattr(api.routes.alerts, "evaluate_all_alerts", broken)
    quiet = TestClient(c.app, raise_server_exceptions=False)
    r = quiet.post("/v1/alerts/evaluate", headers=auth(tokens["admin"]))
    assert r.status_code == 500
    body = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert body["request_id"] in body["detail"]
    assert "secret" not in r.text
    assert "SELECT" not in r.text


def test_a_registry_conflict_answers_409_without_sql(client: Client) -> None:
    c, tokens, _ = client
    doc = yaml.safe_load(DEFAULT_FLEET_PATH.read_text())
    doc["cooperatives"] = doc["cooperatives"][:1]
    lorawan = [f["node"] for f in doc["cooperatives"][0]["fields"] if f["node"].get("dev_eui")]
    lorawan[1]["dev_eui"] = lorawan[0]["dev_eui"]  # two nodes, one DevEUI
    r = c.post(
        "/v1/registry/import",
        content=yaml.safe_dump(doc),
        headers={**auth(tokens["admin"]), "Content-Type": "application/yaml"},
    )
    assert r.status_code in (409, 422), r.text
    assert "INSERT" not in r.text
    assert "UNIQUE" not in r.text.upper()


def test_metrics_answer_loopback_or_the_metrics_token_only(tmp_path: object) -> None:
    from pathlib import Path

    from storage.db.engine import open_registry, sqlite_url

    folder = Path(str(tmp_path))
    store = SqliteStore(folder / "ts.sqlite3")
    sessions = open_registry(sqlite_url(folder / "r.sqlite3"))
    open_app = create_app(store, sessions)
    assert TestClient(open_app, client=("127.0.0.1", 5000)).get("/metrics/").status_code == 200
    assert TestClient(open_app, client=("203.0.113.7", 5000)).get("/metrics/").status_code == 403
    guarded = create_app(store, sessions, metrics_token="s3cret")
    outside = TestClient(guarded, client=("203.0.113.7", 5000))
    assert outside.get("/metrics/").status_code == 403
    assert outside.get("/metrics/", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert outside.get("/metrics/", headers={"Authorization": "Bearer nope"}).status_code == 403
