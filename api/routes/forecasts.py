"""Harvest forecasts per field, per cooperative and commodity, and Coosae's purchase plan."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.csvout import csv_bytes, csv_response
from api.deps import AppState, PrincipalDep, SessionDep, StateDep, check_filters, field_in_scope, require
from api.schemas import FieldForecastPublic, ForecastBasis, PlanRowPublic, SkillPublic
from forecast.engine import FieldForecast
from forecast.plan import PlanRow, purchase_plan
from services.access import Principal, Role
from services.forecasting import ForecastRun
from services.refresh import RefreshFailed, refresh
from services.spreadsheet import XLSX_MEDIA_TYPE, plan_workbook
from services.track_record import LEADS, Pairing, pairings, pooled, sentence, skill_table
from storage import local_day
from storage.registry import Cooperative, Field

router = APIRouter(prefix="/v1", tags=["forecasts"])
_PLAN_CACHE: dict[tuple[object, ...], bytes] = {}
_PLAN_ROWS = TypeAdapter(list[PlanRowPublic])
_PLAN_LOCK = threading.Lock()


def _run(state: StateDep) -> ForecastRun:
    return state.forecasts.current()


_SKILL_CACHE: dict[object, list[Pairing]] = {}


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _pairs(state: AppState, run: ForecastRun) -> list[Pairing]:
    """Every harvest paired with its past forecasts, once per forecast run (the caller applies scope)."""
    pairs = _SKILL_CACHE.get(run.computed_at)
    if pairs is None:
        with state.sessions() as session:
            pairs = pairings(state.store, session)
        _SKILL_CACHE.clear()
        _SKILL_CACHE[run.computed_at] = pairs
    return pairs


def _public(
    f: FieldForecast, run: ForecastRun, members: bool = False, pairs: list[Pairing] | None = None
) -> FieldForecastPublic:
    record = (
        ""
        if pairs is None
        else sentence(pooled(pairs, commodity=f.commodity, coop_id=f.coop_id, lead_days=30))
    )
    return FieldForecastPublic(
        field_id=f.field_id,
        coop_id=f.coop_id,
        commodity=f.commodity,
        harvest_date_p10=f.harvest_date_p10,
        harvest_date_p50=f.harvest_date_p50,
        harvest_date_p90=f.harvest_date_p90,
        # What a planner reads: tonnes and t/ha to 0.1, depths to 0.1 mm, fractions to 0.01 (issue 19);
        # the ensemble members (members=true) keep their precision for whoever computes with them.
        yield_t_ha_p10=round(f.yield_t_ha_p10, 1),
        yield_t_ha_p50=round(f.yield_t_ha_p50, 1),
        yield_t_ha_p90=round(f.yield_t_ha_p90, 1),
        tonnes_p10=round(f.tonnes_p10, 1),
        tonnes_p50=round(f.tonnes_p50, 1),
        tonnes_p90=round(f.tonnes_p90, 1),
        water_stress_so_far=round(f.water_stress_so_far, 2),
        depletion_mm=round(f.depletion_mm, 1),
        raw_mm=round(f.raw_mm, 1),
        days_to_irrigation=_rounded(f.days_to_irrigation, 1),
        basis=ForecastBasis(
            issued=run.issued,
            last_reading_ms=run.last_reading_ms.get(f.field_id),
            days_observed=f.days_observed,
            ensemble_members=f.members,
            model_version=run.model_version,
            yield_factor=round(f.yield_factor, 2),
            track_record=record,
            orchard=list(run.orchards.get(f.field_id, ())),
        ),
        members_harvest_date=list(f.members_harvest_date) if members else None,
        members_tonnes=[round(float(t), 4) for t in f.members_tonnes] if members else None,
    )


_MEMBERS = Query(
    description="Include every ensemble member's harvest date and tonnes (for your own risk analysis)"
)


def _visible(run: ForecastRun, principal: Principal, session: Session) -> list[FieldForecast]:
    scope = principal.field_filter()
    if scope is None:
        return list(run.forecasts.values())
    allowed = set(session.scalars(select(Field.id).where(scope)))
    return [f for f in run.forecasts.values() if f.field_id in allowed]


_COOP = Query(max_length=128, description="Only this cooperative (one in your scope)")
_COMMODITY = Query(max_length=40, description="Only this commodity (a crop of the library)")


def _matches(coop: str, crop: str, coop_id: str | None, commodity: str | None) -> bool:
    return (coop_id is None or coop == coop_id) and (commodity is None or crop == commodity)


@router.get("/fields/{field_id}/forecast", response_model=FieldForecastPublic)
def field_forecast(
    field_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    members: Annotated[bool, _MEMBERS] = False,
) -> FieldForecastPublic:
    """The latest forecast of one field."""
    field_in_scope(session, principal, field_id)
    run = _run(state)
    forecast = run.forecasts.get(field_id)
    if forecast is None:
        why = run.orchards.get(field_id)
        if why:  # an orchard whose crop is not known yet
            raise HTTPException(
                404,
                f"no forecast for orchard {field_id!r}: {why[0]}; record it at /v1/fields/{field_id}/events",
            )
        raise HTTPException(404, f"no forecast for field {field_id!r} yet; POST /v1/forecasts/recompute")
    return _public(forecast, run, members, _pairs(state, run))


@router.get("/forecasts", response_model=list[FieldForecastPublic])
def forecasts(
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    coop_id: Annotated[str | None, _COOP] = None,
    commodity: Annotated[str | None, _COMMODITY] = None,
    members: Annotated[bool, _MEMBERS] = False,
) -> list[FieldForecastPublic]:
    """Forecasts of the fields in the caller's scope, optionally by cooperative and commodity."""
    check_filters(session, principal, coop_id=coop_id, commodity=commodity)
    run = _run(state)
    rows = [
        f for f in _visible(run, principal, session) if _matches(f.coop_id, f.commodity, coop_id, commodity)
    ]
    pairs = _pairs(state, run)
    return [_public(f, run, members, pairs) for f in sorted(rows, key=lambda f: f.field_id)]


