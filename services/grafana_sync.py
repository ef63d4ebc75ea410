"""``panen grafana sync``: one Grafana organisation per cooperative, driven by the registry (issue 18).

Grafana lets every viewer of an organisation send any query to that organisation's datasources, so
the boundary between cooperatives is the organisation and the credentials its datasource holds:

- **one organisation per cooperative** ("Koperasi Merah Putih Oro-Oro Ombo"), its one datasource
  (uid ``panen-influxdb``, as the dashboards expect) reading the cooperative's database with
  ``coop_<id>``'s credentials (``services.tenancy``), which InfluxDB refuses anything else; the
  farmer and fleet dashboards with the cooperative fixed (a hidden constant); its farmers and
  managers as Viewers;
- **Coosae's organisation**: the shared database with ``coosae``'s credentials for the supply
  outlook, one datasource per cooperative for the per-cooperative dashboards (picked by a datasource
  variable), and Coosae's staff as Viewers.

A person's Grafana login is their farmer id, or for a contact without one ``contact-<id>``; their first
password is derived from ``PANEN_TENANT_SECRET`` (``panen grafana login`` prints it for the manager to
hand over) and never reset by a later sync, so a changed password stays changed.

The sync reads what Grafana has (:func:`read_state`), plans only the requests that differ
(:func:`plan`), and sends them (:func:`apply`); ``--dry-run`` prints the plan. A second run plans
nothing. Organisation-scoped requests carry ``X-Grafana-Org-Id``; the admin API needs a Grafana server
admin's basic auth (a service-account token cannot create organisations or users).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboards.build import DATASOURCE_UID, dashboards
from services import ServiceError
from services.tenancy import COOSAE_USER, coop_user, derived_password, tenant_password
from storage.db import Contact, ContactChannel, Cooperative, Farmer
from storage.influx import InfluxStore

__all__ = [
    "COOSAE_ORG",
    "DesiredState",
    "GrafanaRequest",
    "GrafanaState",
    "GrafanaSyncError",
    "GrafanaUser",
    "apply",
    "desired_state",
    "fixed_coop",
    "grafana_password",
    "per_coop_datasource",
    "plan",
    "read_state",
]

COOSAE_ORG = "Coosae"
FOLDER_UID = "panen"
Json = dict[str, Any]


class GrafanaSyncError(ServiceError):
    """Grafana refused a request or could not be reached; the message says which and why."""


def grafana_password(secret: str, login: str) -> str:
    """A person's first Grafana password, derived from the tenant secret."""
    return derived_password(secret, "grafana", login, nbytes=12)


@dataclass(frozen=True)
class GrafanaUser:
    """A person with a Grafana login, a Viewer of one organisation."""

    login: str
    name: str
    email: str
    org: str


@dataclass
class DesiredOrg:
    """What one organisation should hold."""

    name: str
    datasources: dict[str, Json] = field(default_factory=dict)  # by uid
    dashboards: dict[str, Json] = field(default_factory=dict)  # by uid


@dataclass
class DesiredState:
    """Every organisation and person the registry calls for."""

    orgs: dict[str, DesiredOrg]
    users: dict[str, GrafanaUser]  # by login


@dataclass
class GrafanaState:
    """What a Grafana holds of it (filled by :func:`read_state`)."""

    org_ids: dict[str, int] = field(default_factory=dict)  # by name
    users: set[str] = field(default_factory=set)  # logins
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # org -> login -> role
    datasources: dict[str, dict[str, Json]] = field(default_factory=dict)  # org -> uid -> datasource
    folders: dict[str, set[str]] = field(default_factory=dict)  # org -> folder uids
    dashboards: dict[str, dict[str, Json]] = field(default_factory=dict)  # org -> uid -> dashboard


@dataclass(frozen=True)
class GrafanaRequest:
    """One request; ``org`` names the organisation it is scoped to (``X-Grafana-Org-Id``)."""

    method: str
    path: str
    body: Json | None
    org: str | None = None
    what: str = ""

    def shown(self) -> Json:
        """The request as ``--dry-run`` prints it, passwords hidden."""
        body = copy.deepcopy(self.body)
        if body is not None:
            if "password" in body:
                body["password"] = "…"
            if "secureJsonData" in body:
                body["secureJsonData"] = dict.fromkeys(body["secureJsonData"], "…")
        return {"method": self.method, "path": self.path, "org": self.org, "body": body, "what": self.what}


