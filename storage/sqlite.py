"""The embedded time-series store: one SQLite file in WAL mode.

Why SQLite as the embedded default: it is in the standard library, survives a crash of the writing
process without losing a committed batch (``synchronous=FULL``), and in WAL mode one writer process
(ingest) and several reader processes (API, forecasts) use the same file at once without blocking
each other. ``busy_timeout`` makes a second writer wait instead of failing.

A reading's identity is (node, metric, timestamp, cooperative, site), the same as an InfluxDB point's
series key plus time, so both adapters keep exactly the same "last write wins" behaviour.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import operator
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sensors import Quality, Reading
from storage.base import (
    DAY_MS,
    SERIES_TAGS,
    WIB_OFFSET_MS,
    Bucket,
    DailyAggregate,
    ForecastPoint,
    Series,
    SeriesPoint,
    StoreRejected,
    StoreUnavailable,
    local_day,
    local_day_start_ms,
)
from storage.retention import HOUR_MS, Resolution, Retention, day_floor, in_spans, raw_spans

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reading (
    node TEXT NOT NULL,
    metric TEXT NOT NULL,
    ts INTEGER NOT NULL,
    coop TEXT NOT NULL,
    site TEXT NOT NULL,
    value REAL NOT NULL,
    quality INTEGER NOT NULL,
    PRIMARY KEY (node, metric, ts, coop, site)
) WITHOUT ROWID;
-- Covering index: daily aggregates and site queries never read the table itself.
CREATE INDEX IF NOT EXISTS reading_by_site ON reading (site, metric, ts, quality, value);
CREATE TABLE IF NOT EXISTS forecast (
    site TEXT NOT NULL,
    ts INTEGER NOT NULL,
    name TEXT NOT NULL,
    coop TEXT NOT NULL,
    commodity TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (site, ts, name, coop, commodity)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS forecast_by_coop ON forecast (coop, ts);
-- Derived series (plan, alert, ingest), each point keyed by its tags as canonical JSON (sorted keys).
CREATE TABLE IF NOT EXISTS series (
    series TEXT NOT NULL,
    ts INTEGER NOT NULL,
    tags TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (series, ts, tags, name)
) WITHOUT ROWID;
-- The newest reading per node and metric, kept on write: "latest" is asked on every dashboard and
-- API page, and grouping a season of rows for it costs a scan per request.
CREATE TABLE IF NOT EXISTS latest (
    node TEXT NOT NULL,
    metric TEXT NOT NULL,
    coop TEXT NOT NULL,
    site TEXT NOT NULL,
    ts INTEGER NOT NULL,
    value REAL NOT NULL,
    quality INTEGER NOT NULL,
    PRIMARY KEY (node, metric)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS latest_by_site ON latest (site);
-- Hourly and daily aggregates of the valid readings per node (storage.retention): they outlive the
-- raw readings. ts is the bucket's start (a UTC hour; 00:00 WIB).
CREATE TABLE IF NOT EXISTS rollup_hour (
    site TEXT NOT NULL, metric TEXT NOT NULL, ts INTEGER NOT NULL, node TEXT NOT NULL, coop TEXT NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (site, metric, ts, node, coop)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_day (
    site TEXT NOT NULL, metric TEXT NOT NULL, ts INTEGER NOT NULL, node TEXT NOT NULL, coop TEXT NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (site, metric, ts, node, coop)
) WITHOUT ROWID;
-- The store's own bookkeeping, e.g. up to when the raw readings have been rolled up.
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
-- Local days (their 00:00 WIB) before the rolled-up mark that a write has touched since: their
-- aggregates may be stale until the next maintain() rolls them up again, so reads take them raw.
CREATE TABLE IF NOT EXISTS rollup_dirty (ts INTEGER PRIMARY KEY) WITHOUT ROWID;
-- Local days (00:00 WIB) with the number of the last write that touched them (store_meta's change_seq
-- counts the writes): what changed_days() answers from. maintain() changes no day's answer.
CREATE TABLE IF NOT EXISTS day_change (ts INTEGER PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
"""
_ROLLUP_TABLE = {Resolution.HOUR: "rollup_hour", Resolution.DAY: "rollup_day"}
# The bucket start of a reading's ts, as SQL: whole UTC hours; days from 00:00 WIB.
_BUCKET_SQL = {
    Resolution.HOUR: f"(ts / {HOUR_MS}) * {HOUR_MS}",
    Resolution.DAY: f"((ts + {WIB_OFFSET_MS}) / {DAY_MS}) * {DAY_MS} - {WIB_OFFSET_MS}",
}

