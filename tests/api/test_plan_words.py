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
