"""Coosae's purchase plan and the track record behind it: what a caller may see of the latest
forecast run, summed into tonnes per commodity × ISO week × cooperative, cached per run.

A plan changes only with the forecast run, so it is computed once per run, scope (a cooperative, or
``*`` for those who see all), horizon, grouping, filter and format, and kept as the rendered body:
a cached plan is served without a worker thread or a registry query, which is what lets planners
poll it. Concurrent first requests wait for one computation (single flight). The track record's
pairings (every harvest with its past forecasts) are likewise read once per run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from forecast.contracts import AllocationRow
from forecast.engine import FieldForecast
from forecast.plan import PlanRow, plan_members, purchase_plan
from services import InvalidInput
from services.access import Principal, check_filters
from services.contracts import ContractService
from services.forecasting import ForecastRun, ForecastService
from services.prices import CashWeek, PriceBook, price_book, weekly_cash
from services.track_record import Pairing, pairings
from storage import TimeSeriesStore, local_day
from storage.db import Cooperative, Field

__all__ = ["PlanContext", "PlanRequest", "Planning", "matches", "visible_forecasts"]

# More cached bodies than this (scopes × horizons × formats × filters) and the cache starts afresh.
_MAX_CACHED_PLANS = 256


@dataclass(frozen=True)
class PlanRequest:
    """What a caller asked of the plan (their scope is added from who they are)."""

    weeks: int
    format: str  # json, csv or xlsx: the body is cached rendered
    by: str  # cooperative or commodity
    coop_id: str | None = None
    commodity: str | None = None
    weeks_from: str = "this"  # this (the week in progress), next, or an ISO date within its week
    view: str = "rows"  # rows (commodity x week x cooperative) or cash (the money each week needs)

    def start(self, issued: dt.date) -> tuple[dt.date, bool]:
        """The plan's first day, and whether overdue harvests count in its first week (only a plan
        that starts in the week in progress takes them).

        Raises:
            InvalidInput: ``weeks_from`` is neither this, next nor a date.
        """
        this_monday = issued - dt.timedelta(days=issued.weekday())
        if self.weeks_from == "this":
            return issued, True
        if self.weeks_from == "next":
            return this_monday + dt.timedelta(weeks=1), False
        try:
            day = dt.date.fromisoformat(self.weeks_from)
        except ValueError as exc:
            raise InvalidInput(
                f"weeks_from: {self.weeks_from!r} is not this, next or a date (2026-12-14)"
            ) from exc
        monday = day - dt.timedelta(days=day.weekday())
        return (issued, True) if monday <= this_monday else (monday, False)


@dataclass(frozen=True)
class PlanContext:
    """What a plan's rows say beside their tonnes."""

    names: dict[str, str]  # cooperative id -> name
    previous: dict[tuple[str, str, str], PlanRow] | None  # (commodity, week, coop) -> the run before's row
    newest_reading_ms: dict[str, int]  # cooperative id (and "all") -> its newest reading
    issued_at: dt.datetime
    today: dt.date
    pairs: list[Pairing]  # the track record in the caller's scope and filter
    prices: PriceBook = field(default_factory=PriceBook)  # Coosae's buying prices
    cash: tuple[CashWeek, ...] = ()  # the cash each week of the plan needs (all rows together)
    orders: tuple[AllocationRow, ...] = ()  # the contracts' orders in scope (only for the xlsx)


# Turns a plan's rows into the body served (the API's JSON, CSV or xlsx).
Render = Callable[[list[PlanRow], PlanContext, PlanRequest], bytes]


def matches(coop: str, crop: str, coop_id: str | None, commodity: str | None) -> bool:
    """Whether a row of ``coop`` and ``crop`` passes the filters (None: any)."""
    return (coop_id is None or coop == coop_id) and (commodity is None or crop == commodity)


def visible_forecasts(run: ForecastRun, principal: Principal, session: Session) -> list[FieldForecast]:
    """The run's forecasts of the fields the caller may see."""
    scope = principal.field_filter()
    if scope is None:
        return list(run.forecasts.values())
    allowed = set(session.scalars(select(Field.id).where(scope)))
    return [f for f in run.forecasts.values() if f.field_id in allowed]


