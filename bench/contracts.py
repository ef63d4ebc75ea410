"""Contract coverage and allocation: 20 open contracts over the default fleet's forecast with 200
ensemble members, timed from the members to the orders (coverage of every contract and the
lexicographic LP allocation), one JSON line.

Contracts are made up the way Coosae sells: for the commodities with the most forecast supply, two to
three contracts each, 2–6 weeks long within the next 16 weeks, sized from 20 % to 130 % of the median
supply in their window (so some are safe and some at risk), at Batu farm-gate prices.

Run: ``python -m bench.contracts [--members 200] [--contracts 20]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Sequence

import numpy as np

from bench.forecast_skill import simulate_season
from forecast.contracts import MIN_ORDER_T, ContractSpec, allocate, coverage, daily_supply

ANCHOR = dt.date(2026, 11, 28)
PRICE_IDR_PER_KG = {
    "potato": 9000,
    "cabbage": 4000,
    "carrot": 7000,
    "tomato": 8000,
    "chili": 35000,
    "shallot": 28000,
    "sweet_corn": 5000,
    "rice": 12000,
    "strawberry": 60000,
    "apple": 15000,
    "citrus": 12000,
}  # fmt: skip  [est] apple and keprok farm gate


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--contracts", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print("simulating the season and forecasting every field ...", file=sys.stderr)
    season = simulate_season(ANCHOR, seed=11)
    forecasts = season.forecast(list(season.specs(ANCHOR).values()), ANCHOR, members=args.members, seed=1)
    horizon = ANCHOR + dt.timedelta(weeks=16)
    supply = daily_supply(forecasts, start=ANCHOR, end=horizon)
    rng = np.random.default_rng(7)
    ranked = sorted(supply, key=lambda k: -float(np.median(supply[k].tonnes.sum(axis=(0, 1)))))
    contracts = []
    for i in range(args.contracts):
        commodity = ranked[i % min(len(ranked), 8)]
        start = int(rng.integers(0, 12 * 7))
        length = int(rng.integers(14, 43))
        first, last = (
            ANCHOR + dt.timedelta(days=start),
            ANCHOR + dt.timedelta(days=min(start + length, 16 * 7)),
        )
        in_window = supply[commodity].tonnes[:, start : (last - ANCHOR).days + 1, :].sum(axis=(0, 1))
        share = float(rng.uniform(0.2, 1.3))
        tonnes = max(1.0, round(share * float(np.median(in_window)), 1))
        contracts.append(
            ContractSpec(i + 1, commodity, tonnes, first, last, PRICE_IDR_PER_KG.get(commodity, 8000))
        )
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        supply = daily_supply(forecasts, start=ANCHOR, end=max(c.last_day for c in contracts))
        covered = coverage(contracts, supply, args.members)
        rows = allocate(contracts, supply, confidence=0.8)
        timings.append((time.perf_counter() - started) * 1000)
    probabilities = [c.probability for c in covered]
    # Orders for the contracts the members cover (in 80 % of them or more) against their tonnes: an
    # order plan a planner can send should come close to 1 there.
    sure = {c.contract_id for c in covered if c.probability >= 0.8}
    sure_tonnes = sum(c.tonnes for c in contracts if c.id in sure)
    sure_ordered = sum(r.tonnes for r in rows if r.contract_id in sure)
    orders: dict[tuple[str, str, str], float] = {}
    for r in rows:  # what is sent: one order per cooperative × week × commodity
        key = (r.commodity, r.coop_id, r.iso_week)
        orders[key] = orders.get(key, 0.0) + r.tonnes
    print(
        json.dumps(
            {
                "bench": "contracts",
                "fields": len(forecasts),
                "members": args.members,
                "contracts": len(contracts),
                "coverage_allocation_ms": round(min(timings), 1),
                "coverage_allocation_ms_median": round(float(np.median(timings)), 1),
                "contracts_at_risk": sum(p < 0.8 for p in probabilities),
                "coverage_probability_min": round(min(probabilities), 3),
                "coverage_probability_median": round(float(np.median(probabilities)), 3),
                "order_rows": len(rows),
                "ordered_tonnes": round(sum(r.tonnes for r in rows), 1),
                "contracted_tonnes": round(sum(c.tonnes for c in contracts), 1),
                "covered_contracts": len(sure),
                "covered_ordered_share": round(sure_ordered / sure_tonnes, 3) if sure_tonnes else None,
                "orders": len(orders),
                "orders_below_min": sum(t < MIN_ORDER_T for t in orders.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
