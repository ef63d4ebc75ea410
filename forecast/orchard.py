"""Orchards: one crop of fruit from what a farmer records (defoliation, flowering, fruit counts).

The season model (:mod:`forecast.season`) runs an orchard's crop like any other, from full bloom to
harvest by thermal time, with the tree's roots at full depth and FAO-33-style yield response to
water. What this module adds is where that crop starts and how big it can be, from the orchard's
records (parameters and sources in ``orchards.toml``):

- **Bloom.** A recorded flowering is the start. Without one, an apple crop blooms a fixed time after
  its recorded defoliation (*perompesan*); without that either, after the defoliation expected two
  weeks after the last harvest (docs/sources.md). Each estimate adds its uncertainty to the date. Keprok
  flowers after a dry spell and nothing forces it: its crop needs a recorded flowering.
- **Fruit to harvest.** The variety's thermal time from bloom to harvest (Manalagi, Anna, Rome
  Beauty, keprok Batu 55); an unknown variety takes its crop's reference and says so.
- **Attainable yield.** With a fruit count (or a thinning) since bloom: trees × fruits per tree × the
  share kept until picking × the variety's fruit weight, with the count's sampling error, the drop,
  the fruit weight and losses to pests as the spread. Before a count: trees × kilograms per tree for
  the tree's age, with a wide spread (Batu's apple yields fell from 62 to 10-15 t/ha in five years).
  So P10-P90 narrows when a count arrives.

Only records after the orchard's last harvest count: those before it belong to a crop already picked.
Pure; no I/O.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from forecast.engine import FieldSpec

__all__ = [
    "EVENT_KINDS",
    "ORCHARD_CROPS",
    "ORCHARD_LIBRARY",
    "CycleEvent",
    "OrchardCycle",
    "is_defoliated",
    "is_orchard",
    "orchard_cycle",
    "variety_key",
    "with_cycle",
]

ORCHARD_LIBRARY = Path(__file__).with_name("orchards.toml")
EVENT_KINDS = ("defoliation", "flowering", "fruit_count", "thinning")
# A thinning states how many fruits the farmer left; without sample trees it is taken as that, to
# about 5 % [est].
THINNING_LOG_SIGMA = 0.05


@dataclass(frozen=True)
class CycleEvent:
    """A management record of an orchard.

    Attributes:
        kind: One of :data:`EVENT_KINDS`.
        day: The local day it happened.
        fruits_per_tree: Mean fruits per tree (fruit counts and thinning).
        trees_sampled: How many trees were counted (fruit counts).
    """

    kind: str
    day: dt.date
    fruits_per_tree: float | None = None
    trees_sampled: int | None = None


@dataclass(frozen=True)
class OrchardCycle:
    """The crop an orchard is carrying, as the season model takes it.

    Attributes:
        bloom: Full bloom (the season model's "planting" day).
        thermal_time_cd: Degree-days from bloom to harvest for the variety.
        potential_yield_t_ha: Attainable yield of this crop without water stress [t/ha]; ``None``
            without a tree count (the crop library's per hectare is used).
        yield_sigma_log: Log-s.d. of that yield (the members' spread).
        date_sigma_days: S.d. of the bloom date when it was estimated, not recorded [days].
        basis: One sentence per fact used, for the forecast's ``basis``.
    """

    bloom: dt.date
    thermal_time_cd: float
    potential_yield_t_ha: float | None
    yield_sigma_log: float
    date_sigma_days: float
    basis: tuple[str, ...]


@cache
def _library(path: Path = ORCHARD_LIBRARY) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


# The orchard crops: those the orchard library describes.
ORCHARD_CROPS: tuple[str, ...] = tuple(_library())


def is_orchard(commodity: str) -> bool:
    """Whether ``commodity`` is an orchard crop of the library."""
    return commodity in ORCHARD_CROPS


def is_defoliated(commodity: str) -> bool:
    """Whether growers force ``commodity``'s crops by defoliation (apple in Batu; keprok is not)."""
    return "bloom_after_defoliation_days" in _library().get(commodity, {})


def variety_key(variety: str) -> str:
    """A variety's library key: ``"Rome Beauty"`` -> ``"rome_beauty"``."""
    return "_".join(variety.lower().replace("-", " ").split())


def _age_share(lib: dict[str, Any], age_years: float) -> float:
    """Share of full bearing at ``age_years`` (linear from first to full bearing; a tenth before) [est]."""
    start, full = float(lib["bearing_from_age"]), float(lib["full_bearing_age"])
    return max(0.1, min(1.0, (age_years - start + 1) / (full - start + 1)))


def orchard_cycle(
    commodity: str,
    variety: str,
    *,
    tree_count: int | None,
    area_ha: float,
    year_planted: int | None,
    events: Sequence[CycleEvent],
    last_harvest: dt.date | None,
    today: dt.date,
) -> OrchardCycle | str:
    """The crop an orchard carries as of ``today``, or why none can be forecast (a sentence).

    Raises:
        KeyError: ``commodity`` is not an orchard crop.
    """
    lib = _library()[commodity]
    varieties: dict[str, Any] = lib["varieties"]
    key = variety_key(variety)
    basis: list[str] = []
    if key not in varieties:
        key = next(iter(varieties))
        basis.append(f"variety {variety or '(none)'!r} is not in the library: taken as {key}")
    kind = varieties[key]
    current = sorted(
        (e for e in events if e.day <= today and (last_harvest is None or e.day > last_harvest)),
        key=lambda e: e.day,
    )
    bloomed = _bloom(commodity, lib, current, last_harvest, basis)
    if isinstance(bloomed, str):
        return bloomed
    bloom, date_sigma = bloomed
    trees = tree_count if tree_count and tree_count > 0 else None
    counts = [e for e in current if e.kind in ("fruit_count", "thinning") and e.day >= bloom]
    counts = [e for e in counts if e.fruits_per_tree is not None and e.fruits_per_tree >= 0]
    if trees is None:
        potential = None
        basis.append("no tree count registered: the crop's yield per hectare is used")
        sigma = float(lib["kg_per_tree_log_sigma"])
    elif counts:
        potential, sigma = _counted_yield(lib, kind, counts[-1], trees, area_ha, basis)
    else:
        age = today.year - year_planted if year_planted else float(lib["full_bearing_age"])
        kg = float(lib["kg_per_tree"]) * _age_share(lib, age)
        potential = trees * kg / 1000 / area_ha
        sigma = float(lib["kg_per_tree_log_sigma"])
        basis.append(
            f"no fruit count yet: {kg:.1f} kg per tree "
            + (f"at {age} years" if year_planted else "(age unknown: taken as in full bearing)")
        )
    return OrchardCycle(
        bloom=bloom,
        thermal_time_cd=float(kind["thermal_time_cd"]),
        potential_yield_t_ha=potential,
        yield_sigma_log=sigma,
        date_sigma_days=date_sigma,
        basis=tuple(basis),
    )


def _bloom(
    commodity: str,
    lib: dict[str, Any],
    current: list[CycleEvent],
    last_harvest: dt.date | None,
    basis: list[str],
) -> tuple[dt.date, float] | str:
    """When the crop bloomed and the spread of that day [days]: a recorded flowering; else, for
    apple, a recorded defoliation plus the weeks to bloom; else the defoliation expected after the
    last harvest. Or why none can be said (a sentence). Appends how it was found to ``basis``."""
    flowering = [e for e in current if e.kind == "flowering"]
    defoliation = [e for e in current if e.kind == "defoliation"]
    if flowering:
        bloom = flowering[-1].day
        basis.append(f"flowering recorded on {bloom}")
        return bloom, 0.0
    if is_defoliated(commodity) and defoliation:
        bloom = defoliation[-1].day + dt.timedelta(days=int(lib["bloom_after_defoliation_days"]))
        basis.append(f"defoliated on {defoliation[-1].day}: bloom expected about {bloom}")
        return bloom, float(lib["bloom_after_defoliation_sigma_days"])
    if is_defoliated(commodity) and last_harvest is not None:
        defoliated = last_harvest + dt.timedelta(days=int(lib["defoliation_after_harvest_days"]))
        bloom = defoliated + dt.timedelta(days=int(lib["bloom_after_defoliation_days"]))
        date_sigma = math.hypot(
            float(lib["defoliation_after_harvest_sigma_days"]),
            float(lib["bloom_after_defoliation_sigma_days"]),
        )
        basis.append(
            f"harvested on {last_harvest}, no defoliation recorded since: bloom expected about {bloom}"
        )
        return bloom, date_sigma
    if is_defoliated(commodity):
        return "no defoliation or flowering recorded since the last harvest"
    return "no flowering recorded since the last harvest"


def _counted_yield(
    lib: dict[str, Any], kind: dict[str, Any], last: CycleEvent, trees: int, area_ha: float, basis: list[str]
) -> tuple[float, float]:
    """The attainable yield [t/ha] from the latest count or thinning since bloom, and its log-s.d.:
    the count's sampling error, the drop before picking, the fruit weight and losses."""
    assert last.fruits_per_tree is not None
    fruit_kg = float(kind["fruit_g"]) / 1000
    keep = 1 - float(lib["drop_after_count"])
    kg = last.fruits_per_tree * keep * fruit_kg
    if last.kind == "thinning" and not last.trees_sampled:
        sampling = THINNING_LOG_SIGMA
    else:
        sampling = float(lib["count_tree_cv"]) / math.sqrt(max(1, last.trees_sampled or 1))
    sigma = math.sqrt(
        sampling**2
        + (float(lib["drop_after_count_sigma"]) / keep) ** 2
        + float(lib["fruit_weight_log_sigma"]) ** 2
        + float(lib["loss_log_sigma"]) ** 2
    )
    what = "thinned to" if last.kind == "thinning" else "counted"
    basis.append(
        f"{what} {last.fruits_per_tree:g} fruits per tree on {last.day}"
        + (f" ({last.trees_sampled} trees sampled)" if last.trees_sampled else "")
        + f": {kg:.1f} kg per tree at {kind['fruit_g']:g} g a fruit"
    )
    return trees * kg / 1000 / area_ha, sigma


def with_cycle(spec: FieldSpec, cycle: OrchardCycle) -> FieldSpec:
    """An orchard's registry facts as the engine runs its current crop: from bloom, with the crop's
    thermal time, attainable yield and spreads."""
    return replace(
        spec,
        planting_date=cycle.bloom,
        thermal_time_cd=cycle.thermal_time_cd,
        potential_yield_t_ha=cycle.potential_yield_t_ha,
        yield_sigma_log=cycle.yield_sigma_log,
        date_sigma_days=cycle.date_sigma_days,
    )
