"""panen's season model against the FAO's own crop model, AquaCrop-OS (PyPI ``aquacrop``).

For maize, potato and tomato at three of AquaCrop's bundled climates (Champion, Nebraska, planted
1 May; Tunis, 15 March, into a dry summer; Córdoba, 15 October), every year of each: the same
weather, the same soil (AquaCrop's SandyLoam hydraulics), the same planting date and crop calendar
(AquaCrop's GDD crop files: base and upper temperature, degree-days to maturity, root depth and
the degree-days at which roots reach it), rain-fed. panen's other parameters are its own: Kc, p
and FAO-33's growth periods from its FAO-56/FAO-33 values (grain maize and potato here, tomato from
crops.toml), and early canopy senescence from crops.toml (AquaCrop's published p_up3 and decline
rates; issue 19). Compared per year: relative yield Ya/Ym (AquaCrop: rain-fed dry yield over the
same year's dry yield watered to field capacity), maturity or harvest date (AquaCrop's harvest is
the day its crop died, in a drought), and the time per field-season (panen runs all years as one
batch, as it runs fields). Per crop and site, with the drought failures counted (a season AquaCrop
ends before 80 % of its median length) and their date error apart. The season model is scored with
early senescence and crop death on; keys ``as_forecast_`` score it as the forecasts run it
(``forecast.engine.EARLY_SENESCENCE``; the same figures while that is on). aquacrop is a bench
dependency only.

Run: ``python -m bench.forecast_vs_aquacrop [--per-year]`` with aquacrop installed (its own venv is
fine: ``python3 -m venv /tmp/aq && /tmp/aq/bin/pip install aquacrop``, then
``PYTHONPATH=. /tmp/aq/bin/python -m bench.forecast_vs_aquacrop``).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from forecast.crops import CropArrays, load_crops
from forecast.engine import EARLY_SENESCENCE
from forecast.season import SeasonInputs, run_season


# FAO-56 Table 12 (field maize, potato), Table 17 (their Kcb), Table 22 (p), FAO-33's growth periods.
@dataclass(frozen=True)
class Params:
    """panen's FAO-56/FAO-33 values for a crop (Kc, p, stage shares, FAO-33's growth periods)."""

    kc: tuple[float, float, float]
    p: float
    stages: tuple[float, float, float, float]
    # FAO-33's growth periods, shares of the season: a harvest index builds from the vegetative one's end
    ky_periods: tuple[float, float, float, float]
    kcb: tuple[float, float, float] | None  # basal Kcb (dual Kc); None: single Kc


# FAO-33 period lengths (midpoints of its ranges): maize establishment + vegetative 20 + 32.5 d,
# flowering 17.5, yield formation 40, ripening 17.5; potato establishment + vegetative 20 + 25,
# tuber initiation 20, bulking 45, ripening 27.5.
PANEN_PARAMS = {
    "MaizeGDD": Params(
        (0.30, 1.20, 0.60),
        0.55,
        (0.17, 0.28, 0.33, 0.22),
        (0.41, 0.14, 0.31, 0.14),
        (0.15, 1.15, 0.50),
    ),
    "PotatoGDD": Params(
        (0.50, 1.15, 0.75),
        0.35,
        (0.19, 0.23, 0.35, 0.23),
        (0.33, 0.15, 0.32, 0.20),
        (0.15, 1.10, 0.65),
    ),
}
# Crops whose panen values are its library's own (forecast/crops.toml), and the library crop whose
# senescence values each AquaCrop crop takes (maize: sweet corn's, which are AquaCrop's MaizeGDD
# senescence, as a share of the season).
LIBRARY = {"TomatoGDD": "tomato"}
SENESCENCE_FROM = {"MaizeGDD": "sweet_corn", "PotatoGDD": "potato", "TomatoGDD": "tomato"}
# AquaCrop's bundled climates, each with a planting date of its growing season: Champion, Nebraska
# (semi-arid Great Plains, spring), Tunis (Mediterranean: spring crops into a dry summer, so drought
# failures), Córdoba (summer rain, spring planting in October).
SITES = (
    ("champion", "champion_climate.txt", "05/01"),
    ("tunis", "tunis_climate.txt", "03/15"),
    ("cordoba", "cordoba_climate.txt", "10/15"),
)
CROPS = (("MaizeGDD", "maize"), ("PotatoGDD", "potato"), ("TomatoGDD", "tomato"))
PRODUCTION_BATCH = 10_000  # field-seasons per call, as panen runs a fleet's fields x members
SEASON_DAYS = 245
# AquaCrop runs SIMULATED_DAYS and panen the same days, so a season that runs long (a Champion tomato
# that reaches its degree-days only the next spring) is compared like with like.
SIMULATED_DAYS = SEASON_DAYS + 100


def _params(crop_name: str) -> Params:
    if crop_name in PANEN_PARAMS:
        return PANEN_PARAMS[crop_name]
    c = load_crops()[LIBRARY[crop_name]]
    return Params(
        c.kc,
        c.depletion_fraction,
        c.stage_fractions,
        c.ky_stage_fractions or c.stage_fractions,
        c.kcb,
    )


def _one(aq: Any, site: str, climate_file: str, planting: str, crop_name: str) -> dict[str, float] | None:
    """One crop at one site, every year: AquaCrop and panen side by side (None: no season ran)."""

    # Long: a benchmark's steps in the order it runs them, read top to bottom like a lab protocol.
    weather = aq["prepare_weather"](aq["get_filepath"](climate_file))
    soil = aq["Soil"]("SandyLoam")
    theta_fc, theta_wp = float(soil.profile["th_fc"].iloc[0]), float(soil.profile["th_wp"].iloc[0])
    month, day = (int(x) for x in planting.split("/"))
    first, last = weather.Date.min(), weather.Date.max()
    room = dt.timedelta(days=SIMULATED_DAYS + 20)
    years = [
        y
        for y in range(first.year, last.year + 1)
        if first.date() <= dt.date(y, month, day) and dt.date(y, month, day) + room <= last.date()
    ]
    crop = aq["Crop"](crop_name, planting_date=planting)
    aq_rel, aq_days, used, aq_seconds = [], [], [], 0.0

    def season(year: int, irrigated: bool) -> Any:
        """AquaCrop's season of ``year``, rain-fed or irrigated to field capacity whenever the root
        zone is below it (None: AquaCrop ran no season)."""
        start = dt.date(year, month, day)
        model = aq["AquaCropModel"](
            sim_start_time=f"{year}/{planting}",
            sim_end_time=(start + dt.timedelta(days=SIMULATED_DAYS)).strftime("%Y/%m/%d"),
            weather_df=weather,
            soil=soil,
            crop=aq["Crop"](crop_name, planting_date=planting),
            initial_water_content=aq["InitialWaterContent"](value=["FC"]),
            **(
                {"irrigation_management": aq["IrrigationManagement"](irrigation_method=1)}
                if irrigated
                else {}
            ),
        )
        try:
            model.run_model(till_termination=True)
        except AssertionError:  # AquaCrop refuses a season too cool to reach maturity
            return None
        result = model.get_simulation_results()
        return None if result.empty else result.iloc[0]

    for year in years:
        start = dt.date(year, month, day)
        started = time.perf_counter()
        row = season(year, irrigated=False)
        elapsed = time.perf_counter() - started
        if row is None:
            continue
        harvested = row["Harvest Date (YYYY/MM/DD)"].date()
        # Ym is the same year's yield without water stress: AquaCrop's own "yield potential" is its
        # unstressed biomass at the day the season ended, so for a crop that died it is the potential
        # of a season cut short, and Ya over it said a crop dead at half its degree-days gave 0.6.
        watered = season(year, irrigated=True)
        potential = float(watered["Dry yield (tonne/ha)"]) if watered is not None else 0.0
        # A season stopped by the simulation's end never matured (a Nebraska winter came first).
        if potential <= 0 or harvested >= start + dt.timedelta(days=SIMULATED_DAYS - 1):
            continue
        used.append(start)
        aq_seconds += elapsed
        # (Above 1 only if watering to field capacity hurt, through AquaCrop's aeration stress.)
        aq_rel.append(min(float(row["Dry yield (tonne/ha)"]) / potential, 1.0))
        aq_days.append((harvested - start).days)
    if len(used) < 3:
        return None
    n, n_days = len(used), SIMULATED_DAYS

    def series(column: str) -> np.ndarray:
        out = []
        for start in used:
            values = weather[weather.Date >= str(start)][column].to_numpy()[:n_days]
            out.append(values)
        return np.stack(out)

    p = _params(crop_name)
    sen = load_crops()[SENESCENCE_FROM[crop_name]]
    arrays = CropArrays(
        base_temp_c=np.full(n, crop.Tbase),
        upper_temp_c=np.full(n, crop.Tupp),
        thermal_time_cd=np.full(n, crop.Maturity),
        stage_ends=np.tile(np.cumsum(p.stages), (n, 1)),
        kc=np.tile(p.kc, (n, 1)),
        root_depth_m=np.full(n, crop.Zmax),
        depletion_fraction=np.full(n, p.p),
        potential_yield_t_ha=np.ones(n),
        ky_stage_ends=np.tile(np.cumsum(p.ky_periods), (n, 1)),
        senescence_depletion=np.full(n, sen.senescence_depletion_fraction),
        senescence_share=np.full(n, sen.senescence_share),
        root_full_fraction=np.full(n, crop.MaxRooting / crop.Maturity),
        kcb=np.tile(p.kcb, (n, 1)) if p.kcb is not None else None,
    )
    inputs = SeasonInputs(
        crop=arrays,
        theta_fc=np.full(n, theta_fc),
        theta_wp=np.full(n, theta_wp),
        area_ha=np.ones(n),
        planting_day=np.zeros(n, dtype=int),
        today=np.full(n, n_days),
        irrigated=np.zeros(n, dtype=bool),
        yield_factor=np.ones(n),
        tmin_c=series("MinTemp")[:, None, :],
        tmax_c=series("MaxTemp")[:, None, :],
        rain_mm=series("Precipitation")[:, None, :],
        et0_mm=series("ReferenceET")[:, None, :],
        soil_vwc_pct=np.full((n, n_days), np.nan),
    )
    res = run_season(inputs)
    # The model as the forecasts run it (forecast.engine): without early senescence and crop death
    # while EARLY_SENESCENCE is off, so what is scored here is never mistaken for what planners get.
    as_forecast = (
        res if EARLY_SENESCENCE else run_season(replace(inputs, crop=replace(arrays, senescence_share=None)))
    )
    # The same seasons as one production-size batch: fields x members of a fleet.
    tiles = -(-PRODUCTION_BATCH // n)
    big = replace(
        inputs,
        tmin_c=np.repeat(inputs.tmin_c, tiles, axis=1),
        tmax_c=np.repeat(inputs.tmax_c, tiles, axis=1),
        rain_mm=np.repeat(inputs.rain_mm, tiles, axis=1),
        et0_mm=np.repeat(inputs.et0_mm, tiles, axis=1),
    )
    started = time.perf_counter()
    run_season(big)
    ours_per_season = (time.perf_counter() - started) / (n * tiles)
    aq_rel_a, aq_days_a = np.asarray(aq_rel), np.asarray(aq_days, dtype=float)
    ours_rel, ours_days = res.relative_yield[:, 0], res.maturity_day[:, 0]
    if "--per-year" in sys.argv:
        for start, a, o, ad, od in zip(used, aq_rel, ours_rel, aq_days, ours_days, strict=True):
            print(
                f"{site} {crop_name} {start.year} aquacrop {a:.3f} panen {o:.3f} days {ad} {od:.0f}",
                file=sys.stderr,
            )
    # A failed season (AquaCrop's crop died: harvested well before its usual maturity) [est: 80 %].
    failed = aq_days_a < 0.8 * np.median(aq_days_a)
    forecast_rel, forecast_days = as_forecast.relative_yield[:, 0], as_forecast.maturity_day[:, 0]
    return {
        "seasons": n,
        "drought_failures": int(failed.sum()),
        **_agreement(ours_rel, ours_days, aq_rel_a, aq_days_a, failed),
        **{
            f"as_forecast_{k}": v
            for k, v in _agreement(forecast_rel, forecast_days, aq_rel_a, aq_days_a, failed).items()
        },
        "aquacrop_s_per_season": round(aq_seconds / n, 4),
        "panen_s_per_field_season": float(f"{ours_per_season:.3g}"),
        "speedup_per_field_season": round((aq_seconds / n) / ours_per_season),
    }


def _agreement(
    ours_rel: np.ndarray, ours_days: np.ndarray, aq_rel: np.ndarray, aq_days: np.ndarray, failed: np.ndarray
) -> dict[str, float]:
    """How panen's relative yields and maturity days agree with AquaCrop's, year by year."""
    abs_days = np.abs(ours_days - aq_days)
    return {
        "relative_yield_correlation": round(float(np.corrcoef(ours_rel, aq_rel)[0, 1]), 3)
        if float(np.std(aq_rel)) > 0
        else float("nan"),
        "relative_yield_mean_abs_diff": round(float(np.mean(np.abs(ours_rel - aq_rel))), 3),
        "relative_yield_bias": round(float(np.mean(ours_rel - aq_rel)), 3),  # panen − AquaCrop
        "maturity_mean_abs_diff_days": round(float(np.nanmean(abs_days)), 1),
        "maturity_mean_abs_diff_days_failures": (
            round(float(np.nanmean(abs_days[failed])), 1) if failed.any() else float("nan")
        ),
    }


def main() -> None:
    try:
        from aquacrop import AquaCropModel, Crop, InitialWaterContent, IrrigationManagement, Soil
        from aquacrop.utils import get_filepath, prepare_weather
    except ImportError:
        sys.exit("this benchmark needs aquacrop (pip install aquacrop); see the module docstring")
    aq = {
        "AquaCropModel": AquaCropModel, "Crop": Crop, "InitialWaterContent": InitialWaterContent,
        "Soil": Soil, "get_filepath": get_filepath, "prepare_weather": prepare_weather,
        "IrrigationManagement": IrrigationManagement,
    }  # fmt: skip
    out: dict[str, object] = {"bench": "forecast_vs_aquacrop"}
    scores: list[dict[str, float]] = []
    for site, climate_file, planting in SITES:
        for crop_name, key in CROPS:
            print(f"AquaCrop {crop_name} at {site}, planted {planting} ...", file=sys.stderr)
            scored = _one(aq, site, climate_file, planting, crop_name)
            if scored is None:
                out[f"{site}_{key}_seasons"] = 0
                continue
            for k, v in scored.items():
                out[f"{site}_{key}_{k}"] = None if isinstance(v, float) and v != v else v
            scores.append(scored)
    # The season model as held to the reference (early senescence and crop death on), then the model
    # as the forecasts run it (as_forecast_: the same while forecast.engine.EARLY_SENESCENCE is on).
    for prefix in ("", "as_forecast_"):
        correlations = [s[f"{prefix}relative_yield_correlation"] for s in scores]
        correlations = [float(c) for c in correlations if c == c]
        biases = [float(s[f"{prefix}relative_yield_bias"]) for s in scores]
        maturity = [float(s[f"{prefix}maturity_mean_abs_diff_days"]) for s in scores]
        out[f"{prefix}relative_yield_bias_worst"] = max(biases, key=abs) if biases else None
        out[f"{prefix}relative_yield_correlation_worst"] = (
            round(min(correlations), 3) if correlations else None
        )
        out[f"{prefix}maturity_mean_abs_diff_days_worst"] = round(max(maturity), 1) if maturity else None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
