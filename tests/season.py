"""A season of simulated readings written straight to a store, for tests that need forecasts."""

from __future__ import annotations

import time

from bench.simdata import readings
from firmware_sim.runner import prepare
from storage import TimeSeriesStore
from storage.fleetfile import Fleet

NOW_MS = time.time_ns() // 1_000_000


def load_season(store: TimeSeriesStore, fleet: Fleet, *, days: int = 40, seed: int = 4) -> None:
    """``days`` of hourly simulated readings of every node up to now."""
    run = prepare(
        fleet,
        start_ms=NOW_MS - days * 86_400_000,
        end_ms=NOW_MS,
        seed=seed,
        interval_min=60,
        horizon_days=150,
    )
    store.write(list(readings(run.samples)))
