"""The crop library (``crops.toml``) as typed parameters and as arrays over fields."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["CROP_LIBRARY", "CropArrays", "CropParams", "crop_arrays", "load_crops"]

CROP_LIBRARY = Path(__file__).with_name("crops.toml")


@dataclass(frozen=True)
class CropParams:
    """One crop's parameters; see ``crops.toml`` for sources and units."""

    name: str
    base_temp_c: float
    upper_temp_c: float
    thermal_time_to_maturity_cd: float
    stage_fractions: tuple[float, float, float, float]
    kc: tuple[float, float, float]
    root_depth_m: float
    depletion_fraction: float
    ky_stages: tuple[float, float, float, float]
    potential_yield_t_ha: float
    harvest_window_days: int
    # FAO-33's growth periods the Ky apply to (vegetative, flowering, yield formation, ripening), as
    # shares of the season; they are not FAO-56's Kc stages (maize flowers around mid-season, in Kc's
    # mid stage). None: the Kc stages are used.
    ky_stage_fractions: tuple[float, float, float, float] | None = None
    # An orchard crop: its season is one crop of fruit, from bloom, with roots at full depth throughout.
    perennial: bool = False
    # Picked many times over its harvest window (tomato, chili, strawberry): one harvest record does not
    # end its season, the picks add up until the window ends.
    multi_pick: bool = False
    # Early canopy senescence under water stress (AquaCrop): from this share of TAW depleted; and how
    # long from full canopy to none under the worst stress, as a share of the crop's own season (its
    # thermal time to maturity), so it is in the library's own degree-days (0: none).
    senescence_depletion_fraction: float = 0.70
    senescence_share: float = 0.0
    # FAO-56's basal crop coefficients (dual Kc: transpiration, the soil surface's evaporation apart);
    # None: the single Kc holds both (the orchards).
    kcb: tuple[float, float, float] | None = None


@cache
def load_crops(path: Path = CROP_LIBRARY) -> dict[str, CropParams]:
    """Read the crop library; raises ``ValueError`` naming the crop and field that is wrong."""
    doc = tomllib.loads(path.read_text())
    crops = {}
    for name, table in doc.items():
        try:
            params = CropParams(
                name=name,
                base_temp_c=float(table["base_temp_c"]),
                upper_temp_c=float(table["upper_temp_c"]),
                thermal_time_to_maturity_cd=float(table["thermal_time_to_maturity_cd"]),
                stage_fractions=tuple(float(x) for x in table["stage_fractions"]),  # type: ignore[arg-type]
                kc=tuple(float(x) for x in table["kc"]),  # type: ignore[arg-type]
                root_depth_m=float(table["root_depth_m"]),
                depletion_fraction=float(table["depletion_fraction"]),
                ky_stages=tuple(float(x) for x in table["ky_stages"]),  # type: ignore[arg-type]
                potential_yield_t_ha=float(table["potential_yield_t_ha"]),
                harvest_window_days=int(table["harvest_window_days"]),
                ky_stage_fractions=(
                    tuple(float(x) for x in table["ky_stage_fractions"])  # type: ignore[arg-type]
                    if "ky_stage_fractions" in table
                    else None
                ),
                perennial=bool(table.get("perennial", False)),
                multi_pick=bool(table.get("multi_pick", False)),
                senescence_depletion_fraction=float(table.get("senescence_depletion_fraction", 0.70)),
                senescence_share=float(table.get("senescence_share", 0.0)),
                kcb=tuple(float(x) for x in table["kcb"]) if "kcb" in table else None,  # type: ignore[arg-type]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"crop library {path}: [{name}] is missing or has a bad value: {exc}") from exc
        if len(params.stage_fractions) != 4 or abs(sum(params.stage_fractions) - 1) > 0.02:
            raise ValueError(f"crop library: [{name}] stage_fractions must be four shares summing to 1")
        ky_shares = params.ky_stage_fractions
        if ky_shares is not None and (len(ky_shares) != 4 or abs(sum(ky_shares) - 1) > 0.02):
            raise ValueError(f"crop library: [{name}] ky_stage_fractions must be four shares summing to 1")
        bad_kcb = params.kcb is not None and len(params.kcb) != 3
        if len(params.kc) != 3 or len(params.ky_stages) != 4 or bad_kcb:
            raise ValueError(
                f"crop library: [{name}] needs kc (and kcb, if given) = [ini, mid, end] and four ky_stages"
            )
        if not (0 < params.senescence_depletion_fraction < 1 and params.senescence_share >= 0):
            raise ValueError(
                f"crop library: [{name}] senescence_depletion_fraction must be in (0, 1), "
                "senescence_share >= 0"
            )
        crops[name] = params
    return crops


@dataclass(frozen=True)
class CropArrays:
    """Crop parameters gathered per field (leading axis = field)."""

    base_temp_c: NDArray[np.float64]
    upper_temp_c: NDArray[np.float64]
    thermal_time_cd: NDArray[np.float64]
    stage_ends: NDArray[np.float64]  # (fields, 4) cumulative stage fractions
    kc: NDArray[np.float64]  # (fields, 3)
    root_depth_m: NDArray[np.float64]
    depletion_fraction: NDArray[np.float64]
    potential_yield_t_ha: NDArray[np.float64]
    ky_stage_ends: NDArray[np.float64] | None = (
        None  # (fields, 4) cumulative FAO-33 periods; None: stage_ends
    )
    perennial: NDArray[np.bool_] | None = None  # orchards: roots at full depth from the start
    senescence_depletion: NDArray[np.float64] | None = None  # share of TAW; None: no early senescence
    senescence_share: NDArray[np.float64] | None = None  # of the season's thermal time; 0: none there
    root_full_fraction: NDArray[np.float64] | None = None  # roots at full depth; None: end of development
    # (fields, 3) basal Kcb (dual Kc); None, or a row of NaN: that field's single Kc holds evaporation too
    kcb: NDArray[np.float64] | None = None


def crop_arrays(commodities: list[str], crops: dict[str, CropParams] | None = None) -> CropArrays:
    """Arrays of the parameters of each field's commodity (``KeyError`` names an unknown crop)."""
    lib = crops or load_crops()
    rows = []
    for c in commodities:
        if c not in lib:
            raise KeyError(f"no crop {c!r} in the library ({', '.join(sorted(lib))})")
        rows.append(lib[c])

    def col(attr: str) -> NDArray[np.float64]:
        return np.array([getattr(r, attr) for r in rows], dtype=np.float64)

    return CropArrays(
        base_temp_c=col("base_temp_c"),
        upper_temp_c=col("upper_temp_c"),
        thermal_time_cd=col("thermal_time_to_maturity_cd"),
        stage_ends=np.cumsum(
            np.array([r.stage_fractions for r in rows], dtype=np.float64).reshape(-1, 4), axis=1
        ),
        kc=np.array([r.kc for r in rows], dtype=np.float64).reshape(-1, 3),
        root_depth_m=col("root_depth_m"),
        depletion_fraction=col("depletion_fraction"),
        potential_yield_t_ha=col("potential_yield_t_ha"),
        ky_stage_ends=np.cumsum(
            np.array([r.ky_stage_fractions or r.stage_fractions for r in rows], dtype=np.float64).reshape(
                -1, 4
            ),
            axis=1,
        ),
        perennial=np.array([r.perennial for r in rows], dtype=bool),
        senescence_depletion=col("senescence_depletion_fraction"),
        senescence_share=col("senescence_share"),
        kcb=np.array([r.kcb or (np.nan,) * 3 for r in rows], dtype=np.float64).reshape(-1, 3),
    )
