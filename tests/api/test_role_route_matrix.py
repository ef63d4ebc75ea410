"""Every route × every role, generated from the OpenAPI document (issue 16): a route nobody gave a
rule here fails this test, so no route can land without its scope being checked.

For each operation and each role the request names rows of the caller's own cooperative (the
farmer's own field): a role the rule allows must get through (not 401/403), any other role gets
403; no token gets 401 on every /v1 route; a scoped role asking for another cooperative's row
gets 403; and nothing answers 5xx.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import yaml
from fastapi.testclient import TestClient

from firmware_sim.fleet import DEFAULT_FLEET_PATH
from services.forecasting import ForecastService
from storage.db import Alert
from storage.db.engine import open_registry
from tests.api.conftest import TODAY, auth

Client = tuple[TestClient, dict[str, str], ForecastService]
ROLES = ("farmer", "manager", "offtaker", "admin")
ANY = frozenset(ROLES)
STAFF = frozenset({"offtaker", "admin"})
WRITERS = frozenset({"manager", "admin"})
ADMIN = frozenset({"admin"})
PUBLIC = "public"
PEOPLE = frozenset(
    {"farmer", "manager", "admin"}
)  # a person's contact: their own, their cooperative's, anyone's

# method, path -> who may (on rows of their own scope). The table is the API's access rules.
RULES: dict[tuple[str, str], frozenset[str] | str] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/v1/cooperatives"): ANY,
    ("POST", "/v1/cooperatives"): ADMIN,
    ("GET", "/v1/cooperatives/{coop_id}"): ANY,
    ("PATCH", "/v1/cooperatives/{coop_id}"): WRITERS,  # a manager edits their own cooperative
    ("DELETE", "/v1/cooperatives/{coop_id}"): ADMIN,
    ("GET", "/v1/farmers"): ANY,
    ("POST", "/v1/farmers"): WRITERS,
    ("GET", "/v1/farmers/{farmer_id}"): ANY,
    ("PATCH", "/v1/farmers/{farmer_id}"): WRITERS,
    ("DELETE", "/v1/farmers/{farmer_id}"): WRITERS,
    ("GET", "/v1/fields"): ANY,
    ("POST", "/v1/fields"): WRITERS,
    ("GET", "/v1/fields/{field_id}"): ANY,
    ("PATCH", "/v1/fields/{field_id}"): WRITERS,
    ("DELETE", "/v1/fields/{field_id}"): WRITERS,
    ("GET", "/v1/stations"): ANY,
    ("POST", "/v1/stations"): WRITERS,
    ("DELETE", "/v1/stations/{station_id}"): WRITERS,
    ("GET", "/v1/nodes"): ANY,
    ("POST", "/v1/nodes"): WRITERS,
    ("GET", "/v1/nodes/{node_id}"): ANY,
    ("PATCH", "/v1/nodes/{node_id}"): WRITERS,
    ("DELETE", "/v1/nodes/{node_id}"): WRITERS,
    ("POST", "/v1/registry/import"): ADMIN,
    ("GET", "/v1/registry/edits"): ANY,  # within scope: a farmer their fields, a manager the cooperative
    ("GET", "/v1/fields/{field_id}/readings/latest"): ANY,
    ("GET", "/v1/fields/{field_id}/readings"): ANY,
    ("GET", "/v1/fields/{field_id}/series"): ANY,
    ("GET", "/v1/fields/{field_id}/daily"): ANY,
    ("GET", "/v1/fields/{field_id}/forecast"): ANY,
    ("GET", "/v1/forecasts"): ANY,
    ("GET", "/v1/forecasts/skill"): ANY,
    ("POST", "/v1/forecasts/recompute"): STAFF,
    ("GET", "/v1/purchase-plan"): frozenset({"manager", "offtaker", "admin"}),
    ("GET", "/v1/purchase-plan/cash"): frozenset({"manager", "offtaker", "admin"}),
    ("GET", "/v1/prices"): frozenset({"manager", "offtaker", "admin"}),
    ("POST", "/v1/prices"): STAFF,
    ("POST", "/v1/prices/import"): STAFF,
    ("DELETE", "/v1/prices/{price_id}"): STAFF,
    ("POST", "/v1/harvest-records"): ANY,  # a farmer on their own field, a manager on the cooperative's
    ("GET", "/v1/harvest-records"): ANY,
    # Within 7 days a farmer their own field's, a manager the cooperative's (issue 39); staff any.
    ("POST", "/v1/harvest-records/{record_id}/corrections"): ANY,
    ("POST", "/v1/harvest-records/{record_id}/void"): ANY,
    # An orchard's records: whoever may record a harvest of it (a farmer their own, a manager the
    # cooperative's); read by whoever sees the field.
    ("GET", "/v1/fields/{field_id}/events"): ANY,
    ("POST", "/v1/fields/{field_id}/events"): ANY,
    ("POST", "/v1/fields/{field_id}/events/{event_id}/void"): ANY,
    ("POST", "/v1/notifications/retry"): ADMIN,  # issue 40: failed messages sent again
    ("GET", "/v1/alerts"): ANY,
    # Coosae reads every alert but acknowledges only its own (this one is a cooperative's frost).
    ("POST", "/v1/alerts/{alert_id}/acknowledge"): frozenset({"farmer", "manager", "admin"}),
    ("POST", "/v1/alerts/evaluate"): STAFF,
    ("GET", "/v1/contracts"): STAFF,
    ("POST", "/v1/contracts"): STAFF,
    ("GET", "/v1/contracts/coverage"): STAFF,
    ("GET", "/v1/contracts/allocation"): STAFF,
    ("GET", "/v1/contracts/{contract_id}"): STAFF,
    ("PATCH", "/v1/contracts/{contract_id}"): STAFF,
    ("DELETE", "/v1/contracts/{contract_id}"): STAFF,
    ("GET", "/v1/contracts/{contract_id}/coverage"): STAFF,
    ("GET", "/v1/profiles"): ANY,
    ("GET", "/v1/contacts"): ANY,
    ("POST", "/v1/contacts"): PEOPLE,  # Coosae makes only its staff's contacts
    ("GET", "/v1/contacts/{contact_id}"): PEOPLE,
    ("PATCH", "/v1/contacts/{contact_id}"): PEOPLE,
    ("DELETE", "/v1/contacts/{contact_id}"): PEOPLE,
    ("POST", "/v1/contacts/{contact_id}/channels"): PEOPLE,
    ("DELETE", "/v1/contacts/{contact_id}/channels/{channel_id}"): PEOPLE,
    # A channel's owner gives its code to whoever enrols them (issue 37); a new confirmation likewise.
    ("POST", "/v1/contacts/{contact_id}/channels/{channel_id}/confirm"): PEOPLE,
    ("POST", "/v1/contacts/{contact_id}/channels/{channel_id}/confirmation"): PEOPLE,
    ("POST", "/v1/contacts/{contact_id}/subscriptions"): PEOPLE,
    ("DELETE", "/v1/contacts/{contact_id}/subscriptions/{subscription_id}"): PEOPLE,
    ("POST", "/v1/contacts/{contact_id}/sign-in-link"): PEOPLE,
    ("POST", "/v1/contacts/{contact_id}/test"): PEOPLE,
    ("GET", "/v1/notifications"): ANY,
    # The field page: signing in is for anyone; the pages answer a visitor without a session with a
    # redirect to the sign-in page (303) rather than 401.
    ("GET", "/f/masuk"): PUBLIC,
    ("POST", "/f/masuk"): PUBLIC,
    ("POST", "/f/masuk/kode"): PUBLIC,
    ("GET", "/f/masuk/{secret}"): PUBLIC,
    ("HEAD", "/f/masuk/{secret}"): PUBLIC,  # a link's page: it spends nothing (issue 37)
    ("POST", "/f/masuk/tautan"): PUBLIC,  # the page's button: the link's secret signs in
    ("POST", "/f/keluar"): PUBLIC,
    ("GET", "/f/pastikan/{secret}"): PUBLIC,  # a channel's confirmation link: its page spends nothing
    ("HEAD", "/f/pastikan/{secret}"): PUBLIC,
    ("POST", "/f/pastikan"): PUBLIC,  # the owner's answer, with the link's secret
    ("GET", "/f"): ANY,
    ("GET", "/f/{field_id}"): ANY,
    ("POST", "/f/{field_id}/panen"): ANY,
    ("POST", "/f/{field_id}/panen/{record_id}/batal"): ANY,  # within 7 days, as the API (issue 39)
    (
        "POST",
        "/f/{field_id}/panen/{record_id}/ubah",
    ): ANY,  # a farmer and their manager record harvests, Coosae its purchases
    ("POST", "/f/{field_id}/tanam"): PEOPLE,
    ("POST", "/f/{field_id}/kebun"): ANY,  # an orchard's records: as its harvests
    ("POST", "/f/{field_id}/peringatan/{alert_id}"): PEOPLE,
}
OWN, OTHER = "oro-oro-ombo", "pesanggrahan"


def _operations(c: TestClient) -> list[tuple[str, str]]:
    paths = c.get("/openapi.json").json()["paths"]
    return sorted((method.upper(), path) for path, ops in paths.items() for method in ops)


def test_every_route_has_a_rule(client: Client) -> None:
    c, _, _ = client
    missing = [op for op in _operations(c) if op not in RULES]
    assert missing == [], f"routes without an access rule in {__file__}: {missing}"
    stale = [op for op in RULES if op not in _operations(c)]
    assert stale == [], f"rules for routes that are gone: {stale}"


class _Rows:
    """Fresh rows for each attempt, so that a DELETE or a void allowed once does not change the
    next attempt's answer."""

    def __init__(self, c: TestClient, tokens: dict[str, str], registry_url: str) -> None:
        self.c, self.admin, self.registry_url, self.n = c, auth(tokens["admin"]), registry_url, 0

    def _new(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.c.post(path, json=body, headers=self.admin)
        assert r.status_code == 201, (path, r.text)
        result: dict[str, Any] = r.json()
        return result

    def params(self, path: str, coop: str) -> dict[str, str]:
        self.n += 1
        n = self.n
        field = "oro-oro-ombo-f01" if coop == OWN else "pesanggrahan-f01"
        values: dict[str, Callable[[], str]] = {
            "coop_id": lambda: self._coop(coop, path),
            "farmer_id": lambda: self._new("/v1/farmers", {"id": f"{coop}-m{n}", "coop_id": coop, "name": "Pak"})["id"]
            if path.endswith("{farmer_id}") and self.method == "DELETE"
            else f"{field}-farmer",
            "field_id": lambda: self._new(
                "/v1/fields",
                {"id": f"{coop}-m{n}", "coop_id": coop, "farmer_id": f"{field}-farmer", "commodity": "potato",
                 "planting_date": (TODAY - dt.timedelta(days=60)).isoformat(), "area_ha": 0.5,
                 "soil_texture": "andosol", "lat": -7.8, "lon": 112.5, "elevation_m": 1400},
            )["id"]
            if path in ("/v1/fields/{field_id}",) and "DELETE" in self.method
            else field,
            "station_id": lambda: self._new(
                "/v1/stations", {"id": f"{coop}-ws-m{n}", "coop_id": coop, "lat": -7.8, "lon": 112.5, "elevation_m": 1000}
            )["id"],
            "node_id": lambda: self._new(
                "/v1/nodes", {"id": f"{coop}-node-m{n}", "coop_id": coop, "site_id": field, "format": "native"}
            )["id"],
            # Records small enough that the dozens made here stay within a season's plausible total.
            "record_id": lambda: str(
                self._new("/v1/harvest-records", {"field_id": field, "harvest_date": TODAY.isoformat(), "tonnes": 0.6})["id"]
            ),
            "event_id": lambda: str(900_000 + n),  # none such: the scope is checked before the row
            "alert_id": lambda: self._alert(coop),
            "contact_id": lambda: str(self._contact(field)),
            "channel_id": lambda: str(self._channel(field, n)),
            "subscription_id": lambda: str(self._subscription(field)),
            "secret": lambda: f"no-such-link-{n}",
            "price_id": lambda: str(
                self._new(
                    "/v1/prices",
                    {"commodity": "potato", "idr_per_kg": 9000, "source": "board",
                     "valid_from": (TODAY - dt.timedelta(days=n)).isoformat()},
                )["id"]
            ),
            "contract_id": lambda: str(
                self._new(
                    "/v1/contracts",
                    {"buyer": "Superindo", "commodity": "potato", "tonnes": 10, "first_day": TODAY.isoformat(),
                     "last_day": (TODAY + dt.timedelta(days=60)).isoformat(), "price_idr_per_kg": 9000},
                )["id"]
            ),
        }  # fmt: skip
        return {name: values[name]() for name in re.findall(r"{(\w+)}", path)}

    method = ""

    def _coop(self, coop: str, path: str) -> str:
        if self.method == "DELETE":  # a cooperative of its own, so deleting it takes nothing else
            return str(self._new("/v1/cooperatives", {"id": f"del-{self.n}", "name": "Koperasi"})["id"])
        return coop

    def _contact(self, field: str) -> int:
        # A farmer has one contact: the farmer's, made once and again after a DELETE took it.
        mine = [
            x
            for x in self.c.get("/v1/contacts", headers=self.admin).json()
            if x["farmer_id"] == f"{field}-farmer"
        ]
        if mine:
            return int(mine[0]["id"])
        return int(
            self._new("/v1/contacts", {"name": "Pak Tani", "role": "farmer", "farmer_id": f"{field}-farmer"})[
                "id"
            ]
        )

    def _channel(self, field: str, n: int) -> int:
        contact = self._contact(field)
        body = self._new(
            f"/v1/contacts/{contact}/channels", {"kind": "email", "address": f"tani{n}@example.org"}
        )
        return int(next(ch["id"] for ch in body["channels"] if ch["address"] == f"tani{n}@example.org"))

    def _subscription(self, field: str) -> int:
        contact = self._contact(field)
        body = self._new(f"/v1/contacts/{contact}/subscriptions", {"kind": "frost_risk", "scope": "own"})
        return int(next(s["id"] for s in body["subscriptions"] if s["kind"] == "frost_risk"))

    def _alert(self, coop: str) -> str:
        now = dt.datetime.now(dt.UTC)
        with open_registry(self.registry_url)() as session:
            alert = Alert(kind="frost_risk", subject=f"{coop}-f01", coop_id=coop, field_id=f"{coop}-f01",
                          severity="critical", message="cold", first_seen=now, last_seen=now, active=True)  # fmt: skip
            session.add(alert)
            session.commit()
            return str(alert.id)


def _body(method: str, path: str, coop: str, n: int) -> dict[str, Any]:
    field = "oro-oro-ombo-f01" if coop == OWN else "pesanggrahan-f01"
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/v1/cooperatives"): {"id": f"new-coop-{n}", "name": "Koperasi Baru"},
        ("PATCH", "/v1/cooperatives/{coop_id}"): {"kecamatan": "Batu"},
        ("POST", "/v1/farmers"): {"id": f"{coop}-farmer-{n}", "coop_id": coop, "name": "Bu Siti"},
        ("PATCH", "/v1/farmers/{farmer_id}"): {"name": "Bu Siti"},
        ("POST", "/v1/fields"): {"id": f"{coop}-f9{n}", "coop_id": coop, "commodity": "carrot",
                                 "planting_date": TODAY.isoformat(), "area_ha": 0.4, "soil_texture": "andosol",
                                 "lat": -7.8, "lon": 112.5, "elevation_m": 1200},
        ("PATCH", "/v1/fields/{field_id}"): {"variety": "Granola"},
        ("POST", "/v1/stations"): {"id": f"{coop}-ws{n}", "coop_id": coop, "lat": -7.8, "lon": 112.5, "elevation_m": 1000},
        ("POST", "/v1/nodes"): {"id": f"{coop}-n9{n}", "coop_id": coop, "site_id": field, "format": "native"},
        ("PATCH", "/v1/nodes/{node_id}"): {"interval_min": 15},
        ("POST", "/v1/harvest-records"): {"field_id": field, "harvest_date": TODAY.isoformat(), "tonnes": 0.7},
        ("POST", "/v1/harvest-records/{record_id}/corrections"): {"reason": "slip", "tonnes": 0.65},
        ("POST", "/v1/harvest-records/{record_id}/void"): {"reason": "twice"},
        ("POST", "/v1/fields/{field_id}/events"): {"kind": "flowering", "day": TODAY.isoformat()},
        ("POST", "/v1/fields/{field_id}/events/{event_id}/void"): {"reason": "wrong tree"},
        ("POST", "/v1/contracts"): {"buyer": "Superindo", "commodity": "potato", "tonnes": 10,
                                    "first_day": TODAY.isoformat(),
                                    "last_day": (TODAY + dt.timedelta(days=60)).isoformat(), "price_idr_per_kg": 9000},
        ("PATCH", "/v1/contracts/{contract_id}"): {"tonnes": 12},
        ("POST", "/v1/prices"): {"commodity": "potato", "idr_per_kg": 9000, "source": "board",
                                 "valid_from": (TODAY + dt.timedelta(days=n)).isoformat()},
        ("POST", "/v1/contacts"): {"name": "Pak Tani", "role": "farmer", "farmer_id": f"{field}-farmer"},
        ("PATCH", "/v1/contacts/{contact_id}"): {"quiet_start_h": 22},
        ("POST", "/v1/contacts/{contact_id}/channels"): {"kind": "email", "address": f"pak{n}@example.org"},
        ("POST", "/v1/contacts/{contact_id}/subscriptions"): {"kind": "irrigation_needed", "scope": "own"},
        ("POST", "/f/masuk"): {"address": "+6281234567890"},
        ("POST", "/f/masuk/kode"): {"address": "+6281234567890", "code": "123456"},
        ("POST", "/f/masuk/tautan"): {"secret": f"no-such-link-{n}"},
        ("POST", "/f/pastikan"): {"secret": f"no-such-link-{n}", "answer": "ya"},
        ("POST", "/v1/contacts/{contact_id}/channels/{channel_id}/confirm"): {"code": "123456"},
        ("POST", "/f/{field_id}/panen"): {"harvest_date": TODAY.isoformat(), "kg": "600"},
        ("POST", "/f/{field_id}/panen/{record_id}/batal"): {"reason": "tercatat dua kali"},
        ("POST", "/f/{field_id}/panen/{record_id}/ubah"): {"harvest_date": TODAY.isoformat(), "kg": "550",
                                                          "reason": "salah timbang"},
        ("POST", "/f/{field_id}/tanam"): {"planting_date": (TODAY - dt.timedelta(days=3)).isoformat()},
        ("POST", "/f/{field_id}/kebun"): {"kind": "flowering", "day": TODAY.isoformat()},
    }  # fmt: skip
    return bodies.get((method, path), {})


