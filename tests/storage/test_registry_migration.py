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
        assert context.get_current_revision() == "0011"
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


def test_channels_that_worked_before_confirmation_existed_keep_working(registry_url: str) -> None:
    """Migration 0009 (issue 37): an upgrade must silence no one, so channels that were carrying
    messages before confirmation existed are marked confirmed, saying why; new ones are not."""
    import datetime as dt

    from alembic import command
    from sqlalchemy import create_engine, text

    from services.access import Principal, Role
    from services.notify.contacts import ContactSpec, create_contact
    from storage.db import ContactChannel
    from storage.db.engine import migrations_config

    open_registry(registry_url)
    engine = create_engine(registry_url)
    with engine.begin() as conn:
        command.downgrade(migrations_config(conn), "0008")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO cooperative (id, name, kecamatan, kind) "
                "VALUES ('sisir', 'KMP Sisir', 'Batu', 'kelurahan')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO contact (name, role, coop_id, language, quiet_start_h, quiet_end_h, daily_cap, "
                "created_at) VALUES ('Bu Sri', 'coop_manager', 'sisir', 'id', 21, 5, 12, :at)"
            ),
            {"at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC)},
        )
        conn.execute(
            text(
                "INSERT INTO contact_channel (contact_id, kind, address, created_at) "
                "SELECT id, 'email', 'sri@example.org', :at FROM contact"
            ),
            {"at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC)},
        )
    engine.dispose()
    sessions = open_registry(registry_url)
    with sessions() as session:
        (old,) = session.scalars(select(ContactChannel)).all()
        assert old.confirmed_at is not None
        assert old.confirmed_by is not None
        assert "before channels needed confirmation" in old.confirmed_by
        manager = Principal(1, "ketua", Role.COOP_MANAGER, "sisir", None)
        create_contact(session, manager, ContactSpec("Pak Budi", Role.COOP_MANAGER, coop_id="sisir",
                                                     channels=(("email", "budi@example.org"),)))  # fmt: skip
        new = session.scalars(
            select(ContactChannel).where(ContactChannel.address == "budi@example.org")
        ).one()
        assert new.confirmed_at is None
