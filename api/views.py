"""What the forecast routes answer: forecasts, plan rows and their rendered bodies, rounded to what
a planner reads (tonnes and t/ha to 0.1, depths to 0.1 mm, fractions to 0.01; ensemble members keep
their precision for whoever computes with them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pydantic import TypeAdapter

from api.csvout import csv_bytes
from api.schemas import CashWeekPublic, FieldForecastPublic, ForecastBasis, PlanRowPublic, RecordSetApart
from forecast.engine import FieldForecast
from forecast.plan import PlanRow
from services.fieldbook import picking_until
from services.forecasting import ForecastRun
from services.planning import PlanContext, PlanRequest
from services.spreadsheet import plan_workbook
from services.track_record import Pairing, pooled, sentence

__all__ = ["forecast_public", "render_plan", "rounded"]

_PLAN_ROWS = TypeAdapter(list[PlanRowPublic])
_CASH = TypeAdapter(list[CashWeekPublic])


def rounded(value: float | None, digits: int) -> float | None:
    """``value`` rounded, None kept."""
    return None if value is None else round(value, digits)


def forecast_public(
    f: FieldForecast,
    run: ForecastRun,
    members: bool = False,
    pairs: list[Pairing] | None = None,
    sees_coop: Callable[[str], bool] = lambda _coop: False,
) -> FieldForecastPublic:
    """One field's forecast as the API answers it, with its track record's sentence and the fields
    its yield factor was learnt from (ids of the cooperatives ``sees_coop``; the rest counted)."""
    source, behind = run.calibration.fields_behind(f.commodity, f.coop_id)
    shown = sorted(i for coop, ids in behind.items() if sees_coop(coop) for i in ids)
    others = sum(len(ids) for coop, ids in behind.items() if not sees_coop(coop))
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
        picking_until_p50=picking_until(f),
        # What a planner reads: tonnes and t/ha to 0.1, depths to 0.1 mm, fractions to 0.01 (issue 19);
        # the ensemble members (members=true) keep their precision for whoever computes with them.
        yield_t_ha_p10=round(f.yield_t_ha_p10, 1),
        yield_t_ha_p50=round(f.yield_t_ha_p50, 1),
        yield_t_ha_p90=round(f.yield_t_ha_p90, 1),
        tonnes_expected=round(f.tonnes_expected, 1),
        tonnes_p10=round(f.tonnes_p10, 1),
        tonnes_p50=round(f.tonnes_p50, 1),
        tonnes_p90=round(f.tonnes_p90, 1),
        water_stress_so_far=round(f.water_stress_so_far, 2),
        depletion_mm=round(f.depletion_mm, 1),
        raw_mm=round(f.raw_mm, 1),
        days_to_irrigation=rounded(f.days_to_irrigation, 1),
        crop_death_share=round(f.crop_death_share, 2),
        crop_death_date_p50=f.crop_death_date_p50,
        canopy_lost_p50=round(f.canopy_lost_p50, 2),
        basis=ForecastBasis(
            issued=run.issued,
            last_reading_ms=run.last_reading_ms.get(f.field_id),
            days_observed=f.days_observed,
            ensemble_members=f.members,
            model_version=run.model_version,
            yield_factor=round(f.yield_factor, 2),
            yield_factor_from=source,
            yield_factor_fields=shown,
            yield_factor_other_fields=others,
            # The cooperative's, for whoever reads its field ids; else the field's own (a farmer's).
            records_set_apart=[
                RecordSetApart(field_id=r.field_id, harvest_date=r.harvest_date, reason=r.reason)
                for r in run.calibration.set_apart.get((f.commodity, f.coop_id), ())
                if sees_coop(f.coop_id) or r.field_id == f.field_id
            ],
            track_record=record,
            orchard=list(run.orchards.get(f.field_id, ())),
            soil_field_capacity_pct=rounded(f.field_capacity_pct, 1),
            soil_probe_fields=f.soil_probe_fields,
        ),
        members_harvest_date=list(f.members_harvest_date) if members else None,
        members_tonnes=[round(float(t), 4) for t in f.members_tonnes] if members else None,
        members_died=f.member_deaths.tolist() if members else None,
    )


def _plan_rows(rows: list[PlanRow], ctx: PlanContext) -> list[PlanRowPublic]:
    skills = {}
    for key in {(r.commodity, r.coop_id) for r in rows}:
        coop = None if key[1] == "all" else key[1]
        skills[key] = pooled(ctx.pairs, commodity=key[0], coop_id=coop, lead_days=30)
    out = []
    for r in rows:
        year, week = (int(part) for part in r.iso_week.split("-W"))
        start = dt.date.fromisocalendar(year, week, 1)
        before = None if ctx.previous is None else ctx.previous.get((r.commodity, r.iso_week, r.coop_id))
        had = ctx.previous is not None
        price = ctx.prices.price(r.commodity, start)
        expected = round(r.tonnes_expected, 1)
        out.append(
            PlanRowPublic(
                commodity=r.commodity,
                iso_week=r.iso_week,
                coop_id=r.coop_id,
                tonnes_expected=expected,
                overdue_tonnes=round(r.overdue_tonnes, 1),
                crop_death_tonnes=round(r.crop_death_tonnes, 1),
                # Priced on the rounded tonnes, so a row's cost is its tonnes times its price as read.
                price_idr_per_kg=None if price is None else price.idr_per_kg,
                cost_expected_idr=None if price is None else round(expected * 1000 * price.idr_per_kg),
                tonnes_p10=round(r.tonnes_p10, 1),
                tonnes_p50=round(r.tonnes_p50, 1),
                tonnes_p90=round(r.tonnes_p90, 1),
                skill_tonnes_mape_30d=rounded(skills[(r.commodity, r.coop_id)].tonnes_mape, 3),
                skill_records_30d=skills[(r.commodity, r.coop_id)].records,
                coop_name=ctx.names.get(r.coop_id, ""),
                week_start=start,
                week_end=start + dt.timedelta(days=6),
                current_week=start <= ctx.today <= start + dt.timedelta(days=6),
                change_expected=round(r.tonnes_expected - (before.tonnes_expected if before else 0.0), 1)
                if had
                else None,
                change_p50=round(r.tonnes_p50 - (before.tonnes_p50 if before else 0.0), 1) if had else None,
                issued_at=ctx.issued_at,
                last_reading_ms=ctx.newest_reading_ms.get(r.coop_id),
            )
        )
    return out


def _cash(ctx: PlanContext) -> list[CashWeekPublic]:
    return [
        CashWeekPublic(
            iso_week=w.iso_week,
            week_start=w.week_start,
            tonnes_expected=round(w.tonnes_expected, 1),
            cost_expected_idr=w.cost_expected_idr,
            cost_p10_idr=w.cost_p10_idr,
            cost_p90_idr=w.cost_p90_idr,
            unpriced_tonnes_expected=round(w.unpriced_tonnes_expected, 1),
            unpriced=list(w.unpriced),
        )
        for w in ctx.cash
    ]


def render_plan(rows: list[PlanRow], ctx: PlanContext, request: PlanRequest) -> bytes:
    """The plan's body in the format asked (JSON, CSV or an xlsx workbook): its rows, or with
    ``view="cash"`` the money each week needs."""
    format = request.format
    if request.view == "cash":
        cash = _cash(ctx)
        if format == "csv":
            cash_columns = list(CashWeekPublic.model_fields)
            return csv_bytes(
                cash_columns,
                (
                    [" ".join(w.unpriced) if c == "unpriced" else getattr(w, c) for c in cash_columns]
                    for w in cash
                ),
            )
        return _CASH.dump_json(cash)
    public = _plan_rows(rows, ctx)
    columns = list(PlanRowPublic.model_fields)
    if format == "csv":
        return csv_bytes(columns, ([getattr(r, c) for c in columns] for r in public))
    if format == "xlsx":
        return plan_workbook(
            columns, [[getattr(r, c) for c in columns] for r in public], cash=ctx.cash, orders=ctx.orders
        )
    return _PLAN_ROWS.dump_json(public)
