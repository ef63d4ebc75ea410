"""Harvest forecasts per field, per cooperative and commodity, and Coosae's purchase plan (its
scope, cache and rules: :mod:`services.planning`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.csvout import csv_bytes, csv_response
from api.deps import (
    AppState,
    CommodityFilter,
    PrincipalDep,
    SessionDep,
    StateDep,
    check_filters,
    field_in_scope,
    require,
)
from api.schemas import CashWeekPublic, FieldForecastPublic, PlanRowPublic, SkillPublic
from api.views import forecast_public, render_plan, rounded
from services import NotFound
from services.access import Principal, Role
from services.planning import PlanRequest, matches, visible_forecasts
from services.refresh import RefreshFailed
from services.spreadsheet import XLSX_MEDIA_TYPE
from services.track_record import LEADS, skill_table

router = APIRouter(prefix="/v1", tags=["forecasts"])
_MEMBERS = Query(
    description="Include every ensemble member's harvest date and tonnes (for your own risk analysis)"
)
_COOP = Query(max_length=128, description="Only this cooperative (one in your scope)")


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
    run = state.forecasts.current()
    forecast = run.forecasts.get(field_id)
    if forecast is None:
        why = run.orchards.get(field_id)
        if why:  # an orchard whose crop is not known yet
            raise NotFound(
                f"no forecast for orchard {field_id!r}: {why[0]}; record it at /v1/fields/{field_id}/events"
            )
        if field_id in run.closed:  # a harvest record ended its season
            raise NotFound(
                f"field {field_id!r} was harvested on {run.closed[field_id]} (recorded): its season is over; "
                f"record the next planting (PATCH /v1/fields/{field_id} with planting_date and commodity)"
            )
        raise NotFound(f"no forecast for field {field_id!r} yet; POST /v1/forecasts/recompute")
    return forecast_public(forecast, run, members, state.planning.pairs(run), _sees_fields_of(principal))


@router.get("/forecasts", response_model=list[FieldForecastPublic])
def forecasts(
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    commodity: CommodityFilter,
    coop_id: Annotated[str | None, _COOP] = None,
    members: Annotated[bool, _MEMBERS] = False,
) -> list[FieldForecastPublic]:
    """Forecasts of the fields in the caller's scope, optionally by cooperative and commodity."""
    check_filters(session, principal, coop_id=coop_id, commodity=commodity)
    run = state.forecasts.current()
    rows = [
        f
        for f in visible_forecasts(run, principal, session)
        if matches(f.coop_id, f.commodity, coop_id, commodity)
    ]
    pairs = state.planning.pairs(run)
    sees = _sees_fields_of(principal)
    return [forecast_public(f, run, members, pairs, sees) for f in sorted(rows, key=lambda f: f.field_id)]


def _sees_fields_of(principal: Principal) -> Callable[[str], bool]:
    """Whose field ids a caller may read behind a yield factor: a manager their cooperative's, Coosae
    and admins all; a farmer none but counts (they see their own fields only)."""
    if principal.role is Role.FARMER:
        return lambda _coop: False
    return principal.can_see_coop


@router.get(
    "/forecasts/skill", response_model=list[SkillPublic], responses={200: {"content": {"text/csv": {}}}}
)
def skill(
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    commodity: CommodityFilter,
    coop_id: Annotated[str | None, _COOP] = None,
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
            tonnes_mape=rounded(k.tonnes_mape, 3),
            tonnes_bias=rounded(k.tonnes_bias, 3),
            date_mae_days=rounded(k.date_mae_days, 1),
            date_bias_days=rounded(k.date_bias_days, 1),
            tonnes_coverage=rounded(k.tonnes_coverage, 2),
            date_coverage=rounded(k.date_coverage, 2),
            note=k.note,
        )
        for k in skill_table(state.store, session, principal)
        if matches(k.coop_id, k.commodity, coop_id, commodity)
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
        return state.refresh().as_dict()
    except RefreshFailed as exc:
        raise HTTPException(
            503, f"the refresh failed ({exc}); the previous forecasts are still served"
        ) from exc


_WEEKS = Query(ge=1, le=52, description="ISO weeks from this week on")
_WEEKS_FROM = Query(
    max_length=10,
    description="`this` (the week in progress, with overdue harvests), `next`, or a date (its week)",
)


@router.get(
    "/purchase-plan",
    response_model=list[PlanRowPublic],
    responses={200: {"content": {"text/csv": {}, XLSX_MEDIA_TYPE: {}}}},
)
async def plan(
    principal: PrincipalDep,
    state: StateDep,
    commodity: CommodityFilter,
    weeks: Annotated[int, _WEEKS] = 8,
    format: Annotated[
        Literal["json", "csv", "xlsx"],
        Query(
            description="xlsx: the plan, its totals, the weekly cash and the contracts' orders as a workbook"
        ),
    ] = "json",
    by: Annotated[
        Literal["cooperative", "commodity"],
        Query(description="`commodity`: all cooperatives in your scope together (coop_id `all`)"),
    ] = "cooperative",
    coop_id: Annotated[str | None, _COOP] = None,
    weeks_from: Annotated[str, _WEEKS_FROM] = "this",
) -> Response:
    """Tonnes per commodity × ISO week × cooperative: expected (adds up), P10/P50/P90 (ensemble members
    summed first), and the expected cost at Coosae's buying prices.

    With `by=commodity`, the cooperatives are summed member by member, so the percentiles are
    those of the total (summing the per-cooperative P10s would overstate the spread)."""
    require(principal, Role.OFFTAKER, Role.ADMIN, Role.COOP_MANAGER)
    return await _plan_body(state, principal, PlanRequest(weeks, format, by, coop_id, commodity, weeks_from))


@router.get(
    "/purchase-plan/cash",
    response_model=list[CashWeekPublic],
    responses={200: {"content": {"text/csv": {}}}},
)
async def cash(
    principal: PrincipalDep,
    state: StateDep,
    commodity: CommodityFilter,
    weeks: Annotated[int, _WEEKS] = 8,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
    coop_id: Annotated[str | None, _COOP] = None,
    weeks_from: Annotated[str, _WEEKS_FROM] = "this",
) -> Response:
    """The money each week of the purchase plan needs at Coosae's buying prices (grade A, /v1/prices):
    the expected cost (weeks add up) and its P10/P90, taken member by member over every commodity
    together, and the tonnes no price covers yet."""
    require(principal, Role.OFFTAKER, Role.ADMIN, Role.COOP_MANAGER)
    request = PlanRequest(weeks, format, "commodity", coop_id, commodity, weeks_from, view="cash")
    return await _plan_body(state, principal, request)


async def _plan_body(state: AppState, principal: Principal, request: PlanRequest) -> Response:
    # A cached plan is served from the event loop; a miss is computed in a worker thread.
    body = state.planning.cached(principal, request)
    if body is None:
        body = await run_in_threadpool(state.planning.plan, principal, request, render_plan)
    name = "purchase-plan" if request.view == "rows" else "purchase-cash"
    if request.format == "csv":
        return csv_response(body, f"{name}.csv")
    if request.format == "xlsx":
        return Response(
            body,
            media_type=XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    return Response(body, media_type="application/json")