def _call(
    c: TestClient,
    method: str,
    path: str,
    params: dict[str, str],
    body: dict[str, Any],
    headers: dict[str, str],
) -> int:
    url = path.format(**params)
    query = {"metric": "air_temp_c"} if path.endswith(("/daily", "/series")) else {}
    if path == "/v1/registry/import":
        doc = yaml.safe_load(DEFAULT_FLEET_PATH.read_text())
        doc["cooperatives"] = doc["cooperatives"][:1]
        return c.request(
            method, url, content=yaml.safe_dump(doc), headers={**headers, "Content-Type": "application/yaml"}
        ).status_code
    if path == "/v1/prices/import":
        body_csv = (
            f"commodity,grade,idr_per_kg,valid_from,source\nwortel,A,7000,2026-01-{1 + len(url) % 28:02d},b\n"
        )
        return c.request(
            method, url, content=body_csv, headers={**headers, "Content-Type": "text/csv"}
        ).status_code
    if path.startswith("/f"):  # the field page's forms; its redirects are answers, not to follow
        return c.request(method, url, data=body or None, headers=headers, follow_redirects=False).status_code
    if method in ("POST", "PATCH"):
        return c.request(method, url, json=body, headers=headers, params=query).status_code
    return c.request(method, url, headers=headers, params=query).status_code


