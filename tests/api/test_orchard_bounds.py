"""Orchards have plausibility as data (issue 37): an edit to a density no orchard is planted at, or a
fruit count no tree carries, is refused with the reason and changes nothing.

Found on main: a manager PATCHed an apple orchard to {"tree_count": 1000000, "area_ha": 0.01} and posted
5,000 fruits a tree; the forecast became 470,000-627,000 t (47 million t/ha)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from services import InvalidInput
from services.forecasting import ForecastService
from services.orchards import check_trees, plausibility
from tests.api.conftest import TODAY, auth

Client = tuple[TestClient, dict[str, str], ForecastService]
ORCHARD = "oro-oro-ombo-apel9"


def _orchard(c: TestClient, admin: str) -> dict[str, Any]:
    body = {
        "id": ORCHARD, "coop_id": "oro-oro-ombo", "commodity": "apple", "variety": "Manalagi",
        "planting_date": "2014-01-01", "area_ha": 0.5, "soil_texture": "andosol", "lat": -7.85,
        "lon": 112.52, "elevation_m": 1300, "tree_count": 600,
    }  # fmt: skip
    r = c.post("/v1/fields", json=body, headers=auth(admin))
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_an_orchard_cannot_be_edited_or_counted_into_millions_of_tonnes(client: Client) -> None:
    c, tokens, service = client
    _orchard(c, tokens["admin"])
    manager = auth(tokens["manager"])
    r = c.patch(f"/v1/fields/{ORCHARD}", json={"tree_count": 1_000_000, "area_ha": 0.01}, headers=manager)
    assert r.status_code == 422, r.text
    assert "100,000,000 trees/ha" in r.text
    assert "100-4,000 trees/ha" in r.text
    field = c.get(f"/v1/fields/{ORCHARD}", headers=manager).json()
    assert (field["tree_count"], field["area_ha"]) == (600, 0.5)  # nothing changed
    day = (TODAY - dt.timedelta(days=60)).isoformat()
    assert c.post(f"/v1/fields/{ORCHARD}/events", json={"kind": "defoliation", "day": day},
                  headers=manager).status_code == 201  # fmt: skip
    count = {"kind": "fruit_count", "day": TODAY.isoformat(), "fruits_per_tree": 5000, "trees_sampled": 10}
    r = c.post(f"/v1/fields/{ORCHARD}/events", json=count, headers=manager)
    assert r.status_code == 422, r.text
    assert "not from 0 to 1500" in r.text
    service.run(TODAY)
    forecast = c.get(f"/v1/fields/{ORCHARD}/forecast", headers=manager).json()
    assert forecast["yield_t_ha_p90"] < 100, forecast  # Batu's apples yield 10-15 t/ha a year


@given(
    st.sampled_from(["apple", "citrus"]),
    st.integers(1, 2_000_000),
    st.floats(0.001, 1000, allow_nan=False),
)
def test_any_orchard_edit_is_taken_only_at_a_density_its_species_is_planted_at(
    commodity: str, trees: int, area_ha: float
) -> None:
    low, high = plausibility()[commodity]["trees_per_ha"]
    plausible = trees <= 1_000_000 and low <= trees / area_ha <= high
    if plausible:
        check_trees(commodity, trees, area_ha)
    else:
        with pytest.raises(InvalidInput):
            check_trees(commodity, trees, area_ha)
