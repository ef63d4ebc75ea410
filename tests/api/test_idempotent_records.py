"""A record sent twice is saved once (issue 39). Found on main: the same field-page form sent twice (a
retry after a lost answer) created two identical 1,200 kg records 27 ms apart. The page's forms carry
a submission key; API clients send ``Idempotency-Key``. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from services.forecasting import ForecastService
from tests.api.conftest import TODAY, auth

Client = tuple[TestClient, dict[str, str], ForecastService]
MINE = "oro-oro-ombo-f01"


def _records(c: TestClient, tokens: dict[str, str]) -> list[dict[str, object]]:
    rows = c.get("/v1/harvest-records", params={"field_id": MINE}, headers=auth(tokens["admin"])).json()
    return list(rows)


def test_a_field_page_form_sent_twice_saves_once(client: Client) -> None:
    c, tokens, _ = client
    farmer = auth(tokens["farmer"])
    page = c.get(f"/f/{MINE}", headers=farmer).text
    key = re.search(r'name="submission" value="([^"]+)"', page)
    assert key is not None
    form = {"harvest_date": TODAY.isoformat(), "kg": "1.200", "submission": key.group(1)}
    first = c.post(f"/f/{MINE}/panen", data=form, headers=farmer, follow_redirects=False)
    again = c.post(f"/f/{MINE}/panen", data=form, headers=farmer, follow_redirects=False)
    assert (first.status_code, again.status_code) == (303, 303)
    assert again.headers["location"].endswith("?ok=sudah")
    assert "tidak dicatat dua kali" in c.get(again.headers["location"], headers=farmer).text
    assert [r["tonnes"] for r in _records(c, tokens)] == [1.2]
    # A new drawing of the page is a new form: its key records the next harvest.
    fresh = re.search(r'name="submission" value="([^"]+)"', c.get(f"/f/{MINE}", headers=farmer).text)
    assert fresh is not None
    assert fresh.group(1) != key.group(1)


def test_an_api_retry_with_its_idempotency_key_gets_the_record_it_made(client: Client) -> None:
    c, tokens, _ = client
    manager = {**auth(tokens["manager"]), "Idempotency-Key": "4d6f2a1e-retry"}
    body = {"field_id": MINE, "harvest_date": TODAY.isoformat(), "tonnes": 1.1}
    first = c.post("/v1/harvest-records", json=body, headers=manager)
    again = c.post("/v1/harvest-records", json=body, headers=manager)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = c.post("/v1/harvest-records", json={**body, "tonnes": 1.3}, headers=manager)
    assert other.status_code == 422
    assert "already used for another request" in other.json()["detail"]
    # Another person's same key is theirs: the farmer's record is a record of its own.
    farmer = {**auth(tokens["farmer"]), "Idempotency-Key": "4d6f2a1e-retry"}
    mine = c.post("/v1/harvest-records", json={**body, "tonnes": 0.5}, headers=farmer)
    assert mine.status_code == 201
    assert sorted(r["tonnes"] for r in _records(c, tokens)) == [0.5, 1.1]
    # A key that is no key is refused, not taken as none.
    blank = c.post(
        "/v1/harvest-records", json=body, headers={**auth(tokens["manager"]), "Idempotency-Key": " "}
    )
    assert blank.status_code == 422
    assert "Idempotency-Key" in blank.json()["detail"]
    # Without a key, two posts are two records, as before.
    plain = auth(tokens["manager"])
    assert c.post("/v1/harvest-records", json={**body, "tonnes": 0.3}, headers=plain).status_code == 201
    assert c.post("/v1/harvest-records", json={**body, "tonnes": 0.3}, headers=plain).status_code == 201


def test_the_same_key_at_the_same_moment_is_one_record(client: Client) -> None:
    c, tokens, _ = client
    headers = {**auth(tokens["manager"]), "Idempotency-Key": "same-moment"}
    body = {"field_id": MINE, "harvest_date": TODAY.isoformat(), "tonnes": 0.9}
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: c.post("/v1/harvest-records", json=body, headers=headers), range(8))
        )
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert [r["tonnes"] for r in _records(c, tokens)] == [0.9]