@router.get(
    "/forecasts/skill", response_model=list[SkillPublic], responses={200: {"content": {"text/csv": {}}}}
)
def skill(
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    coop_id: Annotated[str | None, _COOP] = None,
    commodity: Annotated[str | None, _COMMODITY] = None,
    lead_days: Annotated[int | None, Query(description="60, 30 or 14")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> list[SkillPublic] | Response:
    """How good past forecasts were: per commodity, cooperative and lead (60, 30, 14 days before the
    harvest), the error of the forecasts against the harvest records; too few records say so instead
    of a number. Farmers and managers see their cooperative's."""
    if lead_days is not None and lead_days not in LEADS:
        raise HTTPException(422, f"lead_days must be one of {', '.join(map(str, LEADS))}")
    check_filters(session, principal, coop_id=coop_id, commodity=commodity)
    rows = [
        SkillPublic(
            commodity=k.commodity,
            coop_id=k.coop_id,
            lead_days=k.lead_days,
            records=k.records,
            seasons=list(k.seasons),
            tonnes_mape=_rounded(k.tonnes_mape, 3),
            tonnes_bias=_rounded(k.tonnes_bias, 3),
            date_mae_days=_rounded(k.date_mae_days, 1),
            date_bias_days=_rounded(k.date_bias_days, 1),
            tonnes_coverage=_rounded(k.tonnes_coverage, 2),
            date_coverage=_rounded(k.date_coverage, 2),
            note=k.note,
        )
        for k in skill_table(state.store, session, principal)
        if _matches(k.coop_id, k.commodity, coop_id, commodity)
        and (lead_days is None or k.lead_days == lead_days)
    ]
    if format == "csv":
        columns = list(SkillPublic.model_fields)
        body = csv_bytes(
            columns,
            (
                [" ".join(map(str, r.seasons)) if c == "seasons" else getattr(r, c) for c in columns]
                for r in rows
            ),
        )
        return csv_response(body, "forecast-skill.csv")
    return rows


@router.post("/forecasts/recompute", response_model=dict[str, object])
def recompute(principal: PrincipalDep, state: StateDep) -> dict[str, object]:
    """Recompute every forecast, then the alerts, now (offtaker, admin)."""
    require(principal, Role.OFFTAKER, Role.ADMIN)
    try:
        return refresh(state).as_dict()
    except RefreshFailed as exc:
        raise HTTPException(
            503, f"the refresh failed ({exc}); the previous forecasts are still served"
        ) from exc


@router.get(
    "/purchase-plan",
    response_model=list[PlanRowPublic],
    responses={200: {"content": {"text/csv": {}, XLSX_MEDIA_TYPE: {}}}},
)
async def plan(
    principal: PrincipalDep,
    state: StateDep,
    weeks: Annotated[int, Query(ge=1, le=52, description="ISO weeks from this week on")] = 8,
    format: Annotated[
        Literal["json", "csv", "xlsx"],
        Query(description="xlsx: the plan and its totals as an Excel workbook"),
    ] = "json",
    by: Annotated[
        Literal["cooperative", "commodity"],
        Query(description="`commodity`: all cooperatives in your scope together (coop_id `all`)"),
    ] = "cooperative",
    coop_id: Annotated[str | None, _COOP] = None,
    commodity: Annotated[str | None, _COMMODITY] = None,
) -> Response:
    """Tonnes per commodity × ISO week × cooperative, P10/P50/P90 (ensemble members summed first).

    With `by=commodity`, the cooperatives are summed member by member, so the percentiles are
    those of the total (summing the per-cooperative P10s would overstate the spread)."""
    require(principal, Role.OFFTAKER, Role.ADMIN, Role.COOP_MANAGER)
    # A plan changes only with the forecast run: the rendered body is cached per run, scope, horizon,
    # format and filter. A cached plan is served from the event loop (no worker thread, no registry query),
    # which is what lets Coosae's planners poll it; a miss is computed in a worker thread.
    run = state.forecasts.latest
    scope = principal.coop_id if not principal.sees_all else "*"
    key = (scope, weeks, format, by, coop_id, commodity)
    body = _PLAN_CACHE.get((run.computed_at, *key)) if run is not None else None
    if body is None:
        body = await run_in_threadpool(_compute_plan, state, principal, key)
    if format == "csv":
        return csv_response(body, "purchase-plan.csv")
    if format == "xlsx":
        return Response(
            body,
            media_type=XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": 'attachment; filename="purchase-plan.xlsx"'},
        )
    return Response(body, media_type="application/json")


def _compute_plan(
    state: AppState,
    principal: Principal,
    request: tuple[str | None, int, str, str, str | None, str | None],
) -> bytes:
    _, weeks, format, by, coop_id, commodity = request
    run = _run(state)
    key = (run.computed_at, *request)
    with _PLAN_LOCK:  # single flight: concurrent first requests wait for one computation
        body = _PLAN_CACHE.get(key)
        if body is None:
            with state.sessions() as session:
                # Checked on a miss only: a plan is cached for a scope and filter that passed it.
                check_filters(session, principal, coop_id=coop_id, commodity=commodity)

                def in_coops(r: ForecastRun) -> list[FieldForecast]:
                    return [f for f in _visible(r, principal, session) if coop_id in (None, f.coop_id)]

                # A row's cooperative (and `all`) is as fresh as its newest reading of any crop, so a
                # row reads the same whether or not the plan is filtered by commodity.
                coops = in_coops(run)
                visible = [f for f in coops if commodity in (None, f.commodity)]
                previous_run = state.forecasts.previous
                previous_visible = (
                    [f for f in in_coops(previous_run) if commodity in (None, f.commodity)]
                    if previous_run
                    else None
                )
                names = {co.id: co.name for co in session.scalars(select(Cooperative))}
            by_coop = by == "cooperative"
            rows = purchase_plan(visible, start=run.issued, weeks=weeks, by_coop=by_coop)
            previous = (
                {
                    (r.commodity, r.iso_week, r.coop_id): r.tonnes_p50
                    for r in purchase_plan(previous_visible, start=run.issued, weeks=weeks, by_coop=by_coop)
                }
                if previous_visible is not None
                else None
            )
            newest: dict[str, int] = {}
            for f in coops:
                ts = run.last_reading_ms.get(f.field_id)
                if ts is not None:
                    for coop in (f.coop_id, "all"):
                        newest[coop] = max(newest.get(coop, ts), ts)
            pairs = [
                p
                for p in _pairs(state, run)
                if principal.can_see_coop(p.coop_id) and _matches(p.coop_id, p.commodity, coop_id, commodity)
            ]
            context = _PlanContext(
                names, previous, newest, run.computed_at, local_day(time.time_ns() // 1_000_000)
            )
            body = _render_plan(rows, format, pairs, context)
            if len(_PLAN_CACHE) > 256:
                _PLAN_CACHE.clear()
            _PLAN_CACHE[key] = body
    return body


@dataclass(frozen=True)
class _PlanContext:
    names: dict[str, str]
    previous: dict[tuple[str, str, str], float] | None
    newest_reading_ms: dict[str, int]
    issued_at: dt.datetime
    today: dt.date


def _plan_rows(rows: list[PlanRow], pairs: list[Pairing], ctx: _PlanContext) -> list[PlanRowPublic]:
    skills = {}
    for key in {(r.commodity, r.coop_id) for r in rows}:
        coop = None if key[1] == "all" else key[1]
        skills[key] = pooled(pairs, commodity=key[0], coop_id=coop, lead_days=30)
    out = []
    for r in rows:
        year, week = (int(part) for part in r.iso_week.split("-W"))
        start = dt.date.fromisocalendar(year, week, 1)
        before = None if ctx.previous is None else ctx.previous.get((r.commodity, r.iso_week, r.coop_id), 0.0)
        out.append(
            PlanRowPublic(
                commodity=r.commodity,
                iso_week=r.iso_week,
                coop_id=r.coop_id,
                tonnes_p10=round(r.tonnes_p10, 1),
                tonnes_p50=round(r.tonnes_p50, 1),
                tonnes_p90=round(r.tonnes_p90, 1),
                skill_tonnes_mape_30d=_rounded(skills[(r.commodity, r.coop_id)].tonnes_mape, 3),
                skill_records_30d=skills[(r.commodity, r.coop_id)].records,
                coop_name=ctx.names.get(r.coop_id, ""),
                week_start=start,
                week_end=start + dt.timedelta(days=6),
                current_week=start <= ctx.today <= start + dt.timedelta(days=6),
                change_p50=None if before is None else round(r.tonnes_p50 - before, 1),
                issued_at=ctx.issued_at,
                last_reading_ms=ctx.newest_reading_ms.get(r.coop_id),
            )
        )
    return out


def _render_plan(rows: list[PlanRow], format: str, pairs: list[Pairing], ctx: _PlanContext) -> bytes:
    public = _plan_rows(rows, pairs, ctx)
    columns = list(PlanRowPublic.model_fields)
    if format == "csv":
        return csv_bytes(columns, ([getattr(r, c) for c in columns] for r in public))
    if format == "xlsx":
        return plan_workbook(columns, [[getattr(r, c) for c in columns] for r in public])
    return _PLAN_ROWS.dump_json(public)
