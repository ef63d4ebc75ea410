"""A planner filters by the words the field page shows (issue 36): ``kentang`` is potato, ``Bawang
merah`` shallot, on every list with a commodity filter; a word that is no crop is refused, saying so."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.forecasting import ForecastService
from services.notify.messages import COMMODITY_ID
from tests.api.conftest import auth


def test_the_indonesian_name_of_a_crop_filters_as_its_name_does(
    client: tuple[TestClient, dict[str, str], ForecastService],
) -> None:
    c, tokens, _ = client
    h = auth(tokens["offtaker"])
    rows = c.get("/v1/purchase-plan", headers=h, params={"weeks": 26}).json()
    crop = rows[0]["commodity"]
    indonesian = COMMODITY_ID[crop]
    for path in ("/v1/purchase-plan", "/v1/forecasts", "/v1/fields", "/v1/forecasts/skill"):
        by_name = c.get(path, headers=h, params={"commodity": crop})
        assert by_name.status_code == 200, by_name.text
        for word in (indonesian, indonesian.upper(), indonesian.replace(" ", "_")):
            by_word = c.get(path, headers=h, params={"commodity": word})
            assert by_word.status_code == 200, (path, word, by_word.text)
            assert by_word.json() == by_name.json()
    refused = c.get("/v1/purchase-plan", headers=h, params={"commodity": "singkong"})
    assert refused.status_code == 422
    assert "kentang" in refused.json()["detail"]


def test_a_plan_from_next_week_starts_on_next_monday_and_leaves_this_weeks_harvests_out(
    client: tuple[TestClient, dict[str, str], ForecastService],
) -> None:
    import datetime as dt

    c, tokens, service = client
    h = auth(tokens["offtaker"])
    run = service.latest
    assert run is not None
    this = c.get("/v1/purchase-plan", headers=h, params={"weeks": 8}).json()
    following = c.get("/v1/purchase-plan", headers=h, params={"weeks": 8, "weeks_from": "next"}).json()
    monday = run.issued - dt.timedelta(days=run.issued.weekday())
    next_monday = (monday + dt.timedelta(weeks=1)).isoformat()
    assert following
    assert min(r["week_start"] for r in following) >= next_monday
    assert all(r["overdue_tonnes"] == 0 for r in following)
    # The weeks both plans show are the same weeks with the same tonnes.
    shared = {
        (r["commodity"], r["iso_week"], r["coop_id"]): r["tonnes_expected"]
        for r in this
        if r["week_start"] >= next_monday
    }
    again = {(r["commodity"], r["iso_week"], r["coop_id"]): r["tonnes_expected"] for r in following}
    assert {k: v for k, v in again.items() if k in shared} == shared
    by_date = c.get("/v1/purchase-plan", headers=h, params={"weeks": 8, "weeks_from": next_monday}).json()
    assert by_date == following
    assert c.get("/v1/purchase-plan", headers=h, params={"weeks_from": "2026-13-40"}).status_code == 422


def test_the_skill_list_says_records_exist_when_no_forecast_was_made_early_enough(
    client: tuple[TestClient, dict[str, str], ForecastService],
) -> None:
    """Five records entered on a fresh platform read "no harvest record yet": they were there, but no
    forecast was made 30 days before them to compare with (issue 36). The note now says which."""
    import datetime as dt

    from forecast.crops import load_crops
    from tests.api.conftest import TODAY

    c, tokens, _ = client
    admin = auth(tokens["admin"])
    field = c.get("/v1/fields", headers=admin).json()[0]
    tonnes = round(0.8 * load_crops()[field["commodity"]].potential_yield_t_ha * field["area_ha"], 2)
    body = {
        "field_id": field["id"],
        "harvest_date": (TODAY - dt.timedelta(days=1)).isoformat(),
        "tonnes": tonnes,
    }
    assert c.post("/v1/harvest-records", headers=admin, json=body).status_code == 201
    rows = c.get("/v1/forecasts/skill", headers=admin, params={"lead_days": 30}).json()
    row = next(r for r in rows if (r["commodity"], r["coop_id"]) == (field["commodity"], field["coop_id"]))
    assert row["records"] == 0
    assert row["note"].startswith("1 harvest record, none with a forecast made about 30 days before it")
