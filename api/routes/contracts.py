"""Sales contracts and whether the cooperatives' forecast harvests cover them (offtaker and admin only:
contracts carry buyers and prices, which cooperatives and farmers do not see)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, model_validator
from sqlalchemy import select

from api.csvout import csv_bytes, csv_response
from api.deps import PrincipalDep, SessionDep, StateDep, require
from api.schemas import Commodity
from services.access import Principal, Role
from services.contracts import AT_RISK_BELOW, ContractReport
from storage.registry import Contract

# Ids are 64-bit in every registry database: a larger one is a 422, not a database error.
RowId = Annotated[int, Path(ge=1, le=2**62)]
router = APIRouter(prefix="/v1/contracts", tags=["contracts"])
Status = Literal["open", "fulfilled", "cancelled"]
_ERRORS: dict[int | str, dict[str, str]] = {403: {"description": "Only offtaker and admin see contracts"}}


class ContractCreate(BaseModel):
    """A sales contract Coosae has signed."""

    model_config = ConfigDict(extra="forbid")
    buyer: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)] = Field(
        examples=["Koperasi Produsen Taruna Bina Mandiri, Kutai Timur"]
    )
    commodity: Commodity = Field(examples=["potato"])
    tonnes: float = Field(gt=0, le=100_000, examples=[120.0])
    grade: Annotated[str, StringConstraints(max_length=20)] = Field("A", examples=["A"])
    first_day: dt.date = Field(ge=dt.date(2000, 1, 1), le=dt.date(2100, 1, 1), examples=["2026-12-14"])
    last_day: dt.date = Field(ge=dt.date(2000, 1, 1), le=dt.date(2100, 1, 1), examples=["2027-01-10"])
    delivery_point: Annotated[str, StringConstraints(max_length=200)] = Field(
        "", examples=["Gudang Coosae, Batu"]
    )
    price_idr_per_kg: float = Field(ge=0, le=10_000_000, examples=[9500.0])
    status: Status = "open"

    @model_validator(mode="after")
    def _window(self) -> ContractCreate:
        if self.last_day < self.first_day:
            raise ValueError("last_day is before first_day")
        return self


class ContractUpdate(BaseModel):
    """Changes to a contract; only the fields sent change."""

    model_config = ConfigDict(extra="forbid")
    buyer: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)] | None = (
        None
    )
    tonnes: float | None = Field(None, gt=0, le=100_000)
    grade: Annotated[str, StringConstraints(max_length=20)] | None = None
    first_day: dt.date | None = Field(None, ge=dt.date(2000, 1, 1), le=dt.date(2100, 1, 1))
    last_day: dt.date | None = Field(None, ge=dt.date(2000, 1, 1), le=dt.date(2100, 1, 1))
    delivery_point: Annotated[str, StringConstraints(max_length=200)] | None = None
    price_idr_per_kg: float | None = Field(None, ge=0, le=10_000_000)
    status: Status | None = None


class ContractPublic(BaseModel):
    """A stored contract."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    buyer: str
    commodity: str
    tonnes: float
    grade: str
    first_day: dt.date
    last_day: dt.date
    delivery_point: str
    price_idr_per_kg: float
    status: str
    created_at: dt.datetime
    created_by: str


class CoveragePublic(BaseModel):
    """Will the cooperatives' forecast harvest cover this contract?"""

    contract_id: int
    commodity: str
    tonnes: float
    first_day: dt.date
    last_day: dt.date
    probability: float = Field(
        description="Share of ensemble members in which the contract gets all its tonnes"
    )
    at_risk: bool = Field(description=f"probability below {AT_RISK_BELOW}")
    delivered_p50: float
    shortfall_p50: float
    shortfall_p90: float
    riskiest_week: str | None = Field(
        description="ISO week in which most members are behind an even schedule"
    )
    behind_probability: float = Field(description="Share of members behind schedule in the riskiest week")


