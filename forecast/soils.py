"""The forecast's soils: water at field capacity and wilting point per registered texture, from Saxton &
Rawls (2006)'s pedotransfer function on each texture's sand, clay and organic matter (forecast/soils.toml,
each input with its source).

Saxton, K.E. and Rawls, W.J. (2006), Soil water characteristic estimates by texture and organic matter
for hydrologic solutions, Soil Sci. Soc. Am. J. 70:1569-1578, Table 1: θ1500 (Eq. 1), θ33 (Eq. 2),
θS-33 (Eq. 3), θS (Eq. 5), normal density ρN (Eq. 6) and the density adjustment (Eqs. 7-10) for a
soil whose bulk density is known to differ (an andosol's < 0.9 g/cm³). S and C are weight fractions,
OM in % weight.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SoilWater", "saxton_rawls", "soil_table"]

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
