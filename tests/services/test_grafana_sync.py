"""``panen grafana sync`` (issue 18), checked against Grafana's HTTP API as its documentation gives it
(tests/fixtures/grafana/http_api.json): every planned request has the body its endpoint documents; a
Grafana holding what a run created (in the documentation's response shapes) gets no request the second
time; a cooperative's organisation gets only its own datasource, credentials and people. No Grafana
server runs here (none is packaged for these machines), so the requests are not sent to one."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from dashboards.build import DATASOURCE_UID
from firmware_sim.fleet import batu_fleet
from services.access import Principal, Role
from services.grafana_sync import (
    COOSAE_ORG,
    DesiredState,
    GrafanaRequest,
    GrafanaState,
    desired_state,
    grafana_password,
    plan,
)
from services.notify.contacts import ContactSpec, create_contact
from services.registry_import import import_fleet
from services.tenancy import COOSAE_USER, coop_user, tenant_password
from storage import local_day
from storage.db.engine import open_registry, sqlite_url
from storage.influx import InfluxStore
from tests.season import NOW_MS

SECRET = "grafana-test-secret"
API = json.loads((Path(__file__).parents[1] / "fixtures/grafana/http_api.json").read_text())


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    made = open_registry(sqlite_url(tmp_path / "registry.sqlite3"))
    with made() as session:
        import_fleet(session, batu_fleet(anchor=local_day(NOW_MS)).subset(2, 2))
        admin = Principal(0, "admin", Role.ADMIN, None, None)
        manager = ContactSpec(
            "Bu Sri", Role.COOP_MANAGER, coop_id="oro-oro-ombo", channels=(("email", "sri@example.org"),)
        )
        create_contact(session, admin, manager)
        planner = ContactSpec("Pak Budi", Role.OFFTAKER, channels=(("email", "budi@coosae.example"),))
        create_contact(session, admin, planner)
    return made


@pytest.fixture
def desired(sessions: sessionmaker[Session]) -> DesiredState:
    store = InfluxStore("http://127.0.0.1:9", database="panen", tenants=True)
    with sessions() as session:
        state = desired_state(session, influx_url="http://influxdb:8086", store=store, secret=SECRET)
    store.close()
    return state


def _endpoint(request: GrafanaRequest) -> str:
    path = re.sub(
        r"/api/orgs/\{org:[^}]+\}/users/\{user:[^}]+\}", "/api/orgs/:orgId/users/:userId", request.path
    )
    path = re.sub(r"/api/orgs/\{org:[^}]+\}/users", "/api/orgs/:orgId/users", path)
    path = re.sub(r"/api/datasources/uid/[^/]+$", "/api/datasources/uid/:uid", path)
    return f"{request.method} {path}"


def test_every_planned_request_has_the_documented_body(desired: DesiredState) -> None:
    requests = plan(desired, GrafanaState(), secret=SECRET)
    seen = set()
    for request in requests:
        endpoint = _endpoint(request)
        spec = API["requests"][endpoint]
        assert request.body is not None
        assert set(spec["required"]) <= request.body.keys(), (endpoint, request.body.keys())
        assert request.body.keys() <= set(spec["allowed"]), (
            endpoint,
            request.body.keys() - set(spec["allowed"]),
        )
        for key, allowed in spec.get("enum", {}).items():
            assert request.body[key] in allowed, (endpoint, key)
        seen.add(endpoint)
    # The rest are repairs of a Grafana that drifted (test_drift_is_repaired_and_only_drift).
    assert seen == set(API["requests"]) - {"PUT /api/datasources/uid/:uid", "POST /api/orgs/:orgId/users"}
    # Organisations come before anything scoped to them, users after every organisation.
    first_user = next(i for i, r in enumerate(requests) if r.path == "/api/admin/users")
    assert all(r.path != "/api/orgs" for r in requests[first_user:])
    assert [r.body["name"] for r in requests if r.path == "/api/orgs"] == list(desired.orgs)  # type: ignore[index]


def test_each_cooperative_org_reads_its_own_database_with_its_own_credentials(desired: DesiredState) -> None:
    coops = [name for name in desired.orgs if name != COOSAE_ORG]
    assert len(coops) == 2
    for name in coops:
        org = desired.orgs[name]
        assert list(org.datasources) == [DATASOURCE_UID]  # one datasource, nothing else to query
        (ds,) = org.datasources.values()
        coop_id = ds["database"].removeprefix("panen_")
        assert ds["user"] == coop_user(coop_id)
        assert ds["secureJsonData"]["password"] == tenant_password(SECRET, coop_user(coop_id))
        for dashboard in org.dashboards.values():
            (coop_var,) = [v for v in dashboard["templating"]["list"] if v["name"] == "coop"]
            assert coop_var == {
                "type": "constant",
                "name": "coop",
                "label": coop_var["label"],
                "query": coop_id,
                "hide": 2,
            }
    coosae = desired.orgs[COOSAE_ORG]
    assert {ds["user"] for ds in coosae.datasources.values()} == {COOSAE_USER}
    assert coosae.datasources[DATASOURCE_UID]["database"] == "panen"
    assert len(coosae.datasources) == 1 + len(coops)
    per_coop = coosae.dashboards["panen-fleet-health-per-coop"]
    assert per_coop["templating"]["list"][0]["type"] == "datasource"
    assert "panen-influxdb" not in json.dumps(per_coop["panels"])  # every panel through ${ds}
    # People: each farmer a Viewer of their cooperative only; the manager too; Coosae staff in Coosae's.
    orgs_of = {u.login: u.org for u in desired.users.values()}
    farmer = "oro-oro-ombo-f01-farmer"
    assert orgs_of[farmer] != COOSAE_ORG
    assert sorted(orgs_of.values()).count(COOSAE_ORG) == 1
    assert len(desired.users) == 4 + 2  # four farmers, a manager, a Coosae planner


def _as_grafana_returns(desired: DesiredState, requests: list[GrafanaRequest]) -> GrafanaState:
    """The state a Grafana answers with after ``requests`` succeeded, in the documentation's GET shapes
    (ids, versions and the fields Grafana adds included), as :func:`read_state` would read it."""
    state = GrafanaState()
    for i, request in enumerate(requests):
        body = request.body or {}
        if request.path == "/api/orgs":
            state.org_ids[body["name"]] = 10 + i
            state.members[body["name"]] = {"admin": "Admin"}
        elif request.path == "/api/datasources":
            got = copy.deepcopy(API["responses"]["GET /api/datasources/uid/:uid"])
            got.update({k: v for k, v in body.items() if k != "secureJsonData"})
            got["secureJsonFields"] = dict.fromkeys(body.get("secureJsonData", {}), True)
            state.datasources.setdefault(request.org or "", {})[body["uid"]] = got
        elif request.path == "/api/folders":
            state.folders.setdefault(request.org or "", set()).add(body["uid"])
        elif request.path == "/api/dashboards/db":
            got = copy.deepcopy(body["dashboard"]) | {"id": 100 + i, "version": 1}
            state.dashboards.setdefault(request.org or "", {})[got["uid"]] = got
        elif request.path == "/api/admin/users":
            state.users.add(body["login"])
        elif request.method == "PATCH":
            login = request.path.split("{user:")[1].rstrip("}")
            org = request.path.split("{org:")[1].split("}")[0]
            state.members.setdefault(org, {})[login] = body["role"]
    return state


def test_a_second_run_changes_nothing(desired: DesiredState) -> None:
    first = plan(desired, GrafanaState(), secret=SECRET)
    assert plan(desired, _as_grafana_returns(desired, first), secret=SECRET) == []


def test_drift_is_repaired_and_only_drift(desired: DesiredState) -> None:
    state = _as_grafana_returns(desired, plan(desired, GrafanaState(), secret=SECRET))
    org = next(n for n in desired.orgs if n != COOSAE_ORG)
    state.datasources[org][DATASOURCE_UID]["database"] = "panen"  # someone pointed it at everything
    state.dashboards[org]["panen-my-field"]["panels"] = []
    farmer, other = [u for u in desired.users.values() if u.org == org][:2]
    state.members[org][farmer.login] = "Editor"
    del state.members[org][other.login]  # removed from the organisation by hand
    again = plan(desired, state, secret=SECRET)
    assert [(r.method, r.what) for r in again] == [
        ("PUT", f"datasource {DATASOURCE_UID}"),
        ("POST", f"dashboard panen-my-field in {org}"),
        ("PATCH", f"{farmer.login}: Viewer of {org} (was Editor)"),
        ("POST", f"{other.login}: Viewer of {org}"),
    ]
    for request in again:
        spec = API["requests"][_endpoint(request)]
        assert request.body is not None
        assert set(spec["required"]) <= request.body.keys() <= set(spec["allowed"])


def test_dry_run_prints_the_requests_without_secrets(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PANEN_DATA_DIR": str(tmp_path),
        "PANEN_DB_URL": sqlite_url(tmp_path / "registry.sqlite3"),
        "PANEN_INFLUX_URL": "http://127.0.0.1:9",
        "PANEN_INFLUX_TENANTS": "true",
        "PANEN_TENANT_SECRET": SECRET,
        "COLUMNS": "200",
    }
    env.pop("PANEN_GRAFANA_URL", None)
    out = subprocess.run(
        [sys.executable, "-m", "panen", "grafana", "sync", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert {line["path"] for line in lines} >= {
        "/api/orgs",
        "/api/datasources",
        "/api/dashboards/db",
        "/api/admin/users",
    }
    assert SECRET not in out.stdout
    assert tenant_password(SECRET, COOSAE_USER) not in out.stdout
    assert grafana_password(SECRET, "oro-oro-ombo-f01-farmer") not in out.stdout
    assert "request(s) planned" in out.stderr
    login = subprocess.run(
        [sys.executable, "-m", "panen", "grafana", "login", "oro-oro-ombo-f01-farmer"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert grafana_password(SECRET, "oro-oro-ombo-f01-farmer") in login.stdout
    without = subprocess.run(
        [sys.executable, "-m", "panen", "grafana", "sync", "--dry-run"],
        env=env | {"PANEN_INFLUX_TENANTS": "false"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert without.returncode == 2
    assert "panen dashboards push" in without.stderr