class CoverageSummary(BaseModel):
    """All open contracts together."""

    issued: dt.date
    ensemble_members: int
    open_contracts: int
    at_risk: int
    contracted_tonnes: float
    expected_shortfall_p50_tonnes: float
    value_at_risk_idr: float = Field(description="Value of the P50 shortfall at each contract's price")
    seconds: float


class CoverageReport(BaseModel):
    """Coverage of every open contract, in priority order, and a summary."""

    summary: CoverageSummary
    contracts: list[CoveragePublic]


class AllocationPublic(BaseModel):
    """Tonnes to order of a commodity from a cooperative in an ISO week, and for which contracts."""

    commodity: str = Field(examples=["potato"])
    coop_id: str = Field(examples=["sumberbrantas"])
    iso_week: str = Field(examples=["2026-W51"])
    tonnes: float
    contract_ids: list[int] = Field(description="The contracts these tonnes serve")


_ALLOCATION = TypeAdapter(list[AllocationPublic])


def _require(principal: Principal) -> None:
    require(principal, Role.OFFTAKER, Role.ADMIN)


def _get(session: SessionDep, contract_id: RowId) -> Contract:
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise HTTPException(404, f"no contract {contract_id}")
    return contract


def _coverage(report: ContractReport) -> list[CoveragePublic]:
    specs = {c.id: c for c in report.contracts}
    out = []
    for cov in report.coverage.values():  # in priority order
        spec = specs[cov.contract_id]
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
            )
        )
    return out


@router.get("", response_model=list[ContractPublic], responses=_ERRORS)
def list_contracts(
    session: SessionDep, principal: PrincipalDep, status: Status | None = None
) -> list[Contract]:
    """Contracts, optionally by status."""
    _require(principal)
    query = select(Contract).order_by(Contract.id)
    if status is not None:
        query = query.where(Contract.status == status)
    return list(session.scalars(query))


@router.post("", response_model=ContractPublic, status_code=201, responses={**_ERRORS, 422: {}})
def create_contract(body: ContractCreate, session: SessionDep, principal: PrincipalDep) -> Contract:
    """Record a contract."""
    _require(principal)
    contract = Contract(**body.model_dump(), created_at=dt.datetime.now(dt.UTC), created_by=principal.name)
    session.add(contract)
    session.commit()
    return contract


@router.get("/coverage", response_model=CoverageReport, responses=_ERRORS)
def coverage_report(principal: PrincipalDep, state: StateDep) -> CoverageReport:
    """Coverage of every open contract from the forecast members, and a summary."""
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
    return _get(session, contract_id)


@router.get("/{contract_id}/coverage", response_model=CoveragePublic, responses={**_ERRORS, 404: {}})
def contract_coverage(
    contract_id: RowId, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> CoveragePublic:
    """Coverage of one open contract."""
    _require(principal)
    contract = _get(session, contract_id)
    if contract.status != "open":
        raise HTTPException(
            404, f"contract {contract_id} is {contract.status}; coverage is for open contracts"
        )
    for row in _coverage(state.contracts.report()):
        if row.contract_id == contract_id:
            return row
    raise HTTPException(404, f"no coverage for contract {contract_id} yet")


@router.patch("/{contract_id}", response_model=ContractPublic, responses={**_ERRORS, 404: {}, 422: {}})
def update_contract(
    contract_id: RowId, body: ContractUpdate, session: SessionDep, principal: PrincipalDep
) -> Contract:
    """Change a contract (e.g. mark it fulfilled)."""
    _require(principal)
    contract = _get(session, contract_id)
    for key, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(contract, key, value)
    if contract.last_day < contract.first_day:
        raise HTTPException(422, "last_day is before first_day")
    session.commit()
    return contract


@router.delete("/{contract_id}", status_code=204, responses={**_ERRORS, 404: {}})
def delete_contract(contract_id: RowId, session: SessionDep, principal: PrincipalDep) -> Response:
    """Delete a contract entered by mistake (use status `cancelled` for one that was signed)."""
    _require(principal)
    session.delete(_get(session, contract_id))
    session.commit()
    return Response(status_code=204)
