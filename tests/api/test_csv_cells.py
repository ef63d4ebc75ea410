"""Every CSV is safe to open in a spreadsheet (issue 16, finding 5: an imported cooperative id
`=HYPERLINK(...)` reached the purchase-plan CSV as a live formula)."""

from __future__ import annotations

import csv
import io

import yaml
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api.csvout import csv_bytes
from firmware_sim.fleet import DEFAULT_FLEET_PATH
from services.forecasting import ForecastService
from tests.api.conftest import auth

FORMULA = ("=", "+", "-", "@", "\t", "\r")


@given(
    cells=st.lists(st.text(max_size=30) | st.integers() | st.floats(allow_nan=False), min_size=1, max_size=6)
)
def test_no_text_cell_reads_as_a_formula(cells: list[object]) -> None:
    (header, row) = list(csv.reader(io.StringIO(csv_bytes(["a"], [cells]).decode(), newline="")))
    for given_cell, written in zip(cells, row, strict=True):
        if isinstance(given_cell, str):
            assert not written.startswith(FORMULA)
            assert written.removeprefix("'") == given_cell or written == given_cell
        else:
            assert written == str(given_cell)  # numbers, negative ones too, stay numbers
    assert header == ["a"]


def test_an_imported_id_that_a_spreadsheet_would_run_is_refused(
    client: tuple[TestClient, dict[str, str], ForecastService],
) -> None:
    c, tokens, _ = client
    doc = yaml.safe_load(DEFAULT_FLEET_PATH.read_text())
    doc["cooperatives"] = doc["cooperatives"][:1]
    doc["cooperatives"][0]["id"] = '=HYPERLINK("http://evil.example","Klik")'
    r = c.post(
        "/v1/registry/import",
        content=yaml.safe_dump(doc),
        headers={**auth(tokens["admin"]), "Content-Type": "application/yaml"},
    )
    assert r.status_code == 422, r.text
    assert "same rule as the API's" in r.json()["detail"]
