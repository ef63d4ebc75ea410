"""Will the cooperatives' harvests cover what Coosae has sold? Coverage and allocation of sales
contracts from the forecast ensemble (pure numpy and scipy; no I/O).

**Supply.** Each field's member harvest (tonnes, from its harvest date) is spread evenly over its
crop's harvest window, as in the purchase plan, giving tonnes per cooperative × day × member for each
commodity.

**Coverage** (per member, then counted). Open contracts are served in priority order: earliest first
delivery day, then the larger value (tonnes × price), then id. In each member, a contract takes the
supply of its commodity inside its delivery window, earliest day first (fresh produce is bought as it
is harvested), from all cooperatives in proportion to what each has that day, until it has its
tonnes; what it took is gone for the contracts after it, so two contracts never count the same
tonnes. A contract's coverage probability is the share of members in which it gets all its tonnes;
its shortfall is ``tonnes − taken`` per member (P50 and P90 reported); its riskiest week is the ISO
week of its window in which the most members are behind an even delivery schedule.

**Allocation** (one plan to send as orders). Orders cannot follow each member, so they are sized on
supply the cooperatives have with a chosen confidence: per cooperative, the ``1 − confidence``
quantile of the members' supply over the grid (with 0.8, tonnes present in 80 % of members), spread
over the days like the members' mean, without the weeks that would get less than 0.1 t (their share
goes to the cooperative's other weeks; see :func:`confident_supply`). A linear
program (``scipy.optimize.linprog``, HiGHS) per commodity then maximises, contract by contract in the
priority order above, the tonnes allocated to that contract while keeping what the contracts before it
already got (a lexicographic optimum: a later contract never takes supply an earlier one needs, but
may use what the greedy order would have wasted); a tiny cost on later days prefers fresher, earlier
deliveries. Orders are the result summed by cooperative × ISO week; a contract's week from a
cooperative under 0.1 t (at a window's edge, or the contract's last kilograms) joins its nearest week
of at least that from the same cooperative. Orders are then rounded to whole 0.1 t, as the plan is,
their total never above the contract's (largest remainder rounding, :func:`_rounded`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linprog
from scipy.sparse import coo_matrix, vstack

from forecast.crops import load_crops
from forecast.engine import FieldForecast
from forecast.plan import iso_week

__all__ = [
    "MIN_ORDER_T",
    "ORDER_STEP_T",
    "AllocationRow",
    "ContractSpec",
    "Coverage",
    "Supply",
    "allocate",
    "confident_supply",
    "coverage",
    "daily_supply",
    "priority_order",
]

F64 = NDArray[np.float64]
_TOL = 1e-6
# The smallest week of a cooperative's confident supply that orders are placed on: a few sacks, below
# which a delivery costs more than it carries [est]. A thinner week's share goes to its other weeks.
MIN_ORDER_T = 0.1
# Orders are whole tenths of a tonne, as the purchase plan shows its tonnes (a 0.183 t order reads as a
# precision the forecast does not have).
ORDER_STEP_T = 0.1


@dataclass(frozen=True)
class ContractSpec:
    """An open sales contract."""

    id: int
    commodity: str
    tonnes: float
    first_day: dt.date
    last_day: dt.date
    price_idr_per_kg: float = 0.0
    grade: str = "A"

    @property
    def value_idr(self) -> float:
        """Contract value [Rp]."""
        return self.tonnes * 1000 * self.price_idr_per_kg


@dataclass(frozen=True)
class Supply:
    """Forecast harvest of one commodity: ``tonnes[coop, day, member]`` from ``start``."""

    coops: list[str]
    start: dt.date
    tonnes: F64

    def day_index(self, day: dt.date) -> int:
        """Index of ``day`` on the grid (may fall outside it)."""
        return (day - self.start).days


@dataclass(frozen=True)
class Coverage:
    """How well one contract is covered."""

    contract_id: int
    probability: float
    shortfall_p50: float
    shortfall_p90: float
    delivered_p50: float
    riskiest_week: str | None
    behind_probability: float  # in the riskiest week
    taken: F64  # tonnes[coop, window day, member] the contract takes in each member
    shortfall_expected: float = 0.0  # the mean over members (what a margin at risk is priced on)


@dataclass(frozen=True)
class AllocationRow:
    """Tonnes to order from a cooperative in an ISO week for a contract."""

    contract_id: int
    commodity: str
    coop_id: str
    iso_week: str
    tonnes: float


def priority_order(contracts: Sequence[ContractSpec]) -> list[ContractSpec]:
    """Earliest first delivery day, then the larger value, then id."""
    return sorted(contracts, key=lambda c: (c.first_day, -c.value_idr, c.id))


def daily_supply(forecasts: Sequence[FieldForecast], *, start: dt.date, end: dt.date) -> dict[str, Supply]:
    """Tonnes per cooperative × day × member of each commodity, on the days ``start``..``end``."""
    library = load_crops()
    days = (end - start).days + 1
    out: dict[str, Supply] = {}
    for commodity in sorted({f.commodity for f in forecasts}):
        fields = [f for f in forecasts if f.commodity == commodity]
        coops = sorted({f.coop_id for f in fields})
        index = {c: i for i, c in enumerate(coops)}
        members = max(f.members for f in fields)
        tonnes = np.zeros((len(coops), days, members))
        window = max(1, library[commodity].harvest_window_days)
        for f in fields:
            day0 = np.array([(d - start).days if d is not None else -(10**6) for d in f.members_harvest_date])
            share = np.where(day0 > -(10**6), np.asarray(f.members_tonnes, dtype=np.float64) / window, 0.0)
            member = np.arange(len(day0))
            for offset in range(window):
                day = day0 + offset
                ok = (day >= 0) & (day < days) & (share > 0)
                np.add.at(tonnes[index[f.coop_id]], (day[ok], member[ok]), share[ok])
        out[commodity] = Supply(coops, start, tonnes)
    return out


def _window(supply: Supply, c: ContractSpec) -> slice:
    first = max(0, supply.day_index(c.first_day))
    last = min(supply.tonnes.shape[1] - 1, supply.day_index(c.last_day))
    return slice(first, max(first, last + 1))


def coverage(contracts: Sequence[ContractSpec], supply: dict[str, Supply], members: int) -> list[Coverage]:
    """Coverage of every contract, in priority order (see the module docstring)."""
    available = {k: s.tonnes.copy() for k, s in supply.items()}
    out = []
    for c in priority_order(contracts):
        s = supply.get(c.commodity)
        if s is None:
            zero = np.zeros((0, 0, members))
            out.append(Coverage(c.id, 0.0, c.tonnes, c.tonnes, 0.0, None, 1.0, zero, c.tonnes))
            continue
        avail = available[c.commodity]
        win = _window(s, c)
        in_window = avail[:, win, :]  # view: taking from it takes from avail
        per_day = in_window.sum(axis=0)  # (days, members)
        before = np.cumsum(per_day, axis=0) - per_day
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.where(per_day > 0, np.clip((c.tonnes - before) / per_day, 0.0, 1.0), 0.0)
        taken = in_window * fraction[None, :, :]
        in_window -= taken
        delivered = taken.sum(axis=(0, 1))
        shortfall = np.maximum(0.0, c.tonnes - delivered)
        week, behind = _riskiest_week(c, s, win, taken)
        out.append(
            Coverage(
                contract_id=c.id,
                probability=float(np.mean(delivered >= c.tonnes * (1 - _TOL))),
                shortfall_p50=float(np.percentile(shortfall, 50)),
                shortfall_p90=float(np.percentile(shortfall, 90)),
                delivered_p50=float(np.percentile(delivered, 50)),
                riskiest_week=week,
                behind_probability=behind,
                taken=taken,
                shortfall_expected=float(shortfall.mean()),
            )
        )
    return out


def _riskiest_week(c: ContractSpec, s: Supply, win: slice, taken: F64) -> tuple[str | None, float]:
    days = [s.start + dt.timedelta(days=i) for i in range(win.start, win.stop)]
    if not days:
        return iso_week(c.first_day), 1.0
    span = (c.last_day - c.first_day).days + 1
    cumulative = np.cumsum(taken.sum(axis=0), axis=0)  # (days, members)
    worst: tuple[str | None, float] = (None, 0.0)
    for i, day in enumerate(days):
        if i + 1 < len(days) and iso_week(days[i + 1]) == iso_week(day):
            continue  # judge each week at its last day in the window
        schedule = c.tonnes * min(1.0, ((day - c.first_day).days + 1) / span)
        behind = float(np.mean(cumulative[i] < schedule * (1 - _TOL)))
        if behind > worst[1]:
            worst = (iso_week(day), behind)
    return worst


def allocate(
    contracts: Sequence[ContractSpec],
    supply: dict[str, Supply],
    *,
    confidence: float = 0.8,
    min_order_t: float = MIN_ORDER_T,
) -> list[AllocationRow]:
    """Orders per contract × cooperative × ISO week (see the module docstring)."""
    rows: list[AllocationRow] = []
    for commodity, s in sorted(supply.items()):
        group = [c for c in priority_order(contracts) if c.commodity == commodity]
        if not group:
            continue
        capacity = confident_supply(s, confidence, min_order_t)
        x = _lexicographic_lp(group, s, capacity)
        for c, alloc in zip(group, x, strict=True):
            win = _window(s, c)
            orders: dict[tuple[str, str], float] = {}
            for k, coop in enumerate(s.coops):
                weekly: dict[str, float] = {}
                for j, t in enumerate(alloc[k]):
                    if t > 0:
                        week = iso_week(s.start + dt.timedelta(days=win.start + j))
                        weekly[week] = weekly.get(week, 0.0) + float(t)
                for week, t in _merge_crumbs(weekly, min_order_t).items():
                    orders[(coop, week)] = t
            for (coop, week), t in sorted(_rounded(orders, c.tonnes).items()):
                rows.append(AllocationRow(c.id, commodity, coop, week, t))
    return rows


def _rounded(orders: dict[tuple[str, str], float], limit: float) -> dict[tuple[str, str], float]:
    """A contract's orders in whole :data:`ORDER_STEP_T` (as the plan rounds), their total the
    unrounded total's rounded, never above ``limit`` (the contract's tonnes): each order is rounded
    down, and the steps still missing go to the orders with the largest remainders (largest
    remainder rounding, so no order moves by a step or more). Orders rounded to nothing are left out."""
    steps = {k: t / ORDER_STEP_T for k, t in orders.items()}
    target = round(sum(steps.values()))
    target = min(target, math.floor(limit / ORDER_STEP_T + 1e-9))
    floors = {k: math.floor(v + 1e-9) for k, v in steps.items()}
    missing = target - sum(floors.values())
    by_remainder = sorted(steps, key=lambda k: (-(steps[k] - floors[k]), k))
    for k in by_remainder[: max(0, missing)]:
        floors[k] += 1
    return {k: round(n * ORDER_STEP_T, 1) for k, n in floors.items() if n > 0}


def _merge_crumbs(weekly: dict[str, float], min_order_t: float) -> dict[str, float]:
    """A contract's weekly orders from one cooperative, each week under ``min_order_t`` added to the
    nearest week that has at least that (the earlier of two as near), so that week may exceed its
    confident supply by the crumbs; with no such week, all of it is one order in the largest week.
    What remains for a contract at a window's edge, or its last few kilograms, are such crumbs."""
    weeks = sorted(w for w, t in weekly.items() if t >= 5e-4)
    big = [i for i, w in enumerate(weeks) if weekly[w] >= min_order_t]
    if len(big) == len(weeks):
        return weekly
    if not big:
        return {max(weeks, key=lambda w: weekly[w]): sum(weekly[w] for w in weeks)} if weeks else {}
    out = {weeks[i]: weekly[weeks[i]] for i in big}
    for i, w in enumerate(weeks):
        if weekly[w] < min_order_t:
            nearest = min(big, key=lambda b: (abs(b - i), b))
            out[weeks[nearest]] += weekly[w]
    return out


