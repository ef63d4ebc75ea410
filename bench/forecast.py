"""Forecast engine throughput: 100,000 fields × 50 members over a 150-day season, in chunks of
2,000 fields (about 0.5 GB per chunk), reporting field-member-days per second of the season model
(inputs are made up outside the timed part) and peak memory.

Run: ``python -m bench.forecast [--fields 100000]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Sequence

import numpy as np

from forecast.crops import crop_arrays, load_crops
from forecast.season import SeasonInputs, run_season


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fields", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--days", type=int, default=150)
    parser.add_argument("--chunk", type=int, default=2_000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    crops = sorted(load_crops())
    m, d = args.members, args.days
    started = time.perf_counter()
    done = 0
    in_model = 0.0  # time inside the season model, without making up the inputs
    for start in range(0, args.fields, args.chunk):
        n = min(args.chunk, args.fields - start)
        shape = (n, m, d)
        inputs = SeasonInputs(
            crop=crop_arrays([crops[i % len(crops)] for i in range(start, start + n)]),
            theta_fc=np.full(n, 0.40),
            theta_wp=np.full(n, 0.20),
            area_ha=rng.uniform(0.2, 2, n),
            planting_day=rng.integers(0, 10, n),
            today=np.full(n, 60),
            irrigated=rng.random(n) < 0.5,
            yield_factor=np.ones(n),
            tmin_c=rng.normal(15, 2, shape),
            tmax_c=rng.normal(26, 2, shape),
            rain_mm=rng.gamma(0.4, 10, shape),
            et0_mm=rng.normal(4, 0.5, shape),
            soil_vwc_pct=np.where(rng.random((n, d)) < 0.4, rng.uniform(20, 40, (n, d)), np.nan),
            thermal_time_scale=rng.normal(1, 0.04, (n, m)),
            yield_scale=np.exp(rng.normal(0, 0.3, (n, m))),
        )
        model_started = time.perf_counter()
        result = run_season(inputs)
        in_model += time.perf_counter() - model_started
        done += int(np.isfinite(result.tonnes).sum())
    elapsed = time.perf_counter() - started
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(json.dumps({
        "bench": "forecast", "fields": args.fields, "members": m, "days": d, "chunk_fields": args.chunk,
        "seconds": round(elapsed, 2), "model_seconds": round(in_model, 2),
        "field_member_days_per_s": round(args.fields * m * d / in_model),
        "field_seasons_per_s": round(args.fields * m / in_model), "peak_memory_gib": round(peak_gib, 2),
        "results": done,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
