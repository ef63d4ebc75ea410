"""No link works for someone it was not meant for, and no session outlives its person (issue 37): a
messenger's preview (GET, HEAD, any user agent) spends no sign-in link, only the page's POST does; a
link's secret never reaches the access log; deleting a contact ends its sessions at once; signing out
revokes the session and needs its CSRF token; every page says what browsers may do with it."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api.app import HideLinkSecrets
from services.forecasting import ForecastService
from tests.api.conftest import auth

Client = tuple[TestClient, dict[str, str], ForecastService]
MINE = "oro-oro-ombo-f01"
PREVIEWERS = (
    "WhatsApp/2.23.20.0",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Microsoft Office/16.0; ms-office; MSOffice 16) SafeLinks",
    "facebookexternalhit/1.1",
    "Mozilla/5.0 (Linux; Android 10) Chrome/120.0 Mobile",  # the farmer's own phone, opening it
)


def _link(c: TestClient, tokens: dict[str, str]) -> str:
    body = {"name": "Pak Slamet", "role": "farmer", "farmer_id": f"{MINE}-farmer"}
    contact = c.post("/v1/contacts", json=body, headers=auth(tokens["admin"])).json()["id"]
    url = c.post(f"/v1/contacts/{contact}/sign-in-link", headers=auth(tokens["manager"])).json()["url"]
    return "/" + url.split("/", 3)[3]


def _press(c: TestClient, page_text: str) -> object:
    secret = re.search(r'name="secret" value="([^"]+)"', page_text)
    assert secret is not None, page_text
    return c.post("/f/masuk/tautan", data={"secret": secret.group(1)}, follow_redirects=False)


def _signed_in(c: TestClient, tokens: dict[str, str]) -> str:
    """A farmer's session token, signed in with a fresh link (the client keeps no cookie)."""
    answer = _press(c, c.get(_link(c, tokens)).text)
    cookie = re.search(r"panen_sesi=([^;]+)", answer.headers["set-cookie"])  # type: ignore[attr-defined]
    assert cookie is not None
    c.cookies.clear()
    return cookie.group(1)


def test_previews_of_a_link_spend_nothing_and_the_farmer_still_signs_in(client: Client) -> None:
    """Found on main: one GET with a messenger's preview agent signed the preview in (303) and the
    farmer got 410."""
    c, tokens, _ = client
    path = _link(c, tokens)
    for agent in PREVIEWERS:
        for method in ("GET", "HEAD"):
            r = c.request(method, path, headers={"User-Agent": agent}, follow_redirects=False)
            assert r.status_code == 200, (agent, method, r.status_code)
            assert "set-cookie" not in r.headers
    page = c.get(path)
    assert "Masuk" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"  # the secret is in this page's address
    signed_in = _press(c, page.text)
    assert signed_in.status_code == 303  # type: ignore[attr-defined]
    assert "panen_sesi=" in signed_in.headers["set-cookie"]  # type: ignore[attr-defined]
    c.cookies.clear()
    assert c.get(path).status_code == 410  # spent by the farmer, not by a preview
    assert c.head(path).status_code == 410
    assert c.post("/f/masuk/tautan", data={"secret": "x" * 32}, follow_redirects=False).status_code == 410


# What a path segment may hold (RFC 3986: unreserved, percent-encodings, sub-delims, ":" and "@").
_SEGMENT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:@"


@given(st.text(st.sampled_from(_SEGMENT), min_size=1, max_size=60))
def test_no_link_secret_reaches_the_access_log(secret: str) -> None:
    """Found on main: the access log carried sign-in links still valid."""
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "HEAD", f"/f/masuk/{secret}?utm=x", "1.1", 405), None,
    )  # fmt: skip
    HideLinkSecrets().filter(record)
    line = record.getMessage()
    if secret not in ("kode", "tautan"):
        assert f"/f/masuk/{secret}" not in line
        assert "/f/masuk/…?utm=x" in line


