"""How long readings are kept, and the hourly and daily aggregates that outlive them.

Three tiers, the same on every store:

- **raw** readings for :attr:`Retention.raw_days` (default 90 days);
- **hourly** aggregates (min, max, sum, count of the valid values per node, metric and UTC hour)
  for :attr:`Retention.hourly_days` (default 2 years);
- **daily** aggregates (the same per local WIB day) forever.

Implausible values are not rolled up: aggregates are what forecasts and charts use, and both skip
them. Who does the rolling up:

- InfluxDB 1.x: retention policies ``raw``, ``hourly`` and ``daily`` in the database, and two
  continuous queries that recompute the last :attr:`Retention.resample_days` days every
  :attr:`Retention.every_s` seconds, so readings that arrive late (a spool replayed after an
  outage) are counted. Forecasts, derived series and everything else stay in the database's default
  policy (``autogen``, kept forever): the track record needs old forecasts.
- InfluxDB 2.x: one bucket per tier mapped by DBRP to the same database and policy names, and two
  Flux tasks doing what the continuous queries do (:func:`influx2_requests`).
- SQLite: :meth:`storage.sqlite.SqliteStore.maintain`, run by the forecast refresh.

A store answers a daily or hourly question from the tiers, and from raw readings only for the days
the tiers may not hold whole yet (issue 42: a season's read from raw readings took seconds):

- SQLite: from the day :meth:`~storage.sqlite.SqliteStore.maintain` last rolled up into, and the days
  a write has touched since (kept in ``rollup_dirty`` by the write's own transaction);
- InfluxDB: the last three rollup intervals (``every_s``: the continuous queries' next run may not
  have them yet), and the days that readings reached later than two intervals after their time
  (marked by the write, rolled up again by ``maintain``).

Where both a tier and raw readings could answer a day, raw answers (the tier may lag it); days raw has
begun to expire are the tier's. ``tests/storage/test_tiers_equal_raw.py`` holds that the answers equal
the raw readings' aggregates whatever is written when.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from storage.base import DAY_MS, WIB_OFFSET_MS

__all__ = [
    "DAILY_RP",
    "HOURLY_RP",
    "RAW_RP",
    "Resolution",
    "Retention",
    "day_floor",
    "in_spans",
    "influx1_continuous_queries",
    "influx1_rollup_select",
    "influx2_requests",
    "raw_spans",
]

RAW_RP = "raw"
HOURLY_RP = "hourly"
DAILY_RP = "daily"
HOUR_MS = 3_600_000
# Local days begin at 17:00 UTC (00:00 WIB): InfluxQL's GROUP BY time(1d, 17h), Flux's offset.
DAY_OFFSET_H = (DAY_MS - WIB_OFFSET_MS) // HOUR_MS


class Resolution(StrEnum):
    """The aggregate tiers."""

    HOUR = "hour"
    DAY = "day"

    @property
    def ms(self) -> int:
        """The bucket width [ms]."""
        return HOUR_MS if self is Resolution.HOUR else DAY_MS

    @property
    def influxql_time(self) -> str:
        """InfluxQL's ``GROUP BY`` term for these buckets: UTC hours, or days from 00:00 WIB."""
        return "time(1h)" if self is Resolution.HOUR else f"time(1d, {DAY_OFFSET_H}h)"

    def bounds(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        """The first bucket start at or after ``start_ms``, and the first at or after ``end_ms``."""
        width = self.ms
        offset = 0 if self is Resolution.HOUR else -WIB_OFFSET_MS
        return (
            -((offset - start_ms) // width) * width + offset,
            -((offset - end_ms) // width) * width + offset,
        )

    @property
    def rp(self) -> str:
        """The InfluxDB retention policy (1.x) or DBRP policy name (2.x) that keeps this tier."""
        return HOURLY_RP if self is Resolution.HOUR else DAILY_RP


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each tier is kept, and how the rollups run.

    Attributes:
        raw_days: Raw readings are kept this many days; ``None`` keeps them forever.
        hourly_days: Hourly aggregates are kept this many days; ``None`` keeps them forever.
        resample_days: Each rollup recomputes this many past days, so late readings are counted;
            readings arriving later than that reach the aggregates only through
            ``panen store rollup``.
        every_s: How often the rollups run [s] (InfluxDB continuous queries and tasks).
    """

    raw_days: int | None = 90
    hourly_days: int | None = 730
    resample_days: int = 7
    every_s: int = 3600

    def __post_init__(self) -> None:
        for name in ("raw_days", "hourly_days"):
            days = getattr(self, name)
            if days is not None and days < 1:
                raise ValueError(f"{name} must be at least 1 day, or None for forever (got {days})")
        if self.resample_days < 1 or self.every_s < 1:
            raise ValueError("resample_days and every_s must be positive")
        if self.raw_days is not None and self.resample_days > self.raw_days:
            raise ValueError(
                f"resample_days ({self.resample_days}) must not exceed raw_days ({self.raw_days})"
            )

    def raw_cutoff_ms(self, now_ms: int) -> int | None:
        """Raw readings before this instant [ms] are past the window (``None``: none are)."""
        return None if self.raw_days is None else now_ms - self.raw_days * DAY_MS

    def hourly_cutoff_ms(self, now_ms: int) -> int | None:
        """Hourly aggregates before this instant [ms] are past their window (``None``: none are)."""
        return None if self.hourly_days is None else now_ms - self.hourly_days * DAY_MS

    @staticmethod
    def rollup_range(start_ms: int, end_ms: int, cut_ms: int | None) -> tuple[int, int] | None:
        """``[start_ms, end_ms)`` widened to whole local days, less the days before ``cut_ms``, where
        raw readings may already be gone (recomputing those would undercount); ``None`` when nothing
        is left."""
        start = day_floor(start_ms)
        if cut_ms is not None:
            start = max(start, day_floor(cut_ms) + DAY_MS)
        end = day_floor(end_ms - 1) + DAY_MS
        return (start, end) if start < end else None


def raw_spans(days: Iterable[int], start_ms: int, end_ms: int, tail_from: int) -> list[tuple[int, int]]:
    """The parts of ``[start_ms, end_ms)`` a store reads from raw readings: each of ``days`` (00:00 WIB,
    in order: days a tier may lag) and everything from ``tail_from`` on (not rolled up yet), merged."""
    spans: list[tuple[int, int]] = []
    for day in days:
        lo, hi = max(day, start_ms), min(day + DAY_MS, end_ms, tail_from)
        if lo >= hi:
            continue
        if spans and spans[-1][1] >= lo:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    if max(tail_from, start_ms) < end_ms:
        spans.append((max(tail_from, start_ms), end_ms))
    return spans


def in_spans(spans: Sequence[tuple[int, int]], ts: int) -> bool:
    """Whether ``ts`` is in one of ``spans`` (:func:`raw_spans`' answer: sorted, most reads have one,
    at the end)."""
    if not spans or ts < spans[0][0]:
        return False
    return any(lo <= ts < hi for lo, hi in spans)


def day_floor(ts_ms: int) -> int:
    """00:00 WIB of the local day containing ``ts_ms``."""
    return (ts_ms + WIB_OFFSET_MS) // DAY_MS * DAY_MS - WIB_OFFSET_MS


@dataclass(frozen=True, slots=True)
class ChartTier:
    """Which tier a chart over a time range of ``[min_range_ms, max_range_ms)`` reads, and the
    InfluxQL for its mean, min, max and sum (raw readings have ``value``; aggregates ``min`` …)."""

    rp: str
    min_range_ms: int
    max_range_ms: int
    mean: str
    min: str
    max: str
    sum: str


_RAW_EXPR = ('mean("value")', 'min("value")', 'max("value")', 'sum("value")')
_ROLLED_EXPR = ('sum("sum") / sum("count")', 'min("min")', 'max("max")', 'sum("sum")')
# Ranges up to a week read raw readings (the newest hour is not rolled up yet), up to a season the
# hourly tier, longer ones the daily tier: a few hundred to a few thousand points per series.
CHART_TIERS = (
    ChartTier(RAW_RP, 0, 7 * DAY_MS + HOUR_MS, *_RAW_EXPR),
    ChartTier(HOURLY_RP, 7 * DAY_MS + HOUR_MS, 92 * DAY_MS, *_ROLLED_EXPR),
    ChartTier(DAILY_RP, 92 * DAY_MS, 2**62, *_ROLLED_EXPR),
)
# The measurement (default policy) holding CHART_TIERS, which the dashboards' hidden variables read.
CHART_TIER_MEASUREMENT = "panen_resolution"


def chart_tier(range_ms: int) -> ChartTier:
    """The tier a chart over ``range_ms`` reads (what the dashboards' variables pick)."""
    return next(t for t in CHART_TIERS if t.min_range_ms <= range_ms < t.max_range_ms)


def chart_tier_lines() -> list[str]:
    """:data:`CHART_TIERS` as line protocol, at time 0, for the dashboards' variables."""

    def text(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return [
        f"{CHART_TIER_MEASUREMENT},tier={t.rp} rp={text(t.rp)},mean_v={text(t.mean)},min_v={text(t.min)},"
        f"max_v={text(t.max)},sum_v={text(t.sum)},min_range_ms={t.min_range_ms}i,"
        f"max_range_ms={t.max_range_ms}i 0\n"
        for t in CHART_TIERS
    ]


# Every retention policy a store keeps readings and rollups in, with its duration in days (None: INF).
def influx1_policies(retention: Retention) -> dict[str, int | None]:
    """The readings' retention policies on InfluxDB 1.x and their durations [days, None = INF]."""
    return {RAW_RP: retention.raw_days, HOURLY_RP: retention.hourly_days, DAILY_RP: None}


def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def influx1_rollup_select(
    database: str,
    resolution: Resolution,
    measurements: Sequence[str],
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    source_rp: str = RAW_RP,
) -> str:
    """The ``SELECT … INTO`` that fills one tier from the raw readings.

    Without a time range it is the body of the continuous query (InfluxDB sets the range on each run);
    with one it is the backfill ``panen store rollup`` runs. One text for both, so what the tests
    check of the backfill holds for the continuous query.
    """
    db = _ident(database)
    sources = ", ".join(f"{db}.{_ident(source_rp)}.{_ident(m)}" for m in measurements)
    where = '"quality" = 0'
    if start_ms is not None and end_ms is not None:
        where += f" AND time >= {start_ms}ms AND time < {end_ms}ms"
    return (
        'SELECT min("value") AS "min", max("value") AS "max", sum("value") AS "sum", '
        f'count("value") AS "count" INTO {db}.{_ident(resolution.rp)}.:MEASUREMENT FROM {sources} '
        f"WHERE {where} GROUP BY {resolution.influxql_time}, *"
    )


def continuous_query_name(resolution: Resolution) -> str:
    """The name of the continuous query that keeps ``resolution`` up to date."""
    return f"panen_{resolution.rp}"


def influx1_continuous_queries(
    database: str, retention: Retention, measurements: Sequence[str]
) -> list[tuple[str, str]]:
    """``(name, CREATE CONTINUOUS QUERY …)`` for the hourly and the daily tier."""
    out = []
    for resolution in Resolution:
        body = influx1_rollup_select(database, resolution, measurements)
        name = continuous_query_name(resolution)
        out.append(
            (
                name,
                f"CREATE CONTINUOUS QUERY {_ident(name)} ON {_ident(database)} "
                f"RESAMPLE EVERY {retention.every_s}s FOR {retention.resample_days}d BEGIN {body} END",
            )
        )
    return out


def _flux_string(value: str) -> str:
    return json.dumps(value)  # a Flux string literal has JSON's escapes


def influx2_bucket_name(bucket: str, tier: str) -> str:
    """The 2.x bucket of a tier: ``panen_raw``, ``panen_hourly``, ``panen_daily``."""
    return f"{bucket}_{tier}"


def influx2_task_flux(
    bucket: str, resolution: Resolution, measurements: Sequence[str], retention: Retention
) -> str:
    """The Flux of the task that fills one tier: the continuous query's work, in 2.x's language."""
    names = "|".join(measurements)
    source = _flux_string(influx2_bucket_name(bucket, RAW_RP))
    target = _flux_string(influx2_bucket_name(bucket, resolution.rp))
    every = "1h" if resolution is Resolution.HOUR else "1d"
    offset = "0h" if resolution is Resolution.HOUR else f"{DAY_OFFSET_H}h"
    name = continuous_query_name(resolution)
    return f"""option task = {{name: {_flux_string(name)}, every: {retention.every_s}s}}

valid =
    from(bucket: {source})
        |> range(start: -{retention.resample_days}d)
        |> filter(fn: (r) => r._measurement =~ /^({names})$/)
        |> filter(fn: (r) => r._field == "value" or r._field == "quality")
        |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
        |> filter(fn: (r) => r.quality == 0)
        |> map(fn: (r) => ({{r with _field: "value", _value: r.value}}))
        |> drop(columns: ["quality", "value"])

tier = (fn, as) =>
    valid
        |> aggregateWindow(every: {every}, offset: {offset}, fn: fn, createEmpty: false, timeSrc: "_start")
        |> set(key: "_field", value: as)

union(tables: [tier(fn: min, as: "min"), tier(fn: max, as: "max"), tier(fn: sum, as: "sum"),
               tier(fn: count, as: "count")])
    |> to(bucket: {target})
"""


def influx2_requests(
    *, org_id: str, bucket: str, database: str, retention: Retention, measurements: Sequence[str]
) -> list[tuple[str, str, dict[str, Any]]]:
    """The InfluxDB 2.x API requests that set up the tiers: ``(method, path, JSON body)``.

    Buckets ``<bucket>_raw``, ``_hourly`` and ``_daily`` with their retention rules; DBRP mappings so
    that the v1 API reaches them as ``<database>.raw``, ``.hourly`` and ``.daily`` (the names the
    store queries on 1.x too); and one task per aggregate tier. A DBRP's ``bucketID`` is the id
    InfluxDB gives the bucket: written here as ``{bucket:<name>}``, to be filled in from the bucket
    request's answer. The bodies follow influxdata/openapi (PostBucketRequest, DBRPCreate,
    TaskCreateRequest); ``tests/storage/test_retention.py`` checks them against those schemas.
    """
    requests: list[tuple[str, str, dict[str, Any]]] = []
    for tier, days in influx1_policies(retention).items():
        name = influx2_bucket_name(bucket, tier)
        rules = [] if days is None else [{"type": "expire", "everySeconds": days * 86_400}]
        requests.append(
            (
                "POST",
                "/api/v2/buckets",
                {
                    "orgID": org_id,
                    "name": name,
                    "description": f"panen {tier} readings",
                    "retentionRules": rules,
                },
            )
        )
        requests.append(
            (
                "POST",
                "/api/v2/dbrps",
                {
                    "orgID": org_id,
                    "bucketID": f"{{bucket:{name}}}",
                    "database": database,
                    "retention_policy": tier,
                    "default": False,
                },
            )
        )
    for resolution in Resolution:
        requests.append(
            (
                "POST",
                "/api/v2/tasks",
                {
                    "orgID": org_id,
                    "description": f"panen: {resolution.rp} aggregates of the raw readings",
                    "flux": influx2_task_flux(bucket, resolution, measurements, retention),
                    "status": "active",
                },
            )
        )
    return requests


def influx2_shell(*, bucket: str, database: str, retention: Retention, measurements: Sequence[str]) -> str:
    """A POSIX shell script doing :func:`influx2_requests`' work with the ``influx`` CLI, idempotently:
    what docker-compose's InfluxDB 2.x runs from ``/docker-entrypoint-initdb.d`` on its first start
    (the CLI is configured there with the admin token), and what an operator runs by hand on an
    existing 2.x (``docker compose exec influxdb sh /docker-entrypoint-initdb.d/panen-tiers.sh``)."""
    lines = [
        "#!/bin/sh",
        "# Generated by `panen store influx2-setup --shell` (storage/retention.py): do not edit.",
        "# The raw, hourly and daily tiers of panen's readings on InfluxDB 2.x: buckets, DBRP mappings",
        "# for the v1 API panen speaks, and the two rollup tasks. Safe to run again.",
        "set -eu",
        'ORG="${DOCKER_INFLUXDB_INIT_ORG:-${INFLUX_ORG:-coosae}}"',
        f"DB={json.dumps(database)}",
        'bucket_id() { influx bucket list --org "$ORG" --name "$1" --hide-headers 2>/dev/null | cut -f1; }',
        "ensure_bucket() {",
        '  [ -n "$(bucket_id "$1")" ] || influx bucket create --org "$ORG" --name "$1" --retention "$2"',
        "}",
        "ensure_dbrp() {",
        '  influx v1 dbrp list --org "$ORG" --db "$DB" --rp "$1" --hide-headers 2>/dev/null | grep -q . ||',
        '    influx v1 dbrp create --org "$ORG" --db "$DB" --rp "$1" --bucket-id "$(bucket_id "$2")"',
        "}",
        "ensure_task() {",
        '  flux="$(mktemp)"',
        '  cat > "$flux"',
        '  influx task list --org "$ORG" --hide-headers 2>/dev/null | cut -f2 | grep -qx "$1" ||',
        '    influx task create --org "$ORG" --file "$flux"',
        '  rm -f "$flux"',
        "}",
    ]
    for tier, days in influx1_policies(retention).items():
        name = influx2_bucket_name(bucket, tier)
        lines.append(f"ensure_bucket {name} {0 if days is None else f'{days * 24}h'}")
        lines.append(f"ensure_dbrp {tier} {name}")
    lines.append("# What the dashboards' resolution variables read, in the default bucket (kept forever).")
    lines.append(
        'influx write --org "$ORG" --bucket "${DOCKER_INFLUXDB_INIT_BUCKET:-'
        + bucket
        + "}\" --precision ms <<'LP'"
    )
    lines.extend(line.rstrip("\n") for line in chart_tier_lines())
    lines.append("LP")
    for resolution in Resolution:
        lines.append(f"ensure_task {continuous_query_name(resolution)} <<'FLUX'")
        lines.append(influx2_task_flux(bucket, resolution, measurements, retention).rstrip("\n"))
        lines.append("FLUX")
    return "\n".join(lines) + "\n"
