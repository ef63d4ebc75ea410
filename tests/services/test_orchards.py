"""services.orchards on a real (SQLite) registry: the checks every caller gets, the API's bounds or
not (the demo enters the simulated growers' records through here), and voiding once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from services import InvalidInput, NotFound, orchards
from services.numbers import format_id
from storage.db import Cooperative, Field
from storage.db.engine import open_registry, sqlite_url

TODAY = dt.date(2026, 12, 2)


def _keprok_orchard(session: Session) -> Field:
    """Punten's cooperative and a keprok orchard of 200 trees planted in 2015, committed."""
    session.add(Cooperative(id="punten", name="Koperasi Merah Putih Punten"))
    orchard = Field(id="punten-o01", coop_id="punten", commodity="citrus", variety="Keprok Batu 55",
                    planting_date=dt.date(2015, 1, 1), area_ha=0.5, soil_texture="andosol", lat=-7.8,
                    lon=112.5, elevation_m=1100, tree_count=200)  # fmt: skip
    session.add(orchard)
    session.commit()
    return orchard


# A keprok tree's most fruits (services/plausibility.toml: issue 37 made the bound a species' own).
KEPROK_MAX = float(orchards.plausibility()["citrus"]["fruits_per_tree_max"])


def test_records_are_checked_and_voided_once(tmp_path: Path) -> None:
    sessions = open_registry(sqlite_url(tmp_path / "registry.sqlite3"))
    with sessions() as session:
        orchard = _keprok_orchard(session)
        for kind, fruits, trees, says in (
            ("fruit_count", KEPROK_MAX + 1, 10, f"is not from 0 to {KEPROK_MAX:g}"),
            ("thinning", -1.0, None, f"is not from 0 to {KEPROK_MAX:g}"),
            ("defoliation", None, None, "only apple trees are defoliated"),
            ("fruit_count", 100.0, 201, "more than the orchard's 200 trees"),
        ):
            with pytest.raises(InvalidInput, match=says):
                orchards.record(session, field=orchard, kind=kind, day=TODAY, by="t", fruits_per_tree=fruits,
                                trees_sampled=trees, today=TODAY)  # fmt: skip
        assert orchards.events(session, orchard.id, include_void=True) == []
        row = orchards.record(session, field=orchard, kind="flowering", day=TODAY, by="t", today=TODAY)
        voided = orchards.void(session, orchard.id, row.id, reason="wrong tree", by="ketua")
        assert (voided.voided_by, voided.void_reason) == ("ketua", "wrong tree")
        with pytest.raises(InvalidInput, match="was voided on"):
            orchards.void(session, orchard.id, row.id, reason="again", by="ketua")
        with pytest.raises(NotFound):
            orchards.void(session, "punten-o02", row.id, reason="x", by="ketua")
        assert orchards.events(session, orchard.id) == []


def test_every_refusal_a_grower_can_meet_has_its_indonesian_words(tmp_path: Path) -> None:
    """The field page shows ``InvalidInput.farmer``: each check of an orchard record carries one, with
    none of the API's field names in it."""
    sessions = open_registry(sqlite_url(tmp_path / "registry.sqlite3"))
    with sessions() as session:
        orchard = _keprok_orchard(session)
        for kind, day, fruits, trees, says in (
            ("flowering", TODAY + dt.timedelta(days=1), None, None, "belum tiba"),
            ("flowering", dt.date(2014, 6, 1), None, None, "sebelum pohon ditanam"),
            ("defoliation", TODAY, None, None, "hanya pohon apel"),
            ("fruit_count", TODAY, None, 10, "perlu jumlah buah per pohon"),
            ("fruit_count", TODAY, KEPROK_MAX + 1, 10, f"di luar 0-{format_id(KEPROK_MAX)}"),  # 0-3.000
            ("fruit_count", TODAY, 100.0, None, "perlu jumlah pohon contoh"),
            ("fruit_count", TODAY, 100.0, 201, "lebih banyak dari 200 pohon"),
            ("flowering", TODAY, 100.0, None, "bunga mekar tidak memakai"),
            ("harvest", TODAY, None, None, "pilih jenis catatan"),
        ):
            with pytest.raises(InvalidInput) as refused:
                orchards.record(session, field=orchard, kind=kind, day=day, by="t", fruits_per_tree=fruits,
                                trees_sampled=trees, today=TODAY)  # fmt: skip
            farmer = refused.value.farmer
            assert farmer is not None, (kind, str(refused.value))
            assert says in farmer
            api_words = ("fruits_per_tree", "trees_sampled", "kind", "today is")
            assert not any(word in farmer for word in api_words)
        assert orchards.events(session, orchard.id, include_void=True) == []
