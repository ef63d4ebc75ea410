"""One import of a fleet document for every door: the same checks from the API, the CLI and the demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from firmware_sim.fleet import DEFAULT_FLEET_PATH, batu_fleet
from services import InvalidInput
from services.registry_import import check_fleet, import_document, import_file, parse_document
from storage.db import Field, Node
from storage.db.engine import open_registry, sqlite_url
from storage.fleetfile import save_fleet


def _doc(**field_changes: object) -> dict[str, object]:
    doc = yaml.safe_load(DEFAULT_FLEET_PATH.read_text())
    doc["cooperatives"] = doc["cooperatives"][:1]
    doc["cooperatives"][0]["fields"][0].update(field_changes)
    return doc


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"commodity": "durian"}, "unknown commodity 'durian'"),
        ({"soil_texture": "moon_dust"}, "unknown soil_texture 'moon_dust'"),
        ({"area_ha": 0}, "area_ha 0.0 is not a number above 0"),
        ({"area_ha": 1e308}, "at most 1000"),  # issue 16: accepted, then every recompute failed
        ({"lat": float("inf")}, "lat inf is not a number"),
        ({"elevation_m": float("nan")}, "elevation_m nan is not a number"),
    ],
)
def test_a_field_that_cannot_be_forecast_is_refused_naming_it(change: dict[str, object], says: str) -> None:
    fleet = parse_document(yaml.safe_dump(_doc(**change)))
    with pytest.raises(InvalidInput, match=says):
        check_fleet(fleet)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"cooperatives: [", "not YAML or JSON"),
        (b"- just a list", "not a fleet document"),
        (b"cooperatives: [{id: x}]", "not a fleet document"),
        (b"a: &a [1, 2]\nb: [*a, *a, *a]\ncooperatives: []\n", "anchors or aliases"),
        (b"[" * 500 + b"]" * 500, "nests deeper than"),
        ("cooperatives: " + "[" * 500 + "]" * 500, "nests deeper than"),
    ],
)
def test_a_document_that_is_no_fleet_is_refused(body: bytes, says: str) -> None:
    """Also the hostile ones of issue 16: an alias bomb, nesting 500 deep."""
    with pytest.raises(InvalidInput, match=says):
        parse_document(body)


def test_a_node_of_an_unknown_format_is_refused() -> None:
    doc = _doc()
    doc["cooperatives"][0]["fields"][0]["node"]["format"] = "morse"  # type: ignore[index]
    with pytest.raises(InvalidInput, match="unknown format 'morse'"):
        parse_document(yaml.safe_dump(doc))


def test_importing_twice_changes_nothing_and_nothing_is_written_on_a_bad_field(tmp_path: Path) -> None:
    sessions = open_registry(sqlite_url(tmp_path / "r.sqlite3"))
    fleet = batu_fleet().subset(2, 3)
    with sessions() as session:
        first = import_document(session, fleet)
        second = import_document(session, fleet)
        counts = {"cooperatives": 2, "fields": 6, "stations": 2, "nodes": 8, "kept_edited": 0}
        assert first == second == counts
        assert session.scalar(select(func.count()).select_from(Node)) == 8
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_doc(commodity="durian")))
    fresh = open_registry(sqlite_url(tmp_path / "fresh.sqlite3"))
    with fresh() as session:
        with pytest.raises(InvalidInput, match="durian"):
            import_file(session, bad)
        assert session.scalar(select(func.count()).select_from(Field)) == 0


def _panen_import(path: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANEN_")}
    env["PANEN_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "panen", "registry", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_door_applies_the_same_checks(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_doc(commodity="durian")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANEN_")} | {
        "PANEN_DATA_DIR": str(tmp_path)
    }
    done = subprocess.run(
        [sys.executable, "-m", "panen", "registry", "import", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown commodity 'durian'" in done.stderr
    good = tmp_path / "good.yaml"
    save_fleet(batu_fleet().subset(1, 2), good)
    done = _panen_import(good, tmp_path)
    assert done.returncode == 0, done.stderr
    with open_registry(sqlite_url(tmp_path / "registry.sqlite3"))() as session:
        assert session.scalar(select(func.count()).select_from(Field)) == 2


def test_an_import_keeps_display_names_and_the_ids_stay_the_keys(tmp_path: Path) -> None:
    """Issue 39: fields and nodes carry the names farmers use; a document without them still imports."""
    doc = _doc(name="Tegal atas")
    field = doc["cooperatives"][0]["fields"][0]  # type: ignore[index]
    field["node"]["name"] = "Tiang timur"
    path = tmp_path / "named.yaml"
    path.write_text(yaml.safe_dump(doc))
    sessions = open_registry(sqlite_url(tmp_path / "r.sqlite3"))
    with sessions() as session:
        import_file(session, path)
        row, node = session.get(Field, field["id"]), session.get(Node, field["node"]["id"])
        assert row is not None
        assert node is not None
        assert (row.name, node.name) == ("Tegal atas", "Tiang timur")
        others = session.scalars(select(Field).where(Field.id != field["id"])).all()
        assert others
        assert {f.name for f in others} == {""}  # no name: the id is shown
