"""InfluxDB adapter over the v1-compatible HTTP API (line protocol ``/write``, InfluxQL ``/query``).

One adapter serves InfluxDB 1.x, 2.x (≥ 2.5, bucket ``panen`` mapped to database ``panen``) and
3.x, because all three serve this API. Portability rules, each found by trying real servers:

- ``precision=ms`` on writes and ``epoch=ms`` on queries (``us``/``u`` are misread by some versions);
- HTTP Basic ``user:token`` authentication (1.x refuses ``Authorization: Token``);
- identifiers always double-quoted (``field`` is an InfluxQL keyword);
- readings are written and read with the retention policy ``raw`` (``rp=raw``; on 2.x a DBRP mapping
  names the bucket), their aggregates read from ``hourly`` and ``daily`` (``storage.retention``);
  forecasts and derived series use the default policy / bucket, kept forever;
- bodies of about 1 MB, gzipped unless the server is on this machine's loopback;
- per-statement errors arrive as HTTP 200 with ``results[i].error``; a type conflict is HTTP 400
  "partial write"; ``CREATE DATABASE`` exists only on 1.x.

Schema: one measurement per catalogue metric (``soil_vwc_pct``), tags ``coop``, ``node``, ``site``
(omitted when empty), fields ``value`` (float) and ``quality`` (integer, 0 valid, 1 implausible).
Grafana then reads naturally: ``SELECT mean("value") FROM "raw"."soil_vwc_pct" WHERE "site" = '…'``.
Forecast points go to the measurement ``forecast`` with tags ``commodity``, ``coop``, ``site`` and one
float field per forecast value.
"""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import json
import math
import operator
import re
import secrets
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpx
import orjson

from sensors import CATALOGUE, Quality, Reading, metric_names
from storage.base import (
    DAY_MS,
    SERIES_TAGS,
    WIB_OFFSET_MS,
    Bucket,
    DailyAggregate,
    ForecastPoint,
    Series,
    SeriesPoint,
    StoreAuthError,
    StoreError,
    StoreRejected,
    StoreUnavailable,
    local_day,
    local_day_start_ms,
)
from storage.retention import (
    DAILY_RP,
    HOURLY_RP,
    RAW_RP,
    Resolution,
    Retention,
    chart_tier_lines,
    day_floor,
    in_spans,
    influx1_continuous_queries,
    influx1_policies,
    influx1_rollup_select,
    raw_spans,
)

__all__ = ["FORECAST_MEASUREMENT", "InfluxStore", "quote_ident", "quote_string"]

FORECAST_MEASUREMENT = "forecast"
# Marks, in the default policy, that readings of an older panen were moved to the tiers.
_LAYOUT_MEASUREMENT = "panen_layout"
# A day that readings reached after the rollups' window had passed it, with a random mark (field
# "at"), and the mark each such day had when it was last rolled up again (InfluxStore._mark_late):
# a day whose mark changed since is read raw. Random marks rather than times: no host's clock matters.
_LATE_MEASUREMENT = "panen_late"
_REROLLED_MEASUREMENT = "panen_rerolled"
# Remembers, per cooperative and tier, up to when `panen store split` has copied.
_SPLIT_MEASUREMENT = "panen_split"
# About 1 MB of line protocol per request: big enough to amortise HTTP and InfluxDB's per-request
# WAL fsync, small enough to stay far below every version's request-size limit (25 MB on 1.x).
_BODY_BYTES = 1_000_000
# gzip level 1 compresses line protocol about 8x at a fraction of level 6's CPU cost.
_GZIP_LEVEL = 1
# Rows per chunk when streaming query results (1.x's default max-row-limit is 10,000 per response).
_CHUNK_ROWS = 10_000
# InfluxDB keeps time as int64 nanoseconds: a bound outside that range matches nothing, silently.
# Clamping makes "from the beginning to the end of time" queries behave as they do on SQLite.
_MIN_MS = -9_223_372_036_854
_MAX_MS = 9_223_372_036_854
_UNSAFE_DB_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})
_VALUE, _TS = operator.itemgetter(4), operator.itemgetter(5)  # of a Reading, at C speed
# A reading's quality field and the space before its time, by quality (0 valid, 1 implausible).
_QUALITY_FIELD = (",quality=0i ", ",quality=1i ")


def quote_ident(name: str) -> str:
    """An InfluxQL identifier, always double-quoted (``field`` and ``time`` are keywords)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    """An InfluxQL single-quoted string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _time_range(start_ms: int, end_ms: int) -> str:
    start = min(max(start_ms, _MIN_MS), _MAX_MS)
    end = min(max(end_ms, _MIN_MS), _MAX_MS)
    return f"time >= {start}ms AND time < {end}ms"


def _any_of(tag: str, values: Sequence[str]) -> str:
    return "(" + " OR ".join(f"{quote_ident(tag)} = {quote_string(v)}" for v in values) + ")"


def _from(measurements: Sequence[str], rp: str = RAW_RP) -> str:
    return ",".join(f"{quote_ident(rp)}.{quote_ident(m)}" for m in measurements)


def _tag_set(coop: str, node: str | None, site: str) -> str:
    # Tags sorted by key, as InfluxDB recommends; an empty tag value is not allowed, so it is omitted.
    parts = [f"coop={coop.translate(_TAG_ESCAPES)}"]
    if node is not None:
        parts.append(f"node={node.translate(_TAG_ESCAPES)}")
    if site:
        parts.append(f"site={site.translate(_TAG_ESCAPES)}")
    return ",".join(parts)


class _MarksSeen(NamedTuple):
    """What :meth:`InfluxStore.changed_days` saw: each day's late and rolled-up marks, and the first
    day then still read raw."""

    marks: dict[int, tuple[tuple[str, int], ...]]
    fresh_from: int


