"""A field's readings: latest, raw series (JSON or CSV) and daily aggregates."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from api.csvout import csv_bytes, csv_response
from api.deps import PrincipalDep, SessionDep, StateDep, field_in_scope
from api.schemas import BucketPublic, DailyPublic, ReadingPublic, SeriesPublic
from sensors import CATALOGUE, Reading
from storage import local_day
from storage.base import DAY_MS
from storage.retention import Resolution, Retention

router = APIRouter(prefix="/v1/fields/{field_id}", tags=["readings"])
MAX_RAW_DAYS = 92  # a season of 10-minute readings is about 13k rows per metric
# /series: ranges a resolution serves at most, and the longest range "auto" answers with raw readings
# and with hours (as the dashboards do: storage.retention.CHART_TIERS).
MAX_DAYS = {"raw": MAX_RAW_DAYS, "hour": 400, "day": 20 * 366}
AUTO_RAW_DAYS, AUTO_HOUR_DAYS = 7, 92


def pick_resolution(start_ms: int, end_ms: int, now_ms: int, retention: Retention) -> str:
    """The resolution that fits a range: raw up to a week, hours up to a season, days beyond, and
    never a tier whose window the range's start has left."""
    span = end_ms - start_ms
    raw_cut, hour_cut = retention.raw_cutoff_ms(now_ms), retention.hourly_cutoff_ms(now_ms)
    if span <= AUTO_RAW_DAYS * DAY_MS + 3_600_000 and (raw_cut is None or start_ms >= raw_cut):
        return "raw"
    if span <= AUTO_HOUR_DAYS * DAY_MS and (hour_cut is None or start_ms >= hour_cut):
        return "hour"
    return "day"


def _public(r: Reading) -> ReadingPublic:
    return ReadingPublic(
        node_id=r.node_id,
        metric=r.metric,
        value=r.value,
        ts_ms=r.ts_ms,
        quality="valid" if r.quality == 0 else "implausible",
    )


def _metrics(metric: list[str] | None) -> list[str] | None:
    for m in metric or []:
        if m not in CATALOGUE:
            raise HTTPException(422, f"metric {m!r} is not in the catalogue ({', '.join(CATALOGUE)})")
    return metric


