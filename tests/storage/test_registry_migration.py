"""A registry created by an earlier panen is brought up to date on open, keeping its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import select

from storage.db import Alert
from storage.db.engine import open_registry, sqlite_url


def test_alert_coop_becomes_nullable_and_rows_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE cooperative (id VARCHAR(128) PRIMARY KEY, name VARCHAR(200), kecamatan VARCHAR(100),
            kind VARCHAR(20));
        INSERT INTO cooperative VALUES ('sisir', 'KMP Sisir', 'Batu', 'kelurahan');
        CREATE TABLE alert (id INTEGER PRIMARY KEY, kind VARCHAR(30) NOT NULL, subject VARCHAR(128) NOT NULL,
            coop_id VARCHAR(128) NOT NULL REFERENCES cooperative(id), field_id VARCHAR(128),
            severity VARCHAR(10) NOT NULL, message VARCHAR(500) NOT NULL, first_seen DATETIME NOT NULL,
            last_seen DATETIME NOT NULL, active BOOLEAN NOT NULL, acknowledged_by VARCHAR(200),
            acknowledged_at DATETIME);
        CREATE INDEX ix_alert_kind ON alert (kind);
        INSERT INTO alert VALUES (7, 'frost_risk', 'sisir-f01', 'sisir', 'sisir-f01', 'warning', 'cold',
            '2026-11-27 20:00:00', '2026-11-27 21:00:00', 1, NULL, NULL);
        """
    )
    conn.close()
    sessions = open_registry(sqlite_url(path))
    with sessions() as session:
        (old,) = session.scalars(select(Alert)).all()
        assert (old.id, old.kind, old.coop_id) == (7, "frost_risk", "sisir")
        new = Alert(kind="contract_at_risk", subject="contract-1", coop_id=None, field_id=None,
                    severity="warning", message="x", first_seen=old.first_seen, last_seen=old.last_seen,
                    active=True)  # fmt: skip
        session.add(new)
        session.commit()
        assert new.id == 8
    open_registry(sqlite_url(path))  # a second open changes nothing
    with sqlite3.connect(path) as check:
        notnull = {r[1]: r[3] for r in check.execute("PRAGMA table_info(alert)")}
        assert notnull["coop_id"] == 0
        assert check.execute("SELECT count(*) FROM alert").fetchone() == (2,)


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "registry"


def _load_main_registry(url: str) -> None:
    """A registry as main (07ddf9b, before Alembic) created and filled it: the dump of one."""
    from sqlalchemy import create_engine

    dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
    sql = (FIXTURES / f"main-07ddf9b.{dialect}.dump").read_text()
    if dialect == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.executescript(sql)
        return
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)
    engine.dispose()


def test_a_registry_made_by_main_before_alembic_upgrades_keeping_every_row(registry_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, func

    from storage import db as r

    _load_main_registry(registry_url)
    sessions = open_registry(registry_url)
    counts = {}
    with sessions() as session:
        for model in (
            r.Cooperative,
            r.Farmer,
            r.Field,
            r.Station,
            r.Node,
            r.HarvestRecord,
            Alert,
            r.Contract,
        ):
            counts[model.__tablename__] = session.scalar(select(func.count()).select_from(model))
        counts["api_token"] = session.scalar(select(func.count()).select_from(r.ApiToken))
        harvest = session.scalars(select(r.HarvestRecord)).one()
        assert (harvest.tonnes, harvest.recorded_at.tzinfo is not None) == (3.2, True)
    assert counts == {
        "cooperative": 1,
        "farmer": 2,
        "field": 2,
        "station": 1,
        "node": 3,
        "harvest_record": 1,
        "alert": 2,
        "contract": 1,
        "api_token": 1,
    }
    engine = create_engine(registry_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == "0008"
        # The upgraded schema is the models' schema: nothing left for a migration to do.
        assert compare_metadata(context, r.Base.metadata) == []
    engine.dispose()
    open_registry(registry_url)  # a second open changes nothing


def test_a_new_registry_is_stamped_with_the_newest_revision(registry_url: str) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine

    from storage.db.engine import migrations_config

    open_registry(registry_url)
    head = ScriptDirectory.from_config(migrations_config()).get_current_head()
    engine = create_engine(registry_url)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head
    engine.dispose()
