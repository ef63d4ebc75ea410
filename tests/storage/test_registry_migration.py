"""A registry created by an earlier panen is brought up to date on open, keeping its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import select

from storage.registry import Alert, open_registry, sqlite_url


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
