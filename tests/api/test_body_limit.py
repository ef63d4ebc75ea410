"""Bodies are measured before anything reads them (issue 16, finding 4: 200 MiB of JSON without a
token was read and parsed before its 401)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.forecasting import ForecastService
from tests.api.conftest import auth

Client = tuple[TestClient, dict[str, str], ForecastService]


@pytest.mark.parametrize("path", ["/v1/fields", "/v1/harvest-records", "/v1/contracts", "/v1/nodes"])
def test_a_large_body_without_a_token_is_refused_before_it_is_read(client: Client, path: str) -> None:
    c, _, _ = client
    r = c.post(
        path, content=b"[" + b"1," * (3 * 1024**2) + b"1]", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert "larger than 1 MiB" in r.json()["detail"]


def test_a_chunked_body_is_counted_as_it_arrives(client: Client) -> None:
    c, tokens, _ = client

    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(2048):
            yield b"1," * 512
        yield b"1]"

    r = c.post(
        "/v1/fields", content=chunks(), headers={**auth(tokens["admin"]), "Content-Type": "application/json"}
    )
    assert r.status_code == 413


def test_the_import_takes_its_own_larger_limit(client: Client) -> None:
    c, tokens, _ = client
    body = b"# padding\n" * (300 * 1024) + b"cooperatives: []\n"  # 3 MiB: over the default, under 20 MiB
    r = c.post(
        "/v1/registry/import",
        content=body,
        headers={**auth(tokens["admin"]), "Content-Type": "application/yaml"},
    )
    assert r.status_code != 413
