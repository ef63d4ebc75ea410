"""SQLite adapter: one writer process and reader processes on the same file at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from storage.sqlite import SqliteStore

T0 = 1_784_000_000_000


def test_writer_and_reader_processes_share_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ts.sqlite3"
    SqliteStore(path).close()
    writer = textwrap.dedent(
        f"""
        from sensors import Reading
        from storage.sqlite import SqliteStore
        store = SqliteStore({str(path)!r})
        for batch in range(40):
            rows = [Reading("n", "c", "f", "air_temp_c", 1.0, {T0} + batch * 1000 + i) for i in range(1000)]
            store.write(rows)
        store.close()
        """
    )
    reader = textwrap.dedent(
        f"""
        from storage.sqlite import SqliteStore
        store = SqliteStore({str(path)!r})
        seen = 0
        while seen < 40_000:
            now = len(store.raw(start_ms={T0}, end_ms={T0} + 10**9, node_id="n"))
            assert now >= seen and now % 1000 == 0, (seen, now)  # whole batches only, never going back
            seen = now
        print(seen)
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for code in (writer, reader, reader)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert outputs[1].strip() == outputs[2].strip() == "40000"


def test_store_file_and_folder_are_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "ts.sqlite3"
    SqliteStore(path).close()
    assert path.is_file()
    assert (path.parent / "ts.sqlite3").stat().st_size > 0


def test_a_store_file_with_the_old_derived_table_keeps_its_series(tmp_path: Path) -> None:
    """Store files written before derived series had tags of their own (a ``derived`` table whose
    ``site`` held the ISO week, alert subject or ingest client) open with those points as tagged series."""
    import sqlite3

    from storage import Series

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE derived (measurement TEXT NOT NULL, site TEXT NOT NULL, ts INTEGER NOT NULL,
                name TEXT NOT NULL, coop TEXT NOT NULL, commodity TEXT NOT NULL, value REAL NOT NULL,
                PRIMARY KEY (measurement, site, ts, name, coop, commodity)) WITHOUT ROWID;
            INSERT INTO derived VALUES ('plan', '2026-W50', 1000, 'tonnes_p50', '', 'potato', 7.5);
            INSERT INTO derived VALUES ('alert', 'f1', 1000, 'frost_risk', 'c1', '', 1.0);
            INSERT INTO derived VALUES ('ingest', 'ingest-1', 1000, 'readings_stored', '', '', 42.0);
            """
        )
    store = SqliteStore(path)
    try:
        got = {
            s: [(dict(p.tags), dict(p.values)) for p in store.series(s, start_ms=0, end_ms=2000)]
            for s in Series
        }
        assert got == {
            Series.PLAN: [({"week": "2026-W50", "commodity": "potato"}, {"tonnes_p50": 7.5})],
            Series.ALERT: [({"subject": "f1", "coop": "c1", "field": ""}, {"frost_risk": 1.0})],
            Series.INGEST: [({"client": "ingest-1"}, {"readings_stored": 42.0})],
            Series.SKILL: [],  # a series newer than the old table: nothing to move
        }
    finally:
        store.close()
    SqliteStore(path).close()  # a second open finds nothing more to move


def test_a_writer_killed_between_checkpoints_keeps_every_batch_it_wrote(tmp_path: Path) -> None:
    # The store checkpoints its WAL only every few batches (wal_autocheckpoint): a writer killed in
    # between (ingest's process OOM-killed, a laptop's demo closed) leaves its last batches in the WAL
    # alone. Each batch it said was written must be read back after a restart.
    path = tmp_path / "ts.sqlite3"
    writer = textwrap.dedent(
        f"""
        from sensors import Reading
        from storage.sqlite import SqliteStore
        store = SqliteStore({str(path)!r})
        for batch in range(1_000_000):
            store.write([
                Reading(f"n{{s}}", "c", f"f{{s}}", "air_temp_c", 1.0, {T0} + batch * 1000 + i)
                for s in range(500) for i in range(10)
            ])
            print(batch, flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    written = -1
    for line in proc.stdout:
        written = int(line)
        if written >= 6:
            break
    assert written >= 6, "the writer stopped before its seventh batch"
    proc.kill()  # SIGKILL: no close, no checkpoint
    proc.wait(30)
    store = SqliteStore(path)
    try:
        rows = store.raw(start_ms=T0, end_ms=T0 + 10**9, site_id="f7")
    finally:
        store.close()
    batches = {r.ts_ms // 1000 - T0 // 1000 for r in rows}
    assert set(range(written + 1)) <= batches
