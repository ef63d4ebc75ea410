"""A farmer undoes a mistake from the field page (issue 39): on main a record saved twice stayed
twice, and nothing on the page could void or correct it. Now a record of their own field can be
voided or corrected there within 7 days, with a reason; after that it is Coosae's to amend."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient

from services.forecasting import ForecastService
from storage.db import HarvestRecord
from tests.api.conftest import TODAY, auth

Client = tuple[TestClient, dict[str, str], ForecastService]
MINE = "oro-oro-ombo-f01"


def _in_force(c: TestClient, tokens: dict[str, str]) -> list[tuple[float, str]]:
    rows = c.get("/v1/harvest-records", params={"field_id": MINE}, headers=auth(tokens["admin"])).json()
    return [(r["tonnes"], r["harvest_date"]) for r in rows]


def _record(c: TestClient, farmer: dict[str, str], kg: str) -> int:
    done = c.post(f"/f/{MINE}/panen", data={"harvest_date": TODAY.isoformat(), "kg": kg}, headers=farmer,
                  follow_redirects=False)  # fmt: skip
    assert done.status_code == 303, done.text
    page = c.get(f"/f/{MINE}", headers=farmer).text
    return max(int(n) for n in re.findall(rf"/f/{MINE}/panen/(\d+)/batal", page))


def test_a_farmer_voids_a_record_with_a_reason_and_corrects_another(client: Client) -> None:
    c, tokens, _ = client
    farmer = auth(tokens["farmer"])
    twice = _record(c, farmer, "1.200")
    wrong = _record(c, farmer, "1.300")
    # No reason: refused on the page, in Bahasa, and nothing changes.
    r = c.post(f"/f/{MINE}/panen/{twice}/batal", data={"reason": ""}, headers=farmer)
    assert r.status_code == 422
    assert "Tulis alasannya" in r.text
    assert len(_in_force(c, tokens)) == 2
    r = c.post(f"/f/{MINE}/panen/{twice}/batal", data={"reason": "tercatat dua kali"}, headers=farmer,
               follow_redirects=False)  # fmt: skip
    assert (r.status_code, r.headers["location"]) == (303, f"/f/{MINE}?ok=batal")
    yesterday = (TODAY - dt.timedelta(days=1)).isoformat()
    r = c.post(f"/f/{MINE}/panen/{wrong}/ubah", headers=farmer, follow_redirects=False,
               data={"kg": "1.250", "harvest_date": yesterday, "reason": "salah timbang"})  # fmt: skip
    assert r.status_code == 303, r.text
    assert _in_force(c, tokens) == [(1.25, yesterday)]
    page = c.get(f"/f/{MINE}?ok=ubah", headers=farmer).text
    assert "Catatan panen diperbaiki" in page
    assert "1.250 kg" in page
    assert "1.200 kg" not in page
    # Kept, with who and why.
    every = c.get("/v1/harvest-records", params={"field_id": MINE, "include_voided": True},
                  headers=auth(tokens["admin"])).json()  # fmt: skip
    reasons = {r["id"]: r["void_reason"] for r in every}
    assert (reasons[twice], reasons[wrong]) == ("tercatat dua kali", "corrected: salah timbang")


def test_after_a_week_the_page_offers_no_undo_and_refuses_one(client: Client) -> None:
    c, tokens, _ = client
    farmer = auth(tokens["farmer"])
    old = _record(c, farmer, "900")
    with c.app.state.panen.sessions() as session:  # type: ignore[attr-defined]
        row = session.get(HarvestRecord, old)
        assert row is not None
        row.recorded_at -= dt.timedelta(days=8)
        session.commit()
    page = c.get(f"/f/{MINE}", headers=farmer).text
    assert "900 kg" in page
    assert "Batalkan atau perbaiki" not in page
    r = c.post(f"/f/{MINE}/panen/{old}/batal", data={"reason": "dobel"}, headers=farmer)
    assert r.status_code == 403
    assert len(_in_force(c, tokens)) == 1


def test_a_record_of_another_field_cannot_be_voided_through_this_one(client: Client) -> None:
    c, tokens, _ = client
    admin = auth(tokens["admin"])
    fields = [f["id"] for f in c.get("/v1/fields", headers=admin).json()]
    other = next(f for f in fields if f != MINE)
    body = {"field_id": other, "harvest_date": TODAY.isoformat(), "tonnes": 0.8}
    theirs = c.post("/v1/harvest-records", json=body, headers=admin).json()["id"]
    r = c.post(f"/f/{MINE}/panen/{theirs}/batal", data={"reason": "x"}, headers=auth(tokens["farmer"]))
    assert r.status_code == 403
