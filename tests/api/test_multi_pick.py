"""A multi-pick crop is forecast as a picking window (issue 38): chili and strawberry are picked for
months, tomato for weeks; their forecast's dates are the first pick's, and it says until when picking
goes on (the plan spreads the tonnes over that window), on the API and on the field page."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from forecast.crops import load_crops
from services.forecasting import ForecastService
from tests.api.conftest import auth

Client = tuple[TestClient, dict[str, str], ForecastService]


def test_a_multi_pick_crops_forecast_says_until_when_it_is_picked(client: Client) -> None:
    c, tokens, _ = client
    admin = auth(tokens["admin"])
    crops = load_crops()
    seen = set()
    for forecast in c.get("/v1/forecasts", headers=admin).json():
        crop = crops[forecast["commodity"]]
        if forecast["harvest_date_p50"] is None:
            continue
        if crop.multi_pick:
            first = dt.date.fromisoformat(forecast["harvest_date_p50"])
            until = dt.date.fromisoformat(forecast["picking_until_p50"])
            assert until - first == dt.timedelta(days=crop.harvest_window_days), forecast
        else:
            assert forecast["picking_until_p50"] is None, forecast
        seen.add(crop.multi_pick)
    assert seen == {True, False}  # the fleet has both kinds


def test_the_field_page_says_picking_goes_on(client: Client) -> None:
    c, tokens, _ = client
    admin = auth(tokens["admin"])
    crops = load_crops()
    picked = next(
        f for f in c.get("/v1/forecasts", headers=admin).json()
        if crops[f["commodity"]].multi_pick and f["harvest_date_p50"] and f["coop_id"] == "oro-oro-ombo"
    )  # fmt: skip
    page = c.get(f"/f/{picked['field_id']}", headers=auth(tokens["manager"]))
    assert page.status_code == 200
    assert "Dipetik berkali-kali" in page.text