class Planning:
    """The plan and the track record's pairings of one platform, cached per forecast run (thread-safe)."""

    def __init__(
        self,
        store: TimeSeriesStore,
        sessions: sessionmaker[Session],
        forecasts: ForecastService,
        contracts: ContractService | None = None,
    ) -> None:
        """Plan from ``forecasts``' runs; the registry and the store give names and the track record,
        ``contracts`` the orders sheet of the xlsx."""
        self.store = store
        self.sessions = sessions
        self.forecasts = forecasts
        self.contracts = contracts
        self._plans: dict[tuple[object, ...], bytes] = {}
        self._plan_lock = threading.Lock()
        self._pairs: tuple[object, list[Pairing]] | None = None
        self._pairs_lock = threading.Lock()
        self._prices: tuple[object, PriceBook] | None = None

    def prices(self, run: ForecastRun) -> PriceBook:
        """Coosae's buying prices, read once per forecast run and after :meth:`prices_changed` (so
        prices imported by the command line, another process, count from the next refresh)."""
        held = self._prices
        if held is None or held[0] != run.computed_at:
            with self.sessions() as session:
                held = self._prices = (run.computed_at, price_book(session))
        return held[1]

    def prices_changed(self) -> None:
        """The registry's prices changed: plans are priced anew (the cache is cleared under the lock
        every computation holds, so no plan priced before is kept)."""
        with self._plan_lock:
            self._prices = None
            self._plans.clear()

    def pairs(self, run: ForecastRun) -> list[Pairing]:
        """Every harvest paired with its past forecasts, read once per forecast run (unscoped: the
        caller applies its scope)."""
        with self._pairs_lock:
            if self._pairs is None or self._pairs[0] != run.computed_at:
                with self.sessions() as session:
                    self._pairs = (run.computed_at, pairings(self.store, session))
            return self._pairs[1]

    @staticmethod
    def _key(run_at: object, principal: Principal, request: PlanRequest) -> tuple[object, ...]:
        scope = principal.coop_id if not principal.sees_all else "*"
        return (run_at, scope, request)

    def cached(self, principal: Principal, request: PlanRequest) -> bytes | None:
        """The plan's body if it is cached for the latest run; no I/O (for an event loop). A workbook
        is never answered from here: its orders sheet follows the contracts, which need the registry."""
        run = self.forecasts.latest
        if run is None or (request.format == "xlsx" and self.contracts is not None):
            return None
        return self._plans.get(self._key(run.computed_at, principal, request))

    def plan(self, principal: Principal, request: PlanRequest, render: Render) -> bytes:
        """The plan's body for the latest run, computed and cached on a miss.

        Raises:
            InvalidInput, NotFound, OutOfScope: a filter that cannot match (checked on a miss only: a
                plan is cached for a scope and filter that passed the check).
        """
        run = self.forecasts.current()
        key = self._key(run.computed_at, principal, request)
        report = None
        if request.format == "xlsx" and self.contracts is not None:
            report = self.contracts.report(run)
            key = (*key, report.computed_at)
        with self._plan_lock:  # single flight: concurrent first requests wait for one computation
            body = self._plans.get(key)
            if body is None:
                rows, context = self._compute(run, principal, request)
                if report is not None:
                    orders = tuple(
                        r
                        for r in report.allocation
                        if principal.can_see_coop(r.coop_id)
                        and matches(r.coop_id, r.commodity, request.coop_id, request.commodity)
                    )
                    context = dataclasses.replace(context, orders=orders)
                body = render(rows, context, request)
                if len(self._plans) > _MAX_CACHED_PLANS:
                    self._plans.clear()
                self._plans[key] = body
        return body

    def _compute(
        self, run: ForecastRun, principal: Principal, request: PlanRequest
    ) -> tuple[list[PlanRow], PlanContext]:
        coop_id, commodity = request.coop_id, request.commodity
        previous_run = self.forecasts.previous
        with self.sessions() as session:
            check_filters(session, principal, coop_id=coop_id, commodity=commodity)

            def in_coops(r: ForecastRun) -> list[FieldForecast]:
                return [f for f in visible_forecasts(r, principal, session) if coop_id in (None, f.coop_id)]

            # A row's cooperative (and `all`) is as fresh as its newest reading of any crop, so a row
            # reads the same whether or not the plan is filtered by commodity.
            coops = in_coops(run)
            previous_visible = (
                [f for f in in_coops(previous_run) if commodity in (None, f.commodity)]
                if previous_run
                else None
            )
            names = {co.id: co.name for co in session.scalars(select(Cooperative))}
        by_coop = request.by == "cooperative"
        visible = [f for f in coops if commodity in (None, f.commodity)]
        start, overdue = request.start(run.issued)
        rows = purchase_plan(
            visible, start=start, weeks=request.weeks, by_coop=by_coop, count_overdue=overdue
        )
        previous = None
        if previous_visible is not None:
            before = purchase_plan(
                previous_visible, start=start, weeks=request.weeks, by_coop=by_coop, count_overdue=overdue
            )
            previous = {(r.commodity, r.iso_week, r.coop_id): r for r in before}
        newest: dict[str, int] = {}
        for f in coops:
            ts = run.last_reading_ms.get(f.field_id)
            if ts is not None:
                for coop in (f.coop_id, "all"):
                    newest[coop] = max(newest.get(coop, ts), ts)
        pairs = [
            p
            for p in self.pairs(run)
            if principal.can_see_coop(p.coop_id) and matches(p.coop_id, p.commodity, coop_id, commodity)
        ]
        today = local_day(time.time_ns() // 1_000_000)
        book = self.prices(run)
        cash: tuple[CashWeek, ...] = ()
        if request.view == "cash" or request.format == "xlsx":  # the rows' JSON and CSV do not show it
            keys, labels, totals = plan_members(
                visible, start=start, weeks=request.weeks, by_coop=False, count_overdue=overdue
            )
            cash = tuple(weekly_cash(keys, labels, totals, book))
        return rows, PlanContext(names, previous, newest, run.computed_at, today, pairs, book, cash)
