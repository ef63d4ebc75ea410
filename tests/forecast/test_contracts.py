"""Contract coverage and allocation on hand-built ensembles, checked against brute force."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from forecast.contracts import (
    MIN_ORDER_T,
    ContractSpec,
    Supply,
    allocate,
    confident_supply,
    coverage,
    priority_order,
)
from forecast.plan import iso_week

START = dt.date(2026, 12, 1)


def day(i: int) -> dt.date:
    return START + dt.timedelta(days=i)


def supply(tonnes: np.ndarray, commodity: str = "potato") -> dict[str, Supply]:
    return {commodity: Supply([f"coop{i}" for i in range(tonnes.shape[0])], START, tonnes)}


def test_coverage_probability_matches_a_brute_force_count() -> None:
    rng = np.random.default_rng(3)
    tonnes = rng.gamma(2.0, 1.0, (3, 20, 40))  # 3 cooperatives, 20 days, 40 members
    contract = ContractSpec(1, "potato", 54.0, day(4), day(12))
    (cov,) = coverage([contract], supply(tonnes), members=40)
    in_window = tonnes[:, 4:13, :].sum(axis=(0, 1))
    assert cov.probability == pytest.approx(np.mean(in_window >= 54.0))
    assert 0 < cov.probability < 1  # the test means something
    shortfall = np.maximum(0, 54.0 - in_window)
    assert cov.shortfall_p50 == pytest.approx(np.percentile(shortfall, 50))
    assert cov.shortfall_p90 == pytest.approx(np.percentile(shortfall, 90))
    # Taken per member never exceeds that member's supply, and is the contract where supply allows.
    assert np.all(cov.taken <= tonnes[:, 4:13, :] + 1e-12)
    got = cov.taken.sum(axis=(0, 1))
    np.testing.assert_allclose(got, np.minimum(in_window, 54.0))


def test_a_contract_twice_all_supply_is_never_met_and_short_by_the_difference() -> None:
    tonnes = np.full((2, 10, 30), 1.5)  # 30 t in all, identical members
    (cov,) = coverage([ContractSpec(1, "potato", 60.0, day(0), day(9))], supply(tonnes), members=30)
    assert cov.probability == 0.0
    assert cov.shortfall_p50 == pytest.approx(30.0)
    assert cov.shortfall_p90 == pytest.approx(30.0)
    assert cov.riskiest_week is not None


def test_contracts_on_the_same_supply_do_not_double_count() -> None:
    tonnes = np.full((2, 10, 8), 1.0)  # 20 t in the window
    first = ContractSpec(1, "potato", 12.0, day(0), day(9), price_idr_per_kg=9000)
    second = ContractSpec(2, "potato", 12.0, day(0), day(9), price_idr_per_kg=8000)
    covs = {c.contract_id: c for c in coverage([second, first], supply(tonnes), members=8)}
    assert covs[1].probability == 1.0  # the more valuable contract of the same day comes first
    assert covs[2].probability == 0.0
    assert covs[2].shortfall_p50 == pytest.approx(4.0)
    together = covs[1].taken + covs[2].taken
    assert np.all(together <= tonnes + 1e-12)
    # Another commodity's supply is not used.
    (carrot,) = coverage([ContractSpec(3, "carrot", 1.0, day(0), day(9))], supply(tonnes), members=8)
    assert carrot.probability == 0.0


def test_priority_is_first_delivery_day_then_value() -> None:
    a = ContractSpec(1, "potato", 10, day(5), day(9), 5000)
    b = ContractSpec(2, "potato", 10, day(2), day(9), 1000)
    c = ContractSpec(3, "potato", 20, day(5), day(9), 5000)
    assert [x.id for x in priority_order([a, b, c])] == [2, 3, 1]


def test_allocation_respects_supply_and_fills_contracts_where_supply_allows() -> None:
    rng = np.random.default_rng(5)
    tonnes = rng.gamma(3.0, 0.5, (4, 21, 50))
    s = supply(tonnes)
    contracts = [
        ContractSpec(1, "potato", 20.0, day(0), day(13), 9000),
        ContractSpec(2, "potato", 15.0, day(7), day(20), 8000),
        ContractSpec(3, "potato", 500.0, day(8), day(20), 7000),  # more than there is
    ]
    rows = allocate(contracts, s, confidence=0.8)
    capacity = confident_supply(s["potato"], 0.8, MIN_ORDER_T)
    # A cooperative's confident supply is exceeded by its members' supply in 80 % of members.
    sure = capacity.sum(axis=1)[:, None]
    assert np.all(np.mean(tonnes.sum(axis=1) >= sure - 1e-9, axis=1) >= 0.8)
    per_contract = {c.id: sum(r.tonnes for r in rows if r.contract_id == c.id) for c in contracts}
    assert per_contract[1] == pytest.approx(20.0, abs=0.01)
    assert per_contract[2] == pytest.approx(15.0, abs=0.01)
    # The oversized contract gets what the others left of the confident supply in its window.
    assert per_contract[3] <= capacity[:, 8:].sum() + 0.01
    assert per_contract[3] >= capacity[:, 8:].sum() - 35.0 - 0.01
    # Never more from a cooperative in a week than its confident supply of that week, but for a
    # contract's crumbs merged into it (under MIN_ORDER_T each: a contract's window edges and rest).
    for k, coop in enumerate(s["potato"].coops):
        for week in {r.iso_week for r in rows}:
            days = [i for i in range(21) if iso_week(day(i)) == week]
            ordered = sum(r.tonnes for r in rows if r.coop_id == coop and r.iso_week == week)
            assert ordered <= capacity[k, days].sum() + len(contracts) * MIN_ORDER_T + 0.01


def test_a_contract_every_member_covers_is_ordered_in_full() -> None:
    """Found in the demo: a 100 t potato contract covered in every member got 5.5 t of orders. Each
    cooperative has a field or two, whose harvest week moves between members, so in every single
    week some members have nothing there and a weekly quantile is near zero."""
    rng = np.random.default_rng(11)
    members, days = 50, 42
    tonnes = np.zeros((3, days, members))
    for coop in range(3):
        start = rng.integers(7, 22, members)  # harvest starts on a different day in each member
        for m in range(members):
            tonnes[coop, start[m] : start[m] + 14, m] = 10.0 / 14  # 10 t over a 14-day window
    s = supply(tonnes)
    contract = ContractSpec(1, "potato", 20.0, day(0), day(days - 1), 9000)
    (cov,) = coverage([contract], s, members=members)
    assert cov.probability == 1.0
    ordered = sum(r.tonnes for r in allocate([contract], s, confidence=0.8))
    assert ordered == pytest.approx(20.0, abs=0.05)
    # Each cooperative's confident supply is what it has in at least 80 % of members.
    capacity = confident_supply(s["potato"], 0.8)
    assert np.all(np.mean(tonnes.sum(axis=1) >= capacity.sum(axis=1)[:, None] - 1e-9, axis=1) >= 0.8)


def test_orders_leave_out_crumbs_and_keep_their_tonnes() -> None:
    """The members' mean timing has thin tails: 55 of 454 orders were below 0.1 t in bench.contracts.
    A week that would get less than the smallest order gives its share to the cooperative's others."""
    members, days = 40, 56
    tonnes = np.zeros((3, days, members))
    rng = np.random.default_rng(2)
    for m in range(members):
        start = int(rng.integers(0, 42))
        tonnes[0, start : start + 14, m] = 4.0 / 14  # 4 t whose fortnight moves over eight weeks
    tonnes[1, :, :] = 0.7 / days  # 0.7 t thinly over eight weeks: under 0.1 t in every week
    tonnes[2, 10:20, :5] = 0.5  # a harvest in 5 of 40 members only: nothing is sure
    s = supply(tonnes)
    plain = confident_supply(s["potato"], 0.8)
    trimmed = confident_supply(s["potato"], 0.8, min_order_t=0.1)
    np.testing.assert_allclose(trimmed.sum(axis=1), plain.sum(axis=1))  # the sure tonnes are kept
    weeks = np.array([iso_week(day(i)) for i in range(days)])
    assert trimmed[2].sum() == 0
    for k in range(2):
        weekly = [plain[k, weeks == w].sum() for w in dict.fromkeys(weeks)]
        assert min(weekly) < 0.1  # there were crumbs
        kept = [trimmed[k, weeks == w].sum() for w in dict.fromkeys(weeks)]
        assert all(t == 0 or t >= 0.1 - 1e-9 for t in kept), kept
    contract = ContractSpec(1, "potato", 3.0, day(0), day(days - 1))
    rows = allocate([contract], s, confidence=0.8)
    assert all(r.tonnes >= 0.1 - 1e-6 for r in rows), rows
    assert sum(r.tonnes for r in rows) == pytest.approx(min(3.0, trimmed.sum()), abs=0.01)
    # Without the smallest order, the tails and the contract's last kilograms would be orders of their
    # own; rounded to whole tenths as the plan is, none is under 0.1 t either.
    assert min(r.tonnes for r in allocate([contract], s, confidence=0.8, min_order_t=0.0)) >= 0.1


