"""Coosae's sales contracts: recorded, changed and deleted here (the API, the demo and tests call
these), and weighed against the forecasts through :mod:`forecast.contracts`.

A report (coverage of every open contract and the proposed orders) is computed from the latest
forecast run and the open contracts, and cached until either changes; contract alerts come from it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from forecast.contracts import AllocationRow, ContractSpec, Coverage, allocate, coverage, daily_supply
from services import InvalidInput, NotFound
from services.forecasting import ForecastRun, ForecastService
from services.prices import PriceBook, price_book
from storage.db import Contract

__all__ = [
    "AT_RISK_BELOW",
    "ContractReport",
    "ContractService",
    "check_window",
    "contract",
    "contracts",
    "create_contract",
    "delete_contract",
    "update_contract",
]

# Below this coverage probability a contract raises an alert for Coosae (a
# contract missed one season in five is a planning problem, not bad luck).
AT_RISK_BELOW = 0.8
_HORIZON_DAYS = 366


@dataclass(frozen=True)
class ContractReport:
    """Coverage and allocation of the open contracts for one forecast run."""

    issued: dt.date
    computed_at: dt.datetime
    contracts: list[ContractSpec]
    coverage: dict[int, Coverage]
    allocation: list[AllocationRow]
    confidence: float
    members: int
    seconds: float
    prices: PriceBook = field(default_factory=PriceBook)  # Coosae's buying prices when the report was made

    def margin(self, c: ContractSpec) -> tuple[float | None, float | None]:
        """The buying price of ``c``'s commodity and grade on its first day, and the contract's margin
        per kg (sale price minus that); (None, None) with no buying price."""
        price = self.prices.price(c.commodity, c.first_day, c.grade)
        if price is None:
            return None, None
        return price.idr_per_kg, c.price_idr_per_kg - price.idr_per_kg


def check_window(first_day: dt.date, last_day: dt.date) -> None:
    """A contract's delivery window ends on or after its first day."""
    if last_day < first_day:
        raise InvalidInput("last_day is before first_day")


def contracts(session: Session, status: str | None = None) -> list[Contract]:
    """Every contract, or those of one status, in id order."""
    query = select(Contract).order_by(Contract.id)
    if status is not None:
        query = query.where(Contract.status == status)
    return list(session.scalars(query))


def contract(session: Session, contract_id: int) -> Contract:
    """One contract; :class:`services.NotFound` if there is none."""
    row = session.get(Contract, contract_id)
    if row is None:
        raise NotFound(f"no contract {contract_id}")
    return row


def create_contract(session: Session, data: Mapping[str, Any], *, by: str) -> Contract:
    """Record a contract signed by Coosae; ``by`` is who recorded it."""
    check_window(data["first_day"], data["last_day"])
    row = Contract(**data, created_at=dt.datetime.now(dt.UTC), created_by=by)
    session.add(row)
    session.commit()
    return row


def update_contract(session: Session, row: Contract, changes: Mapping[str, Any]) -> Contract:
    """Change a contract (e.g. mark it fulfilled); the window rule holds after the change."""
    for key, value in changes.items():
        setattr(row, key, value)
    try:
        check_window(row.first_day, row.last_day)
    except InvalidInput:
        session.rollback()
        raise
    session.commit()
    return row


def delete_contract(session: Session, row: Contract) -> None:
    """Delete a contract entered by mistake (a signed one that fell through is ``cancelled``)."""
    session.delete(row)
    session.commit()


def open_contracts(session: Session) -> list[ContractSpec]:
    """The registry's open contracts as specs."""
    rows = session.scalars(select(Contract).where(Contract.status == "open").order_by(Contract.id))
    return [
        ContractSpec(c.id, c.commodity, c.tonnes, c.first_day, c.last_day, c.price_idr_per_kg, c.grade)
        for c in rows
    ]


def compute_report(
    run: ForecastRun, contracts: list[ContractSpec], confidence: float, prices: PriceBook | None = None
) -> ContractReport:
    """Coverage and allocation of ``contracts`` from ``run``'s members."""
    started = time.perf_counter()
    start = run.issued
    end = max([c.last_day for c in contracts], default=start)
    end = min(max(end, start), start + dt.timedelta(days=_HORIZON_DAYS))
    supply = daily_supply(list(run.forecasts.values()), start=start, end=end)
    covered = coverage(contracts, supply, run.members)
    rows = allocate(contracts, supply, confidence=confidence)
    return ContractReport(
        issued=run.issued,
        computed_at=dt.datetime.now(dt.UTC),
        contracts=contracts,
        coverage={c.contract_id: c for c in covered},
        allocation=rows,
        confidence=confidence,
        members=run.members,
        seconds=round(time.perf_counter() - started, 3),
        prices=prices or PriceBook(),
    )


class ContractService:
    """Caches the report per forecast run and set of open contracts (thread-safe)."""

    def __init__(
        self, sessions: sessionmaker[Session], forecasts: ForecastService, *, confidence: float = 0.8
    ) -> None:
        """Report on the contracts in ``sessions``' registry from ``forecasts``' latest run."""
        self.sessions = sessions
        self.forecasts = forecasts
        self.confidence = confidence
        self._lock = threading.Lock()
        self._key: object = None
        self._report: ContractReport | None = None

    def report(self, run: ForecastRun | None = None) -> ContractReport:
        """The report for ``run`` (default: the latest) and the contracts open now."""
        run = run or self.forecasts.current()
        with self.sessions() as session:
            contracts = open_contracts(session)
            prices = price_book(session)
        key = (run.computed_at, tuple(contracts), self.confidence, prices)
        with self._lock:
            if self._report is None or self._key != key:
                self._report = compute_report(run, contracts, self.confidence, prices)
                self._key = key
            return self._report
