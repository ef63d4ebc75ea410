"""Who reads and changes whose contacts, messages and field pages (issue 17), and signing in to the
field page: links and codes work once and expire, sessions have exactly the farmer's scope, and
cookie-authenticated forms need the session's CSRF token."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from services.forecasting import ForecastService
from services.notify.outbox import NotifyConfig
from services.notify.signin import issue_link
from storage.db import ApiToken, Contact, HarvestRecord, Notification
from storage.db.engine import open_registry
from tests.api.conftest import TODAY, auth

Client = tuple[TestClient, dict[str, str], ForecastService]
MINE, NEIGHBOUR, OTHER_COOP = "oro-oro-ombo-f01", "oro-oro-ombo-f02", "pesanggrahan-f01"


def _contact(c: TestClient, admin: str, field: str, phone: str) -> int:
    body = {
        "name": f"Petani {field}",
        "role": "farmer",
        "farmer_id": f"{field}-farmer",
        "channels": [
            {"kind": "whatsapp", "address": phone},
            {"kind": "email", "address": f"{field}@example.org"},
        ],
    }
    r = c.post("/v1/contacts", json=body, headers=auth(admin))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_no_one_reads_or_changes_a_contact_outside_their_scope(client: Client) -> None:
    c, tokens, _ = client
    mine = _contact(c, tokens["admin"], MINE, "081234567801")
    neighbour = _contact(c, tokens["admin"], NEIGHBOUR, "+6281234567802")
    far = _contact(c, tokens["admin"], OTHER_COOP, "+6281234567803")
    farmer, manager, offtaker = auth(tokens["farmer"]), auth(tokens["manager"]), auth(tokens["offtaker"])
    assert c.get(f"/v1/contacts/{mine}", headers=farmer).json()["channels"][0]["address"] == "+6281234567801"
    for who, contact in ((farmer, neighbour), (farmer, far), (manager, far), (offtaker, mine)):
        assert c.get(f"/v1/contacts/{contact}", headers=who).status_code == 403
        assert c.patch(f"/v1/contacts/{contact}", json={"language": "en"}, headers=who).status_code == 403
        assert c.delete(f"/v1/contacts/{contact}", headers=who).status_code == 403
        assert c.post(f"/v1/contacts/{contact}/sign-in-link", headers=who).status_code == 403
    assert c.get(f"/v1/contacts/{neighbour}", headers=manager).status_code == 200  # the cooperative's
    assert [x["id"] for x in c.get("/v1/contacts", headers=farmer).json()] == [mine]
    assert sorted(x["id"] for x in c.get("/v1/contacts", headers=manager).json()) == [mine, neighbour]
    assert c.get("/v1/contacts", headers=offtaker).json() == []  # farmers' numbers are not Coosae's
    # A farmer's own changes, within their role's reach.
    assert (
        c.post(
            f"/v1/contacts/{mine}/channels", json={"kind": "telegram", "address": "123456"}, headers=farmer
        ).status_code
        == 201
    )
    hook = {"kind": "webhook", "address": "http://127.0.0.1:8086/write"}
    assert c.post(f"/v1/contacts/{mine}/channels", json=hook, headers=farmer).status_code == 403  # SSRF
    coop_wide = {"kind": "frost_risk", "scope": "coop"}
    assert c.post(f"/v1/contacts/{mine}/subscriptions", json=coop_wide, headers=farmer).status_code == 422
    # A farmer cannot make a contact for their neighbour, nor a manager one in another cooperative.
    other = {"name": "x", "role": "farmer", "farmer_id": "oro-oro-ombo-f03-farmer"}
    assert c.post("/v1/contacts", json=other, headers=farmer).status_code == 403
    far_manager = {"name": "x", "role": "coop_manager", "coop_id": "pesanggrahan"}
    assert c.post("/v1/contacts", json=far_manager, headers=manager).status_code == 403
    # Messages are seen where the contact is.
    for contact in (mine, neighbour, far):
        assert c.post(f"/v1/contacts/{contact}/test", headers=auth(tokens["admin"])).status_code == 201
    seen = {n["contact_id"] for n in c.get("/v1/notifications", headers=farmer).json()}
    assert seen == {mine}
    assert {n["contact_id"] for n in c.get("/v1/notifications", headers=manager).json()} == {mine, neighbour}


def test_field_pages_and_harvest_forms_stay_in_the_farmers_scope(client: Client, registry_url: str) -> None:
    c, tokens, _ = client
    farmer = auth(tokens["farmer"])
    assert c.get(f"/f/{MINE}", headers=farmer).status_code == 200
    for field in (NEIGHBOUR, OTHER_COOP, "no-such-field"):
        assert c.get(f"/f/{field}", headers=farmer).status_code == 403
        form = {"harvest_date": TODAY.isoformat(), "kg": "4000"}
        assert (
            c.post(f"/f/{field}/panen", data=form, headers=farmer, follow_redirects=False).status_code == 403
        )
        plant = {"planting_date": TODAY.isoformat()}
        assert (
            c.post(f"/f/{field}/tanam", data=plant, headers=farmer, follow_redirects=False).status_code == 403
        )
    with open_registry(registry_url)() as session:
        assert session.scalars(select(HarvestRecord)).all() == []


def _session_cookie(response: object) -> str:
    cookie = response.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    match = re.search(r"panen_sesi=([^;]+)", cookie)
    assert match
    return match.group(1)


def _use_link(c: TestClient, path: str) -> object:
    """Open a sign-in link and press its page's *Masuk* button (the POST that signs in)."""
    page = c.get(path, follow_redirects=False)
    if page.status_code != 200:
        return page
    secret = re.search(r'name="secret" value="([^"]+)"', page.text)
    assert secret is not None, page.text
    return c.post("/f/masuk/tautan", data={"secret": secret.group(1)}, follow_redirects=False)