@given(
    arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(7, 35), st.integers(1, 10)),
           elements=st.one_of(st.just(0.0), st.floats(0.0, 3.0))),
    st.lists(st.tuples(st.floats(0.05, 60.0), st.integers(0, 20), st.integers(0, 20)),
             min_size=1, max_size=4),
    st.sampled_from([0.0, 0.1, 0.5]),
)  # fmt: skip
def test_orders_are_whole_tenths_and_never_exceed_their_contract(
    tonnes: np.ndarray, terms: list[tuple[float, int, int]], min_order_t: float
) -> None:
    """Issue 36: orders of 0.183 t while the plan shows tonnes to 0.1. Rounded as the plan is, a
    contract's orders stay within its tonnes, and within half a tenth of what the program allocated
    (its coverage: never more than the supply it has)."""
    s = supply(tonnes)
    contracts = [
        ContractSpec(i + 1, "potato", t, day(min(a, b)), day(max(a, b)), 9000.0)
        for i, (t, a, b) in enumerate(terms)
    ]
    rows = allocate(contracts, s, confidence=0.8, min_order_t=min_order_t)
    for r in rows:
        assert r.tonnes >= 0.1 - 1e-9, r
        assert abs(r.tonnes * 10 - round(r.tonnes * 10)) < 1e-6, r
    capacity = confident_supply(s["potato"], 0.8, min_order_t).sum()
    for c in contracts:
        ordered = sum(r.tonnes for r in rows if r.contract_id == c.id)
        assert ordered <= c.tonnes + 1e-9, (c, ordered)
    assert sum(r.tonnes for r in rows) <= capacity + 0.05 * len(contracts) + 1e-6


@given(
    arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 30), st.integers(1, 12)),
           elements=st.one_of(st.just(0.0), st.floats(0.0, 5.0))),
    st.floats(0.5, 0.95),
    st.sampled_from([0.0, 0.05, 0.1, 1.0]),
)  # fmt: skip
def test_confident_supply_keeps_the_sure_tonnes_in_weeks_of_at_least_the_smallest_order(
    tonnes: np.ndarray, confidence: float, min_order_t: float
) -> None:
    s = supply(tonnes)["potato"]
    out = confident_supply(s, confidence, min_order_t)
    sure = np.quantile(tonnes.sum(axis=1), 1 - confidence, axis=1)
    np.testing.assert_allclose(
        out.sum(axis=1), np.where(tonnes.mean(axis=2).sum(axis=1) > 0, sure, 0.0), atol=1e-9
    )
    assert np.all(out >= 0)
    weeks = np.array([iso_week(day(i)) for i in range(tonnes.shape[1])])
    for k in range(tonnes.shape[0]):
        weekly = [out[k, weeks == w].sum() for w in dict.fromkeys(weeks)]
        filled = [t for t in weekly if t > 1e-12]
        assert len(filled) <= 1 or min(filled) >= min_order_t - 1e-9, weekly
