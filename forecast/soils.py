"""The forecast's soils: water at field capacity and wilting point per registered texture, from Saxton &
Rawls (2006)'s pedotransfer function on each texture's sand, clay and organic matter (forecast/soils.toml,
each input with its source).

Saxton, K.E. and Rawls, W.J. (2006), Soil water characteristic estimates by texture and organic matter
for hydrologic solutions, Soil Sci. Soc. Am. J. 70:1569-1578, Table 1: θ1500 (Eq. 1), θ33 (Eq. 2),
θS-33 (Eq. 3), θS (Eq. 5), normal density ρN (Eq. 6) and the density adjustment (Eqs. 7-10) for a
soil whose bulk density is known to differ (an andosol's < 0.9 g/cm³). S and C are weight fractions,
OM in % weight.

A pedotransfer function is a guess from texture; a soil-moisture probe measures the soil. Each
texture's **drained upper limit** (field capacity as the probe reads it) is also read from the fleet's
own probes (:func:`drained_upper_limit`, :func:`fleet_upper_limits`): after a soaking rain the reading
falls fast while water drains through, then slowly once only the crop and the sun take it; where the
fall slows is the field's upper limit (the "full point" of irrigation scheduling with capacitance
probes). The engine moves the texture's field capacity to the fleet's median, its wilting point with
it (the pedotransfer function's available water is kept), shrunk toward the pedotransfer function
while few fields say. Issue 38: on andosol Saxton & Rawls give 0.36, which read a crop the probe
showed at wilting point for weeks as a third depleted, with no stress and no irrigation alert.
"""

from __future__ import annotations

import functools
import tomllib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DRY_DAY_MM",
    "MIN_FIELDS",
    "SHRINK_FIELDS",
    "SoilWater",
    "calibrated_soil",
    "drained_upper_limit",
    "fleet_upper_limits",
    "saxton_rawls",
    "soil_table",
    "upper_limits_of",
]

_TABLE = Path(__file__).with_name("soils.toml")
PARTICLE_DENSITY = 2.65  # g/cm³ [Saxton & Rawls 2006, Eq. 6]


@dataclass(frozen=True)
class SoilWater:
    """Volumetric water [m³/m³] at field capacity (33 kPa), wilting point (1,500 kPa) and saturation."""

    field_capacity: float
    wilting_point: float
    saturation: float


def saxton_rawls(sand: float, clay: float, om_pct: float, bulk_density: float | None = None) -> SoilWater:
    """Saxton & Rawls (2006) Table 1, with their density adjustment when ``bulk_density`` is given."""
    s, c, om = sand, clay, om_pct
    t1500 = -0.024 * s + 0.487 * c + 0.006 * om + 0.005 * s * om - 0.013 * c * om + 0.068 * s * c + 0.031
    w1500 = t1500 + (0.14 * t1500 - 0.02)
    t33 = -0.251 * s + 0.195 * c + 0.011 * om + 0.006 * s * om - 0.027 * c * om + 0.452 * s * c + 0.299
    w33 = t33 + (1.283 * t33**2 - 0.374 * t33 - 0.015)
    ts33 = 0.278 * s + 0.034 * c + 0.022 * om - 0.018 * s * om - 0.027 * c * om - 0.584 * s * c + 0.078
    ws33 = ts33 + (0.636 * ts33 - 0.107)
    ws = w33 + ws33 - 0.097 * s + 0.043
    if bulk_density is None:
        return SoilWater(w33, w1500, ws)
    ws_df = 1 - bulk_density / PARTICLE_DENSITY  # Eq. 8
    w33_df = w33 - 0.2 * (ws - ws_df)  # Eq. 9
    return SoilWater(w33_df, w1500, ws_df)


@functools.cache
def soil_table() -> dict[str, SoilWater]:
    """Every registered texture's water, from forecast/soils.toml."""
    with _TABLE.open("rb") as f:
        raw = tomllib.load(f)
    table = {}
    for name, row in raw.items():
        soil = saxton_rawls(
            float(row["sand"]), float(row["clay"]), float(row["organic_matter_pct"]), row.get("bulk_density")
        )
        if not 0 < soil.wilting_point < soil.field_capacity < soil.saturation < 1:
            raise ValueError(f"forecast/soils.toml: [{name}] gives an impossible soil {soil}")
        table[name] = soil
    return table


# A soaking: a day with this much rain or more [est: 10 mm wets a 0.3 m probe layer by 3 points].
SOAKING_MM = 10.0
# A dry day: less rain than this [est: a light shower barely wets a 0.3 m probe layer]. Drainage is
# read on dry days; a rise in soil moisture over dry days is a watering (drivers.infer_irrigated).
DRY_DAY_MM = 2.0
# Draining: the daily mean falls by this much or more in a day [est: 3 points of a 0.3 m layer is
# 9 mm, about twice what the crop and soil evaporation take on one of Batu's days (ET0 3-5 mm); with
# 2 points a sunny day's use passed for drainage, and a dry season's loam read 20 % where it drains to
# 25 %]; settled: it falls by less than SETTLED_POINTS (4.5 mm, what they do take).
DRAINING_POINTS = 3.0
SETTLED_POINTS = 1.5
# Days after a soaking the fall is followed for [est: drainage from field capacity's excess takes
# one to three days in loams (FAO-56 Ch. 8: "2 to 3 days")].
FOLLOW_DAYS = 7
# A field's upper limit needs this many soakings read [est: one may be a probe's bad day]; a texture's,
# this many fields, weighed n / (n + SHRINK_FIELDS) against Saxton & Rawls' [est: three fields' word
# counts as much as the pedotransfer function's; thirty, ten times as much].
MIN_SOAKINGS = 2
MIN_FIELDS = 3
SHRINK_FIELDS = 3.0


