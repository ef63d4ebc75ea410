"""The field page reads and writes numbers as Indonesians do (issue 39). Found on main: ``1.500`` kg
(fifteen hundred) was refused as "2 kg … 0.00294 ton per ha", ``1,5`` got a raw English JSON error,
and the page showed "0.51 ha" and "9500 kg" beside errors that said "50.000 kg"."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from services.forecasting import ForecastService
from tests.api.conftest import TODAY, auth

Client = tuple[TestClient, dict[str, str], ForecastService]
MINE = "oro-oro-ombo-f01"


def _records(c: TestClient, tokens: dict[str, str]) -> list[float]:
    rows = c.get("/v1/harvest-records", params={"field_id": MINE}, headers=auth(tokens["admin"])).json()
    return [r["tonnes"] for r in rows]


def test_a_harvest_of_1_500_kg_is_fifteen_hundred_kilograms(client: Client) -> None:
    c, tokens, _ = client
    farmer = auth(tokens["farmer"])
    done = c.post(f"/f/{MINE}/panen", data={"harvest_date": TODAY.isoformat(), "kg": "1.500"}, headers=farmer,
                  follow_redirects=False)  # fmt: skip
    assert done.status_code == 303, done.text
    assert _records(c, tokens) == [1.5]
    page = c.get(f"/f/{MINE}", headers=farmer).text
    assert "1.500 kg" in page  # written back as it was typed
    assert re.search(r"\d,\d{2} ha", page)  # 0,51 ha, not 0.51 ha
    assert not re.search(r"\d\.\d{2} ha", page)


def test_a_comma_decimal_or_a_word_is_answered_in_bahasa_on_the_page(client: Client) -> None:
    c, tokens, _ = client
    farmer = auth(tokens["farmer"])
    small = c.post(f"/f/{MINE}/panen", data={"harvest_date": TODAY.isoformat(), "kg": "1,5"}, headers=farmer)
    assert small.status_code == 422
    assert small.headers["content-type"].startswith("text/html")
    assert (
        "1,5 kg" in small.text or "Periksa beratnya" in small.text
    )  # read as 1.5 kg: too little for the field
    word = c.post(
        f"/f/{MINE}/panen", data={"harvest_date": TODAY.isoformat(), "kg": "seribu"}, headers=farmer
    )
    assert word.status_code == 422
    assert "bukan angka" in word.text
    assert _records(c, tokens) == []
