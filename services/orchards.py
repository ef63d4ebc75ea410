"""Orchard records: defoliation, flowering, fruit counts and thinning, checked, listed and voided with an
audit trail (never deleted), and each orchard's current crop for the forecast (:mod:`forecast.orchard`).

A record is refused when it cannot be true of the orchard: the field is not an orchard crop, the day
is in the future (WIB) or before the trees were planted, a keprok is "defoliated" (only apples are),
a count has no fruits per tree or more sample trees than the orchard has, or a flowering carries a
count.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from forecast.orchard import (
    EVENT_KINDS,
    ORCHARD_CROPS,
    CycleEvent,
    OrchardCycle,
    is_defoliated,
    is_orchard,
    orchard_cycle,
)
from services import InvalidInput, NotFound, id_date
from services.notify.messages import COMMODITY_ID as _COMMODITY_ID
from services.numbers import format_id
from storage import local_day
from storage.db import Field, HarvestRecord, OrchardEvent

__all__ = [
    "MAX_FRUITS_PER_TREE",
    "MAX_TREES",
    "check_orchard_yield",
    "check_trees",
    "cycles",
    "events",
    "latest_count",
    "record",
    "void",
]

# More fruits than this on one tree of any species is a typo [est]; each species' own bound is in
# services/plausibility.toml.
MAX_FRUITS_PER_TREE = 5_000.0
# More trees than this in one registered orchard is a typo [est]: Batu's 740 ha of apples hold about
# a million trees in all.
MAX_TREES = 1_000_000
_PLAUSIBILITY = Path(__file__).with_name("plausibility.toml")


@functools.cache
def plausibility() -> dict[str, dict[str, Any]]:
    """Each orchard species' bounds (services/plausibility.toml): trees per hectare, fruits per tree."""
    with _PLAUSIBILITY.open("rb") as f:
        return tomllib.load(f)


def check_trees(commodity: str, tree_count: int | None, area_ha: float | None = None) -> None:
    """The registry's orchard rule: an orchard has 1 to :data:`MAX_TREES` trees, at a density its
    species can be planted at (with ``area_ha``: services/plausibility.toml); an annual crop none.

    Raises:
        InvalidInput: saying which (the API, the fleet import and field changes use this one rule).
    """
    if is_orchard(commodity):
        if tree_count is None or not 0 < tree_count <= MAX_TREES:
            raise InvalidInput(
                f"an orchard ({commodity}) needs tree_count, from 1 to {MAX_TREES:,}; "
                "its planting_date is when the trees were planted"
            )
        bounds = plausibility().get(commodity)
        if bounds is not None and area_ha:
            low, high = bounds["trees_per_ha"]
            density = tree_count / area_ha
            if not low <= density <= high:
                raise InvalidInput(
                    f"tree_count {tree_count:,} on {area_ha:g} ha is {density:,.0f} trees/ha; {commodity} "
                    f"orchards are planted at {low:,}-{high:,} trees/ha (services/plausibility.toml)",
                    farmer=f"{format_id(tree_count)} pohon di {format_id(area_ha, 2)} ha adalah "
                    f"{format_id(density)} pohon per ha; kebun "
                    f"{_COMMODITY_ID.get(commodity, commodity)} biasanya {low}-{high} pohon per ha.",
                )
    elif tree_count is not None:
        raise InvalidInput(f"tree_count is for orchards ({', '.join(ORCHARD_CROPS)}), not {commodity}")


