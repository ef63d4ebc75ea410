"""A field's readings: latest, raw series (JSON or CSV) and daily aggregates."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from api.csvout import csv_bytes, csv_response
from api.deps import AppState, PrincipalDep, StateDep, scoped_field
from api.jsonout import json_response
from api.schemas import DailyPublic, ReadingPublic, SeriesPublic
from sensors import CATALOGUE, Reading
from storage import local_day
from storage.base import DAY_MS
from storage.retention import Resolution, Retention

# Every route here is async and goes to a worker thread once, for the store: the field's scope comes
# from AppState's field cache, and the rows are rendered by orjson (issue 42: a worker thread per
# dependency and a Pydantic model per row cost more than the store's query).
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


def _public(r: Reading) -> dict[str, object]:
    """A reading as :class:`api.schemas.ReadingPublic`."""
    return {
        "node_id": r.node_id,
        "metric": r.metric,
        "value": r.value,
        "ts_ms": r.ts_ms,
        "quality": "valid" if r.quality == 0 else "implausible",
    }


def _metrics(metric: list[str] | None) -> list[str] | None:
    for m in metric or []:
        if m not in CATALOGUE:
            raise HTTPException(422, f"metric {m!r} is not in the catalogue ({', '.join(CATALOGUE)})")
    return metric


@router.get("/readings/latest", response_model=list[ReadingPublic])
async def latest(field_id: str, principal: PrincipalDep, state: StateDep) -> Response:
    """The newest reading of each metric of each node in the field."""
    field = await scoped_field(state, principal, field_id)
    rows = await state.read(state.store.latest, site_ids=[field_id])
    # By site and cooperative: a site id is the field's only if the reading came from its cooperative.
    return json_response([_public(r) for r in rows if r.coop_id == field.coop_id])


@router.get("/readings", response_model=list[ReadingPublic], responses={200: {"content": {"text/csv": {}}}})
async def raw(
    field_id: str,
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
) -> Response:
    """Raw readings in a time range (at most 92 days at a time)."""
    field = await scoped_field(state, principal, field_id)
    end = end_ms if end_ms is not None else time.time_ns() // 1_000_000
    start = start_ms if start_ms is not None else end - 7 * 86_400_000
    if end <= start:
        raise HTTPException(422, "end_ms must be after start_ms")
    if end - start > MAX_RAW_DAYS * 86_400_000:
        raise HTTPException(422, f"ask for at most {MAX_RAW_DAYS} days at a time, or use /daily")
    names = _metrics(metric)
    found = await state.read(state.store.raw, start_ms=start, end_ms=end, site_id=field_id, metrics=names)
    rows = [_public(r) for r in found if r.coop_id == field.coop_id]
    if format == "csv":
        columns = ["ts_ms", "node_id", "metric", "value", "quality"]
        body = csv_bytes(columns, ([r[c] for c in columns] for r in rows))
        return csv_response(body, f"{field_id}-readings.csv")
    return json_response(rows)


@router.get("/daily", response_model=list[DailyPublic])
async def daily(
    field_id: str,
    principal: PrincipalDep,
    state: StateDep,
    metric: Annotated[list[str], Query(description="Metrics", examples=[["soil_vwc_pct"]])],
    start_day: Annotated[dt.date | None, Query(description="First local day (default: 30 days ago)")] = None,
    end_day: Annotated[
        dt.date | None, Query(description="Last local day, inclusive (default: today)")
    ] = None,
) -> Response:
    """Daily min, mean, max, sum and count per metric over local days in Asia/Jakarta."""
    field = await scoped_field(state, principal, field_id)
    last = end_day or local_day(time.time_ns() // 1_000_000)
    first = start_day or last - dt.timedelta(days=30)
    if last < first:
        raise HTTPException(422, "end_day must not be before start_day")
    if (last - first).days > 400:
        raise HTTPException(422, "ask for at most 400 days at a time")
    rows = await state.read(
        state.store.daily,
        site_ids=[field_id],
        metrics=_metrics(metric) or [],
        start_day=first,
        end_day=last,
        coop_id=field.coop_id,
    )
    return json_response(
        [
            {
                "metric": a.metric,
                "day": a.day,
                "min": a.min,
                "mean": a.mean,
                "max": a.max,
                "sum": a.sum,
                "count": a.count,
            }
            for a in rows
        ]
    )


@router.get("/series", response_model=SeriesPublic, responses={200: {"content": {"text/csv": {}}}})
async def series(
    field_id: str,
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
) -> Response:
    """A field's readings over any range, at the resolution that fits it: raw readings (kept 90 days by
    default), hourly aggregates (2 years) or daily ones (forever). Aggregates count valid values only."""
    field = await scoped_field(state, principal, field_id)
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
    points = await state.read(_points, state, chosen, field_id, field.coop_id, names, start, end)
    if format == "csv":
        columns = ["ts_ms", "metric", "min", "mean", "max", "sum", "count"]
        body = csv_bytes(columns, ([p[c] for c in columns] for p in points))
        return csv_response(body, f"{field_id}-{chosen}.csv")
    return json_response({"resolution": chosen, "start_ms": start, "end_ms": end, "points": points})


def _points(
    state: AppState, chosen: str, field_id: str, coop_id: str, names: list[str], start: int, end: int
) -> list[dict[str, object]]:
    """The series' points as :class:`api.schemas.BucketPublic` (a raw reading: a bucket of one)."""
    if chosen == "raw":
        return [
            {
                "metric": r.metric,
                "ts_ms": r.ts_ms,
                "min": r.value,
                "mean": r.value,
                "max": r.value,
                "sum": r.value,
                "count": 1,
            }
            for r in state.store.raw(start_ms=start, end_ms=end, site_id=field_id, metrics=names)
            if r.coop_id == coop_id and r.quality == 0
        ]
    return [
        {
            "metric": b.metric,
            "ts_ms": b.start_ms,
            "min": b.min,
            "mean": b.mean,
            "max": b.max,
            "sum": b.sum,
            "count": b.count,
        }
        for b in state.store.buckets(
            Resolution(chosen), site_id=field_id, metrics=names, start_ms=start, end_ms=end, coop_id=coop_id
        )
    ]
