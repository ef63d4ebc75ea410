"""panen's season model against the FAO's own crop model, AquaCrop-OS (PyPI ``aquacrop``).

Same weather (AquaCrop's bundled ``champion_climate.txt``: Champion, Nebraska, 1982-2018), same soil
(AquaCrop's SandyLoam hydraulics), same planting date (1 May) and the same crop calendar (AquaCrop's
GDD crop files for maize and potato: base and upper temperature, degree-days to maturity, root
depth), rain-fed. panen's other parameters (Kc, p, per-stage Ky) come from its FAO-56/FAO-33 crop
library values for grain maize and potato. Compared per year: relative yield Ya/Ym (AquaCrop: dry
yield / yield potential) and maturity date; and the time per field-season (panen runs all years as
one batch, as it runs fields). aquacrop is a bench dependency only (``pip install aquacrop``).

Run: ``python -m bench.forecast_vs_aquacrop``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from dataclasses import dataclass, replace

import numpy as np

from forecast.crops import CropArrays
from forecast.season import SeasonInputs, run_season


# FAO-56 Table 12 (field maize, potato), Table 22 (p), FAO-33 per-stage Ky (maize, potato).
@dataclass(frozen=True)
class Params:
    """panen's FAO-56/FAO-33 values for a crop (Kc, p, per-stage Ky, stage shares)."""

    kc: tuple[float, float, float]
    p: float
    ky: tuple[float, float, float, float]
    stages: tuple[float, float, float, float]
    ky_periods: tuple[float, float, float, float]  # FAO-33 growth periods of the Ky, shares of the season


# FAO-33 period lengths (midpoints of its ranges): maize establishment + vegetative 20 + 32.5 d,
# flowering 17.5, yield formation 40, ripening 17.5; potato establishment + vegetative 20 + 25,
# tuber initiation 20, bulking 45, ripening 27.5.
PANEN_PARAMS = {
    "MaizeGDD": Params(
        (0.30, 1.20, 0.60), 0.55, (0.40, 1.50, 0.50, 0.20), (0.17, 0.28, 0.33, 0.22), (0.41, 0.14, 0.31, 0.14)
    ),
    "PotatoGDD": Params(
        (0.50, 1.15, 0.75), 0.35, (0.45, 0.80, 0.70, 0.20), (0.19, 0.23, 0.35, 0.23), (0.33, 0.15, 0.32, 0.20)
    ),
}
PRODUCTION_BATCH = 10_000  # field-seasons per call, as panen runs a fleet's fields x members


