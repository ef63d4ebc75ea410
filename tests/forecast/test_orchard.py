"""An orchard's current crop from its records (forecast.orchard): which records count, how bloom is
found or estimated, and how the attainable yield and its spread follow a count."""

from __future__ import annotations

import datetime as dt
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forecast.orchard import CycleEvent, OrchardCycle, orchard_cycle

TODAY = dt.date(2026, 12, 2)


def _cycle(commodity: str = "apple", variety: str = "Manalagi", **kw: object) -> OrchardCycle | str:
    args: dict[str, object] = {
        "tree_count": 1000, "area_ha": 1.0, "year_planted": 2014, "events": [], "last_harvest": None,
        "today": TODAY, **kw,
    }  # fmt: skip
    return orchard_cycle(commodity, variety, **args)  # type: ignore[arg-type]


def test_bloom_is_recorded_or_estimated_with_its_uncertainty() -> None:
    defoliated = CycleEvent("defoliation", dt.date(2026, 10, 1))
    bloom = CycleEvent("flowering", dt.date(2026, 10, 25))
    estimated = _cycle(events=[defoliated])
    assert isinstance(estimated, OrchardCycle)
    assert (estimated.bloom, estimated.date_sigma_days) == (dt.date(2026, 10, 29), 5.0)
    recorded = _cycle(events=[defoliated, bloom])
    assert isinstance(recorded, OrchardCycle)
    assert (recorded.bloom, recorded.date_sigma_days) == (bloom.day, 0.0)
    # After a harvest with no defoliation since, the next crop is expected two weeks + four weeks on.
    after = _cycle(events=[defoliated, bloom], last_harvest=dt.date(2026, 11, 20))
    assert isinstance(after, OrchardCycle)
    assert after.bloom == dt.date(2026, 11, 20) + dt.timedelta(days=14 + 28)
    assert after.date_sigma_days == pytest.approx(math.hypot(10, 5))
    assert "harvested on 2026-11-20" in after.basis[0]
    # Keprok has nothing to estimate bloom from; records in the future do not count yet.
    assert _cycle("citrus", "Keprok Batu 55") == "no flowering recorded since the last harvest"
    late = CycleEvent("flowering", TODAY + dt.timedelta(days=3))
    assert _cycle("citrus", "Keprok Batu 55", events=[late]) == "no flowering recorded since the last harvest"


def test_the_variety_sets_the_fruit_period_and_an_unknown_one_says_so() -> None:
    bloom = [CycleEvent("flowering", dt.date(2026, 10, 1))]
    anna, rome = _cycle(variety="Anna", events=bloom), _cycle(variety="Rome Beauty", events=bloom)
    assert isinstance(anna, OrchardCycle)
    assert isinstance(rome, OrchardCycle)
    assert anna.thermal_time_cd < rome.thermal_time_cd
    odd = _cycle(variety="Fuji", events=bloom)
    assert isinstance(odd, OrchardCycle)
    assert "'Fuji' is not in the library" in odd.basis[0]


@given(
    fruits=st.floats(1, 2000),
    trees=st.integers(1, 50),
    tree_count=st.integers(10, 100_000),
    area=st.floats(0.05, 50),
)
def test_a_count_sets_the_yield_and_narrows_its_spread(
    fruits: float, trees: int, tree_count: int, area: float
) -> None:
    bloom = CycleEvent("flowering", dt.date(2026, 9, 1))
    before = _cycle(tree_count=tree_count, area_ha=area, events=[bloom])
    count = CycleEvent("fruit_count", dt.date(2026, 10, 15), fruits, trees)
    after = _cycle(tree_count=tree_count, area_ha=area, events=[bloom, count])
    assert isinstance(before, OrchardCycle)
    assert isinstance(after, OrchardCycle)
    assert after.yield_sigma_log < before.yield_sigma_log
    # 92 % of the counted fruits at Manalagi's 120 g, on the orchard's trees, per hectare.
    assert after.potential_yield_t_ha == pytest.approx(tree_count * fruits * 0.92 * 0.120 / 1000 / area)
    # More trees counted, a surer count.
    more = _cycle(
        tree_count=tree_count,
        area_ha=area,
        events=[bloom, CycleEvent("fruit_count", count.day, fruits, trees + 10)],
    )
    assert isinstance(more, OrchardCycle)
    assert more.yield_sigma_log < after.yield_sigma_log


def test_records_of_a_crop_already_picked_do_not_count() -> None:
    old = [
        CycleEvent("flowering", dt.date(2026, 3, 1)),
        CycleEvent("fruit_count", dt.date(2026, 4, 1), 500, 10),
    ]
    now = _cycle("citrus", "Keprok Batu 55", events=old, last_harvest=dt.date(2026, 11, 1))
    assert now == "no flowering recorded since the last harvest"
    # Age matters before a count: young trees bear less.
    bloom = [CycleEvent("flowering", dt.date(2026, 10, 1))]
    young, grown = _cycle(year_planted=2024, events=bloom), _cycle(year_planted=2010, events=bloom)
    assert isinstance(young, OrchardCycle)
    assert isinstance(grown, OrchardCycle)
    assert young.potential_yield_t_ha is not None
    assert grown.potential_yield_t_ha is not None
    assert young.potential_yield_t_ha < grown.potential_yield_t_ha


def test_the_registry_rules_of_orchards_are_one_rule() -> None:
    """The API, field changes and the fleet import share services.orchards' rules, with their bounds."""
    from services import InvalidInput
    from services.orchards import MAX_TREES, check_trees

    check_trees("apple", 1)
    check_trees("potato", None)
    for commodity, trees, says in (
        ("citrus", None, "needs tree_count"),
        ("apple", 0, "needs tree_count"),
        ("apple", MAX_TREES + 1, "needs tree_count"),
        ("potato", 10, "tree_count is for orchards (apple, citrus), not potato"),
    ):
        with pytest.raises(InvalidInput, match=re.escape(says)):
            check_trees(commodity, trees)
