"""Simulated seasons as the forecast engine sees them: daily aggregates per site from the
simulator's node samples, aggregated over WIB days exactly as the stores do (min, mean, max, sum;
implausible and NaN values left out). Shared by the forecast benchmarks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

import numpy as np

from firmware_sim.environment import OrchardRecord
from firmware_sim.firmware import NodeSamples
from forecast.drivers import DailySeries, Observed, observed_drivers
from forecast.engine import FieldSpec
from forecast.orchard import CycleEvent, is_orchard, orchard_cycle, with_cycle
from sensors import CATALOGUE, Quality, Reading
from storage.fleetfile import Fleet

__all__ = ["daily_series", "field_specs", "observed_for", "readings"]

WIB_MS = 7 * 3_600_000
DAY_MS = 86_400_000


def daily_series(samples: Sequence[NodeSamples], days: list[dt.date]) -> dict[str, DailySeries]:
    """Per site: metric -> {min, mean, max, sum} over ``days`` (NaN on days without values)."""
    origin = (days[0] - dt.date(1970, 1, 1)).days
    out = {}
    for s in samples:
        index = (s.device_ms + WIB_MS) // DAY_MS - origin
        inside = (index >= 0) & (index < len(days))
        values: dict[str, dict[str, np.ndarray]] = {}
        for metric, v in s.values.items():
            spec = CATALOGUE[metric]
            ok = inside & ~np.isnan(v) & (v >= spec.low) & (v <= spec.high)
            idx, x = index[ok], v[ok]
            count = np.bincount(idx, minlength=len(days)).astype(float)
            total = np.bincount(idx, weights=x, minlength=len(days))
            lo = np.full(len(days), np.inf)
            hi = np.full(len(days), -np.inf)
            np.minimum.at(lo, idx, x)
            np.maximum.at(hi, idx, x)
            none = count == 0
            values[metric] = {
                "min": np.where(none, np.nan, lo),
                "max": np.where(none, np.nan, hi),
                "sum": np.where(none, np.nan, total),
                "mean": np.where(none, np.nan, total / np.maximum(count, 1)),
            }
        out[s.site_id] = DailySeries(days, values)
    return out


def field_specs(
    fleet: Fleet, orchard_records: Sequence[OrchardRecord] = (), today: dt.date | None = None
) -> list[FieldSpec]:
    """Registry facts of every field, as the engine takes them (as services.forecasting makes them).

    An orchard's spec is its current crop as of ``today``, from the growers' records up to then
    (:func:`forecast.orchard.orchard_cycle`); an orchard whose crop is not known then, or every
    orchard when ``today`` is None, is left out.
    """
    out = []
    for f in fleet.fields:
        spec = FieldSpec(
            f.id,
            fleet.coop_of(f.id).id,
            f.commodity,
            f.planting_date,
            f.area_ha,
            f.soil_texture,
            f.elevation_m,
            variety=f.variety,
        )
        if not is_orchard(f.commodity):
            out.append(spec)
            continue
        if today is None:
            continue
        events = [
            CycleEvent(r.kind, r.day, r.fruits_per_tree, r.trees_sampled)
            for r in orchard_records
            if r.field_id == f.id
        ]
        cycle = orchard_cycle(
            f.commodity, f.variety, tree_count=f.tree_count, area_ha=f.area_ha,
            year_planted=f.planting_date.year, events=events, last_harvest=None, today=today,
        )  # fmt: skip
        if isinstance(cycle, str):
            continue
        out.append(with_cycle(spec, cycle))
    return out


def observed_for(fleet: Fleet, series: dict[str, DailySeries]) -> dict[str, Observed]:
    """Observed drivers of every field from its own and its station's daily series."""
    out = {}
    for coop in fleet.cooperatives:
        station = series[coop.station.id]
        for f in coop.fields:
            out[f.id] = observed_drivers(
                series[f.id],
                station,
                field_elevation_m=f.elevation_m,
                station_elevation_m=coop.station.elevation_m,
            )
    return out


def readings(samples: Sequence[NodeSamples]) -> Iterator[Reading]:
    """Every sample as the stored reading ingest would make of it (quality by the catalogue range)."""
    for s in samples:
        for metric, values in s.values.items():
            spec = CATALOGUE[metric]
            for ts, v in zip(s.device_ms.tolist(), values.tolist(), strict=True):
                quality = Quality.VALID if spec.low <= v <= spec.high else Quality.IMPLAUSIBLE
                yield Reading(s.node.id, s.coop_id, s.site_id, metric, float(v), int(ts), quality)