def _datasource(uid: str, name: str, influx_url: str, database: str, user: str, password: str) -> Json:
    return {
        "uid": uid,
        "name": name,
        "type": "influxdb",
        "access": "proxy",
        "url": influx_url,
        "database": database,
        "user": user,
        "basicAuth": False,
        "isDefault": uid == DATASOURCE_UID,
        "jsonData": {"dbName": database, "httpMode": "GET"},
        "secureJsonData": {"password": password},
    }


def fixed_coop(dashboard: Json, coop_id: str) -> Json:
    """The dashboard with the cooperative fixed: its ``coop`` variable a hidden constant."""
    fixed = copy.deepcopy(dashboard)
    for i, variable in enumerate(fixed["templating"]["list"]):
        if variable["name"] == "coop":
            fixed["templating"]["list"][i] = {
                "type": "constant",
                "name": "coop",
                "label": variable.get("label", "coop"),
                "query": coop_id,
                "hide": 2,
            }
    return fixed


def per_coop_datasource(dashboard: Json) -> Json:
    """Coosae's copy of a cooperative dashboard: every query through the datasource ``$ds`` picks."""
    chosen = copy.deepcopy(dashboard)
    ref = {"type": "influxdb", "uid": "${ds}"}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("uid") == DATASOURCE_UID and node.get("type") == "influxdb":
                node["uid"] = ref["uid"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(chosen)
    chosen["uid"] = f"{dashboard['uid']}-per-coop"
    pick = {
        "type": "datasource",
        "name": "ds",
        "label": "Koperasi / Cooperative",
        "query": "influxdb",
        "regex": "/^Koperasi /",
        "refresh": 1,
        "hide": 0,
    }
    chosen["templating"]["list"] = [pick, *chosen["templating"]["list"]]
    return chosen


def desired_state(session: Session, *, influx_url: str, store: InfluxStore, secret: str) -> DesiredState:
    """The organisations, datasources, dashboards and people the registry calls for."""
    built = dashboards()
    by_uid = {d["uid"]: d for d in built.values()}
    coops = list(session.scalars(select(Cooperative).order_by(Cooperative.id)))
    orgs: dict[str, DesiredOrg] = {}
    coosae = DesiredOrg(COOSAE_ORG)
    coosae.datasources[DATASOURCE_UID] = _datasource(
        DATASOURCE_UID,
        "panen (Coosae)",
        influx_url,
        store.database,
        COOSAE_USER,
        tenant_password(secret, COOSAE_USER),
    )
    coosae.dashboards["panen-supply-outlook"] = by_uid["panen-supply-outlook"]
    for uid in ("panen-my-field", "panen-fleet-health"):
        per_coop = per_coop_datasource(by_uid[uid])
        coosae.dashboards[per_coop["uid"]] = per_coop
    org_of: dict[str, str] = {}
    for coop in coops:
        org = DesiredOrg(coop.name)
        org.datasources[DATASOURCE_UID] = _datasource(
            DATASOURCE_UID,
            coop.name,
            influx_url,
            store.tenant_database(coop.id),
            coop_user(coop.id),
            tenant_password(secret, coop_user(coop.id)),
        )
        for uid in ("panen-my-field", "panen-fleet-health"):
            org.dashboards[uid] = fixed_coop(by_uid[uid], coop.id)
        orgs[coop.name] = org
        org_of[coop.id] = coop.name
        coosae.datasources[f"panen-coop-{coop.id}"] = _datasource(
            f"panen-coop-{coop.id}",
            f"Koperasi {coop.id}",
            influx_url,
            store.tenant_database(coop.id),
            COOSAE_USER,
            tenant_password(secret, COOSAE_USER),
        )
    orgs[COOSAE_ORG] = coosae
    users: dict[str, GrafanaUser] = {}
    emails: dict[int, str] = {}
    for channel in session.scalars(select(ContactChannel).where(ContactChannel.kind == "email")):
        emails.setdefault(channel.contact_id, channel.address)
    contact_of_farmer = {
        c.farmer_id: c for c in session.scalars(select(Contact).where(Contact.farmer_id.is_not(None)))
    }
    for farmer in session.scalars(select(Farmer).order_by(Farmer.id)):
        contact = contact_of_farmer.get(farmer.id)
        email = (emails.get(contact.id) if contact else None) or f"{farmer.id}@{farmer.coop_id}.panen.invalid"
        users[farmer.id] = GrafanaUser(farmer.id, farmer.name, email, org_of[farmer.coop_id])
    for contact in session.scalars(
        select(Contact).where(Contact.farmer_id.is_(None), Contact.role.in_(("coop_manager", "offtaker")))
    ):
        org_name = COOSAE_ORG if contact.role == "offtaker" else org_of.get(contact.coop_id or "")
        if org_name is None:
            continue
        login = f"contact-{contact.id}"
        users[login] = GrafanaUser(
            login, contact.name, emails.get(contact.id) or f"{login}@panen.invalid", org_name
        )
    return DesiredState(orgs, users)


_DATASOURCE_KEYS = ("name", "type", "access", "url", "database", "user", "basicAuth", "isDefault", "jsonData")


def _datasource_differs(want: Json, have: Json) -> bool:
    if any(have.get(k) != want[k] for k in _DATASOURCE_KEYS):
        return True
    return not (have.get("secureJsonFields") or {}).get("password")


def _dashboard_differs(want: Json, have: Json) -> bool:
    strip = {"id", "version"}
    return {k: v for k, v in have.items() if k not in strip} != {
        k: v for k, v in want.items() if k not in strip
    }


def plan(desired: DesiredState, state: GrafanaState, *, secret: str) -> list[GrafanaRequest]:
    """The requests that bring ``state`` to ``desired``, in an order that works (organisations,
    then datasources, folders and dashboards in each, then people). Nothing for what is already there."""
    out: list[GrafanaRequest] = []
    for name, org in desired.orgs.items():
        if name not in state.org_ids:
            out.append(GrafanaRequest("POST", "/api/orgs", {"name": name}, what=f"organisation {name}"))
        have_ds = state.datasources.get(name, {})
        for uid, ds in org.datasources.items():
            if uid not in have_ds:
                out.append(
                    GrafanaRequest("POST", "/api/datasources", ds, name, f"datasource {uid} in {name}")
                )
            elif _datasource_differs(ds, have_ds[uid]):
                out.append(
                    GrafanaRequest("PUT", f"/api/datasources/uid/{uid}", ds, name, f"datasource {uid}")
                )
        if FOLDER_UID not in state.folders.get(name, set()):
            out.append(
                GrafanaRequest(
                    "POST", "/api/folders", {"uid": FOLDER_UID, "title": "panen"}, name, f"folder in {name}"
                )
            )
        have_db = state.dashboards.get(name, {})
        for uid, dashboard in org.dashboards.items():
            if uid not in have_db or _dashboard_differs(dashboard, have_db[uid]):
                body = {
                    "dashboard": dashboard,
                    "folderUid": FOLDER_UID,
                    "overwrite": True,
                    "message": "panen grafana sync",
                }
                out.append(
                    GrafanaRequest("POST", "/api/dashboards/db", body, name, f"dashboard {uid} in {name}")
                )
    for login, user in desired.users.items():
        if login not in state.users:
            body = {
                "name": user.name,
                "email": user.email,
                "login": login,
                "password": grafana_password(secret, login),
                "OrgId": f"{{org:{user.org}}}",
            }
            out.append(GrafanaRequest("POST", "/api/admin/users", body, what=f"user {login}"))
            out.append(
                GrafanaRequest(
                    "PATCH", f"/api/orgs/{{org:{user.org}}}/users/{{user:{login}}}", {"role": "Viewer"},
                    what=f"{login}: Viewer of {user.org}",
                )
            )  # fmt: skip
            continue
        role = state.members.get(user.org, {}).get(login)
        if role is None:
            out.append(
                GrafanaRequest(
                    "POST", f"/api/orgs/{{org:{user.org}}}/users", {"loginOrEmail": login, "role": "Viewer"},
                    what=f"{login}: Viewer of {user.org}",
                )
            )  # fmt: skip
        elif role != "Viewer":
            out.append(
                GrafanaRequest(
                    "PATCH", f"/api/orgs/{{org:{user.org}}}/users/{{user:{login}}}", {"role": "Viewer"},
                    what=f"{login}: Viewer of {user.org} (was {role})",
                )
            )  # fmt: skip
    return out


Call = Callable[[str, str, Json | None, int | None], httpx.Response]


def _client_call(api: httpx.Client) -> Call:
    def call(method: str, path: str, body: Json | None, org_id: int | None) -> httpx.Response:
        headers = {"X-Grafana-Org-Id": str(org_id)} if org_id is not None else {}
        try:
            return api.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise GrafanaSyncError(f"{method} {api.base_url}{path}: {exc}") from exc

    return call


def _ok(response: httpx.Response, what: str) -> Any:
    if response.is_error:
        raise GrafanaSyncError(f"{what}: {response.status_code} {response.text[:300]}")
    return response.json()


def read_state(api: httpx.Client, desired: DesiredState) -> GrafanaState:
    """What Grafana holds of ``desired`` (GETs only)."""
    call = _client_call(api)
    state = GrafanaState()
    for name, org in desired.orgs.items():
        found = call("GET", f"/api/orgs/name/{name}", None, None)
        if found.status_code == 404:
            continue
        org_id = int(_ok(found, f"organisation {name}")["id"])
        state.org_ids[name] = org_id
        state.members[name] = {
            m["login"]: m["role"] for m in _ok(call("GET", f"/api/orgs/{org_id}/users", None, None), name)
        }
        state.datasources[name] = {}
        for uid in org.datasources:
            got = call("GET", f"/api/datasources/uid/{uid}", None, org_id)
            if got.status_code != 404:
                state.datasources[name][uid] = _ok(got, f"datasource {uid}")
        if call("GET", f"/api/folders/{FOLDER_UID}", None, org_id).status_code == 200:
            state.folders[name] = {FOLDER_UID}
        state.dashboards[name] = {}
        for uid in org.dashboards:
            got = call("GET", f"/api/dashboards/uid/{uid}", None, org_id)
            if got.status_code != 404:
                state.dashboards[name][uid] = _ok(got, f"dashboard {uid}")["dashboard"]
    for login in desired.users:
        if call("GET", f"/api/users/lookup?loginOrEmail={login}", None, None).status_code == 200:
            state.users.add(login)
    return state


def apply(api: httpx.Client, requests: list[GrafanaRequest], state: GrafanaState) -> list[str]:
    """Send ``requests`` in order, filling in the organisation and user ids Grafana hands out;
    returns what was done, line by line."""
    call = _client_call(api)
    org_ids = dict(state.org_ids)
    user_ids: dict[str, int] = {}

    def fill(text: str) -> str:
        for name, org_id in org_ids.items():
            text = text.replace(f"{{org:{name}}}", str(org_id))
        for login, user_id in user_ids.items():
            text = text.replace(f"{{user:{login}}}", str(user_id))
        return text

    def user_id(login: str) -> int:
        if login not in user_ids:
            user_ids[login] = int(
                _ok(call("GET", f"/api/users/lookup?loginOrEmail={login}", None, None), login)["id"]
            )
        return user_ids[login]

    done = []
    for request in requests:
        body = copy.deepcopy(request.body)
        if body is not None and isinstance(body.get("OrgId"), str):
            body["OrgId"] = int(fill(body["OrgId"]))
        path = request.path
        if "{user:" in path:
            login = path.split("{user:")[1].split("}")[0]
            user_id(login)
        answer = _ok(
            call(request.method, fill(path), body, org_ids.get(request.org) if request.org else None),
            request.what,
        )
        if request.path == "/api/orgs" and request.method == "POST":
            org_ids[body["name"]] = int(answer["orgId"])  # type: ignore[index]
        if request.path == "/api/admin/users":
            user_ids[body["login"]] = int(answer["id"])  # type: ignore[index]
        done.append(request.what)
    return done