def confident_supply(s: Supply, confidence: float, min_order_t: float = 0.0) -> F64:
    """Tonnes per cooperative × day that are there with ``confidence``: per cooperative, the
    ``1 − confidence`` quantile of the members' supply over the whole grid, spread over the days like
    the members' mean, leaving out the weeks that would get less than ``min_order_t`` (their share
    goes to the cooperative's other weeks).

    The quantity is what is sure; the timing is the members' mean. Quantiles of a shorter span are
    far too low: a field's harvest week moves between members, so a cooperative with a few fields has
    an empty week in some members every week, although it surely harvests. Weekly quantiles ordered
    5.5 t of a 100 t potato contract that every member covered (the demo, issue 19)."""
    out = np.zeros(s.tonnes.shape[:2])
    mean = s.tonnes.mean(axis=2)
    sure = np.quantile(s.tonnes.sum(axis=1), 1 - confidence, axis=1)  # (coops,)
    labels = [iso_week(s.start + dt.timedelta(days=d)) for d in range(s.tonnes.shape[1])]
    week_of = np.unique(labels, return_inverse=True)[1]  # ISO week labels sort in time order
    for k in range(len(s.coops)):
        weekly = np.bincount(week_of, weights=mean[k]).astype(np.float64)
        kept = _weeks_kept(weekly, sure[k], min_order_t)
        profile = np.where(kept[week_of], mean[k], 0.0)
        total = profile.sum()
        if total > 0:
            out[k] = profile * (sure[k] / total)
    return out


