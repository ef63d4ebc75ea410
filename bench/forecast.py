"""Forecast engine throughput: 100,000 fields × 50 members over a 150-day season, in chunks of
2,000 fields (about 0.5 GB per chunk), reporting field-member-days per second of the season model
(inputs are made up outside the timed part) and peak memory; then (issue 21) the per-field cost at
10k, 50k and 200k fields, and the wall-clock throughput of the same chunks on a Dask ``LocalCluster``
of one and of two worker processes (inputs made up on the workers, inside the timed part).

Run: ``python -m bench.forecast [--fields 100000] [--scaling 10000,50000,200000] [--dask-fields 50000]``
(``--scaling ''`` and ``--dask-fields 0`` leave those parts out).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from forecast.crops import crop_arrays, load_crops
from forecast.engine import EARLY_SENESCENCE
from forecast.season import SeasonInputs, run_season


def _inputs(start: int, n: int, m: int, d: int) -> SeasonInputs:
    rng = np.random.default_rng(start)
    crops = sorted(load_crops())
    shape = (n, m, d)
    arrays = crop_arrays([crops[i % len(crops)] for i in range(start, start + n)])
    if not EARLY_SENESCENCE:  # as the forecasts run it (forecast.engine)
        arrays = replace(arrays, senescence_share=None)
    return SeasonInputs(
        crop=arrays,
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


def _run(fields: int, chunk: int, m: int, d: int) -> tuple[float, float, int]:
    """(wall seconds, seconds inside the model, finite results) of ``fields`` in this process."""
    started, in_model, done = time.perf_counter(), 0.0, 0
    for start in range(0, fields, chunk):
        inputs = _inputs(start, min(chunk, fields - start), m, d)
        model_started = time.perf_counter()
        result = run_season(inputs)
        in_model += time.perf_counter() - model_started
        done += int(np.isfinite(result.tonnes).sum())
    return time.perf_counter() - started, in_model, done


def _remote_chunk(spec: tuple[int, int, int, int]) -> int:
    """One chunk made up and run on a worker; returns its finite results."""
    start, n, m, d = spec
    return int(np.isfinite(run_season(_inputs(start, n, m, d)).tonnes).sum())


def _dask(fields: int, chunk: int, m: int, d: int, workers: int) -> tuple[float, int]:
    from distributed import Client, LocalCluster

    specs = [(s, min(chunk, fields - s), m, d) for s in range(0, fields, chunk)]
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        client.gather(client.map(_remote_chunk, specs[:workers], pure=False))  # workers warm: imports done
        started = time.perf_counter()
        done = sum(client.gather(client.map(_remote_chunk, specs, pure=False)))
        return time.perf_counter() - started, done


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fields", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--days", type=int, default=150)
    parser.add_argument("--chunk", type=int, default=2_000)
    parser.add_argument("--scaling", default="10000,50000,200000")
    parser.add_argument("--dask-fields", type=int, default=50_000)
    args = parser.parse_args(argv)
    m, d = args.members, args.days
    elapsed, in_model, done = _run(args.fields, args.chunk, m, d)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    out: dict[str, object] = {
        "bench": "forecast", "fields": args.fields, "members": m, "days": d, "chunk_fields": args.chunk,
        "seconds": round(elapsed, 2), "model_seconds": round(in_model, 2),
        "field_member_days_per_s": round(args.fields * m * d / in_model),
        "field_seasons_per_s": round(args.fields * m / in_model), "peak_memory_gib": round(peak_gib, 2),
        "results": done,
    }  # fmt: skip
    costs = {}
    for size in [int(s) for s in args.scaling.split(",") if s.strip()]:
        _wall, model_s, _ = _run(size, args.chunk, m, d)
        costs[size] = model_s / size * 1000
        out[f"ms_per_field_{size // 1000}k"] = round(costs[size], 3)
    if costs:
        out["per_field_cost_spread"] = round(max(costs.values()) / min(costs.values()) - 1, 3)
    if args.dask_fields:
        one_s, one_done = _dask(args.dask_fields, args.chunk, m, d, 1)
        two_s, two_done = _dask(args.dask_fields, args.chunk, m, d, 2)
        assert one_done == two_done, (one_done, two_done)
        out["dask_fields"] = args.dask_fields
        out["dask_1_worker_field_seasons_per_s"] = round(args.dask_fields * m / one_s)
        out["dask_2_workers_field_seasons_per_s"] = round(args.dask_fields * m / two_s)
        out["dask_2_worker_speedup"] = round(one_s / two_s, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
