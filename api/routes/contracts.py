"""Sales contracts and whether the cooperatives' forecast harvests cover them (offtaker and admin only:
contracts carry buyers and prices, which cooperatives and farmers do not see). The rules are
:mod:`services.contracts`'."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import TypeAdapter

from api.csvout import csv_bytes, csv_response
from api.deps import PrincipalDep, SessionDep, StateDep, require
from api.schemas import (
    AllocationPublic,
    ContractCreate,
    ContractPublic,
    ContractStatus,
    ContractUpdate,
    CoveragePublic,
    CoverageReport,
    CoverageSummary,
)
from services import NotFound
from services import contracts as service
from services.access import Principal, Role
from services.contracts import AT_RISK_BELOW, ContractReport
from storage.db import Contract

# Ids are 64-bit in every registry database: a larger one is a 422, not a database error.
RowId = Annotated[int, Path(ge=1, le=2**62)]
router = APIRouter(prefix="/v1/contracts", tags=["contracts"])
_ERRORS: dict[int | str, dict[str, str]] = {403: {"description": "Only offtaker and admin see contracts"}}


_ALLOCATION = TypeAdapter(list[AllocationPublic])


def _require(principal: Principal) -> None:
    require(principal, Role.OFFTAKER, Role.ADMIN)


def _coverage(report: ContractReport) -> list[CoveragePublic]:
    specs = {c.id: c for c in report.contracts}
    out = []
    for cov in report.coverage.values():  # in priority order
        spec = specs[cov.contract_id]
        buying, margin = report.margin(spec)
        out.append(
            CoveragePublic(
                contract_id=spec.id,
                commodity=spec.commodity,
                tonnes=spec.tonnes,
                first_day=spec.first_day,
                last_day=spec.last_day,
                probability=round(cov.probability, 4),
                at_risk=cov.probability < AT_RISK_BELOW,
                delivered_p50=round(cov.delivered_p50, 3),
                shortfall_p50=round(cov.shortfall_p50, 3),
                shortfall_p90=round(cov.shortfall_p90, 3),
                riskiest_week=cov.riskiest_week,
                behind_probability=round(cov.behind_probability, 4),
                shortfall_expected=round(cov.shortfall_expected, 3),
                price_idr_per_kg=spec.price_idr_per_kg,
                buying_price_idr_per_kg=buying,
                margin_idr_per_kg=margin,
                margin_at_risk_idr=None if margin is None else round(margin * 1000 * cov.shortfall_expected),
                margin_at_risk_p90_idr=None if margin is None else round(margin * 1000 * cov.shortfall_p90),
            )
        )
    return out


@router.get("", response_model=list[ContractPublic], responses=_ERRORS)
def list_contracts(
    session: SessionDep, principal: PrincipalDep, status: ContractStatus | None = None
) -> list[Contract]:
    """Contracts, optionally by status."""
    _require(principal)
    return service.contracts(session, status)


@router.post("", response_model=ContractPublic, status_code=201, responses={**_ERRORS, 422: {}})
def create_contract(body: ContractCreate, session: SessionDep, principal: PrincipalDep) -> Contract:
    """Record a contract."""
    _require(principal)
    return service.create_contract(session, body.model_dump(), by=principal.name)


@router.get("/coverage", response_model=CoverageReport, responses=_ERRORS)
def coverage_report(principal: PrincipalDep, state: StateDep) -> CoverageReport:
    """Coverage of every open contract from the forecast members, and a summary; with Coosae's buying
    prices (/v1/prices), each contract's margin (sale minus buying price) and the margin at risk on its
    expected and P90 shortfall."""
    _require(principal)
    report = state.contracts.report()
    rows = _coverage(report)
    prices = {c.id: c.price_idr_per_kg for c in report.contracts}
    return CoverageReport(
        summary=CoverageSummary(
            issued=report.issued,
            ensemble_members=report.members,
            open_contracts=len(rows),
            at_risk=sum(r.at_risk for r in rows),
            contracted_tonnes=round(sum(r.tonnes for r in rows), 3),
            expected_shortfall_p50_tonnes=round(sum(r.shortfall_p50 for r in rows), 3),
            value_at_risk_idr=round(sum(r.shortfall_p50 * 1000 * prices[r.contract_id] for r in rows)),
            margin_at_risk_idr=sum(r.margin_at_risk_idr or 0 for r in rows),
            unpriced_contracts=sum(r.margin_idr_per_kg is None for r in rows),
            seconds=report.seconds,
        ),
        contracts=rows,
    )


@router.get(
    "/allocation",
    response_model=list[AllocationPublic],
    responses={**_ERRORS, 200: {"content": {"text/csv": {}}}},
)
def allocation(
    principal: PrincipalDep,
    state: StateDep,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
    by: Annotated[
        Literal["order", "contract"],
        Query(
            description="`order`: one row per cooperative × week × commodity (what to send as orders); "
            "`contract`: split further by contract"
        ),
    ] = "order",
) -> Response:
    """Proposed orders from the cooperatives, per ISO week and commodity (the rule: forecast/contracts.py)."""
    _require(principal)
    rows: dict[tuple[object, ...], AllocationPublic] = {}
    for r in state.contracts.report().allocation:
        key = (r.commodity, r.coop_id, r.iso_week) + ((r.contract_id,) if by == "contract" else ())
        row = rows.get(key)
        if row is None:
            rows[key] = AllocationPublic(
                commodity=r.commodity,
                coop_id=r.coop_id,
                iso_week=r.iso_week,
                tonnes=r.tonnes,
                contract_ids=[r.contract_id],
            )
        else:
            row.tonnes = round(row.tonnes + r.tonnes, 3)
            row.contract_ids.append(r.contract_id)
    ordered = [rows[k] for k in sorted(rows, key=lambda k: (k[2], k[0], k[1], *k[3:]))]
    if format == "csv":
        body = csv_bytes(
            ["iso_week", "commodity", "coop_id", "tonnes", "contract_ids"],
            (
                [o.iso_week, o.commodity, o.coop_id, o.tonnes, " ".join(map(str, o.contract_ids))]
                for o in ordered
            ),
        )
        return csv_response(body, "contract-orders.csv")
    return Response(_ALLOCATION.dump_json(ordered), media_type="application/json")


@router.get("/{contract_id}", response_model=ContractPublic, responses={**_ERRORS, 404: {}})
def get_contract(contract_id: RowId, session: SessionDep, principal: PrincipalDep) -> Contract:
    """One contract."""
    _require(principal)
    return service.contract(session, contract_id)


@router.get("/{contract_id}/coverage", response_model=CoveragePublic, responses={**_ERRORS, 404: {}})
def contract_coverage(
    contract_id: RowId, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> CoveragePublic:
    """Coverage of one open contract."""
    _require(principal)
    contract = service.contract(session, contract_id)
    if contract.status != "open":
        raise NotFound(f"contract {contract_id} is {contract.status}; coverage is for open contracts")
    for row in _coverage(state.contracts.report()):
        if row.contract_id == contract_id:
            return row
    raise NotFound(f"no coverage for contract {contract_id} yet")


@router.patch("/{contract_id}", response_model=ContractPublic, responses={**_ERRORS, 404: {}, 422: {}})
def update_contract(
    contract_id: RowId, body: ContractUpdate, session: SessionDep, principal: PrincipalDep
) -> Contract:
    """Change a contract (e.g. mark it fulfilled)."""
    _require(principal)
    contract = service.contract(session, contract_id)
    return service.update_contract(session, contract, body.model_dump(exclude_unset=True, exclude_none=True))


@router.delete("/{contract_id}", status_code=204, responses={**_ERRORS, 404: {}})
def delete_contract(contract_id: RowId, session: SessionDep, principal: PrincipalDep) -> Response:
    """Delete a contract entered by mistake (use status `cancelled` for one that was signed)."""
    _require(principal)
    service.delete_contract(session, service.contract(session, contract_id))
    return Response(status_code=204)
