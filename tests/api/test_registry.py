"""Registry CRUD through the API: who may change what, what a delete refuses, fleet import, and
ingest picking up a node registered through the API."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from api import schemas
from firmware_sim.fleet import DEFAULT_FLEET_PATH
from forecast.crops import load_crops
from forecast.soils import soil_table
from ingest.nodes import NodeRegistry, database_loader
from services.forecasting import ForecastService
from storage.db.engine import open_registry
from tests.api.conftest import TODAY, auth

Client = tuple[TestClient, dict[str, str], ForecastService]

FIELD = {
    "id": "oro-oro-ombo-f99",
    "coop_id": "oro-oro-ombo",
    "farmer_id": "oro-oro-ombo-f01-farmer",
    "commodity": "cabbage",
    "variety": "Grand 11",
    "planting_date": TODAY.isoformat(),
    "area_ha": 0.4,
    "soil_texture": "andosol",
    "lat": -7.88,
    "lon": 112.52,
    "elevation_m": 1100,
}


def test_schema_choices_match_the_libraries() -> None:
    """The API's enumerations are the crop library's, the soils' and the codecs' own lists."""
    assert set(typing.get_args(schemas.Commodity)) == set(load_crops())
    assert set(typing.get_args(schemas.Soil)) == set(soil_table())


def test_field_create_update_delete_by_manager(client: Client) -> None:
    c, tokens, _ = client
    manager, farmer = auth(tokens["manager"]), auth(tokens["farmer"])
    r = c.post("/v1/fields", json=FIELD, headers=manager)
    assert r.status_code == 201, r.text
    assert r.json()["commodity"] == "cabbage"
    assert c.post("/v1/fields", json=FIELD, headers=manager).status_code == 409
    # The farmer owning it sees it and cannot change it.
    assert c.get(f"/v1/fields/{FIELD['id']}", headers=farmer).status_code == 200
    assert c.patch(f"/v1/fields/{FIELD['id']}", json={"area_ha": 9}, headers=farmer).status_code == 403
    r = c.patch(f"/v1/fields/{FIELD['id']}", json={"commodity": "carrot", "area_ha": 0.5}, headers=manager)
    assert r.status_code == 200, r.text
    assert (r.json()["commodity"], r.json()["area_ha"], r.json()["variety"]) == ("carrot", 0.5, "Grand 11")
    # Unassigning the farmer takes it out of the farmer's scope.
    assert c.patch(f"/v1/fields/{FIELD['id']}", json={"farmer_id": None}, headers=manager).status_code == 200
    assert c.get(f"/v1/fields/{FIELD['id']}", headers=farmer).status_code == 403
    assert c.delete(f"/v1/fields/{FIELD['id']}", headers=manager).status_code == 204
    assert c.get(f"/v1/fields/{FIELD['id']}", headers=auth(tokens["admin"])).status_code == 404


def test_writes_outside_ones_cooperative_or_role_are_403(client: Client) -> None:
    c, tokens, _ = client
    other = {**FIELD, "id": "pesanggrahan-f99", "coop_id": "pesanggrahan", "farmer_id": None}
    for role in ("manager", "farmer", "offtaker"):
        r = c.post("/v1/fields", json=other, headers=auth(tokens[role]))
        assert r.status_code == 403, (role, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert (
        c.patch(
            "/v1/fields/pesanggrahan-f01", json={"area_ha": 1}, headers=auth(tokens["manager"])
        ).status_code
        == 403
    )
    assert c.delete("/v1/nodes/pesanggrahan-ws1", headers=auth(tokens["manager"])).status_code == 403
    assert (
        c.post("/v1/cooperatives", json={"id": "x", "name": "X"}, headers=auth(tokens["manager"])).status_code
        == 403
    )
    assert c.post("/v1/fields", json=other, headers=auth(tokens["admin"])).status_code == 201


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"commodity": "durian"}, 422, "commodity"),
        ({"area_ha": 0}, 422, "area_ha"),
        ({"lat": 91}, 422, "lat"),
        ({"id": "bad id/with slash"}, 422, "id"),
        ({"farmer_id": "pesanggrahan-f01-farmer"}, 422, "farmer_id"),
        ({"coop_id": "nowhere"}, 403, "nowhere"),
        ({"unexpected": 1}, 422, "unexpected"),
    ],
)
def test_bad_field_bodies_name_what_is_wrong(
    client: Client, change: dict[str, object], status: int, says: str
) -> None:
    c, tokens, _ = client
    r = c.post("/v1/fields", json={**FIELD, **change}, headers=auth(tokens["manager"]))
    assert r.status_code == status, r.text
    assert says in r.json()["detail"]


def test_deletes_refuse_to_orphan(client: Client) -> None:
    c, tokens, _ = client
    admin = auth(tokens["admin"])
    r = c.delete("/v1/cooperatives/oro-oro-ombo", headers=admin)
    assert r.status_code == 409
    assert "3 fields" in r.json()["detail"]
    assert "nodes" in r.json()["detail"]
    r = c.delete("/v1/fields/oro-oro-ombo-f01", headers=admin)
    assert r.status_code == 409
    assert "1 nodes" in r.json()["detail"]
    r = c.delete("/v1/farmers/oro-oro-ombo-f01-farmer", headers=admin)
    assert r.status_code == 409
    assert "API tokens" in r.json()["detail"]
    # An empty cooperative can go.
    assert (
        c.post("/v1/cooperatives", json={"id": "baru", "name": "KMP Baru"}, headers=admin).status_code == 201
    )
    assert c.delete("/v1/cooperatives/baru", headers=admin).status_code == 204


def test_nodes_and_farmers_by_scope(client: Client) -> None:
    c, tokens, _ = client
    nodes = {
        role: {n["id"] for n in c.get("/v1/nodes", headers=auth(tokens[role])).json()} for role in tokens
    }
    assert nodes["farmer"] == {"oro-oro-ombo-n01"}  # the node in oro-oro-ombo-f01
    assert all(n.startswith("oro-oro-ombo") for n in nodes["manager"])
    assert len(nodes["manager"]) == 4
    assert nodes["admin"] == nodes["offtaker"]
    assert len(nodes["admin"]) == 8
    farmers = {
        role: {f["id"] for f in c.get("/v1/farmers", headers=auth(tokens[role])).json()} for role in tokens
    }
    assert farmers["farmer"] == {"oro-oro-ombo-f01-farmer"}
    assert len(farmers["manager"]) == 3
    assert len(farmers["admin"]) == 6
    stations = {
        role: {st["coop_id"] for st in c.get("/v1/stations", headers=auth(tokens[role])).json()}
        for role in tokens
    }
    assert stations["farmer"] == stations["manager"] == {"oro-oro-ombo"}
    assert stations["admin"] == stations["offtaker"] == {"oro-oro-ombo", "pesanggrahan"}
    other_node = next(iter(nodes["admin"] - nodes["manager"]))
    assert c.get(f"/v1/nodes/{other_node}", headers=auth(tokens["manager"])).status_code == 403
    assert c.get("/v1/farmers/oro-oro-ombo-f02-farmer", headers=auth(tokens["farmer"])).status_code == 403
    assert c.get("/v1/cooperatives/pesanggrahan", headers=auth(tokens["farmer"])).status_code == 403
    assert c.get("/v1/cooperatives/nowhere", headers=auth(tokens["admin"])).status_code == 404


def test_node_registered_through_the_api_reaches_ingest(client: Client, registry_url: str) -> None:
    c, tokens, _ = client
    manager = auth(tokens["manager"])
    registry = NodeRegistry(loader=database_loader(registry_url))
    assert registry.by_dev_eui("a84041000181c399") is None
    body = {
        "id": "oro-oro-ombo-f01-lse",
        "coop_id": "oro-oro-ombo",
        "site_id": "oro-oro-ombo-f01",
        "format": "tts-v3",
        "dev_eui": "A84041000181C399",
        "profile": "dragino-lse01",
    }
    assert c.post("/v1/nodes", json={**body, "profile": ""}, headers=manager).status_code == 422
    unknown = c.post("/v1/nodes", json={**body, "profile": "acme-9000"}, headers=manager)
    assert unknown.status_code == 422
    assert "sensecap-s2105" in unknown.json()["detail"]  # the message lists the profiles there are
    assert (
        c.post("/v1/nodes", json={**body, "site_id": "pesanggrahan-f01"}, headers=manager).status_code == 422
    )
    r = c.post("/v1/nodes", json=body, headers=manager)
    assert r.status_code == 201, r.text
    assert r.json()["dev_eui"] == "a84041000181c399"
    clash = {**body, "id": "oro-oro-ombo-another", "site_id": "oro-oro-ombo-f02"}
    assert c.post("/v1/nodes", json=clash, headers=manager).status_code == 409
    assert registry.refresh() is True
    node = registry.by_dev_eui("A84041000181C399")
    assert node is not None
    assert (node.coop_id, node.site_id, node.profile) == (
        "oro-oro-ombo",
        "oro-oro-ombo-f01",
        "dragino-lse01",
    )
    # Moving it is seen too; deleting it takes it out.
    assert (
        c.patch(f"/v1/nodes/{body['id']}", json={"site_id": "oro-oro-ombo-f02"}, headers=manager).status_code
        == 200
    )
    assert registry.refresh() is True
    assert registry.by_id(body["id"]).site_id == "oro-oro-ombo-f02"  # type: ignore[union-attr]
    assert registry.refresh() is False
    assert c.delete(f"/v1/nodes/{body['id']}", headers=manager).status_code == 204
    assert registry.refresh() is True
    assert registry.by_id(body["id"]) is None


def test_every_role_lists_the_device_profiles(client: Client) -> None:
    c, tokens, _ = client
    for token in tokens.values():
        r = c.get("/v1/profiles", headers=auth(token))
        assert r.status_code == 200
        by_name = {p["name"]: p for p in r.json()}
        assert by_name["sensecap-s2105"]["metrics"] == [
            "battery_pct",
            "soil_ec_ds_m",
            "soil_temp_c",
            "soil_vwc_pct",
        ]
        assert by_name["sensecap-s2105"]["source"] == "shipped"
        assert "sensecap210x" in by_name["sensecap-s2105"]["decoder"]
    assert c.get("/v1/profiles").status_code == 401


def test_fleet_import_is_admin_only_idempotent_and_validated(client: Client, registry_url: str) -> None:
    c, tokens, _ = client
    text = DEFAULT_FLEET_PATH.read_text()
    yaml_headers = {"Content-Type": "application/yaml"}
    r = c.post("/v1/registry/import", content=text, headers={**auth(tokens["manager"]), **yaml_headers})
    assert r.status_code == 403
    admin = {**auth(tokens["admin"]), **yaml_headers}
    r = c.post("/v1/registry/import", content=text, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"cooperatives": 24, "fields": 254, "stations": 24, "nodes": 278, "kept_edited": 0}
    # JSON works as well, and importing again changes nothing.
    doc = yaml.safe_load(text)
    r = c.post("/v1/registry/import", json=doc, headers=auth(tokens["admin"]))
    assert r.status_code == 200
    assert len(c.get("/v1/fields", headers=auth(tokens["admin"])).json()) == 254
    assert len(c.get("/v1/nodes", headers=auth(tokens["admin"])).json()) == 278
    doc["cooperatives"][0]["fields"][0]["commodity"] = "durian"
    r = c.post("/v1/registry/import", json=doc, headers=auth(tokens["admin"]))
    assert r.status_code == 422
    assert "durian" in r.json()["detail"]
    for garbage in (b"\xff\xfe", b"[1, 2", b"cooperatives: 3", b'{"cooperatives": [{"id": "x"}]}'):
        r = c.post("/v1/registry/import", content=garbage, headers=admin)
        assert r.status_code == 422, (garbage, r.text)


def test_ingest_reads_the_database_registry_when_no_file_is_set(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    open_registry(url)
    assert len(NodeRegistry(loader=database_loader(url))) == 0


def test_a_field_cannot_take_another_cooperatives_station_id_and_readings_stay_with_their_cooperative(
    client: Client, registry_url: str
) -> None:
    """Issue 16, finding 1: a manager created a field named after another cooperative's weather
    station and read that station's data through it."""
    from storage.db import Field
    from storage.db.engine import open_registry

    c, tokens, service = client
    manager = auth(tokens["manager"])  # of oro-oro-ombo
    squat = {**FIELD, "id": "pesanggrahan-ws"}
    r = c.post("/v1/fields", json=squat, headers=manager)
    # Refused before its id is looked up: a manager names rows within their cooperative (issue 37).
    assert r.status_code == 422, r.text
    assert "rows are named oro-oro-ombo-" in r.json()["detail"]
    own_station = {"id": "oro-oro-ombo-ws9", "coop_id": "oro-oro-ombo", "lat": -7.8, "lon": 112.5,
                   "elevation_m": 1000}  # fmt: skip
    assert c.post("/v1/stations", json=own_station, headers=manager).status_code == 201
    r = c.post("/v1/fields", json={**FIELD, "id": "oro-oro-ombo-ws9"}, headers=manager)
    assert r.status_code == 409, r.text  # the one id space still holds within a cooperative
    assert "share one id space" in r.json()["detail"]
    station = {
        "id": "oro-oro-ombo-f01",
        "coop_id": "oro-oro-ombo",
        "lat": -7.8,
        "lon": 112.5,
        "elevation_m": 1000,
    }
    r = c.post("/v1/stations", json=station, headers=auth(tokens["admin"]))
    assert r.status_code == 409, r.text  # and a station cannot take a field's
    # A registry that already holds such a collision (made before this check) still leaks nothing.
    with open_registry(registry_url)() as session:
        session.add(Field(**{k: v for k, v in squat.items() if k != "planting_date"}, planting_date=TODAY))
        session.commit()
    station_readings = service.store.latest(site_ids=["pesanggrahan-ws"])
    assert station_readings  # the other cooperative's station does report
    base = "/v1/fields/pesanggrahan-ws"
    assert c.get(f"{base}/readings/latest", headers=manager).json() == []
    recent = c.get(f"{base}/readings", headers=manager)
    assert recent.status_code == 200
    assert recent.json() == []
    daily = c.get(f"{base}/daily", params={"metric": "air_temp_c"}, headers=manager)
    assert (daily.status_code, daily.json()) == (200, [])