def test_deleting_a_contact_ends_its_sessions_at_once(client: Client) -> None:
    """Found on main: a deleted contact's 30-day session kept the field page and /v1/fields open."""
    c, tokens, _ = client
    session = _signed_in(c, tokens)
    assert c.get("/v1/fields", headers=auth(session)).status_code == 200
    assert c.get("/f", cookies={"panen_sesi": session}).status_code == 200
    contacts = c.get("/v1/contacts", headers=auth(tokens["admin"])).json()
    mine = next(x for x in contacts if x["farmer_id"] == f"{MINE}-farmer")
    assert c.delete(f"/v1/contacts/{mine['id']}", headers=auth(tokens["admin"])).status_code == 204
    assert c.get("/v1/fields", headers=auth(session)).status_code == 401
    assert c.get("/f", cookies={"panen_sesi": session}, follow_redirects=False).status_code == 303


def test_a_farmer_who_once_signed_in_can_still_be_removed(client: Client) -> None:
    """Found while fixing the above: a farmer's revoked session still counted as an API token that
    refused the farmer's delete (409), so a farmer who had ever signed in could never be removed."""
    c, tokens, _ = client
    admin = auth(tokens["admin"])
    farmer = {"id": "oro-oro-ombo-pindah", "coop_id": "oro-oro-ombo", "name": "Pak Pindah"}
    assert c.post("/v1/farmers", json=farmer, headers=admin).status_code == 201
    contact = c.post("/v1/contacts", json={"name": "Pak Pindah", "role": "farmer", "farmer_id": farmer["id"]},
                     headers=admin).json()  # fmt: skip
    url = c.post(f"/v1/contacts/{contact['id']}/sign-in-link", headers=admin).json()["url"]
    answer = _press(c, c.get("/" + url.split("/", 3)[3]).text)
    assert answer.status_code == 303  # type: ignore[attr-defined]
    c.cookies.clear()
    refused = c.delete(f"/v1/farmers/{farmer['id']}", headers=admin)
    assert refused.status_code == 409
    assert "1 contacts" in refused.json()["detail"]
    assert c.delete(f"/v1/contacts/{contact['id']}", headers=admin).status_code == 204  # ends the session
    assert c.delete(f"/v1/farmers/{farmer['id']}", headers=admin).status_code == 204


def test_signing_out_revokes_the_session_and_needs_its_csrf_token(client: Client) -> None:
    """Found on main: sign-out only dropped the cookie (a copy of it still worked) and took no CSRF
    token, so any site could sign a farmer out."""
    c, tokens, _ = client
    session = _signed_in(c, tokens)
    page = c.get("/f", cookies={"panen_sesi": session})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None, page.text
    forged = c.post("/f/keluar", cookies={"panen_sesi": session}, follow_redirects=False)
    assert forged.status_code == 403
    assert c.get("/v1/fields", headers=auth(session)).status_code == 200  # still signed in
    out = c.post("/f/keluar", data={"csrf": csrf.group(1)}, cookies={"panen_sesi": session},
                 follow_redirects=False)  # fmt: skip
    assert out.status_code == 303
    assert c.get("/v1/fields", headers=auth(session)).status_code == 401  # a copied cookie is dead too


@pytest.mark.parametrize("path", ["/f/masuk", "/f"])
def test_every_page_says_what_browsers_may_do_with_it(client: Client, path: str) -> None:
    c, tokens, _ = client
    r = c.get(path, headers=auth(tokens["farmer"]))
    assert r.status_code == 200
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"


def test_no_one_reads_a_sign_in_code_or_link_through_the_api(client: Client) -> None:
    """Found on main: GET /v1/notifications showed managers the sign-in codes and links in clear, also
    after use."""
    c, tokens, _ = client
    body = {"name": "Pak Slamet", "role": "farmer", "farmer_id": f"{MINE}-farmer",
            "channels": [{"kind": "email", "address": "slamet@example.org"}]}  # fmt: skip
    assert c.post("/v1/contacts", json=body, headers=auth(tokens["admin"])).status_code == 201
    c.post("/f/masuk", data={"address": "slamet@example.org"})
    for role in ("manager", "admin", "offtaker"):
        messages = c.get("/v1/notifications", headers=auth(tokens[role])).json()
        codes = [m for m in messages if m["event"] == "sign_in"]
        if role != "offtaker":
            assert codes, (role, messages)
        for m in codes:
            assert not re.search(r"\d{6}|/f/masuk/", m["body"]), m