# Readings and the latest table are upserted from one JSON array of [node, metric, ts, coop, site,
# value, quality] rows (see SqliteStore.write). json_extract rather than ->>, which needs SQLite 3.38
# (Ubuntu 22.04 has 3.37); "WHERE true" lets SQLite parse ON CONFLICT after a SELECT.
_JSON_ROWS = (
    "SELECT "
    + ", ".join(f"json_extract(j.value, '$[{i}]')" for i in range(7))
    + " FROM json_each(?) AS j WHERE true "
)
_UPSERT_READING_JSON = (
    "INSERT INTO reading (node, metric, ts, coop, site, value, quality) "
    + _JSON_ROWS
    + "ON CONFLICT DO UPDATE SET value = excluded.value, quality = excluded.quality"
)
_UPSERT_LATEST_JSON = (
    "INSERT INTO latest (node, metric, ts, coop, site, value, quality) "
    + _JSON_ROWS
    + "ON CONFLICT (node, metric) DO UPDATE SET coop = excluded.coop, site = excluded.site, "
    "ts = excluded.ts, value = excluded.value, quality = excluded.quality WHERE excluded.ts >= latest.ts"
)
_UPSERT_SERIES = (
    "INSERT INTO series (series, ts, tags, name, value) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT DO UPDATE SET value = excluded.value"
)
# A store file written before derived series had tags of their own kept them in a `derived` table
# whose `site` column held the ISO week (plan), the alert's field or subject (alert) or the ingest
# client id (ingest): moved once into `series`, keyed by the tags they stand for.
_MIGRATE_DERIVED = """
INSERT OR IGNORE INTO series (series, ts, tags, name, value)
SELECT measurement, ts,
       CASE measurement
           WHEN 'plan' THEN json_object('commodity', commodity, 'week', site)
           WHEN 'alert' THEN json_object('coop', coop, 'field', '', 'subject', site)
           ELSE json_object('client', site)
       END,
       name, value
FROM derived WHERE measurement IN ('plan', 'alert', 'ingest');
DROP TABLE derived;
"""
_UPSERT_FORECAST = (
    "INSERT INTO forecast (site, ts, name, coop, commodity, value) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO UPDATE SET value = excluded.value"
)
# Page cache per connection [KiB]. SQLite's default (2 MiB) evicts index pages between batches:
# 64 MiB made 5,000-reading batch writes 1.5x faster (84k -> 125k readings/s on these machines).
_CACHE_KIB = 64 * 1024
# WAL pages before a commit also copies them into the database file (SQLite's default: 1,000, ~4 MB).
# A batch of 5,000 readings across a fleet's series dirties the tail pages of every series in both
# B-trees, ~2,700 pages (11 MB of WAL): at the default every batch's commit also checkpointed, writing
# those pages twice. At 10,000 (~40 MB of WAL at most, the file kept at that size) a checkpoint comes
# every few batches and writes a page rewritten by each of them once: bench.store's writes 46k -> 56k
# readings/s (farm-bench, five pairs alternated with the code before, wall 0.83). Commits still fsync
# the WAL (synchronous = FULL): an acknowledged batch survives a power cut either way.
_WAL_AUTOCHECKPOINT_PAGES = 10_000
# Waiting this long for another process's write lock is better than failing an ingest batch.
_BUSY_TIMEOUT_S = 30.0
# Scans (raw series, daily aggregates) run at once, per store. SQLite runs them outside the GIL, but
# more of them than cores only contend: the API's daily endpoint under 50 connections served 84
# requests/s with its 40 worker threads scanning at once and 142-148/s with 2 at a time (p99 1.3 s ->
# 0.65-0.69 s). Lookups (latest readings) are not limited: mostly Python work, they only queued
# behind the limit (same requests/s, p99 ~350 ms instead of 270-300 ms).
_MAX_SCANS = max(2, os.cpu_count() or 2)