def test_an_import_cannot_turn_a_station_into_a_field(client: Client) -> None:
    c, tokens, _ = client
    doc = yaml.safe_load(DEFAULT_FLEET_PATH.read_text())
    doc["cooperatives"] = doc["cooperatives"][:1]
    doc["cooperatives"][0]["fields"][0]["id"] = "pesanggrahan-ws"
    r = c.post(
        "/v1/registry/import",
        content=yaml.safe_dump(doc),
        headers={**auth(tokens["admin"]), "Content-Type": "application/yaml"},
    )
    assert r.status_code == 422, r.text
    assert "already a weather station of pesanggrahan" in r.json()["detail"]


def test_a_reimport_keeps_what_people_changed_and_every_door_takes_the_files_dates(
    client: Client, registry_url: str, tmp_path: Path
) -> None:
    """Issue 16, finding 6: the CLI and the API imported one file with different planting dates, and
    a re-import (docker-compose's init runs one on every start) reverted managers' edits."""
    import os
    import subprocess
    import sys

    from storage.db import Field as FieldRow
    from storage.db.engine import open_registry, sqlite_url

    c, tokens, _ = client
    admin, manager = auth(tokens["admin"]), auth(tokens["manager"])
    doc = yaml.safe_load(DEFAULT_FLEET_PATH.read_text())
    doc["cooperatives"] = doc["cooperatives"][:1]  # oro-oro-ombo, already in the registry
    field = doc["cooperatives"][0]["fields"][0]
    body = yaml.safe_dump(doc)
    headers = {**admin, "Content-Type": "application/yaml"}
    assert (
        c.patch(f"/v1/fields/{field['id']}", json={"variety": "Atlantic"}, headers=manager).status_code == 200
    )
    r = c.post("/v1/registry/import", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["kept_edited"] >= 1
    assert c.get(f"/v1/fields/{field['id']}", headers=admin).json()["variety"] == "Atlantic"
    r = c.post("/v1/registry/import", content=body, headers=headers, params={"overwrite": True})
    assert (r.status_code, r.json()["kept_edited"]) == (200, 0)
    api_row = c.get(f"/v1/fields/{field['id']}", headers=admin).json()
    assert (api_row["variety"], api_row["planting_date"]) == (field["variety"], str(field["planting_date"]))
    # The CLI takes the same file with the same dates.
    path = tmp_path / "fleet.yaml"
    path.write_text(body)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANEN_")} | {
        "PANEN_DATA_DIR": str(tmp_path)
    }
    done = subprocess.run(
        [sys.executable, "-m", "panen", "registry", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    with open_registry(sqlite_url(tmp_path / "registry.sqlite3"))() as session:
        cli_row = session.get(FieldRow, field["id"])
        assert cli_row is not None
        assert str(cli_row.planting_date) == api_row["planting_date"]


def test_a_delete_refused_for_rows_that_refer_to_it_says_which(client: Client, registry_url: str) -> None:
    """Found on main: deleting a cooperative with alert history answered 409 "an id already in use" (the
    database's foreign key); the refusal now names what still refers to it, and nothing is deleted."""
    import datetime as dt

    from storage.db import Alert

    c, tokens, _ = client
    admin = auth(tokens["admin"])
    assert (
        c.post("/v1/cooperatives", json={"id": "gone-soon", "name": "Koperasi"}, headers=admin).status_code
        == 201
    )
    now = dt.datetime.now(dt.UTC)
    with open_registry(registry_url)() as session:
        session.add(Alert(kind="contract_at_risk", subject="x", coop_id="gone-soon", severity="warning",
                          message="m", first_seen=now, last_seen=now, active=False))  # fmt: skip
        session.commit()
    r = c.delete("/v1/cooperatives/gone-soon", headers=admin)
    assert r.status_code == 409, r.text
    assert "1 alerts (history)" in r.json()["detail"]
    assert c.get("/v1/cooperatives/gone-soon", headers=admin).status_code == 200


def test_a_manager_cannot_learn_which_ids_another_cooperative_has(client: Client) -> None:
    """Found on main: a manager creating a field named like another cooperative's got 409 "already a
    field's id", and one named like nothing got 201: an oracle of the others' ids. A manager names rows
    within their cooperative's ids, so both answers are the same 422."""
    c, tokens, _ = client
    manager = auth(tokens["manager"])
    taken = {**FIELD, "id": "pesanggrahan-f01"}  # another cooperative's field
    free = {**FIELD, "id": "pesanggrahan-f77"}  # no one's
    answers = [c.post("/v1/fields", json=body, headers=manager) for body in (taken, free)]
    assert [a.status_code for a in answers] == [422, 422], [a.text for a in answers]
    assert answers[0].json()["detail"] == answers[1].json()["detail"].replace("f77", "f01")
    assert "oro-oro-ombo-" in answers[0].json()["detail"]
    assert c.post("/v1/fields", json=FIELD, headers=manager).status_code == 201  # its own: as before
