"""Orchards through the API (issue 20): an apple orchard registered with its trees, then a defoliation
and later a fruit count recorded, gets a forecast whose P10-P90 narrows after the count; records that
cannot be true of the orchard are refused with the reason; a voided record stops counting."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forecast.orchard import CycleEvent, OrchardCycle, orchard_cycle
from services.forecasting import ForecastService
from tests.api.conftest import TODAY, auth

Client = tuple[TestClient, dict[str, str], ForecastService]
ORCHARD = "oro-oro-ombo-apel1"
TREES = 1300
AREA_HA = 1.0


def _orchard(c: TestClient, admin: str, **changes: Any) -> dict[str, Any]:
    body = {
        "id": ORCHARD, "coop_id": "oro-oro-ombo", "farmer_id": "oro-oro-ombo-f01-farmer",
        "commodity": "apple", "variety": "Manalagi", "planting_date": "2014-01-01", "area_ha": AREA_HA,
        "soil_texture": "andosol", "lat": -7.85, "lon": 112.52, "elevation_m": 1300, "tree_count": TREES,
        **changes,
    }  # fmt: skip
    r = c.post("/v1/fields", json=body, headers=auth(admin))
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


def _forecast(c: TestClient, service: ForecastService, token: str) -> dict[str, Any]:
    service.run(TODAY)
    r = c.get(f"/v1/fields/{ORCHARD}/forecast", headers=auth(token))
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def _event(c: TestClient, token: str, **body: Any) -> Any:
    return c.post(f"/v1/fields/{ORCHARD}/events", json=body, headers=auth(token))


def test_an_orchard_forecast_narrows_when_fruits_are_counted(client: Client) -> None:
    c, tokens, service = client
    admin, farmer = tokens["admin"], tokens["farmer"]
    assert _orchard(c, admin)["tree_count"] == TREES
    # No record yet: no crop to forecast, and the answer says what to record.
    service.run(TODAY)
    r = c.get(f"/v1/fields/{ORCHARD}/forecast", headers=auth(farmer))
    assert r.status_code == 404
    assert "no defoliation or flowering recorded" in r.json()["detail"]
    defoliated = TODAY - dt.timedelta(days=70)
    r = _event(c, farmer, kind="defoliation", day=defoliated.isoformat())
    assert r.status_code == 201, r.text
    assert (r.json()["recorded_by"], r.json()["kind"]) == ("petani", "defoliation")
    before = _forecast(c, service, farmer)
    assert before["commodity"] == "apple"
    assert any("defoliated on" in s for s in before["basis"]["orchard"])
    # Harvest about 28 days (bloom) + Manalagi's ~114 days after the defoliation, within a month.
    p50 = dt.date.fromisoformat(before["harvest_date_p50"])
    assert abs((p50 - (defoliated + dt.timedelta(days=142))).days) <= 30, p50
    counted = _event(c, farmer, kind="fruit_count", day=(TODAY - dt.timedelta(days=3)).isoformat(),
                     fruits_per_tree=60, trees_sampled=12)  # fmt: skip
    assert counted.status_code == 201, counted.text
    after = _forecast(c, service, farmer)
    assert any("counted 60 fruits per tree" in s for s in after["basis"]["orchard"])

    def spread(f: dict[str, Any]) -> float:
        return float(f["tonnes_p90"]) / float(f["tonnes_p10"])

    assert spread(after) < 0.75 * spread(before), (before, after)
    # The count sets the size of the crop: 1,300 trees x 60 fruits x 92 % kept x 120 g ~ 8.6 t before
    # water stress, which can only lower it. The P50 is the median of 50 members whose yields spread
    # by the count's log-s.d. (sampling, drop, fruit weight, pests: the orchard model's own for this
    # count), so it lies within three of a sample median's standard errors (1.25 s.d. / sqrt(50)) of
    # that, or below it: it was 8.8 t on a day whose weather drew high members.
    records = [
        CycleEvent("defoliation", defoliated),
        CycleEvent("fruit_count", TODAY - dt.timedelta(days=3), 60, 12),
    ]
    cycle = orchard_cycle(
        "apple", "Manalagi", tree_count=TREES, area_ha=AREA_HA, year_planted=2014, events=records,
        last_harvest=None, today=TODAY,
    )  # fmt: skip
    assert isinstance(cycle, OrchardCycle)
    counted_t = TREES * 60 * 0.92 * 0.120 / 1000
    assert cycle.potential_yield_t_ha == pytest.approx(counted_t / AREA_HA)
    sigma = cycle.yield_sigma_log
    assert 0.1 < sigma < 0.4, sigma  # a count on 12 trees: narrower than the age estimate's 0.55
    assert 3.0 < after["tonnes_p50"] <= counted_t * math.exp(3 * 1.2533 * sigma / math.sqrt(50)), after
    # A voided count stops counting: the forecast goes back to the tree-age estimate.
    r = c.post(
        f"/v1/fields/{ORCHARD}/events/{counted.json()['id']}/void", json={"reason": "wrong orchard"},
        headers=auth(farmer),
    )  # fmt: skip
    assert (r.status_code, r.json()["voided_by"]) == (200, "petani")
    again = _forecast(c, service, farmer)
    assert spread(again) == pytest.approx(spread(before), rel=1e-6)
    listed = c.get(f"/v1/fields/{ORCHARD}/events", params={"include_void": True}, headers=auth(farmer))
    assert [e["kind"] for e in listed.json()] == ["defoliation", "fruit_count"]
    assert [e["kind"] for e in c.get(f"/v1/fields/{ORCHARD}/events", headers=auth(farmer)).json()] == [
        "defoliation"
    ]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"kind": "flowering", "day": (TODAY + dt.timedelta(days=2)).isoformat()}, "in the future"),
        ({"kind": "flowering", "day": "2013-05-01"}, "before the trees were planted"),
        ({"kind": "fruit_count", "day": TODAY.isoformat(), "fruits_per_tree": 50}, "trees_sampled"),
        ({"kind": "fruit_count", "day": TODAY.isoformat(), "fruits_per_tree": 50, "trees_sampled": 5000},
         "more than the orchard's"),
        ({"kind": "thinning", "day": TODAY.isoformat()}, "needs fruits_per_tree"),
        ({"kind": "flowering", "day": TODAY.isoformat(), "fruits_per_tree": 3}, "carries no fruits_per_tree"),
        ({"kind": "thinning", "day": TODAY.isoformat(), "fruits_per_tree": 5001},
         "less than or equal to 5000"),
    ],
)  # fmt: skip
def test_a_record_that_cannot_be_true_of_the_orchard_is_refused(
    client: Client, body: dict[str, Any], says: str
) -> None:
    c, tokens, _ = client
    _orchard(c, tokens["admin"])
    r = _event(c, tokens["manager"], **body)
    assert r.status_code == 422, r.text
    assert says in str(r.json()["detail"])
    assert c.get(f"/v1/fields/{ORCHARD}/events", headers=auth(tokens["manager"])).json() == []


def test_orchard_rules_of_the_registry(client: Client) -> None:
    c, tokens, _ = client
    admin = tokens["admin"]
    # An orchard needs its trees; an annual crop has none.
    r = c.post("/v1/fields", json={**_orchard_body(), "tree_count": None}, headers=auth(admin))
    assert r.status_code == 422
    assert "needs tree_count" in r.text
    r = c.post("/v1/fields", json={**_orchard_body(), "commodity": "potato"}, headers=auth(admin))
    assert r.status_code == 422
    assert "tree_count is for orchards" in r.text
    _orchard(c, admin, commodity="citrus", variety="Keprok Batu 55")
    # Only apples are defoliated; a potato field has no orchard records.
    r = _event(c, admin, kind="defoliation", day=TODAY.isoformat())
    assert r.status_code == 422
    assert "only apple trees are defoliated" in r.json()["detail"]
    r = c.post(
        "/v1/fields/oro-oro-ombo-f01/events", json={"kind": "flowering", "day": TODAY.isoformat()},
        headers=auth(admin),
    )  # fmt: skip
    assert r.status_code == 422
    assert "not an orchard crop" in r.json()["detail"]
    # Changing an orchard to an annual crop without dropping its trees is refused, and changes nothing.
    r = c.patch(f"/v1/fields/{ORCHARD}", json={"commodity": "potato"}, headers=auth(admin))
    assert r.status_code == 422, r.text
    assert c.get(f"/v1/fields/{ORCHARD}", headers=auth(admin)).json()["commodity"] == "citrus"
    # Keprok with a flowering gets a forecast: about 7.5 months after bloom.
    bloom = TODAY - dt.timedelta(days=150)
    assert _event(c, admin, kind="flowering", day=bloom.isoformat()).status_code == 201
    with_bloom = _forecast(c, client[2], admin)
    assert with_bloom["basis"]["orchard"][0] == f"flowering recorded on {bloom}"
    assert with_bloom["harvest_date_p50"] is not None


def _orchard_body() -> dict[str, Any]:
    return {
        "id": "oro-oro-ombo-x", "coop_id": "oro-oro-ombo", "commodity": "apple",
        "planting_date": "2014-01-01", "area_ha": 1.0, "soil_texture": "andosol", "lat": -7.85,
        "lon": 112.52, "elevation_m": 1300, "tree_count": 10,
    }  # fmt: skip