def test_a_sign_in_link_works_once_and_expires(client: Client, registry_url: str) -> None:
    c, tokens, _ = client
    contact = _contact(c, tokens["admin"], MINE, "081234567801")
    link = c.post(f"/v1/contacts/{contact}/sign-in-link", headers=auth(tokens["manager"])).json()["url"]
    path = "/" + link.split("/", 3)[3]
    first = _use_link(c, path)
    assert first.status_code == 303
    assert first.headers["location"] == "/f"
    token = _session_cookie(first)
    c.cookies.clear()
    assert c.get(path, follow_redirects=False).status_code == 410  # used
    assert _use_link(c, path).status_code == 410
    # The session sees the farmer's fields and nothing more.
    page = c.get("/f", cookies={"panen_sesi": token})
    assert page.status_code == 200
    assert MINE in page.text
    assert NEIGHBOUR not in page.text
    assert c.get(f"/f/{NEIGHBOUR}", cookies={"panen_sesi": token}).status_code == 403
    assert c.get("/v1/fields", headers=auth(token)).json()[0]["id"] == MINE
    sessions = open_registry(registry_url)
    with sessions() as session:
        row = session.get(Contact, contact)
        assert row is not None
        stale = issue_link(session, row, NotifyConfig(), dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
        # The session expires: an expired token is refused like an unknown one.
        tok = session.scalars(select(ApiToken).where(ApiToken.name.startswith("field page"))).one()
        tok.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.commit()
    assert c.get("/" + stale.split("/", 3)[3], follow_redirects=False).status_code == 410
    c.app.state.panen.tokens.clear()  # type: ignore[attr-defined]
    assert c.get("/f", cookies={"panen_sesi": token}, follow_redirects=False).status_code == 303


def test_a_one_time_code_goes_to_the_persons_channels_and_guessing_kills_it(
    client: Client, registry_url: str
) -> None:
    c, tokens, _ = client
    _contact(c, tokens["admin"], MINE, "081234567801")
    for address in ("0812 3456 7801", "nobody@example.org"):  # the same answer either way
        r = c.post("/f/masuk", data={"address": address})
        assert r.status_code == 200
        assert "Jika nomor atau alamat ini terdaftar" in r.text
    sessions = open_registry(registry_url)
    with sessions() as session:
        sent = list(session.scalars(select(Notification).where(Notification.event == "sign_in")))
    assert {n.channel_kind for n in sent} == {"whatsapp", "email"}
    assert all(n.urgent for n in sent)
    code = re.search(r"\b(\d{6})\b", sent[0].body).group(1)  # type: ignore[union-attr]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        r = c.post("/f/masuk/kode", data={"address": "+6281234567801", "code": wrong}, follow_redirects=False)
        assert r.status_code == 422
    r = c.post("/f/masuk/kode", data={"address": "+6281234567801", "code": code}, follow_redirects=False)
    assert r.status_code == 422  # five wrong guesses killed it
    c.post("/f/masuk", data={"address": "+6281234567801"})
    with sessions() as session:
        newest = session.scalars(
            select(Notification).where(Notification.event == "sign_in").order_by(Notification.id.desc())
        ).first()
    assert newest is not None
    fresh = re.search(r"\b(\d{6})\b", newest.body).group(1)  # type: ignore[union-attr]
    ok = c.post("/f/masuk/kode", data={"address": "+6281234567801", "code": fresh}, follow_redirects=False)
    assert ok.status_code == 303
    _session_cookie(ok)
    again = c.post("/f/masuk/kode", data={"address": "+6281234567801", "code": fresh}, follow_redirects=False)
    assert again.status_code == 422  # once


def test_a_form_posted_with_the_cookie_needs_the_sessions_csrf_token(
    client: Client, registry_url: str
) -> None:
    c, tokens, _ = client
    contact = _contact(c, tokens["admin"], MINE, "081234567801")
    link = c.post(f"/v1/contacts/{contact}/sign-in-link", headers=auth(tokens["admin"])).json()["url"]
    token = _session_cookie(_use_link(c, "/" + link.split("/", 3)[3]))
    c.cookies.clear()
    form = {"harvest_date": TODAY.isoformat(), "kg": "4000"}
    forged = c.post(f"/f/{MINE}/panen", data=form, cookies={"panen_sesi": token}, follow_redirects=False)
    assert forged.status_code == 403
    page = c.get(f"/f/{MINE}", cookies={"panen_sesi": token}).text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    done = c.post(
        f"/f/{MINE}/panen", data={**form, "csrf": csrf}, cookies={"panen_sesi": token}, follow_redirects=False
    )
    assert done.status_code == 303
    with open_registry(registry_url)() as session:
        records = list(session.scalars(select(HarvestRecord)))
    assert [(r.field_id, r.tonnes) for r in records] == [(MINE, 4.0)]


def test_the_field_page_refuses_a_record_in_the_farmers_words(client: Client, registry_url: str) -> None:
    """A harvest or a planting the field page refuses says why in Indonesian (the services' English
    names the API's fields: "harvest_date ... is in the future" meant nothing to a farmer)."""
    c, tokens, _ = client
    farmer = auth(tokens["farmer"])
    today, tomorrow = TODAY.isoformat(), (TODAY + dt.timedelta(days=1)).isoformat()
    harvest, planting = "Panen tidak tersimpan: ", "Tanggal tanam tidak tersimpan: "
    refusals = [
        ("panen", {"harvest_date": tomorrow, "kg": "4000"}, harvest + "tanggal panen", "belum tiba"),
        ("panen", {"harvest_date": "2020-01-01", "kg": "4000"}, harvest, "sebelum tanggal tanam"),
        ("panen", {"harvest_date": today, "kg": "4000000"}, "Periksa beratnya", "4.000.000 kg dari"),
        ("tanam", {"planting_date": tomorrow}, planting + "tanggal tanam", "belum tiba"),
        ("tanam", {"planting_date": "2020-01-01"}, planting, "lebih dari setahun"),
    ]
    for form, data, said, why in refusals:
        page = c.post(f"/f/{MINE}/{form}", data=data, headers=farmer, follow_redirects=False)
        assert page.status_code == 422, (form, data)
        assert said in page.text, (form, data)
        assert why in page.text, (form, data)
        for english in ("in the future", "is before", "t/ha", "more than a year", "today is"):
            assert english not in page.text, (form, data, english)
    with open_registry(registry_url)() as session:
        assert session.scalars(select(HarvestRecord)).all() == []


def test_test_messages_to_a_contact_are_limited(client: Client) -> None:
    """Found on main: a farmer added someone else's address to their own contact and called the test
    30 times: 30 e-mails went out, none capped. Three tests an hour reach a contact; the fourth is a
    429 saying when, and nothing is queued for it."""
    c, tokens, _ = client
    contact = _contact(c, tokens["admin"], MINE, "081234567801")
    farmer = auth(tokens["farmer"])
    answers = [c.post(f"/v1/contacts/{contact}/test", headers=farmer) for _ in range(30)]
    assert [a.status_code for a in answers] == [201] * 3 + [429] * 27
    assert 0 < int(answers[3].headers["retry-after"]) <= 3600
    assert "test messages in the last hour" in answers[3].json()["detail"]
    sent = [
        n for n in c.get("/v1/notifications", headers=auth(tokens["admin"])).json() if n["event"] == "test"
    ]
    assert len(sent) == 3 * 2  # three tests, each to the contact's two channels
