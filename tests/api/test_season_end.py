"""A season has an end (issue 36): a harvest record closes a single-harvest field's season, so its
forecast and its share of the plan stop; a multi-pick crop's picks add up, its forecast is what is
left; a new planting may change the crop (a rotation), and the field is forecast as the new crop."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from forecast.crops import load_crops
from services.forecasting import ForecastService
from services.harvests import plausible_t_ha
from tests.api.conftest import TODAY, auth


def _expected(c: TestClient, token: str, commodity: str) -> float:
    rows = c.get("/v1/purchase-plan", headers=auth(token), params={"weeks": 26, "commodity": commodity})
    return sum(r["tonnes_expected"] for r in rows.json())


def _record(c: TestClient, token: str, field: dict[str, object], tonnes: float, day: dt.date) -> None:
    body = {"field_id": field["id"], "harvest_date": day.isoformat(), "tonnes": tonnes, "grade": "A"}
    created = c.post("/v1/harvest-records", headers=auth(token), json=body)
    assert created.status_code == 201, created.text


def _annual_field(c: TestClient, token: str) -> dict[str, object]:
    """The first field of an annual crop (orchards follow their own cycles)."""
    crops = load_crops()
    return next(
        f for f in c.get("/v1/fields", headers=auth(token)).json() if not crops[f["commodity"]].perennial
    )


def test_a_recorded_harvest_ends_a_single_harvest_season_and_its_share_of_the_plan(
    client: tuple[TestClient, dict[str, str], ForecastService],
) -> None:
    c, tokens, service = client
    crops = load_crops()
    fields = c.get("/v1/fields", headers=auth(tokens["admin"])).json()
    forecasts = {f["field_id"]: f for f in c.get("/v1/forecasts", headers=auth(tokens["admin"])).json()}
    field = next(
        f
        for f in fields
        if f["id"] in forecasts
        and not crops[f["commodity"]].multi_pick
        and not crops[f["commodity"]].perennial
    )
    before = _expected(c, tokens["offtaker"], field["commodity"])
    share = forecasts[field["id"]]["tonnes_expected"]
    assert share > 0
    tonnes = 0.8 * crops[field["commodity"]].potential_yield_t_ha * float(field["area_ha"])
    _record(c, tokens["offtaker"], field, round(tonnes, 2), TODAY)
    assert c.post("/v1/forecasts/recompute", headers=auth(tokens["admin"])).status_code == 200
    gone = c.get(f"/v1/fields/{field['id']}/forecast", headers=auth(tokens["admin"]))
    assert gone.status_code == 404
    assert "was harvested on" in gone.json()["detail"]
    assert field["id"] not in {
        f["field_id"] for f in c.get("/v1/forecasts", headers=auth(tokens["admin"])).json()
    }
    after = _expected(c, tokens["offtaker"], field["commodity"])
    # The plan lost that field's share (26 weeks hold its whole season), and only about it.
    assert after == pytest.approx(before - share, abs=0.1 * len(fields) + 0.05 * before)
    assert service.latest is not None
    assert service.latest.closed[field["id"]] == TODAY


def test_a_new_planting_may_change_the_crop_and_reopens_the_season(
    client: tuple[TestClient, dict[str, str], ForecastService],
) -> None:
    c, tokens, _ = client
    crops = load_crops()
    field = _annual_field(c, tokens["admin"])
    yesterday = TODAY - dt.timedelta(days=1)
    tonnes = round(0.8 * crops[field["commodity"]].potential_yield_t_ha * field["area_ha"], 2)
    _record(c, tokens["offtaker"], field, tonnes, yesterday)
    new_crop = "cabbage" if field["commodity"] != "cabbage" else "carrot"
    # Replanted today, after yesterday's harvest: that record belongs to the season before.
    changed = c.patch(
        f"/v1/fields/{field['id']}",
        headers=auth(tokens["admin"]),
        json={"commodity": new_crop, "planting_date": TODAY.isoformat()},
    )
    assert changed.status_code == 200, changed.text
    assert c.post("/v1/forecasts/recompute", headers=auth(tokens["admin"])).status_code == 200
    forecast = c.get(f"/v1/fields/{field['id']}/forecast", headers=auth(tokens["admin"]))
    assert forecast.status_code == 200, forecast.text
    assert forecast.json()["commodity"] == new_crop


def test_picks_of_a_multi_pick_crop_add_up_and_leave_the_rest_forecast(
    client: tuple[TestClient, dict[str, str], ForecastService],
) -> None:
    c, tokens, _ = client
    crops = load_crops()
    field = _annual_field(c, tokens["admin"])
    planted = TODAY - dt.timedelta(days=100)
    rotated = c.patch(
        f"/v1/fields/{field['id']}",
        headers=auth(tokens["admin"]),
        json={"commodity": "tomato", "planting_date": planted.isoformat()},
    )
    assert rotated.status_code == 200, rotated.text
    assert c.post("/v1/forecasts/recompute", headers=auth(tokens["admin"])).status_code == 200
    whole = c.get(
        f"/v1/fields/{field['id']}/forecast", headers=auth(tokens["admin"]), params={"members": True}
    )
    assert whole.status_code == 200, whole.text
    members = whole.json()["members_tonnes"]
    pick = round(0.3 * crops["tomato"].potential_yield_t_ha * field["area_ha"], 2)
    _record(c, tokens["offtaker"], field, pick, TODAY - dt.timedelta(days=1))
    assert c.post("/v1/forecasts/recompute", headers=auth(tokens["admin"])).status_code == 200
    left = c.get(
        f"/v1/fields/{field['id']}/forecast", headers=auth(tokens["admin"]), params={"members": True}
    )
    assert left.status_code == 200, left.text  # one pick does not end a tomato season
    # What is left is less than the season (learning from the pick may move the rest a little).
    assert sum(left.json()["members_tonnes"]) < sum(members)


def test_season_records_close_single_harvests_and_sum_picks() -> None:
    import numpy as np

    from services.forecasting import _less_picked, season_records
    from storage.db import Field, HarvestRecord

    planted = dt.date(2026, 9, 1)
    fields = [
        Field(id="p", coop_id="c", commodity="potato", planting_date=planted, area_ha=1.0),
        Field(id="t", coop_id="c", commodity="tomato", planting_date=planted, area_ha=1.0),
        Field(id="a", coop_id="c", commodity="apple", planting_date=planted, area_ha=1.0),
    ]
    records = [
        HarvestRecord(field_id="p", harvest_date=dt.date(2026, 8, 1), tonnes=9.0),  # last season's
        HarvestRecord(field_id="p", harvest_date=dt.date(2026, 12, 1), tonnes=20.0),
        HarvestRecord(field_id="t", harvest_date=dt.date(2026, 11, 20), tonnes=2.0),
        HarvestRecord(field_id="t", harvest_date=dt.date(2026, 11, 27), tonnes=3.0),
        HarvestRecord(field_id="a", harvest_date=dt.date(2026, 12, 1), tonnes=5.0),  # orchards: their cycles
    ]
    closed, picked = season_records(fields, records)
    assert closed == {"p": dt.date(2026, 12, 1)}
    assert picked == {"t": 5.0}
    from tests.forecast.test_plan import _forecast

    forecast = _forecast(0, "tomato", "c", [30] * 4, [20.0, 4.0, 8.0, 12.0])
    left = _less_picked(forecast, 5.0)
    assert list(left.members_tonnes) == [15.0, 0.0, 3.0, 7.0]
    assert left.tonnes_p10 <= left.tonnes_p50 <= left.tonnes_p90 <= 15.0
    assert _less_picked(forecast, 0.0) is forecast
    assert np.array_equal(forecast.members_tonnes, [20.0, 4.0, 8.0, 12.0])  # the original is kept


def test_the_field_page_records_a_rotation_and_refuses_an_orchard_crop(
    client: tuple[TestClient, dict[str, str], ForecastService],
) -> None:
    c, tokens, _ = client
    farmer = auth(tokens["farmer"])
    field = c.get("/v1/fields/oro-oro-ombo-f01", headers=auth(tokens["admin"])).json()
    page = c.get("/f/oro-oro-ombo-f01", headers=farmer)
    assert page.status_code == 200
    assert 'name="commodity"' in page.text  # the planting form offers the crop
    new_crop = "cabbage" if field["commodity"] != "cabbage" else "carrot"
    form = {"planting_date": TODAY.isoformat(), "commodity": new_crop}
    done = c.post("/f/oro-oro-ombo-f01/tanam", data=form, headers=farmer, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert c.get("/v1/fields/oro-oro-ombo-f01", headers=auth(tokens["admin"])).json()["commodity"] == new_crop
    refused = c.post("/f/oro-oro-ombo-f01/tanam", data={**form, "commodity": "apple"}, headers=farmer)
    assert refused.status_code == 422
    assert "tidak bisa dicatat" in refused.text
    assert c.get("/v1/fields/oro-oro-ombo-f01", headers=auth(tokens["admin"])).json()["commodity"] == new_crop


def test_the_plans_eight_weeks_hold_what_the_fields_forecasts_hold_for_them(
    client: tuple[TestClient, dict[str, str], ForecastService],
) -> None:
    """Issue 36's measure, on a simulated season: per commodity, the plan's 8-week expected total is,
    within 1 %, the fields' expected tonnes that fall in those weeks or are overdue, recomputed here
    from each field's members: a member's harvest is spread evenly over the crop's harvest window
    (crops.toml) from its day; its days up to the eighth Sunday count, those before this week too."""
    c, tokens, _ = client
    token = tokens["offtaker"]
    crops = load_crops()
    forecasts = c.get("/v1/forecasts", headers=auth(token), params={"members": "true"}).json()
    issued = dt.date.fromisoformat(forecasts[0]["basis"]["issued"])
    last_day = issued - dt.timedelta(days=issued.weekday()) + dt.timedelta(weeks=8, days=-1)
    expected: dict[str, float] = {}
    for f in forecasts:
        window = max(1, crops[f["commodity"]].harvest_window_days)
        shares = []
        for day, tonnes in zip(f["members_harvest_date"], f["members_tonnes"], strict=True):
            if day is None:
                shares.append(0.0)
                continue
            start = dt.date.fromisoformat(day)
            inside = sum(start + dt.timedelta(days=i) <= last_day for i in range(window))
            shares.append(tonnes * inside / window)
        expected[f["commodity"]] = expected.get(f["commodity"], 0.0) + sum(shares) / len(shares)
    plan = c.get("/v1/purchase-plan", headers=auth(token), params={"weeks": 8, "by": "commodity"}).json()
    totals: dict[str, float] = {}
    for r in plan:
        totals[r["commodity"]] = totals.get(r["commodity"], 0.0) + r["tonnes_expected"]
    assert totals, plan
    for commodity, want in expected.items():
        cells = sum(r["commodity"] == commodity for r in plan)
        if want < 0.5:  # a few crumbs: each of the plan's cells is rounded to 0.1 t
            assert totals.get(commodity, 0.0) == pytest.approx(want, abs=0.05 * cells + 1e-9)
            continue
        # 1 %, plus the rounding of the cells the API shows (0.05 t at most each).
        assert abs(totals[commodity] - want) <= 0.01 * want + 0.05 * cells, (commodity, want, plan)


def test_the_field_page_shows_a_season_ended_by_its_harvest_at_once(
    client: tuple[TestClient, dict[str, str], ForecastService],
) -> None:
    """The farmer who records a harvest sees the season end on their page then, not after the next
    refresh; a new planting (of another crop) opens the next season on the same page."""
    c, tokens, service = client
    farmer = auth(tokens["farmer"])
    field = c.get("/v1/fields/oro-oro-ombo-f01", headers=auth(tokens["admin"])).json()
    before = c.get("/f/oro-oro-ombo-f01", headers=farmer).text
    assert "Musim ini sudah dipanen" not in before
    assert "Hasil:" in before  # the season's forecast
    low, _ = plausible_t_ha(field["commodity"])
    kg = round(low * field["area_ha"] * 1000 * 3)
    form = {"harvest_date": TODAY.isoformat(), "kg": str(kg)}
    done = c.post("/f/oro-oro-ombo-f01/panen", data=form, headers=farmer, follow_redirects=False)
    assert done.status_code == 303, done.text
    after = c.get("/f/oro-oro-ombo-f01", headers=farmer).text
    assert "Musim ini sudah dipanen" in after
    assert "Hasil:" not in after  # no forecast of a season that is over
    new_crop = "cabbage" if field["commodity"] != "cabbage" else "carrot"
    form = {"planting_date": TODAY.isoformat(), "commodity": new_crop}
    assert (
        c.post("/f/oro-oro-ombo-f01/tanam", data=form, headers=farmer, follow_redirects=False).status_code
        == 303
    )
    service.run(TODAY)
    reopened = c.get("/f/oro-oro-ombo-f01", headers=farmer).text
    assert "Musim ini sudah dipanen" not in reopened
    assert "Hasil:" in reopened