def _weeks_kept(weekly: F64, tonnes: float, min_order_t: float) -> NDArray[np.bool_]:
    """Which weeks keep their share when ``tonnes`` are spread like ``weekly``: the thinnest week
    under ``min_order_t`` goes first and the rest take its share, until every week left has
    ``min_order_t`` or only one is left."""
    kept = weekly > 0
    if tonnes <= 0:
        return kept  # nothing is sure: no week gets anything
    while kept.sum() > 1:
        weeks = np.flatnonzero(kept)
        share = weekly[weeks] / weekly[weeks].sum() * tonnes
        thinnest = int(np.argmin(share))
        if share[thinnest] >= min_order_t:
            break
        kept[weeks[thinnest]] = False
    return kept


def _lexicographic_lp(group: list[ContractSpec], s: Supply, capacity: F64) -> list[F64]:
    """x[contract][coop, window day] maximising each contract's total in priority order."""
    n_coops = len(s.coops)
    windows = [_window(s, c) for c in group]
    sizes = [n_coops * (w.stop - w.start) for w in windows]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    n = int(offsets[-1])
    if n == 0:
        return [np.zeros((n_coops, 0)) for _ in group]
    # Variable v of contract i: coop = j // width, day = window.start + j % width.
    cap_rows, cap_cols = [], []
    upper = np.zeros(n)
    day_of = np.zeros(n, dtype=int)
    for i, w in enumerate(windows):
        width = w.stop - w.start
        j = np.arange(sizes[i])
        coop, day = j // width, w.start + j % width
        cols = offsets[i] + j
        cap_rows.append(coop * s.tonnes.shape[1] + day)
        cap_cols.append(cols)
        upper[cols] = capacity[coop, day]
        day_of[cols] = day
    rows_idx = np.concatenate(cap_rows)
    used, rows_idx = np.unique(rows_idx, return_inverse=True)
    a_cap = coo_matrix((np.ones(n), (rows_idx, np.concatenate(cap_cols))), shape=(len(used), n))
    b_cap = capacity.reshape(-1)[used]
    totals = [np.zeros(n) for _ in group]
    for i in range(len(group)):
        totals[i][offsets[i] : offsets[i + 1]] = 1.0
    # Each contract takes at most its tonnes; earlier contracts keep what they achieved.
    a_ub = [a_cap, coo_matrix(np.vstack(totals))]
    b_ub = [b_cap, np.array([c.tonnes for c in group])]
    freshness = 1e-6 * day_of / max(1, s.tonnes.shape[1])
    solution = np.zeros(n)
    achieved: list[float] = []
    for i in range(len(group)):
        objective = -totals[i] + freshness
        extra_a = [coo_matrix(-totals[k][None, :]) for k in range(i)]
        extra_b = [np.array([-(achieved[k] - _TOL)]) for k in range(i)]
        result = linprog(
            objective,
            A_ub=vstack(a_ub + extra_a).tocsr(),
            b_ub=np.concatenate(b_ub + extra_b),
            bounds=np.column_stack([np.zeros(n), upper]),
            method="highs",
        )
        if not result.success:  # cannot happen for this feasible problem; keep what we had
            break
        solution = np.maximum(result.x, 0.0)
        achieved.append(float(totals[i] @ solution))
    return [
        solution[offsets[i] : offsets[i + 1]].reshape(n_coops, windows[i].stop - windows[i].start)
        for i in range(len(group))
    ]