def main() -> None:
    try:
        from aquacrop import AquaCropModel, Crop, InitialWaterContent, Soil
        from aquacrop.utils import get_filepath, prepare_weather
    except ImportError:
        sys.exit("this benchmark needs aquacrop: .venv/bin/pip install aquacrop")
    weather = prepare_weather(get_filepath("champion_climate.txt"))
    soil = Soil("SandyLoam")
    theta_fc, theta_wp = float(soil.profile["th_fc"].iloc[0]), float(soil.profile["th_wp"].iloc[0])
    years = list(range(1982, 2018))
    out: dict[str, object] = {"bench": "forecast_vs_aquacrop", "years": len(years)}
    correlations, speedups = [], []
    for crop_name, key in (("MaizeGDD", "maize"), ("PotatoGDD", "potato")):
        print(f"AquaCrop {crop_name}, {len(years)} seasons ...", file=sys.stderr)
        aq_rel, aq_days, aq_seconds = [], [], 0.0
        crop = Crop(crop_name, planting_date="05/01")
        used = []
        for year in years:
            started = time.perf_counter()
            model = AquaCropModel(
                sim_start_time=f"{year}/05/01",
                sim_end_time=f"{year}/12/31",
                weather_df=weather,
                soil=soil,
                crop=Crop(crop_name, planting_date="05/01"),
                initial_water_content=InitialWaterContent(value=["FC"]),
            )
            try:
                model.run_model(till_termination=True)
            except AssertionError:  # AquaCrop refuses a season too cool to reach maturity
                continue
            used.append(year)
            aq_seconds += time.perf_counter() - started
            result = model.get_simulation_results().iloc[0]
            aq_rel.append(float(result["Dry yield (tonne/ha)"]) / float(result["Yield potential (tonne/ha)"]))
            aq_days.append((result["Harvest Date (YYYY/MM/DD)"].date() - dt.date(year, 5, 1)).days)
        # panen: every year is a "field" of one batch.
        years_used, n_days = used, 245
        tmin = np.stack(
            [weather[(weather.Date >= f"{y}-05-01")].MinTemp.to_numpy()[:n_days] for y in years_used]
        )
        tmax = np.stack(
            [weather[(weather.Date >= f"{y}-05-01")].MaxTemp.to_numpy()[:n_days] for y in years_used]
        )
        rain = np.stack(
            [weather[(weather.Date >= f"{y}-05-01")].Precipitation.to_numpy()[:n_days] for y in years_used]
        )
        et0 = np.stack(
            [weather[(weather.Date >= f"{y}-05-01")].ReferenceET.to_numpy()[:n_days] for y in years_used]
        )
        p = PANEN_PARAMS[crop_name]
        n = len(years_used)
        out[f"{key}_seasons"] = n
        arrays = CropArrays(
            base_temp_c=np.full(n, crop.Tbase),
            upper_temp_c=np.full(n, crop.Tupp),
            thermal_time_cd=np.full(n, crop.Maturity),
            stage_ends=np.tile(np.cumsum(p.stages), (n, 1)),
            kc=np.tile(p.kc, (n, 1)),
            root_depth_m=np.full(n, crop.Zmax),
            depletion_fraction=np.full(n, p.p),
            ky=np.tile(p.ky, (n, 1)),
            potential_yield_t_ha=np.ones(n),
            ky_stage_ends=np.tile(np.cumsum(p.ky_periods), (n, 1)),
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
            tmin_c=tmin[:, None, :],
            tmax_c=tmax[:, None, :],
            rain_mm=rain[:, None, :],
            et0_mm=et0[:, None, :],
            soil_vwc_pct=np.full((n, n_days), np.nan),
        )
        res = run_season(inputs)
        started = time.perf_counter()
        repeats = 20
        for _ in range(repeats):
            run_season(inputs)
        ours_small = (time.perf_counter() - started) / repeats / n
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
        ours_rel = res.relative_yield[:, 0]
        ours_days = res.maturity_day[:, 0]
        r = float(np.corrcoef(ours_rel, aq_rel)[0, 1])
        if "--per-year" in sys.argv:
            for y, a, o, ad, od in zip(years_used, aq_rel, ours_rel, aq_days, ours_days, strict=True):
                print(f"{key} {y} aquacrop {a:.3f} panen {o:.3f} days {ad} {od:.0f}", file=sys.stderr)
        correlations.append(r)
        speedups.append((aq_seconds / n) / ours_per_season)
        out[f"{key}_relative_yield_correlation"] = round(r, 3)
        out[f"{key}_relative_yield_mean_abs_diff"] = round(
            float(np.mean(np.abs(ours_rel - np.asarray(aq_rel)))), 3
        )
        out[f"{key}_maturity_mean_abs_diff_days"] = round(
            float(np.nanmean(np.abs(ours_days - np.asarray(aq_days)))), 1
        )
        out[f"{key}_aquacrop_s_per_season"] = round(aq_seconds / n, 4)
        out[f"{key}_panen_s_per_field_season"] = float(f"{ours_per_season:.3g}")
        out[f"{key}_panen_s_per_field_season_batch_of_{n}"] = float(f"{ours_small:.3g}")
        out[f"{key}_speedup_per_field_season"] = round(speedups[-1])
    out["relative_yield_correlation"] = round(min(correlations), 3)  # the worse of the two crops
    out["speedup_per_field_season"] = round(min(speedups))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