def check_orchard_yield(
    commodity: str, tree_count: int | None, area_ha: float | None, fruits_per_tree: float | None
) -> None:
    """The least crop a fruit count implies (its trees per hectare, at the species' lightest fruit)
    must be within the tonnes per hectare the species can yield (services/plausibility.toml); the
    registry's edits and the counts themselves use this one rule.

    Raises:
        InvalidInput: saying the implied tonnes per hectare and the bound.
    """
    bounds = plausibility().get(commodity)
    if bounds is None or not tree_count or not area_ha or fruits_per_tree is None:
        return
    lightest_g, most = bounds["fruit_g"][0], float(bounds["t_per_ha_max"])
    t_ha = fruits_per_tree * tree_count / area_ha * lightest_g / 1e6
    if t_ha > most:
        raise InvalidInput(
            f"{fruits_per_tree:g} fruits a tree on {tree_count:,} trees over {area_ha:g} ha is at least "
            f"{t_ha:,.0f} t/ha even at {lightest_g} g a fruit; {commodity} yields at most {most:g} t/ha "
            "a crop (services/plausibility.toml)",
            farmer=f"{format_id(fruits_per_tree, 1)} buah per pohon di {format_id(tree_count)} pohon pada "
            f"{format_id(area_ha, 2)} ha berarti "
            f"paling sedikit {format_id(t_ha)} ton per ha; kebun {_COMMODITY_ID.get(commodity, commodity)} "
            f"paling banyak {format_id(most, 1)} ton per ha sekali panen.",
        )


def latest_count(session: Session, field_id: str) -> float | None:
    """Fruits per tree of the orchard's latest live count or thinning (None without one)."""
    return session.scalars(
        select(OrchardEvent.fruits_per_tree)
        .where(
            OrchardEvent.field_id == field_id,
            OrchardEvent.voided_at.is_(None),
            OrchardEvent.fruits_per_tree.is_not(None),
        )
        .order_by(OrchardEvent.day.desc(), OrchardEvent.id.desc())
        .limit(1)
    ).first()


# What each record is called on the field page, for its messages.
_KIND_ID = {
    "defoliation": "perompesan",
    "flowering": "bunga mekar",
    "fruit_count": "hitung buah",
    "thinning": "penjarangan buah",
}


def _check(
    field: Field, kind: str, day: dt.date, fruits: float | None, trees: int | None, today: dt.date
) -> None:
    if not is_orchard(field.commodity):
        raise InvalidInput(
            f"field {field.id!r} grows {field.commodity}, not an orchard crop (apple, citrus)",
            farmer="lahan ini bukan kebun apel atau jeruk.",
        )
    if kind not in EVENT_KINDS:
        raise InvalidInput(
            f"kind: {kind!r} is not one of {', '.join(EVENT_KINDS)}", farmer="pilih jenis catatan."
        )
    name = _KIND_ID[kind]
    if day > today:
        raise InvalidInput(
            f"day {day} is in the future (today is {today} in WIB)",
            farmer=f"tanggal {id_date(day)} belum tiba (hari ini {id_date(today)}).",
        )
    if day < field.planting_date:
        raise InvalidInput(
            f"day {day} is before the trees were planted ({field.planting_date})",
            farmer=f"tanggal {id_date(day)} sebelum pohon ditanam ({id_date(field.planting_date)}).",
        )
    if kind == "defoliation" and not is_defoliated(field.commodity):
        raise InvalidInput(
            f"only apple trees are defoliated (perompesan); {field.id!r} is {field.commodity}",
            farmer="hanya pohon apel yang dirompes.",
        )
    if kind in ("fruit_count", "thinning"):
        if fruits is None:
            raise InvalidInput(
                f"a {kind} needs fruits_per_tree", farmer=f"{name} perlu jumlah buah per pohon."
            )
        most = float(plausibility().get(field.commodity, {}).get("fruits_per_tree_max", MAX_FRUITS_PER_TREE))
        if not 0 <= fruits <= most:
            raise InvalidInput(
                f"fruits_per_tree {fruits:g} is not from 0 to {most:g} ({field.commodity}: "
                "services/plausibility.toml)",
                farmer=f"jumlah buah per pohon {format_id(fruits, 1)} di luar 0-{format_id(most, 1)}.",
            )
        check_orchard_yield(field.commodity, field.tree_count, field.area_ha, fruits)
        if kind == "fruit_count" and not trees:
            raise InvalidInput(
                "a fruit_count needs trees_sampled: on how many trees were fruits counted",
                farmer="hitung buah perlu jumlah pohon contoh: di berapa pohon buahnya dihitung.",
            )
        if trees and field.tree_count and trees > field.tree_count:
            raise InvalidInput(
                f"trees_sampled {trees} is more than the orchard's {field.tree_count} trees",
                farmer=f"{trees} pohon contoh lebih banyak dari {field.tree_count} pohon di kebun ini.",
            )
    elif fruits is not None or trees is not None:
        raise InvalidInput(
            f"a {kind} carries no fruits_per_tree or trees_sampled",
            farmer=f"{name} tidak memakai jumlah buah atau jumlah pohon.",
        )


