"""The skill bench's bootstrap interval of the tonnes MAPE (bench.forecast_skill.mape_interval)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bench.forecast_skill import mape_interval

errors = st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=80)


@given(errors)
def test_the_interval_holds_the_mape_and_stays_within_the_groups_errors(apes: list[float]) -> None:
    a = np.array(apes)
    low, high = mape_interval(a, draws=400)
    assert a.min() - 1e-12 <= low <= high <= a.max() + 1e-12
    # The mean of 400 resamples' means sits inside their 5-95 % band unless every draw is the same.
    assert low - 1e-12 <= a.mean() <= high + 1e-12 or a.size == 1


def test_one_large_error_among_many_small_ones_widens_the_interval() -> None:
    """A season of 60 groups with one field's hidden loss (an error of 0.9) against one without."""
    calm = np.full(60, 0.12)
    rough = calm.copy()
    rough[0] = 0.9
    calm_low, calm_high = mape_interval(calm)
    low, high = mape_interval(rough)
    assert calm_high - calm_low < 1e-12
    assert high - low > 0.01
    assert low <= rough.mean() <= high


def test_no_group_gives_no_interval() -> None:
    assert all(np.isnan(mape_interval(np.array([]))))
