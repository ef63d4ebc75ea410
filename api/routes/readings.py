"""A field's readings: latest, raw series (JSON or CSV) and daily aggregates."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from api.csvout import csv_bytes, csv_response
from api.deps import PrincipalDep, SessionDep, StateDep, field_in_scope
from api.schemas import DailyPublic, ReadingPublic
from sensors import CATALOGUE, Reading
from storage import local_day

router = APIRouter(prefix="/v1/fields/{field_id}", tags=["readings"])
MAX_RAW_DAYS = 92  # a season of 10-minute readings is about 13k rows per metric


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