class InfluxStore:
    """Time-series store on an InfluxDB server (see the module docstring for schema and rules)."""

    def __init__(
        self,
        url: str,
        *,
        database: str = "panen",
        user: str | None = None,
        token: str | None = None,
        timeout_s: float = 30.0,
        retention: Retention | None = None,
        tenants: bool = False,
        compress: bool | None = None,
    ) -> None:
        """Prepare a client for ``url`` (e.g. ``http://127.0.0.1:8086``); nothing is sent yet.

        Args:
            url: Base URL of the server.
            database: v1 database name (on 2.x, the name a DBRP mapping gives the bucket).
            user: v1 user name; with a token and no user, "panen" is sent (2.x ignores it).
            token: v1 password or 2.x/3.x API token, sent as the Basic password.
            timeout_s: Per-request timeout [s].
            retention: The tiers :meth:`create_database` sets up (default: :class:`Retention`'s).
            tenants: One database per cooperative (``<database>_<coop>``, see :meth:`tenant_database`)
                for its readings, aggregates, forecasts and alerts, so that credentials can be given
                per cooperative; ``database`` then keeps what Coosae reads across cooperatives
                (every forecast, the plan, alerts, ingest's counters).
            compress: gzip the writes' bodies (default: unless the server is on loopback).
        """
        self.tenants = tenants
        self._tenant_dbs: tuple[float, list[str]] = (0.0, [])
        self.retention = retention or Retention()
        self.url = url.rstrip("/")
        self.database = database
        auth = None
        if token is not None or user is not None:
            auth = httpx.BasicAuth(user or "panen", token or "")
        # Plain HTTP needs no CA bundle, and loading certifi's took 30 ms of every start (ingest's
        # included): a context with none, which would refuse any certificate, is never used for it.
        where = urlsplit(self.url)
        verify: bool | ssl.SSLContext = True
        if where.scheme == "http":
            verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._client = httpx.Client(base_url=self.url, auth=auth, timeout=timeout_s, verify=verify)
        # Bodies are gzipped on their way across a network, where 8x fewer bytes pay for the CPU; to a
        # server on this machine they go as they are: gzip cost ingest and InfluxDB together ~3 µs a
        # message of the 2 cores they share, and saved nothing (issue 41).
        self._compress = not _is_loopback(where.hostname or "") if compress is None else compress
        self._line_starts: dict[tuple[str, str, str, str], str] = {}
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-write")

    # ---- transport -------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise StoreUnavailable(f"InfluxDB at {self.url} timed out: {exc}") from exc
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"InfluxDB at {self.url} unreachable: {exc}") from exc
        if response.status_code < 300:
            return response
        message = _server_message(response)
        status = response.status_code
        if status in (401, 403):
            raise StoreAuthError(f"InfluxDB refused the credentials ({status}): {message}")
        if status == 404 and "database not found" in message:
            # An operator's problem, not the data's: retrying after the database exists will work.
            raise StoreUnavailable(
                f"InfluxDB has no such database ({message}): on 1.x run `panen store init` (and, for a "
                "store per cooperative, `panen store tenants`); on 2.x map a bucket to it (DBRP)"
            )
        if "retention policy not found" in message:
            raise StoreUnavailable(
                f"InfluxDB database {self.database!r} has no retention policy for readings ({message}); "
                "run `panen store init`, which sets up the raw, hourly and daily tiers"
            )
        if status >= 500 or status == 429:
            raise StoreUnavailable(f"InfluxDB failed ({status}): {message}")
        raise StoreRejected(f"InfluxDB rejected the request ({status}): {message}")

    def _post_lines(
        self, lines: Iterable[str], *, rp: str | None = None, database: str | None = None
    ) -> None:
        params = {"db": database or self.database, "precision": "ms"}
        if rp is not None:
            params["rp"] = rp
        compress = self._compress
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if compress:
            headers["Content-Encoding"] = "gzip"

        def send(body: str) -> None:
            data = gzip.compress(body.encode(), compresslevel=_GZIP_LEVEL) if compress else body.encode()
            self._request("POST", "/write", params=params, content=data, headers=headers)

        # One request in flight while the next body is formatted: the server works on one core
        # while Python formats on the other. Bodies still arrive in order, one at a time.
        pending: Future[None] | None = None
        try:
            for body in _bodies(lines):
                if pending is not None:
                    pending.result()
                pending = self._sender.submit(send, body)
            if pending is not None:
                pending.result()
                pending = None
        finally:
            if pending is not None:  # formatting failed: let the request finish, keep the first error
                pending.exception()

    def query(self, statement: str) -> list[dict[str, Any]]:
        """Run InfluxQL and return the series of the first statement, chunks merged.

        Each series is a dict with ``name``, ``tags`` (dict, possibly empty), ``columns`` and ``values``.

        Raises:
            StoreRejected: the statement failed (bad syntax, unknown function): the server's message.
        """
        return self.queries([statement])[0]

    def queries(self, statements: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Run several InfluxQL statements in one request; each one's series as :meth:`query`'s."""
        data = {
            "db": self.database,
            "q": ";\n".join(statements),
            "epoch": "ms",
            "chunked": "true",
            "chunk_size": _CHUNK_ROWS,
        }
        response = self._request("POST", "/query", data=data)
        merged: list[dict[tuple[str, str], dict[str, Any]]] = [{} for _ in statements]
        for document in _json_documents(response.text):
            if "error" in document:
                raise StoreRejected(f"InfluxDB query failed: {document['error']}")
            for result in document.get("results", []):
                index = int(result.get("statement_id", 0))
                if "error" in result:
                    failed = statements[index] if index < len(statements) else ""
                    raise StoreRejected(f"InfluxDB statement failed: {result['error']} in {failed[:200]}")
                for series in result.get("series", []):
                    tags = series.get("tags") or {}
                    key = (series.get("name", ""), json.dumps(tags, sort_keys=True))
                    if key in merged[index]:
                        merged[index][key]["values"].extend(series.get("values", []))
                    else:
                        merged[index][key] = {
                            "name": series.get("name", ""),
                            "tags": tags,
                            "columns": series["columns"],
                            "values": list(series.get("values", [])),
                        }
        return [list(m.values()) for m in merged]

    def create_database(self) -> None:
        """Set up the database on InfluxDB 1.x, idempotently: ``CREATE DATABASE``, the readings'
        retention policies with this store's durations (created, or altered to them), and the
        continuous queries that fill the hourly and daily tiers (replaced, so a new catalogue metric
        is rolled up after the next run). Readings an older panen wrote to the default policy are
        rolled up and copied into ``raw`` once. 2.x: :func:`storage.retention.influx2_requests`.
        """
        db = quote_ident(self.database)
        self.query(f"CREATE DATABASE {db}")
        existing = {row[0] for s in self.query(f"SHOW RETENTION POLICIES ON {db}") for row in s["values"]}
        for rp, days in influx1_policies(self.retention).items():
            verb = "ALTER" if rp in existing else "CREATE"
            duration = "INF" if days is None else f"{days}d"
            # Raw readings expire in one-day shard groups: a day, not a week, past the window.
            shards = " SHARD DURATION 1d" if rp == RAW_RP else ""
            self.query(
                f"{verb} RETENTION POLICY {quote_ident(rp)} ON {db} DURATION {duration} REPLICATION 1{shards}"
            )
        queries = {
            row[0]
            for s in self.query("SHOW CONTINUOUS QUERIES")
            if s["name"] == self.database
            for row in s["values"]
        }
        for name, statement in influx1_continuous_queries(self.database, self.retention, metric_names()):
            if name in queries:
                self.query(f"DROP CONTINUOUS QUERY {quote_ident(name)} ON {db}")
            self.query(statement)
        self._post_lines(chart_tier_lines())  # what the dashboards' resolution variables read
        self._adopt_default_policy()

    def missing_layout(self) -> str | None:
        """What the readings' writes need and the server lacks: the database or its ``raw``
        retention policy (``None``: nothing). A store per cooperative is checked for its shared
        database only; ``panen store tenants`` makes the cooperatives'.

        Raises:
            StoreError: the server could not be asked.
        """
        names = {row[0] for s in self.query("SHOW DATABASES") for row in s.get("values") or []}
        if self.database not in names:
            return f"database {self.database!r}"
        db = quote_ident(self.database)
        policies = {row[0] for s in self.query(f"SHOW RETENTION POLICIES ON {db}") for row in s["values"]}
        if RAW_RP not in policies:
            return f"retention policy {RAW_RP!r} of database {self.database!r}"
        return None

    def _adopt_default_policy(self) -> None:
        """Roll up and copy readings an older panen left in the default policy, once (a marker point
        in ``panen_layout`` remembers it). The copies stay readable in the default policy too:
        InfluxQL cannot delete from one policy only, and they do no harm there."""
        names = metric_names()
        if self.query(f'SELECT last("adopted") FROM {quote_ident(_LAYOUT_MEASUREMENT)}'):
            return
        firsts = [
            s["values"][0][0] for s in self.query(f'SELECT first("value") FROM {_from(names, "autogen")}')
        ]
        now = time.time_ns() // 1_000_000
        if firsts:
            chunk = 30 * DAY_MS
            cutoff = self.retention.raw_cutoff_ms(now)
            for lo in range(min(firsts) // DAY_MS * DAY_MS - WIB_OFFSET_MS, now + DAY_MS, chunk):
                hi = lo + chunk
                for resolution in Resolution:
                    self.query(
                        influx1_rollup_select(
                            self.database, resolution, names, start_ms=lo, end_ms=hi, source_rp="autogen"
                        )
                    )
                lo_raw = lo if cutoff is None else max(lo, cutoff + DAY_MS)  # older points: refused
                if lo_raw < hi:
                    self.query(
                        f"SELECT * INTO {quote_ident(self.database)}.{quote_ident(RAW_RP)}.:MEASUREMENT "
                        f"FROM {_from(names, 'autogen')} WHERE {_time_range(lo_raw, hi)} GROUP BY *"
                    )
        self._post_lines([f"{_LAYOUT_MEASUREMENT} adopted=1i {now}\n"])

    # ---- tenancy -----------------------------------------------------------------------------

    def tenant_database(self, coop_id: str) -> str:
        """The database of a cooperative's data when the store is per cooperative: ``panen_batu``.
        Characters other than letters, digits, ``-`` and ``_`` (never in a registry id) are written
        ``~hex~``, so any id names exactly one database."""
        safe = _UNSAFE_DB_CHARS.sub(lambda m: f"~{ord(m.group()):x}~", coop_id)
        return f"{self.database}_{safe}"

    def create_tenant(self, coop_id: str) -> None:
        """Set up a cooperative's database as :meth:`create_database` does the shared one."""
        sibling = InfluxStore(self.url, database=self.tenant_database(coop_id), retention=self.retention)
        sibling._client = self._client  # the same credentials and connections
        try:
            sibling.create_database()
        finally:
            sibling._sender.shutdown(wait=True)
        self._tenant_dbs = (0.0, [])

    def tenant_databases(self) -> list[str]:
        """The cooperatives' databases these credentials see (``SHOW DATABASES``, cached a minute)."""
        at, names = self._tenant_dbs
        if time.monotonic() - at > 60:
            prefix = f"{self.database}_"
            names = sorted(
                row[0]
                for s in self.query("SHOW DATABASES")
                for row in s["values"]
                if str(row[0]).startswith(prefix)
            )
            self._tenant_dbs = (time.monotonic(), names)
        return names

    def _databases(self, coop_id: str | None) -> list[str | None]:
        """Where readings (and aggregates) of ``coop_id`` (``None``: of every cooperative) are:
        ``[None]`` is "this database", unqualified."""
        if not self.tenants:
            return [None]
        if coop_id is not None:
            return [self.tenant_database(coop_id)]
        return list(self.tenant_databases())

    def _src(self, measurements: Sequence[str], rp: str = RAW_RP, coop_id: str | None = None) -> str | None:
        """The FROM list of ``measurements`` in ``rp`` in every database holding the cooperative's
        readings; ``None`` when there is none (a store per cooperative with no cooperative yet)."""
        parts = [
            f"{quote_ident(db) + '.' if db else ''}{quote_ident(rp)}.{quote_ident(m)}"
            for db in self._databases(coop_id)
            for m in measurements
        ]
        return ",".join(parts) or None

    def split_to_tenants(
        self, *, progress: Callable[[str], None] | None = None
    ) -> dict[str, tuple[int, int]]:
        """Copy a single-database store's readings, aggregates, forecasts and alerts into one
        database per cooperative (``panen store split``): month by month, each month remembered in
        ``panen_split`` once copied, so an interrupted split resumes and a rerun copies nothing. Nothing
        is deleted from the shared database. Returns, per cooperative, the readings counted in the
        shared database and in the cooperative's after the copy (they must be equal).

        Needs admin credentials (it creates the cooperatives' databases).
        """
        say = progress or (lambda _line: None)
        names = metric_names()
        shared = quote_ident(self.database)
        coops = sorted(
            {
                row[1]
                for s in self.query(f'SHOW TAG VALUES FROM {_from(names)} WITH KEY = "coop"')
                for row in s["values"]
            }
        )
        done: dict[tuple[str, str], int] = {}
        for s in self.query(
            f'SELECT last("done_until") FROM {quote_ident(_SPLIT_MEASUREMENT)} GROUP BY "coop", "what"'
        ):
            done[(s["tags"]["coop"], s["tags"]["what"])] = int(s["values"][0][1])
        firsts = [
            s["values"][0][0]
            for rp, field in ((RAW_RP, "value"), (DAILY_RP, "count"))
            for s in self.query(f"SELECT first({quote_ident(field)}) FROM {_from(names, rp)}")
        ]
        now = time.time_ns() // 1_000_000
        start = (min(firsts) // DAY_MS - 1) * DAY_MS if firsts else now
        month = 30 * DAY_MS
        sources = {
            rp: ",".join(f"{shared}.{quote_ident(rp)}.{quote_ident(m)}" for m in names)
            for rp in (RAW_RP, HOURLY_RP, DAILY_RP)
        }
        sources["autogen"] = ",".join(
            f'{shared}."autogen".{quote_ident(m)}' for m in (FORECAST_MEASUREMENT, "alert")
        )
        counts: dict[str, tuple[int, int]] = {}
        for coop in coops:
            target = quote_ident(self.tenant_database(coop))
            if self.tenant_database(coop) not in self.tenant_databases():
                self.create_tenant(coop)
            copied = 0
            for what, source in sources.items():
                for lo in range(start, now + DAY_MS, month):
                    if done.get((coop, what), start) >= lo + month:
                        continue
                    self.query(
                        f"SELECT * INTO {target}.{quote_ident(what)}.:MEASUREMENT FROM {source} "
                        f'WHERE "coop" = {quote_string(coop)} AND {_time_range(lo, lo + month)} GROUP BY *'
                    )
                    tags = f"coop={coop.translate(_TAG_ESCAPES)},what={what}"
                    self._post_lines([f"{_SPLIT_MEASUREMENT},{tags} done_until={lo + month}i {now}\n"])
                    copied += 1
            before = self._count(f"{shared}.{quote_ident(RAW_RP)}", names, coop)
            after = self._count(f"{target}.{quote_ident(RAW_RP)}", names, coop)
            counts[coop] = (before, after)
            say(f"{coop}: {copied} month(s) copied; readings {before} in {self.database}, {after} in its own")
        return counts

    def _count(self, prefix: str, names: Sequence[str], coop: str) -> int:
        source = ",".join(f"{prefix}.{quote_ident(m)}" for m in names)
        return sum(
            int(row[1] or 0)
            for s in self.query(f'SELECT count("value") FROM {source} WHERE "coop" = {quote_string(coop)}')
            for row in s["values"]
        )

    # ---- the store port --------------------------------------------------------------------

    def _reading_lines(self, readings: Sequence[Reading]) -> list[str]:
        """Line protocol of ``readings``, one line each, with the least Python per reading (issue 42:
        formatting was most of the adapter's cost, 2.1 µs a reading; issue 41: 0.67 µs).

        Raises:
            StoreRejected: a value is not a finite number (nothing of the batch is sent).
        """
        try:
            finite = math.isfinite(math.fsum(map(_VALUE, readings)))
        except OverflowError:
            finite = False
        if not finite:  # find the culprit: one pass only for a batch that has one
            for r in readings:
                if not math.isfinite(r.value):
                    raise StoreRejected(f"{r.metric} of node {r.node_id!r} is not finite: {r.value}")
        cache = self._line_starts
        if len(cache) > 200_000:  # bound the cache; a fleet has a few thousand nodes, ~10 metrics each
            cache.clear()
        lines: list[str] = []
        append = lines.append
        # Unpacked rather than read by name (a named tuple's fields are descriptors), each line's start
        # cached per series, and its quality a constant: 0.67 µs a reading where it was 1.08 (issue 41).
        for node, coop, site, metric, value, ts, quality in readings:
            key = (metric, coop, node, site)
            start = cache.get(key)
            if start is None:
                measurement = metric if metric in CATALOGUE else metric.translate(_MEASUREMENT_ESCAPES)
                start = cache[key] = f"{measurement},{_tag_set(coop, node, site)} value="
            append(f"{start}{float(value)!r}{_QUALITY_FIELD[quality]}{ts}\n")
        return lines

    def _late_days(self, readings: Sequence[Reading]) -> set[int]:
        """The days of readings older than the rollups' window (see :meth:`_mark_late`)."""
        before = self._late_before(_now_ms())
        times = set(map(_TS, readings))  # a message's readings share their time
        if not times or min(times) >= before:
            return set()
        return {day_floor(ts) for ts in times if ts < before}

    def write(self, readings: Iterable[Reading]) -> int:
        """Write readings as line protocol; see :meth:`storage.base.TimeSeriesStore.write`."""
        batch = readings if isinstance(readings, list) else list(readings)
        if not self.tenants:
            lines = self._reading_lines(batch)
            self._post_lines(lines, rp=RAW_RP)
            self._mark_late(self._late_days(batch), None)
            return len(lines)
        by_coop: dict[str, list[Reading]] = {}
        for r in batch:
            by_coop.setdefault(r.coop_id, []).append(r)
        count = 0
        for coop, group in by_coop.items():
            database = self.tenant_database(coop) if coop else self.database
            lines = self._reading_lines(group)
            self._post_lines(lines, rp=RAW_RP, database=database)
            self._mark_late(self._late_days(group), database)
            count += len(lines)
        return count

    # ---- which days the tiers answer --------------------------------------------------------
    #
    # The continuous queries (or 2.x's tasks) run every every_s over the last resample_days, so a
    # reading that arrives within an interval or two of its time is in the tiers after the next run.
    # One that arrives later (a spool replayed after an outage, a node's buffered frames, a backfill)
    # marks its day in _LATE_MEASUREMENT, after the readings are stored, and maintain() rolls the day
    # up again and records the mark it saw in _REROLLED_MEASUREMENT. Reads take from raw readings the
    # last few intervals (whole days: today, and yesterday just after midnight) and the days marked
    # since their last rollup, and every other day from the tiers (issue 42: a season's read from
    # raw readings took 12 s on InfluxDB).

    def _late_before(self, now_ms: int) -> int:
        """A reading older than this, written now, is marked: it may miss the continuous queries' next
        run (two intervals: one for the run to come, one for the run that may have just begun)."""
        return now_ms - 2 * self.retention.every_s * 1000

    def _fresh_from(self, now_ms: int) -> int:
        """00:00 WIB of the first day an unmarked reading may not be in the tiers yet: one written up to
        an interval ago, of a time up to two intervals before that, and a minute for a late run."""
        return day_floor(now_ms - 3 * self.retention.every_s * 1000 - 60_000)

    def _mark_late(self, days: set[int], database: str | None) -> None:
        if not days:
            return
        # After the readings are stored: a rollup that saw the mark before this one may lack them.
        mark = secrets.randbits(62)
        self._post_lines(
            (f"{_LATE_MEASUREMENT} at={mark}i {day}\n" for day in sorted(days)), database=database
        )

    def _marks(self, databases: Sequence[str | None], start_ms: int, end_ms: int) -> str:
        """The statement reading late marks and rollup records in ``[start_ms, end_ms)``."""
        sources = ",".join(
            f"{quote_ident(db) + '..' if db else ''}{quote_ident(m)}"
            for db in databases
            for m in (_LATE_MEASUREMENT, _REROLLED_MEASUREMENT)
        )
        return f'SELECT "at" FROM {sources} WHERE {_time_range(start_ms, end_ms)}'

    @staticmethod
    def _dirty(series: list[dict[str, Any]]) -> dict[int, int]:
        """Days (00:00 WIB) marked late since their last rollup, with their marks, from the series of
        :meth:`_marks` (in a store per cooperative, a day marked in any database counts)."""
        late: dict[int, set[int]] = {}
        rolled: dict[int, set[int]] = {}
        for s in series:
            into = late if s["name"] == _LATE_MEASUREMENT else rolled
            for ts, at in s["values"]:
                into.setdefault(int(ts), set()).add(int(at))
        return {day: max(marks) for day, marks in sorted(late.items()) if not marks <= rolled.get(day, set())}

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
        names = metric_names() if metrics is None else list(metrics)
        if not names:
            return []
        where = [_time_range(start_ms, end_ms)]
        if node_id is not None:
            where.append(_any_of("node", [node_id]))
        if site_id is not None:
            where.append(_any_of("site", [site_id]))
        source = self._src(names)
        if source is None:
            return []
        statement = (
            f'SELECT "value", "quality" FROM {source} WHERE {" AND ".join(where)} '
            'GROUP BY "coop", "node", "site"'
        )
        readings = [
            Reading(
                s["tags"].get("node", ""),
                s["tags"].get("coop", ""),
                s["tags"].get("site", ""),
                s["name"],
                float(value),
                int(ts),
                Quality(int(quality or 0)),
            )
            for s in self.query(statement)
            for ts, value, quality in s["values"]
            if value is not None
        ]
        readings.sort(key=lambda r: (r.ts_ms, r.metric, r.node_id))
        return readings

    def latest(
        self, *, node_ids: Sequence[str] | None = None, site_ids: Sequence[str] | None = None
    ) -> list[Reading]:
        """Newest reading per node and metric, ordered by node then metric."""
        where: list[str] = []
        for tag, values in (("node", node_ids), ("site", site_ids)):
            if values is not None:
                if not values:
                    return []
                where.append(_any_of(tag, values))
        condition = f" WHERE {' AND '.join(where)}" if where else ""
        source = self._src(metric_names())
        if source is None:
            return []
        statement = (
            f'SELECT last("value") AS "value", "quality" FROM {source}{condition} '
            'GROUP BY "coop", "node", "site"'
        )
        newest: dict[tuple[str, str], Reading] = {}
        for s in self.query(statement):
            for ts, value, quality in s["values"]:
                if value is None:
                    continue
                tags = s["tags"]
                reading = Reading(
                    tags.get("node", ""),
                    tags.get("coop", ""),
                    tags.get("site", ""),
                    s["name"],
                    float(value),
                    int(ts),
                    Quality(int(quality or 0)),
                )
                key = (reading.node_id, reading.metric)
                # A node moved to another site has one series per assignment: keep the newest.
                if key not in newest or newest[key].ts_ms < reading.ts_ms:
                    newest[key] = reading
        return [newest[k] for k in sorted(newest)]

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
        """Per site, metric and WIB day; see :meth:`storage.base.TimeSeriesStore.daily`. From the daily
        tier, and from raw readings only where the tier may lag them (see :meth:`_late_before`)."""
        if not site_ids or not metrics:
            return []
        start_ms = local_day_start_ms(start_day)
        end_ms = local_day_start_ms(end_day) + DAY_MS
        quality = "" if include_implausible else f' AND "quality" = {int(Quality.VALID)}'
        coop = "" if coop_id is None else f' AND "coop" = {quote_string(coop_id)}'
        # Buckets of 1 day offset by 17 h start at 17:00 UTC, which is 00:00 WIB.
        group = f'GROUP BY {Resolution.DAY.influxql_time}, "site" fill(none)'
        source, rolled_source = self._src(metrics, coop_id=coop_id), self._src(metrics, DAILY_RP, coop_id)
        if source is None or rolled_source is None:
            return []
        sites = _any_of("site", site_ids)

        def raw_select(lo: int, hi: int) -> str:
            # mean = sum / count on our side: each InfluxQL aggregate is another pass over the points.
            return (
                'SELECT min("value"), max("value"), sum("value"), count("value") '
                f"FROM {source} WHERE {sites} AND {_time_range(lo, hi)}{quality}{coop} {group}"
            )

        if include_implausible:
            raw = self._daily_rows(self.query(raw_select(start_ms, end_ms)))
            return sorted(raw, key=lambda a: (a.site_id, a.metric, a.day))
        # The tier's points as they are, summed over nodes here: InfluxDB's GROUP BY time took 1.7 s
        # for a season of 240 fields where the plain SELECT takes 0.4 s (bench.store, 1.8).
        rolled_select = (
            'SELECT "min", "max", "sum", "count", "site" '
            f"FROM {rolled_source} WHERE {sites} AND {_time_range(start_ms, end_ms)}{coop}"
        )
        fresh = self._fresh_from(_now_ms())
        tail = max(fresh, start_ms)
        marks, rolled_series, *tail_series = self.queries(
            [
                self._marks(self._databases(coop_id), start_ms, min(end_ms, fresh)),
                rolled_select,
                *([raw_select(tail, end_ms)] if tail < end_ms else []),
            ]
        )
        spans = raw_spans(self._dirty(marks), start_ms, end_ms, fresh)
        older = [span for span in spans if span[0] < tail]
        raw_series = (
            [*tail_series, *self.queries([raw_select(lo, hi) for lo, hi in older])] if older else tail_series
        )
        raw = [row for series in raw_series for row in self._daily_rows(series)]
        kept = _summed_days(rolled_series, spans)
        return sorted(raw + kept, key=_DAILY_ORDER)

    @staticmethod
    def _daily_rows(series: list[dict[str, Any]]) -> list[DailyAggregate]:
        return [
            DailyAggregate(
                s["tags"].get("site", ""), s["name"], local_day(int(ts)), lo, total / n, hi, total, int(n)
            )
            for s in series
            for ts, lo, hi, total, n in s["values"]
            if n
        ]

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
        """Hourly or daily aggregates; see :meth:`storage.base.TimeSeriesStore.buckets`. From the tier,
        and from raw readings only where the tier may lag them, as in :meth:`daily`."""
        if not metrics:
            return []
        lo, hi = resolution.bounds(start_ms, end_ms)
        if lo >= hi:
            return []
        where = _any_of("site", [site_id])
        if coop_id is not None:
            where += f' AND "coop" = {quote_string(coop_id)}'
        group = f"GROUP BY {resolution.influxql_time} fill(none)"
        source, rolled_source = (
            self._src(metrics, coop_id=coop_id),
            self._src(metrics, resolution.rp, coop_id),
        )
        if source is None or rolled_source is None:
            return []

        def raw_select(a: int, b: int) -> str:
            valid = f'"quality" = {int(Quality.VALID)}'
            return (
                'SELECT min("value"), max("value"), sum("value"), count("value") '
                f"FROM {source} WHERE {where} AND {_time_range(a, b)} AND {valid} {group}"
            )

        fresh = self._fresh_from(_now_ms())
        tail = max(fresh, lo)
        marks, rolled_series, *tail_series = self.queries(
            [
                self._marks(self._databases(coop_id), day_floor(lo), min(hi, fresh)),
                'SELECT min("min"), max("max"), sum("sum"), sum("count") '
                f"FROM {rolled_source} WHERE {where} AND {_time_range(lo, hi)} {group}",
                *([raw_select(tail, hi)] if tail < hi else []),
            ]
        )
        spans = raw_spans(self._dirty(marks), lo, hi, fresh)
        older = [span for span in spans if span[0] < tail]
        raw_series = (
            [*tail_series, *self.queries([raw_select(a, b) for a, b in older])] if older else tail_series
        )
        raw = [row for series in raw_series for row in self._bucket_rows(site_id, series)]
        kept = [b for b in self._bucket_rows(site_id, rolled_series) if not in_spans(spans, b.start_ms)]
        return sorted(raw + kept, key=lambda b: (b.metric, b.start_ms))

    @staticmethod
    def _bucket_rows(site_id: str, series: list[dict[str, Any]]) -> list[Bucket]:
        return [
            Bucket(site_id, s["name"], int(ts), lo, total / n, hi, total, int(n))
            for s in series
            for ts, lo, hi, total, n in s["values"]
            if n
        ]

    def rollup(self, *, start_ms: int, end_ms: int, now_ms: int) -> int:
        """Backfill the hourly and daily tiers; see :meth:`storage.base.TimeSeriesStore.rollup`."""
        return sum(self._rollup_days(db, start_ms, end_ms, now_ms) for db in self._databases(None))

    def _rollup_days(
        self,
        database: str | None,
        start_ms: int,
        end_ms: int,
        now_ms: int,
        seen: Mapping[int, int] | None = None,
    ) -> int:
        """Roll up ``[start_ms, end_ms)`` (whole days, within the raw window) in one database, and record
        the late marks its days had before it began (``seen``, else read now): those days are read from
        the tiers again."""
        span = self.retention.rollup_range(start_ms, end_ms, self.retention.raw_cutoff_ms(now_ms))
        if span is None:
            return 0
        if seen is None:
            seen = self._dirty(self.query(self._marks([database], *span)))
        written = 0
        chunk = 30 * DAY_MS  # one statement per month keeps each response and its memory small
        for lo in range(span[0], span[1], chunk):
            for resolution in Resolution:
                statement = influx1_rollup_select(
                    database or self.database,
                    resolution,
                    metric_names(),
                    start_ms=lo,
                    end_ms=min(lo + chunk, span[1]),
                )
                written += sum(int(row[1]) for s in self.query(statement) for row in s["values"])
        self._rerolled(seen, database)
        return written

    def changed_days(
        self, since: object | None, *, start_day: dt.date, end_day: dt.date
    ) -> tuple[frozenset[dt.date] | None, object]:
        """See :meth:`storage.base.TimeSeriesStore.changed_days`. A reading that arrives late marks its
        day (:meth:`_mark_late`) and maintenance records the marks it rolled up again: a day whose
        marks differ from those seen before changed. Readings that arrive in time mark nothing, but
        land only in the days still read raw then (:meth:`_fresh_from`), so those days changed too."""
        start, end = local_day_start_ms(start_day), local_day_start_ms(end_day) + DAY_MS
        fresh = self._fresh_from(_now_ms())
        seen: dict[int, list[tuple[str, int]]] = {}
        databases = self._databases(None)
        for s in self.query(self._marks(databases, start, end)) if databases else []:
            for ts, at in s["values"]:
                seen.setdefault(int(ts), []).append((s["name"], int(at)))
        marks = {day: tuple(sorted(v)) for day, v in seen.items()}
        token = _MarksSeen(marks, fresh)
        if not isinstance(since, _MarksSeen):
            return None, token
        days = {day for day in marks.keys() | since.marks.keys() if marks.get(day) != since.marks.get(day)}
        days.update(range(max(since.fresh_from, start), end, DAY_MS))
        return frozenset(local_day(day) for day in days if start <= day < end), token

    def _rerolled(self, marks: Mapping[int, int], database: str | None) -> None:
        lines = (f"{_REROLLED_MEASUREMENT} at={mark}i {day}\n" for day, mark in marks.items())
        self._post_lines(lines, database=database)

    def maintain(self, *, now_ms: int) -> dict[str, int]:
        """Roll up again the days that readings reached late (:meth:`_mark_late`); InfluxDB itself
        expires (retention policies) and rolls up the recent days (continuous queries or tasks)."""
        rolled = 0
        cut = self.retention.raw_cutoff_ms(now_ms)
        for database in self._databases(None):
            dirty = self._dirty(self.query(self._marks([database], _MIN_MS, self._fresh_from(now_ms))))
            # Past the raw window: its tier is all there is; recorded, so reads take it.
            past = {
                day: mark
                for day, mark in dirty.items()
                if self.retention.rollup_range(day, day + DAY_MS, cut) is None
            }
            if past:
                self._rerolled(past, database)
            # The others in runs of days in a row, each run one backfill with the marks read above.
            for lo, hi in raw_spans((day for day in dirty if day not in past), _MIN_MS, _MAX_MS, _MAX_MS):
                self._rollup_days(database, lo, hi, now_ms, {d: m for d, m in dirty.items() if lo <= d < hi})
            rolled += len(dirty)
        return {"rolled_up_days": rolled} if rolled else {}

    def continuous_queries(self) -> list[str]:
        """The names of this database's continuous queries (``SHOW CONTINUOUS QUERIES``)."""
        return [
            row[0]
            for s in self.query("SHOW CONTINUOUS QUERIES")
            if s["name"] == self.database
            for row in s["values"]
        ]

    def write_forecasts(self, points: Iterable[ForecastPoint]) -> int:
        """Write forecast points to the ``forecast`` measurement; returns how many. Per cooperative,
        each goes to its cooperative's database too (its farmers' dashboards read it there)."""
        rows = [
            ((("commodity", p.commodity), ("coop", p.coop_id), ("site", p.site_id)), p.values, p.ts_ms)
            for p in points
        ]
        self._to_tenants(FORECAST_MEASUREMENT, rows, [p[0][1][1] for p in rows])
        return self._write_points(FORECAST_MEASUREMENT, rows)

    def _to_tenants(
        self,
        measurement: str,
        rows: Sequence[tuple[tuple[tuple[str, str], ...], Mapping[str, float], int]],
        coops: Sequence[str],
    ) -> None:
        """Copy ``rows`` into their cooperatives' databases (``coops``, row by row), if per cooperative."""
        if not self.tenants:
            return
        by_coop: dict[str, list[tuple[tuple[tuple[str, str], ...], Mapping[str, float], int]]] = {}
        for row, coop in zip(rows, coops, strict=True):
            if coop:
                by_coop.setdefault(coop, []).append(row)
        for coop, group in by_coop.items():
            self._write_points(measurement, group, database=self.tenant_database(coop))

    def write_series(self, points: Iterable[SeriesPoint]) -> int:
        """Write derived-series points, each to the measurement named by its series; returns how many."""
        by_series: dict[Series, list[SeriesPoint]] = {}
        for p in points:
            by_series.setdefault(p.series, []).append(p)
        written = 0
        for series, group in by_series.items():
            rows = [(tuple(sorted(p.tags.items())), p.values, p.ts_ms) for p in group]
            if series is Series.ALERT:  # a farmer's dashboard shows its field's alerts
                self._to_tenants(series.value, rows, [p.tags.get("coop", "") for p in group])
            written += self._write_points(series.value, rows)
        return written

    def _write_points(
        self,
        measurement: str,
        points: Iterable[tuple[tuple[tuple[str, str], ...], Mapping[str, float], int]],
        *,
        database: str | None = None,
    ) -> int:
        count = 0

        def lines() -> Iterator[str]:
            nonlocal count
            for tag_pairs, values, ts_ms in points:
                fields = []
                for name, value in values.items():
                    if not _IDENT_RE.match(name):
                        raise StoreRejected(f"{measurement} value name {name!r} is not an identifier")
                    fields.append(f"{name}={float(value)!r}")
                if not fields:
                    continue
                count += 1
                tags = ",".join(
                    f"{key}={value.translate(_TAG_ESCAPES)}"
                    for key, value in tag_pairs
                    if value  # an empty tag value is not allowed: "none" is no tag
                )
                yield f"{measurement}{',' if tags else ''}{tags} {','.join(fields)} {ts_ms}\n"

        self._post_lines(lines(), database=database)
        return count

    def series(self, series: Series, *, start_ms: int, end_ms: int) -> list[SeriesPoint]:
        """A derived series' points in ``[start_ms, end_ms)``, ordered by time."""
        names = SERIES_TAGS[series]
        statement = (
            f"SELECT * FROM {quote_ident(series.value)} WHERE {_time_range(start_ms, end_ms)} "
            f"GROUP BY {', '.join(quote_ident(t) for t in names)}"
        )
        points = []
        for s in self.query(statement):
            columns = s["columns"][1:]
            tags = {t: s.get("tags", {}).get(t, "") for t in names}
            for row in s["values"]:
                fields = {n: float(v) for n, v in zip(columns, row[1:], strict=True) if v is not None}
                if fields:
                    points.append(SeriesPoint(series, tags, int(row[0]), fields))
        points.sort(key=lambda p: (p.ts_ms, sorted(p.tags.items())))
        return points

    def forecasts(
        self,
        *,
        start_ms: int,
        end_ms: int,
        site_ids: Sequence[str] | None = None,
        coop_ids: Sequence[str] | None = None,
    ) -> list[ForecastPoint]:
        """Forecast points issued in ``[start_ms, end_ms)``, ordered by site then time."""
        where = [_time_range(start_ms, end_ms)]
        for tag, values in (("site", site_ids), ("coop", coop_ids)):
            if values is not None:
                if not values:
                    return []
                where.append(_any_of(tag, values))
        statement = (
            f"SELECT * FROM {quote_ident(FORECAST_MEASUREMENT)} WHERE {' AND '.join(where)} "
            'GROUP BY "site", "coop", "commodity"'
        )
        points = []
        for s in self.query(statement):
            names = s["columns"][1:]
            tags = s["tags"]
            for row in s["values"]:
                fields = {n: float(v) for n, v in zip(names, row[1:], strict=True) if v is not None}
                if fields:
                    points.append(
                        ForecastPoint(
                            tags.get("site", ""),
                            tags.get("coop", ""),
                            tags.get("commodity", ""),
                            int(row[0]),
                            fields,
                        )
                    )
        points.sort(key=lambda p: (p.site_id, p.ts_ms, p.coop_id, p.commodity))
        return points

    def ping(self) -> None:
        """``GET /ping``: raises :class:`StoreUnavailable` if the server does not answer."""
        self._request("GET", "/ping")

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._sender.shutdown(wait=True)
        self._client.close()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _summed_days(series: list[dict[str, Any]], spans: Sequence[tuple[int, int]]) -> list[DailyAggregate]:
    """The daily tier's points (one per node, site and day) summed per site, metric and day, but for the
    days in ``spans`` (read from raw readings). One object per point, merged only where a site has
    several nodes: a season's read makes tens of thousands, and each allocation feeds the collector."""
    days: dict[tuple[str, str, int], DailyAggregate] = {}
    dates: dict[int, dt.date] = {}
    for s in series:
        metric = s["name"]
        for ts, lo, hi, total, n, site in s["values"]:
            if not n or in_spans(spans, ts):
                continue
            day = dates.get(ts)
            if day is None:
                day = dates[ts] = local_day(ts)
            key = (site or "", metric, ts)
            have = days.get(key)
            if have is not None:  # another node of the site
                lo, hi, total, n = min(have.min, lo), max(have.max, hi), have.sum + total, have.count + n
            days[key] = DailyAggregate(key[0], metric, day, lo, total / n, hi, total, int(n))
    return list(days.values())


_DAILY_ORDER = operator.attrgetter("site_id", "metric", "day")


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (``localhost`` or a loopback address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bodies(lines: Iterable[str]) -> Iterator[str]:
    batch: list[str] = []
    size = 0
    for line in lines:
        batch.append(line)
        size += len(line)
        if size >= _BODY_BYTES:
            yield "".join(batch)
            batch, size = [], 0
    if batch:
        yield "".join(batch)


def _json_documents(text: str) -> Iterator[dict[str, Any]]:
    """Chunked responses are JSON documents one after another; a plain response is just one.

    InfluxDB writes each document on a line of its own: those are parsed by orjson (a season's answer
    parsed 4x faster than with json); anything else by json's decoder, document by document."""
    try:
        documents = [orjson.loads(line) for line in text.split("\n") if line.strip()]
    except orjson.JSONDecodeError:
        documents = None
    if documents is not None and all(isinstance(d, dict) for d in documents):
        yield from documents
        return
    decoder = json.JSONDecoder()
    index, end = 0, len(text)
    while index < end:
        while index < end and text[index].isspace():
            index += 1
        if index >= end:
            return
        try:
            document, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            raise StoreError(
                f"InfluxDB sent a response that is not JSON: {text[index : index + 200]!r}"
            ) from exc
        yield document


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)[:500]
    return str(body)[:500]