def test_every_route_by_every_role(client: Client, registry_url: str) -> None:
    c, tokens, _ = client
    rows = _Rows(c, tokens, registry_url)
    failures = []
    for method, path in _operations(c):
        rule = RULES[(method, path)]
        rows.method = method
        for role in ("none", *ROLES):
            params = rows.params(path, OWN)
            headers = auth(tokens[role]) if role != "none" else {}
            status = _call(c, method, path, params, _body(method, path, OWN, rows.n), headers)
            if status >= 500:
                failures.append(f"{method} {path} as {role}: {status}")
            elif rule == PUBLIC:
                continue
            elif role == "none":
                wanted = 303 if path.startswith("/f") else 401
                if status != wanted:
                    failures.append(f"{method} {path} without a token: {status}, not {wanted}")
            elif role in rule and status in (401, 403):
                failures.append(f"{method} {path} as {role}: {status}, but the rule allows it")
            elif role not in rule and status != 403:
                failures.append(f"{method} {path} as {role}: {status}, but the rule says 403")
            # Another cooperative's row: refused to the scoped roles the rule lets through.
            if (
                rule != PUBLIC
                and role in ("farmer", "manager")
                and role in rule
                and re.search(r"{\w+}", path)
            ):
                if path.startswith("/v1/cooperatives/{coop_id}") and method == "GET":
                    continue  # every role may read the cooperatives' names
                other = rows.params(path, OTHER)
                status = _call(c, method, path, other, _body(method, path, OTHER, rows.n), headers)
                if status != 403:
                    failures.append(f"{method} {path} as {role} on {OTHER}'s row: {status}, not 403")
            elif rule != PUBLIC and role == "manager" and role in rule and method == "POST":
                status = _call(c, method, path, {}, _body(method, path, OTHER, rows.n + 1000), headers)
                if status != 403:
                    failures.append(f"{method} {path} as manager into {OTHER}: {status}, not 403")
    assert failures == [], "\n".join(failures)