def upper_limits_of(soil_vwc_pct: NDArray[np.float64], rain_mm: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each field's drained upper limit [% VWC] (NaN where it has fewer than two soakings read), from
    its probe's daily means and the rain, fields × days: the median of the readings where a soaking's
    fast drainage settled. After each soaking the days are followed while they stay dry and read: a
    fall of :data:`DRAINING_POINTS` or more is drainage; the first fall under :data:`SETTLED_POINTS`
    after it marks the day before as drained. Vectorised over fields and soakings (a refresh reads
    every field's history; one field at a time cost 17 s a refresh at 100,000 fields)."""
    vwc = np.asarray(soil_vwc_pct, dtype=float)
    rain = np.nan_to_num(np.asarray(rain_mm, dtype=float), nan=np.inf)  # no rain reading: not a dry day
    n_fields, n = vwc.shape
    starts = max(n - 3, 0)
    pad = FOLLOW_DAYS + 1  # past the series' end: no reading, so every follow stops there
    vwc_p = np.concatenate([vwc, np.full((n_fields, pad), np.nan)], axis=1)
    rain_p = np.concatenate([rain, np.full((n_fields, pad), np.inf)], axis=1)
    following = rain[:, :starts] >= SOAKING_MM
    draining = np.zeros_like(following)
    level = np.full(following.shape, np.nan)
    for j in range(1, FOLLOW_DAYS + 1):
        if not following.any():
            break
        before, today = vwc_p[:, j - 1 : j - 1 + starts], vwc_p[:, j : j + starts]
        fall = before - today
        following &= (rain_p[:, j : j + starts] < DRY_DAY_MM) & np.isfinite(fall)
        settled = following & draining & (fall < SETTLED_POINTS)
        level[settled] = before[settled]
        following &= ~settled
        draining |= following & (fall >= DRAINING_POINTS)
    said = np.sum(~np.isnan(level), axis=1)
    out = np.full(n_fields, np.nan)
    enough = said >= MIN_SOAKINGS
    if enough.any():
        out[enough] = np.nanmedian(level[enough], axis=1)
    return out


def drained_upper_limit(soil_vwc_pct: NDArray[np.float64], rain_mm: NDArray[np.float64]) -> float | None:
    """One field's drained upper limit [% VWC] (:func:`upper_limits_of`), or None with fewer than two
    soakings read."""
    level = upper_limits_of(np.asarray(soil_vwc_pct, float)[None, :], np.asarray(rain_mm, float)[None, :])[0]
    return None if np.isnan(level) else float(level)


# Fields read together [est: 5,000 fields of 240 days are ~10 MB an array].
CHUNK_FIELDS = 5_000


def fleet_upper_limits(
    readings: Mapping[str, tuple[str, NDArray[np.float64], NDArray[np.float64]]],
) -> dict[str, tuple[float, int]]:
    """Each texture's drained upper limit [% VWC] and how many fields say it: the median over its
    fields' own (:func:`upper_limits_of`), one voice per field, so no one probe moves it further
    than one rank; only textures with :data:`MIN_FIELDS` fields that say. ``readings``: field id ->
    (texture, daily mean soil moisture [%], daily rain [mm])."""
    by_length: dict[int, list[tuple[str, NDArray[np.float64], NDArray[np.float64]]]] = defaultdict(list)
    for texture, vwc, rain in readings.values():
        by_length[len(vwc)].append((texture, vwc, rain))
    by_texture: dict[str, list[float]] = defaultdict(list)
    for rows in by_length.values():
        for i in range(0, len(rows), CHUNK_FIELDS):
            part = rows[i : i + CHUNK_FIELDS]
            levels = upper_limits_of(np.stack([r[1] for r in part]), np.stack([r[2] for r in part]))
            for (texture, _, _), level in zip(part, levels, strict=True):
                if not np.isnan(level):
                    by_texture[texture].append(float(level))
    return {
        texture: (float(np.median(levels)), len(levels))
        for texture, levels in by_texture.items()
        if len(levels) >= MIN_FIELDS
    }


def calibrated_soil(texture: str, upper_limits: Mapping[str, tuple[float, int]]) -> tuple[float, float]:
    """θ at field capacity and wilting point [m³/m³] of ``texture``: Saxton & Rawls', moved toward the
    fleet's probes (:func:`fleet_upper_limits`, held between Saxton & Rawls' wilting point and
    saturation) by n / (n + :data:`SHRINK_FIELDS`), the wilting point by as much. Unknown textures are
    taken as loam."""
    table = soil_table()
    soil = table.get(texture, table["loam"])
    fc, wp = soil.field_capacity, soil.wilting_point
    said = upper_limits.get(texture)
    if said is None:
        return fc, wp
    level, n = said
    # A soil drains to somewhere between wilting point and saturation, whatever its probes read (a
    # texture whose probes all read nonsense cannot have a field capacity of 95 %).
    upper = float(np.clip(level / 100, wp, soil.saturation))
    moved = n / (n + SHRINK_FIELDS) * (upper - fc)
    return fc + moved, max(wp + moved, 0.01)
