"""Sales contracts through the API: roles, coverage from the forecast members, allocation, alerts."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from forecast.contracts import coverage, daily_supply
from services.contracts import open_contracts
from services.forecasting import ForecastService
from tests.api.conftest import auth

Client = tuple[TestClient, dict[str, str], ForecastService]


def _busiest(service: ForecastService) -> tuple[str, float, dt.date]:
    run = service.latest
    assert run is not None
    totals: dict[str, float] = {}
    for f in run.forecasts.values():
        if f.harvest_date_p50 is not None:
            totals[f.commodity] = totals.get(f.commodity, 0.0) + f.tonnes_p50
    commodity = max(totals, key=totals.__getitem__)
    return commodity, totals[commodity], run.issued


def _body(commodity: str, tonnes: float, issued: dt.date, days: int = 200) -> dict[str, object]:
    return {
        "buyer": "Superindo Jawa Timur",
        "commodity": commodity,
        "tonnes": round(tonnes, 3),
        "first_day": issued.isoformat(),
        "last_day": (issued + dt.timedelta(days=days)).isoformat(),
        "price_idr_per_kg": 9500,
    }


def test_only_offtaker_and_admin_see_contracts_and_prices(client: Client) -> None:
    c, tokens, service = client
    commodity, total, issued = _busiest(service)
    r = c.post("/v1/contracts", json=_body(commodity, total / 4, issued), headers=auth(tokens["offtaker"]))
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    for role in ("farmer", "manager"):
        h = auth(tokens[role])
        for path in ("/v1/contracts", f"/v1/contracts/{cid}", "/v1/contracts/coverage",
                     f"/v1/contracts/{cid}/coverage", "/v1/contracts/allocation"):  # fmt: skip
            got = c.get(path, headers=h)
            assert got.status_code == 403, (role, path)
            assert "9500" not in got.text
        assert c.post("/v1/contracts", json=_body(commodity, 1, issued), headers=h).status_code == 403
    assert [x["id"] for x in c.get("/v1/contracts", headers=auth(tokens["admin"])).json()] == [cid]


def test_coverage_and_allocation_follow_the_forecast_members(client: Client, registry_url: str) -> None:
    c, tokens, service = client
    h = auth(tokens["offtaker"])
    commodity, total, issued = _busiest(service)
    small = c.post("/v1/contracts", json=_body(commodity, total / 5, issued), headers=h).json()
    huge = c.post(
        "/v1/contracts", json=_body(commodity, total * 4, issued + dt.timedelta(days=1)), headers=h
    ).json()
    report = c.get("/v1/contracts/coverage", headers=h).json()
    rows = {r["contract_id"]: r for r in report["contracts"]}
    assert report["summary"]["open_contracts"] == 2
    # The same numbers as the engine's, from the same run's members.
    run = service.latest
    assert run is not None
    with service.sessions() as session:
        specs = open_contracts(session)
    supply = daily_supply(list(run.forecasts.values()), start=run.issued, end=max(s.last_day for s in specs))
    expected = {cov.contract_id: cov for cov in coverage(specs, supply, run.members)}
    for cid, row in rows.items():
        assert row["probability"] == pytest.approx(expected[cid].probability, abs=1e-4)
        assert row["shortfall_p50"] == pytest.approx(expected[cid].shortfall_p50, abs=1e-3)
    assert rows[small["id"]]["probability"] > rows[huge["id"]]["probability"]
    assert rows[huge["id"]]["probability"] == 0.0
    assert rows[huge["id"]]["at_risk"] is True
    assert report["summary"]["at_risk"] >= 1
    # Orders never exceed a contract, and the CSV says the same as the JSON.
    split = c.get("/v1/contracts/allocation", params={"by": "contract"}, headers=h).json()
    assert split
    for cid, tonnes in ((small["id"], small["tonnes"]), (huge["id"], huge["tonnes"])):
        assert sum(o["tonnes"] for o in split if o["contract_ids"] == [cid]) <= tonnes + 1e-3
    # Orders: one row per cooperative x week x commodity, the contracts' rows summed.
    orders = c.get("/v1/contracts/allocation", headers=h).json()
    keys = [(o["coop_id"], o["iso_week"], o["commodity"]) for o in orders]
    assert len(keys) == len(set(keys))
    assert sum(o["tonnes"] for o in orders) == pytest.approx(sum(o["tonnes"] for o in split), abs=0.01)
    text = c.get("/v1/contracts/allocation", params={"format": "csv"}, headers=h).text
    assert len(text.splitlines()) == len(orders) + 1
    # The contract at risk raises an alert that only offtaker and admin see.
    assert c.post("/v1/alerts/evaluate", headers=h).json().get("contract_at_risk", 0) >= 1
    seen = c.get("/v1/alerts", params={"kind": "contract_at_risk"}, headers=h).json()
    assert f"contract-{huge['id']}" in {a["subject"] for a in seen}
    assert all(a["coop_id"] is None for a in seen)
    for role in ("farmer", "manager"):
        mine = c.get("/v1/alerts", params={"kind": "contract_at_risk"}, headers=auth(tokens[role])).json()
        assert mine == []
    # Closing the contract clears its alert at the next evaluation.
    r = c.patch(f"/v1/contracts/{huge['id']}", json={"status": "cancelled"}, headers=h)
    assert r.status_code == 200
    c.post("/v1/alerts/evaluate", headers=h)
    still = c.get("/v1/alerts", params={"kind": "contract_at_risk"}, headers=h).json()
    assert f"contract-{huge['id']}" not in {a["subject"] for a in still}
    assert c.get(f"/v1/contracts/{huge['id']}/coverage", headers=h).status_code == 404


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"last_day": "2020-01-01"}, "last_day"),
        ({"tonnes": -1}, "tonnes"),
        ({"commodity": "durian"}, "commodity"),
        ({"price_idr_per_kg": "lots"}, "price_idr_per_kg"),
    ],
)
def test_bad_contracts_are_refused_with_the_reason(
    client: Client, change: dict[str, object], says: str
) -> None:
    c, tokens, _service = client
    body = {**_body("potato", 10, dt.date(2026, 12, 1)), **change}
    r = c.post("/v1/contracts", json=body, headers=auth(tokens["admin"]))
    assert r.status_code == 422
    assert says in r.json()["detail"]