@router.get("/readings/latest", response_model=list[ReadingPublic])
def latest(
    field_id: str, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> list[ReadingPublic]:
    """The newest reading of each metric of each node in the field."""
    field = field_in_scope(session, principal, field_id)
    # By site and cooperative: a site id is the field's only if the reading came from its cooperative.
    return [_public(r) for r in state.store.latest(site_ids=[field_id]) if r.coop_id == field.coop_id]


@router.get("/readings", response_model=list[ReadingPublic], responses={200: {"content": {"text/csv": {}}}})
def raw(
    field_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    start_ms: Annotated[
        int | None, Query(ge=0, le=2**62, description="From this UTC instant [ms] (default: 7 days ago)")
    ] = None,
    end_ms: Annotated[
        int | None, Query(ge=0, le=2**62, description="Until this UTC instant [ms], exclusive (default: now)")
    ] = None,
    metric: Annotated[list[str] | None, Query(description="Only these metrics")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> list[ReadingPublic] | Response:
    """Raw readings in a time range (at most 92 days at a time)."""
    field = field_in_scope(session, principal, field_id)
    end = end_ms if end_ms is not None else time.time_ns() // 1_000_000
    start = start_ms if start_ms is not None else end - 7 * 86_400_000
    if end <= start:
        raise HTTPException(422, "end_ms must be after start_ms")
    if end - start > MAX_RAW_DAYS * 86_400_000:
        raise HTTPException(422, f"ask for at most {MAX_RAW_DAYS} days at a time, or use /daily")
    rows = [
        _public(r)
        for r in state.store.raw(start_ms=start, end_ms=end, site_id=field_id, metrics=_metrics(metric))
        if r.coop_id == field.coop_id
    ]
    if format == "csv":
        columns = ["ts_ms", "node_id", "metric", "value", "quality"]
        body = csv_bytes(columns, ([getattr(r, c) for c in columns] for r in rows))
        return csv_response(body, f"{field_id}-readings.csv")
    return rows


@router.get("/daily", response_model=list[DailyPublic])
def daily(
    field_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    metric: Annotated[list[str], Query(description="Metrics", examples=[["soil_vwc_pct"]])],
    start_day: Annotated[dt.date | None, Query(description="First local day (default: 30 days ago)")] = None,
    end_day: Annotated[
        dt.date | None, Query(description="Last local day, inclusive (default: today)")
    ] = None,
) -> list[DailyPublic]:
    """Daily min, mean, max, sum and count per metric over local days in Asia/Jakarta."""
    field = field_in_scope(session, principal, field_id)
    last = end_day or local_day(time.time_ns() // 1_000_000)
    first = start_day or last - dt.timedelta(days=30)
    if last < first:
        raise HTTPException(422, "end_day must not be before start_day")
    if (last - first).days > 400:
        raise HTTPException(422, "ask for at most 400 days at a time")
    rows = state.store.daily(
        site_ids=[field_id],
        metrics=_metrics(metric) or [],
        start_day=first,
        end_day=last,
        coop_id=field.coop_id,
    )
    return [
        DailyPublic(metric=a.metric, day=a.day, min=a.min, mean=a.mean, max=a.max, sum=a.sum, count=a.count)
        for a in rows
    ]


@router.get("/series", response_model=SeriesPublic, responses={200: {"content": {"text/csv": {}}}})
def series(
    field_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    metric: Annotated[list[str], Query(description="Metrics", examples=[["soil_vwc_pct"]])],
    start_ms: Annotated[
        int | None, Query(ge=0, le=2**62, description="From this UTC instant [ms] (default: 30 days ago)")
    ] = None,
    end_ms: Annotated[
        int | None, Query(ge=0, le=2**62, description="Until this UTC instant [ms], exclusive (default: now)")
    ] = None,
    resolution: Annotated[
        Literal["auto", "raw", "hour", "day"],
        Query(description="auto: raw up to 7 days, hourly up to 92 days, daily beyond (as the dashboards)"),
    ] = "auto",
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> SeriesPublic | Response:
    """A field's readings over any range, at the resolution that fits it: raw readings (kept 90 days by
    default), hourly aggregates (2 years) or daily ones (forever). Aggregates count valid values only."""
    field = field_in_scope(session, principal, field_id)
    now = time.time_ns() // 1_000_000
    end = end_ms if end_ms is not None else now
    start = start_ms if start_ms is not None else end - 30 * DAY_MS
    if end <= start:
        raise HTTPException(422, "end_ms must be after start_ms")
    names = _metrics(metric) or []
    retention: Retention = getattr(state.store, "retention", Retention())
    chosen = pick_resolution(start, end, now, retention) if resolution == "auto" else resolution
    if end - start > MAX_DAYS[chosen] * DAY_MS:
        raise HTTPException(422, f"ask for at most {MAX_DAYS[chosen]} days at {chosen} resolution")
    raw_cut = retention.raw_cutoff_ms(now)
    if chosen == "raw" and raw_cut is not None and start < raw_cut:
        raise HTTPException(
            422,
            f"raw readings are kept {retention.raw_days} days; ask for resolution=hour or day (or auto) "
            "for older ones",
        )
    if chosen == "raw":
        points = [
            BucketPublic(
                metric=r.metric, ts_ms=r.ts_ms, min=r.value, mean=r.value, max=r.value, sum=r.value, count=1
            )
            for r in state.store.raw(start_ms=start, end_ms=end, site_id=field_id, metrics=names)
            if r.coop_id == field.coop_id and r.quality == 0
        ]
    else:
        points = [
            BucketPublic(
                metric=b.metric, ts_ms=b.start_ms, min=b.min, mean=b.mean, max=b.max, sum=b.sum, count=b.count
            )
            for b in state.store.buckets(
                Resolution(chosen),
                site_id=field_id,
                metrics=names,
                start_ms=start,
                end_ms=end,
                coop_id=field.coop_id,
            )
        ]
    if format == "csv":
        columns = ["ts_ms", "metric", "min", "mean", "max", "sum", "count"]
        body = csv_bytes(columns, ([getattr(p, c) for c in columns] for p in points))
        return csv_response(body, f"{field_id}-{chosen}.csv")
    return SeriesPublic(resolution=chosen, start_ms=start, end_ms=end, points=points)
