"""The season model's kernels, one FAO-56, FAO-33 or AquaCrop equation each, on hand-worked values
and over their whole input space."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from forecast.crops import crop_arrays, load_crops
from forecast.season import (
    KC_MIN,
    degree_days,
    evaporation_coefficient,
    evaporation_reduction,
    exposed_wetted_fraction,
    seasonal_relative_yield,
    senescence_stress,
    share_built_at_death,
    total_available_water_mm,
    total_evaporable_water_mm,
    water_stress_coefficient,
)


def a(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def test_degree_days_follow_aquacrops_method_3() -> None:
    # Tbase 10, Tupper 30: (25 + 5) / 2 - 10 = 5; a cold day gives none; Tmax above Tupper counts as
    # Tupper, and Tmin above it too: (30 + 30) / 2 - 10 = 20.
    got = degree_days(
        tmin_c=a(5, -2, 12, 32), tmax_c=a(25, 8, 35, 40), base_c=a(10, 10, 10, 10), upper_c=a(30, 30, 30, 30)
    )
    assert_allclose(got, [5.0, 0.0, 11.0, 20.0])


def test_taw_and_tew_are_fao56_equations_82_and_73() -> None:
    # Eq. 82: 1000 (0.30 - 0.15) 1.0 m = 150 mm. Eq. 73: 1000 (0.30 - 0.5 * 0.15) 0.10 m = 22.5 mm.
    assert_allclose(
        total_available_water_mm(theta_fc=a(0.30), theta_wp=a(0.15), root_depth_m=a(1.0)), [150.0]
    )
    assert_allclose(total_evaporable_water_mm(theta_fc=a(0.30), theta_wp=a(0.15)), [22.5])


def test_water_stress_coefficient_is_fao56_equation_84() -> None:
    # TAW 100 mm, RAW 50 mm: no stress up to RAW, linear to 0 at TAW.
    got = water_stress_coefficient(depletion_mm=a(10, 50, 75, 100, 120), taw_mm=a(100), raw_mm=a(50))
    assert_allclose(got, [1.0, 1.0, 0.5, 0.0, 0.0])


def test_evaporation_reduction_keeps_fao56_bounds_and_falls_fastest_as_stage_2_begins() -> None:
    # TEW 22.5, REW 9: 1 up to REW, 0 from TEW (FAO-56 Eq. 74's bounds); halfway, Wrel 0.5, the
    # convex decline gives (e² − 1) / (e⁴ − 1) = 0.119 where Eq. 74's line gives 0.5.
    got = evaporation_reduction(surface_depletion_mm=a(0, 9, 15.75, 22.5, 30), tew_mm=a(22.5), rew_mm=a(9))
    assert_allclose(got, [1.0, 1.0, 0.1192, 0.0, 0.0], atol=1e-4)
    # Ritchie's stage 2: the first millimetres past REW cut the rate most.
    steps = evaporation_reduction(surface_depletion_mm=np.linspace(9, 22.5, 28), tew_mm=a(22.5), rew_mm=a(9))
    drops = -np.diff(steps)
    assert np.all(drops > 0)
    assert np.all(np.diff(drops) < 0)


def test_bare_soil_exposes_everything_and_a_full_canopy_almost_nothing() -> None:
    # Eq. 76 with fw = 1: Kcb at Kc_min covers nothing; at Kc_max it covers all (floor 0.01, Eq. 75).
    assert_allclose(exposed_wetted_fraction(kcb=a(KC_MIN, 1.2), kc_max=1.2), [1.0, 0.01])
    # Eq. 71: Ke is Kr (Kc_max - Kcb), capped by few Kc_max.
    assert_allclose(
        evaporation_coefficient(kr=a(1.0, 0.5), kcb=a(0.15, 0.15), kc_max=1.2, few=a(1.0, 1.0)), [1.05, 0.525]
    )
    assert_allclose(evaporation_coefficient(kr=a(1.0), kcb=a(0.9), kc_max=1.2, few=a(0.2)), [0.24])


def test_seasonal_relative_yield_is_fao33() -> None:
    # Ky 1.1 and 80 % of the crop's water use: 1 - 1.1 * 0.2 = 0.78; a drought beyond 1/Ky gives 0.
    assert_allclose(
        seasonal_relative_yield(ky=a(1.1, 1.1, 1.1), relative_transpiration=a(0.8, 1.0, 0.05)),
        [0.78, 1.0, 0.0],
    )


@given(
    depletion=st.floats(0, 500),
    taw=st.floats(1, 400),
    p=st.floats(0.05, 0.95),
)
def test_ks_is_within_0_and_1_and_never_rises_with_depletion(depletion: float, taw: float, p: float) -> None:
    raw = p * taw
    ks = water_stress_coefficient(depletion_mm=a(depletion, depletion + 1), taw_mm=a(taw), raw_mm=a(raw))
    assert 0.0 <= ks[1] <= ks[0] <= 1.0


@given(share=st.floats(0, 1), threshold=st.floats(0, 0.99))
def test_senescence_stress_is_1_to_the_threshold_and_0_at_wilting_point(
    share: float, threshold: float
) -> None:
    ks = senescence_stress(depletion_share=a(share, 1.0), threshold=a(threshold, threshold))
    assert 0.0 <= ks[0] <= 1.0
    assert abs(ks[1]) < 1e-12
    if share <= threshold:
        assert ks[0] == 1.0


ANNUAL_CROPS = sorted(name for name, c in load_crops().items() if not c.perennial)


@given(crop=st.sampled_from(ANNUAL_CROPS), x=st.floats(0, 1), later=st.floats(0, 1))
def test_a_crop_that_dies_later_has_built_more_and_never_more_than_all(
    crop: str, x: float, later: float
) -> None:
    """AquaCrop's yield of a crop that died, HI(x) B(x) over HI0 B: none before its harvest index
    starts (the end of FAO-33's vegetative period), all of it at maturity, never falling with a
    later death; a crop that lived (NaN) keeps its yield."""
    arrays = crop_arrays([crop])
    hi_start = float(arrays.ky_stage_ends[0, 0]) if arrays.ky_stage_ends is not None else 0.0
    got = share_built_at_death(arrays, a(x, x + later * (1 - x), 1.0, np.nan)[None, :])[0]
    assert 0.0 <= got[0] <= got[1] + 1e-12 <= 1.0 + 1e-12
    assert_allclose(got[2:], [1.0, 1.0])
    if x <= hi_start:
        assert got[0] == 0.0


def test_maize_that_died_as_its_grain_began_to_fill_had_built_almost_nothing() -> None:
    """Issue 38, measured against AquaCrop at Tunis (23 rain-fed maize seasons, most dying in a dry
    June): AquaCrop's maize that died 0.2 of the way into grain fill yields ~0.05 of its potential,
    its harvest index hardly begun. FAO-33's per-period Ky, used before, kept 0.5 (1 - 0.5 yield
    formation) x 0.8 (1 - 0.2 ripening) = 0.40 of such a crop's relative transpiration, and panen
    stood 0.19 above AquaCrop there. Sweet corn's vegetative period ends at 0.56 of its season."""
    arrays = crop_arrays(["sweet_corn"])
    start = float(arrays.ky_stage_ends[0, 0]) if arrays.ky_stage_ends is not None else 0.0
    x = start + 0.2 * (1 - start)
    got = float(share_built_at_death(arrays, a(x)[None, :])[0, 0])
    # Its harvest index a fifth built, its biomass about half grown: about 0.1, not 0.40.
    assert 0.0 < got < 0.15, got