_TS = operator.itemgetter(2)  # a reading row's timestamp
_META = "SELECT value FROM store_meta WHERE key = ?"
_NEVER, _ALWAYS = -(2**62), 2**62  # bounds of all time [ms], for raw_spans to merge days in a row
_SET_META = (
    "INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT DO UPDATE SET value = excluded.value"
)
# The next change number, counted in store_meta inside the caller's write transaction.
_NEXT_CHANGE = (
    "INSERT INTO store_meta (key, value) VALUES ('change_seq', 1) "
    "ON CONFLICT DO UPDATE SET value = value + 1 RETURNING value"
)
_DAY_CHANGED = "INSERT INTO day_change (ts, seq) VALUES (?, ?) ON CONFLICT DO UPDATE SET seq = excluded.seq"


def _in_clause(column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
    return f"{column} IN ({','.join('?' * len(values))})", list(values)


@functools.lru_cache(maxsize=4096)
def _day(start_ms: int) -> dt.date:
    """:func:`storage.local_day`, remembered: a season's read asks the same few hundred days."""
    return local_day(start_ms)


def _spans_clause(spans: Sequence[tuple[int, int]]) -> tuple[str, list[int]]:
    """``ts`` in any of ``spans`` (each ``[start, end)``), as SQL and its parameters."""
    clause = " OR ".join("(ts >= ? AND ts < ?)" for _ in spans)
    return f"({clause})", [bound for span in spans for bound in span]


def _changed(conn: sqlite3.Connection, days: Iterable[int]) -> None:
    """Give ``days`` (00:00 WIB) the next change number, inside the caller's write transaction."""
    days = list(days)
    if days:
        (seq,) = conn.execute(_NEXT_CHANGE).fetchone()
        conn.executemany(_DAY_CHANGED, [(day, seq) for day in days])


class SqliteStore:
    """Time-series store in one SQLite file (see the module docstring for the guarantees)."""

    def __init__(self, path: str | Path, *, retention: Retention | None = None) -> None:
        """Open (creating if needed) the store file at ``path``; parent folders are created too.

        ``retention`` says how long :meth:`maintain` keeps raw readings and hourly aggregates
        (default: :class:`storage.retention.Retention`'s 90 days and 2 years).
        """
        self.retention = retention or Retention()
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create folder for {self.path}: {exc}") from exc
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._scans = threading.BoundedSemaphore(_MAX_SCANS)
        with self._conn() as conn:
            conn.executescript(_SCHEMA)
            # A file written before the latest table existed: fill it once from the readings. OR IGNORE:
            # another process (a writer, or a second reader starting) may fill it at the same moment.
            old = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'derived'"
            if conn.execute(old).fetchone() is not None:
                with contextlib.suppress(sqlite3.OperationalError):  # another process moved it first
                    conn.executescript(f"BEGIN IMMEDIATE; {_MIGRATE_DERIVED} COMMIT;")
            if conn.execute("SELECT 1 FROM latest LIMIT 1").fetchone() is None:
                conn.execute(
                    "INSERT OR IGNORE INTO latest SELECT node, metric, coop, site, max(ts), value, quality "
                    "FROM reading GROUP BY node, metric"
                )

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
                conn.execute(f"PRAGMA wal_autocheckpoint={_WAL_AUTOCHECKPOINT_PAGES}")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _query(self, sql: str, params: Sequence[Any], *, scan: bool = False) -> list[Any]:
        try:
            with self._scans if scan else contextlib.nullcontext():
                return self._conn().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"{self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreRejected(f"{self.path}: {exc}") from exc

    def _write_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        conn = self._conn()
        try:
            with conn:
                conn.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"{self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreRejected(f"{self.path}: {exc}") from exc

    def write(self, readings: Iterable[Reading]) -> int:
        """Upsert readings in one transaction; see :meth:`storage.base.TimeSeriesStore.write`.

        The batch goes to SQLite as one JSON array (``json_each``), not row by row: ``executemany``
        takes and releases Python's GIL around every row, and in ingest, whose MQTT thread needs the
        GIL too, those thousands of hand-overs per batch halved both threads' speed (measured: 76k
        against 146k readings/s with a busy second thread, which itself ran twice as fast).
        """
        rows = [
            (r.node_id, r.metric, r.ts_ms, r.coop_id, r.site_id, r.value, int(r.quality)) for r in readings
        ]
        if not rows:
            return 0
        # The newest row per node and metric: after a stable sort by time, the last one per key (so
        # the last of equal timestamps wins, as in the reading table).
        ordered = sorted(rows, key=_TS)
        newest = list({(r[0], r[1]): r for r in ordered}.values())
        try:
            batch, latest = json.dumps(rows, allow_nan=False), json.dumps(newest, allow_nan=False)
        except ValueError as exc:
            raise StoreRejected(f"{self.path}: a reading is not a finite number ({exc})") from exc
        oldest = ordered[0][2]
        conn = self._conn()
        try:
            with conn:
                conn.execute(_UPSERT_READING_JSON, (batch,))
                conn.execute(_UPSERT_LATEST_JSON, (latest,))
                # Inside the write's transaction (it holds the write lock, so it sees maintain()'s
                # last mark): a reading for a day already rolled up makes that day raw until re-rolled.
                # Every day from the batch's oldest to its newest changed (a live batch: one or two;
                # a backfill's may count a day it skipped, which costs only a read).
                _changed(conn, range(day_floor(oldest), day_floor(ordered[-1][2]) + 1, DAY_MS))
                mark = conn.execute(_META, ("rolled_up_to",)).fetchone()
                clean = None if mark is None else day_floor(mark[0])
                if clean is not None and oldest < clean:
                    days = {day_floor(r[2]) for r in rows if r[2] < clean}
                    conn.executemany(
                        "INSERT OR IGNORE INTO rollup_dirty (ts) VALUES (?)", [(d,) for d in days]
                    )
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"{self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreRejected(f"{self.path}: {exc}") from exc
        return len(rows)

    def raw(
        self,
        *,
        start_ms: int,
        end_ms: int,
        node_id: str | None = None,
        site_id: str | None = None,
        metrics: Sequence[str] | None = None,
    ) -> list[Reading]:
        """Readings of a node and/or site in ``[start_ms, end_ms)``, by time, metric, node."""
        where = ["ts >= ?", "ts < ?"]
        params: list[Any] = [start_ms, end_ms]
        if node_id is not None:
            where.append("node = ?")
            params.append(node_id)
        if site_id is not None:
            where.append("site = ?")
            params.append(site_id)
        if metrics is not None:
            if not metrics:
                return []
            clause, values = _in_clause("metric", metrics)
            where.append(clause)
            params += values
        sql = (
            "SELECT node, coop, site, metric, value, ts, quality FROM reading "
            f"WHERE {' AND '.join(where)} ORDER BY ts, metric, node"
        )
        rows = self._query(sql, params, scan=True)
        return [Reading(n, c, s, m, v, t, Quality(q)) for n, c, s, m, v, t, q in rows]

    def latest(
        self, *, node_ids: Sequence[str] | None = None, site_ids: Sequence[str] | None = None
    ) -> list[Reading]:
        """Newest reading per node and metric, ordered by node then metric."""
        where: list[str] = []
        params: list[Any] = []
        for column, values in (("node", node_ids), ("site", site_ids)):
            if values is not None:
                if not values:
                    return []
                clause, vals = _in_clause(column, values)
                where.append(clause)
                params += vals
        sql = (
            "SELECT node, coop, site, metric, value, ts, quality FROM latest "
            f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY node, metric"
        )
        return [Reading(n, c, s, m, v, t, Quality(q)) for n, c, s, m, v, t, q in self._query(sql, params)]

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """One read transaction (a consistent snapshot in WAL mode), counted as a scan."""
        conn = self._conn()
        try:
            with self._scans:
                conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"{self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreRejected(f"{self.path}: {exc}") from exc

    @staticmethod
    def _raw_spans(conn: sqlite3.Connection, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        """The parts of ``[start_ms, end_ms)`` that a read takes from raw readings alone: from the day
        maintain() last rolled up into, and the days written since (dirty); before the first
        maintain(), all of it. Every other day is read from its aggregates, which equal its raw
        readings, or are all that is left of them: days raw has begun to expire are never raw here."""
        mark = conn.execute(_META, ("rolled_up_to",)).fetchone()
        if mark is None:
            return [(start_ms, end_ms)]
        cut = conn.execute(_META, ("raw_cut",)).fetchone()
        floor = start_ms if cut is None else max(start_ms, day_floor(cut[0]) + DAY_MS)
        clean = day_floor(mark[0])
        dirty = conn.execute(
            "SELECT ts FROM rollup_dirty WHERE ts >= ? AND ts < ? ORDER BY ts", (day_floor(floor), clean)
        ).fetchall()
        return raw_spans((day for (day,) in dirty), floor, end_ms, clean)

    def daily(
        self,
        *,
        site_ids: Sequence[str],
        metrics: Sequence[str],
        start_day: dt.date,
        end_day: dt.date,
        include_implausible: bool = False,
        coop_id: str | None = None,
    ) -> list[DailyAggregate]:
        """Per site, metric and WIB day; see :meth:`storage.base.TimeSeriesStore.daily`.

        From the daily aggregates, and from raw readings only for the days not rolled up yet (today,
        and days a write touched since the last maintain(): :meth:`_raw_spans`)."""
        if not site_ids or not metrics:
            return []
        site_clause, sites = _in_clause("site", site_ids)
        metric_clause, names = _in_clause("metric", metrics)
        start_ms, end_ms = local_day_start_ms(start_day), local_day_start_ms(end_day) + DAY_MS
        # The index on site carries the table's primary key, coop included: the filter keeps it covering.
        coop = "" if coop_id is None else " AND coop = ?"
        head = [*sites, *names]
        tail = [] if coop_id is None else [coop_id]
        with self._snapshot() as conn:
            spans = [(start_ms, end_ms)] if include_implausible else self._raw_spans(conn, start_ms, end_ms)
            quality = "" if include_implausible else f" AND quality = {int(Quality.VALID)}"
            raw: list[DailyAggregate] = []
            if spans:
                when, bounds = _spans_clause(spans)
                sql = (
                    f"SELECT site, metric, (ts + {WIB_OFFSET_MS}) / {DAY_MS} AS day, "
                    "min(value), avg(value), max(value), sum(value), count(*) FROM reading "
                    f"WHERE {site_clause} AND {metric_clause} AND {when}{quality}{coop} "
                    "GROUP BY site, metric, day ORDER BY site, metric, day"
                )
                raw = [
                    DailyAggregate(s, m, _day(d * DAY_MS), lo, mean, hi, total, n)
                    for s, m, d, lo, mean, hi, total, n in conn.execute(sql, [*head, *bounds, *tail])
                ]
            if include_implausible:
                return raw
            rolled = [
                DailyAggregate(site, metric, _day(ts), lo, mean, hi, total, n)
                for site, metric, ts, lo, mean, hi, total, n in self._rolled(
                    conn, Resolution.DAY, site_ids, metrics, start_ms, end_ms, coop_id
                )
                if not in_spans(spans, ts)
            ]
        return sorted(raw + rolled, key=lambda a: (a.site_id, a.metric, a.day))

    @staticmethod
    def _rolled(
        conn: sqlite3.Connection,
        resolution: Resolution,
        site_ids: Sequence[str],
        metrics: Sequence[str],
        start_ms: int,
        end_ms: int,
        coop_id: str | None,
    ) -> list[tuple[str, str, int, float, float, float, float, int]]:
        """The stored aggregates of buckets beginning in ``[start_ms, end_ms)``, nodes summed per site:
        :class:`Bucket`'s fields as rows (a season's read makes each row into its answer once)."""
        site_clause, sites = _in_clause("site", site_ids)
        metric_clause, names = _in_clause("metric", metrics)
        coop = "" if coop_id is None else " AND coop = ?"
        sql = (
            "SELECT site, metric, ts, min(min), sum(sum) / sum(count), max(max), sum(sum), sum(count) "
            f"FROM {_ROLLUP_TABLE[resolution]} WHERE {site_clause} AND {metric_clause} AND ts >= ? AND ts < ?"
            f"{coop} GROUP BY site, metric, ts"
        )
        params = [*sites, *names, start_ms, end_ms, *([coop_id] if coop_id is not None else [])]
        return conn.execute(sql, params).fetchall()

    def buckets(
        self,
        resolution: Resolution,
        *,
        site_id: str,
        metrics: Sequence[str],
        start_ms: int,
        end_ms: int,
        coop_id: str | None = None,
    ) -> list[Bucket]:
        """Hourly or daily aggregates; see :meth:`storage.base.TimeSeriesStore.buckets`. Raw readings
        are read only where the tiers may lag them, as in :meth:`daily`."""
        if not metrics:
            return []
        lo, hi = resolution.bounds(start_ms, end_ms)
        if lo >= hi:
            return []
        metric_clause, names = _in_clause("metric", metrics)
        coop = "" if coop_id is None else " AND coop = ?"
        with self._snapshot() as conn:
            spans = self._raw_spans(conn, lo, hi)
            raw: list[Bucket] = []
            if spans:
                when, bounds = _spans_clause(spans)
                sql = (
                    f"SELECT site, metric, {_BUCKET_SQL[resolution]} AS bucket, min(value), avg(value), "
                    f"max(value), sum(value), count(*) FROM reading WHERE site = ? AND {metric_clause} AND "
                    f"{when} AND quality = {int(Quality.VALID)}{coop} GROUP BY site, metric, bucket"
                )
                params = [site_id, *names, *bounds, *([coop_id] if coop_id is not None else [])]
                raw = [Bucket(*row) for row in conn.execute(sql, params)]
            rolled = [
                Bucket(*row)
                for row in self._rolled(conn, resolution, [site_id], metrics, lo, hi, coop_id)
                if not in_spans(spans, row[2])
            ]
        return sorted(raw + rolled, key=lambda b: (b.metric, b.start_ms))

    def changed_days(
        self, since: object | None, *, start_day: dt.date, end_day: dt.date
    ) -> tuple[frozenset[dt.date] | None, object]:
        """See :meth:`storage.base.TimeSeriesStore.changed_days`: the days whose change number is past
        ``since`` (the store's change number when it was returned)."""
        with self._snapshot() as conn:
            row = conn.execute(_META, ("change_seq",)).fetchone()
            now = 0 if row is None else int(row[0])
            if not isinstance(since, int) or since > now:
                return None, now
            start = local_day_start_ms(start_day)
            days = conn.execute(
                "SELECT ts FROM day_change WHERE seq > ? AND ts >= ? AND ts < ?",
                (since, start, local_day_start_ms(end_day) + DAY_MS),
            ).fetchall()
        return frozenset(local_day(ts) for (ts,) in days), now

    def rollup(self, *, start_ms: int, end_ms: int, now_ms: int) -> int:
        """Recompute the aggregates of ``[start_ms, end_ms)``; see ``TimeSeriesStore.rollup``."""
        conn = self._conn()
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                return self._rollup_in(conn, start_ms, end_ms)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"{self.path}: {exc}") from exc

    def _rollup_in(self, conn: sqlite3.Connection, start_ms: int, end_ms: int) -> int:
        """:meth:`rollup` inside the caller's write transaction; the days recomputed are clean again."""
        cut = conn.execute(_META, ("raw_cut",)).fetchone()  # raw readings before it were deleted
        span = self.retention.rollup_range(start_ms, end_ms, None if cut is None else cut[0])
        if span is None:
            return 0
        written = 0
        for resolution, table in _ROLLUP_TABLE.items():
            # Buckets whose valid readings are all gone (rewritten implausible) must not keep
            # an aggregate: the span is whole buckets inside the raw window, so clear, refill.
            conn.execute(f"DELETE FROM {table} WHERE ts >= ? AND ts < ?", span)
            cursor = conn.execute(
                f"INSERT INTO {table} (site, metric, ts, node, coop, min, max, sum, count) "
                f"SELECT site, metric, {_BUCKET_SQL[resolution]} AS bucket, node, coop, min(value), "
                "max(value), sum(value), count(*) FROM reading "
                f"WHERE ts >= ? AND ts < ? AND quality = {int(Quality.VALID)} "
                "GROUP BY site, metric, bucket, node, coop",
                span,
            )
            written += cursor.rowcount
        conn.execute("DELETE FROM rollup_dirty WHERE ts >= ? AND ts < ?", span)
        return written

    def maintain(self, *, now_ms: int) -> dict[str, int]:
        """Roll up what arrived since the last run (at least the last ``resample_days``) and the days
        late readings touched, then delete raw readings and hourly aggregates past their windows;
        returns the counts (``rolled_up``, ``raw_deleted``, ``hourly_deleted``).

        One write transaction: a write between the rollup and the new mark would otherwise land in
        a day that reads then take from the aggregates, without being in them."""
        raw_cutoff = self.retention.raw_cutoff_ms(now_ms)
        hourly_cutoff = self.retention.hourly_cutoff_ms(now_ms)
        conn = self._conn()
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                done = conn.execute(_META, ("rolled_up_to",)).fetchone()
                if done is not None:
                    since = min(done[0], now_ms - self.retention.resample_days * DAY_MS)
                else:  # first run: everything there is
                    first = conn.execute("SELECT min(ts) FROM reading").fetchone()[0]
                    since = now_ms if first is None else first
                rolled = self._rollup_in(conn, since, now_ms)
                dirty = conn.execute("SELECT ts FROM rollup_dirty ORDER BY ts").fetchall()
                for lo, hi in raw_spans((day for (day,) in dirty), _NEVER, _ALWAYS, _ALWAYS):
                    rolled += self._rollup_in(conn, lo, hi)  # days in a row, one statement each
                # Days too old to roll up again (raw may be gone) keep their aggregates as they are.
                conn.execute("DELETE FROM rollup_dirty")
                conn.execute(_SET_META, ("rolled_up_to", now_ms))
                counts = {"rolled_up": rolled}
                if raw_cutoff is not None:
                    old = conn.execute(_META, ("raw_cut",)).fetchone()
                    conn.execute(
                        _SET_META, ("raw_cut", max(raw_cutoff, raw_cutoff if old is None else old[0]))
                    )
                counts["raw_deleted"] = (
                    0
                    if raw_cutoff is None
                    else conn.execute("DELETE FROM reading WHERE ts < ?", (raw_cutoff,)).rowcount
                )
                counts["hourly_deleted"] = (
                    0
                    if hourly_cutoff is None
                    else conn.execute("DELETE FROM rollup_hour WHERE ts < ?", (hourly_cutoff,)).rowcount
                )
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"{self.path}: {exc}") from exc
        return counts

    def write_forecasts(self, points: Iterable[ForecastPoint]) -> int:
        """Upsert forecast points; see :meth:`storage.base.TimeSeriesStore.write_forecasts`."""
        rows: list[tuple[Any, ...]] = []
        count = 0
        for p in points:
            count += 1
            rows += [(p.site_id, p.ts_ms, k, p.coop_id, p.commodity, float(v)) for k, v in p.values.items()]
        self._write_many(_UPSERT_FORECAST, rows)
        return count

    def forecasts(
        self,
        *,
        start_ms: int,
        end_ms: int,
        site_ids: Sequence[str] | None = None,
        coop_ids: Sequence[str] | None = None,
    ) -> list[ForecastPoint]:
        """Forecast points issued in ``[start_ms, end_ms)``, ordered by site then time."""
        where = ["ts >= ?", "ts < ?"]
        params: list[Any] = [start_ms, end_ms]
        for column, values in (("site", site_ids), ("coop", coop_ids)):
            if values is not None:
                if not values:
                    return []
                clause, vals = _in_clause(column, values)
                where.append(clause)
                params += vals
        sql = (
            "SELECT site, coop, commodity, ts, name, value FROM forecast "
            f"WHERE {' AND '.join(where)} ORDER BY site, ts, coop, commodity, name"
        )
        groups: dict[tuple[str, str, str, int], dict[str, float]] = {}
        for site, coop, commodity, ts, name, value in self._query(sql, params):
            groups.setdefault((site, coop, commodity, ts), {})[name] = value
        return [ForecastPoint(s, c, k, t, values) for (s, c, k, t), values in groups.items()]

    def write_series(self, points: Iterable[SeriesPoint]) -> int:
        """Upsert derived-series points; see :meth:`storage.base.TimeSeriesStore.write_series`."""
        rows: list[tuple[Any, ...]] = []
        count = 0
        for p in points:
            count += 1
            tags = json.dumps({k: v for k, v in p.tags.items() if v}, sort_keys=True)
            for name, value in p.values.items():
                if not name.isidentifier():
                    raise StoreRejected(f"{p.series.value} value name {name!r} is not an identifier")
                rows.append((p.series.value, p.ts_ms, tags, name, float(value)))
        self._write_many(_UPSERT_SERIES, rows)
        return count

    def series(self, series: Series, *, start_ms: int, end_ms: int) -> list[SeriesPoint]:
        """A derived series' points in ``[start_ms, end_ms)``, ordered by time."""
        sql = (
            "SELECT ts, tags, name, value FROM series WHERE series = ? AND ts >= ? AND ts < ? "
            "ORDER BY ts, tags, name"
        )
        groups: dict[tuple[int, str], dict[str, float]] = {}
        for ts, tags, name, value in self._query(sql, [series.value, start_ms, end_ms]):
            groups.setdefault((ts, tags), {})[name] = value
        names = SERIES_TAGS[series]
        out = []
        for (ts, tags), values in groups.items():
            stored = json.loads(tags)
            out.append(SeriesPoint(series, {t: stored.get(t, "") for t in names}, ts, values))
        return out

    def ping(self) -> None:
        """Check the file can be read."""
        self._query("SELECT 1", [])

    def close(self) -> None:
        """Close every connection this store opened, in any thread."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