def record(
    session: Session,
    *,
    field: Field,
    kind: str,
    day: dt.date,
    by: str,
    fruits_per_tree: float | None = None,
    trees_sampled: int | None = None,
    note: str = "",
    today: dt.date | None = None,
) -> OrchardEvent:
    """Check and store one record of ``field``.

    Raises:
        InvalidInput: it cannot be true of the orchard (see the module docstring).
    """
    today = today or local_day(time.time_ns() // 1_000_000)
    _check(field, kind, day, fruits_per_tree, trees_sampled, today)
    row = OrchardEvent(
        field_id=field.id,
        kind=kind,
        day=day,
        fruits_per_tree=fruits_per_tree,
        trees_sampled=trees_sampled,
        note=note.strip()[:500],
        recorded_at=dt.datetime.now(dt.UTC),
        recorded_by=by,
    )
    session.add(row)
    session.commit()
    return row


def events(session: Session, field_id: str, *, include_void: bool = False) -> list[OrchardEvent]:
    """An orchard's records, oldest first."""
    query = select(OrchardEvent).where(OrchardEvent.field_id == field_id)
    if not include_void:
        query = query.where(OrchardEvent.voided_at.is_(None))
    return list(session.scalars(query.order_by(OrchardEvent.day, OrchardEvent.id)))


def void(session: Session, field_id: str, event_id: int, *, reason: str, by: str) -> OrchardEvent:
    """Mark a record void (kept, with who, when and why); forecasts stop using it.

    Raises:
        NotFound: no such record of this field.
        InvalidInput: it is void already, or no reason was given.
    """
    if not reason.strip():
        raise InvalidInput("say why the record is void (reason)")
    row = session.get(OrchardEvent, event_id)
    if row is None or row.field_id != field_id:
        raise NotFound(f"no orchard record {event_id} of field {field_id!r}")
    if row.voided_at is not None:
        raise InvalidInput(
            f"orchard record {event_id} was voided on {row.voided_at:%Y-%m-%d} by {row.voided_by}"
        )
    row.voided_at, row.voided_by, row.void_reason = dt.datetime.now(dt.UTC), by, reason.strip()[:500]
    session.commit()
    return row


def cycles(
    fields: Iterable[Field],
    rows: Sequence[OrchardEvent],
    harvests: Sequence[HarvestRecord],
    today: dt.date,
) -> dict[str, OrchardCycle | str]:
    """Each orchard's current crop (or why none can be forecast), from its records and harvests."""
    by_field: dict[str, list[CycleEvent]] = {}
    for e in rows:
        if e.voided_at is None:
            by_field.setdefault(e.field_id, []).append(
                CycleEvent(e.kind, e.day, e.fruits_per_tree, e.trees_sampled)
            )
    last_harvest: dict[str, dt.date] = {}
    for h in harvests:
        if h.voided_at is None and h.harvest_date <= today:
            last_harvest[h.field_id] = max(h.harvest_date, last_harvest.get(h.field_id, h.harvest_date))
    out: dict[str, OrchardCycle | str] = {}
    for f in fields:
        if not is_orchard(f.commodity):
            continue
        out[f.id] = orchard_cycle(
            f.commodity,
            f.variety,
            tree_count=f.tree_count,
            area_ha=f.area_ha,
            year_planted=f.planting_date.year,
            events=by_field.get(f.id, []),
            last_harvest=last_harvest.get(f.id),
            today=today,
        )
    return out
