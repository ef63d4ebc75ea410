"""Coosae's buying prices: what it pays a cooperative per kilogram of a commodity and grade, from a
day on (issue 36). Prices are data with a source and a date, entered by a planner (the API) or
imported from a price list (``panen prices import``), never constants in code.

A price holds from its ``valid_from`` day until the next price of the same commodity and grade; a day
before the first price of a commodity has no price (the plan then says so rather than guess).

A price list is a CSV file with a header ``commodity,grade,idr_per_kg,valid_from,source`` (``,`` or
``;`` between cells, as spreadsheets in Indonesia write them); commodities by either name (``potato``,
``kentang``). It is checked whole before anything is written: one bad line refuses the file, naming the
line and why, and nothing of it is imported. A price of a commodity, grade and day already in the
registry is replaced by the file's (a corrected list), and the answer counts what was added, replaced
and unchanged.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forecast.crops import load_crops
from services import Conflict, InvalidInput, NotFound
from services.access import commodity_named
from storage.db import BuyingPrice

__all__ = [
    "COLUMNS",
    "MAX_IDR_PER_KG",
    "MIN_IDR_PER_KG",
    "CashWeek",
    "PriceBook",
    "PriceSpec",
    "PricesImported",
    "create_price",
    "delete_price",
    "import_prices",
    "parse_csv",
    "price_book",
    "prices",
    "weekly_cash",
]

COLUMNS = ("commodity", "grade", "idr_per_kg", "valid_from", "source")
# A farm-gate price of Batu's produce lies well inside these [est]: shallot and chili, the dearest, have
# reached Rp 100,000-150,000/kg in shortages; under Rp 100/kg is a price written in thousands (9.5 for
# Rp 9,500) or with a thousands separator read as a decimal point (9.500).
MIN_IDR_PER_KG = 100.0
MAX_IDR_PER_KG = 1_000_000.0
_FIRST_DAY = dt.date(2000, 1, 1)
_LAST_DAY = dt.date(2100, 1, 1)
MAX_FILE_LINES = 100_000


@dataclass(frozen=True)
class PriceSpec:
    """A buying price, as entered."""

    commodity: str
    grade: str
    idr_per_kg: float
    valid_from: dt.date
    source: str


@dataclass(frozen=True)
class PricesImported:
    """What a price list changed."""

    added: int
    replaced: int
    unchanged: int


def check_price(spec: PriceSpec) -> PriceSpec:
    """The price with its commodity named as the crop library names it.

    Raises:
        InvalidInput: an unknown commodity, an empty grade or source, a price outside
            :data:`MIN_IDR_PER_KG`..:data:`MAX_IDR_PER_KG`, or a day outside 2000..2100.
    """
    commodity = commodity_named(spec.commodity)
    if commodity not in load_crops():
        raise InvalidInput(f"unknown commodity {spec.commodity!r}: one of {', '.join(sorted(load_crops()))}")
    grade = spec.grade.strip()
    if not grade or len(grade) > 20:
        raise InvalidInput("grade must be 1 to 20 characters (A, B, ...)")
    source = spec.source.strip()
    if not source or len(source) > 300:
        raise InvalidInput("source must say where the price comes from (1 to 300 characters)")
    price = spec.idr_per_kg
    if not math.isfinite(price) or not MIN_IDR_PER_KG <= price <= MAX_IDR_PER_KG:
        raise InvalidInput(
            f"idr_per_kg {price:g} is outside Rp {MIN_IDR_PER_KG:,.0f} to {MAX_IDR_PER_KG:,.0f} per kg; "
            "write whole rupiah without a thousands separator (9500, not 9.500 or 9,5)"
        )
    if not _FIRST_DAY <= spec.valid_from <= _LAST_DAY:
        raise InvalidInput(f"valid_from {spec.valid_from} is outside {_FIRST_DAY} to {_LAST_DAY}")
    return PriceSpec(commodity, grade, float(price), spec.valid_from, source)


def parse_csv(text: str, *, default_source: str | None = None) -> list[PriceSpec]:
    """Every line of a price list, checked (see the module docstring); a line with no source takes
    ``default_source``.

    Raises:
        InvalidInput: ``line N: why`` for the first bad line (line 1 is the header).
    """
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or not lines[0].strip():
        raise InvalidInput(f"line 1: the file is empty; its first line names the columns {','.join(COLUMNS)}")
    if len(lines) > MAX_FILE_LINES:
        raise InvalidInput(f"the file has {len(lines):,} lines; at most {MAX_FILE_LINES:,} at once")
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InvalidInput(f"line 1: the header lacks {', '.join(missing)} (it needs {','.join(COLUMNS)})")
    index = {c: header.index(c) for c in COLUMNS}
    out: list[PriceSpec] = []
    seen: dict[tuple[str, str, dt.date], int] = {}
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue  # a blank line
        try:
            spec = check_price(_spec(cells, index, len(header), default_source or ""))
        except InvalidInput as exc:
            raise InvalidInput(f"line {number}: {exc}") from exc
        key = (spec.commodity, spec.grade, spec.valid_from)
        if key in seen:
            raise InvalidInput(
                f"line {number}: {spec.commodity} grade {spec.grade} from {spec.valid_from} is already on "
                f"line {seen[key]}"
            )
        seen[key] = number
        out.append(spec)
    if not out:
        raise InvalidInput("the file has a header but no prices")
    return out


def _spec(cells: list[str], index: dict[str, int], width: int, default_source: str) -> PriceSpec:
    if len(cells) != width:
        raise InvalidInput(f"{len(cells)} cells where the header has {width}")
    value = {c: cells[i].strip() for c, i in index.items()}
    try:
        price = float(value["idr_per_kg"])
    except ValueError:
        raise InvalidInput(
            f"idr_per_kg {value['idr_per_kg']!r} is not a number (whole rupiah per kg: 9500)"
        ) from None
    try:
        day = dt.date.fromisoformat(value["valid_from"])
    except ValueError:
        raise InvalidInput(f"valid_from {value['valid_from']!r} is not a date (2026-12-01)") from None
    return PriceSpec(value["commodity"], value["grade"] or "A", price, day, value["source"] or default_source)


def import_prices(session: Session, specs: Sequence[PriceSpec], *, by: str) -> PricesImported:
    """Write checked prices in one transaction: a price of the same commodity, grade and day is
    replaced; nothing is written if anything fails."""
    specs = [check_price(s) for s in specs]
    have = {(r.commodity, r.grade, r.valid_from): r for r in session.scalars(select(BuyingPrice))}
    added = replaced = unchanged = 0
    now = dt.datetime.now(dt.UTC)
    try:
        for s in specs:
            row = have.get((s.commodity, s.grade, s.valid_from))
            if row is None:
                session.add(_row(s, by, now))
                added += 1
            elif (row.idr_per_kg, row.source) == (s.idr_per_kg, s.source):
                unchanged += 1
            else:
                row.idr_per_kg, row.source, row.recorded_at, row.recorded_by = s.idr_per_kg, s.source, now, by
                replaced += 1
        session.commit()
    except IntegrityError as exc:  # another import wrote the same price meanwhile
        session.rollback()
        raise Conflict("prices changed while importing; nothing was imported, try again") from exc
    except BaseException:
        session.rollback()
        raise
    return PricesImported(added, replaced, unchanged)


def _row(s: PriceSpec, by: str, now: dt.datetime) -> BuyingPrice:
    return BuyingPrice(
        commodity=s.commodity,
        grade=s.grade,
        idr_per_kg=s.idr_per_kg,
        valid_from=s.valid_from,
        source=s.source,
        recorded_at=now,
        recorded_by=by,
    )


def create_price(session: Session, spec: PriceSpec, *, by: str) -> BuyingPrice:
    """Record one price.

    Raises:
        InvalidInput: see :func:`check_price`.
        Conflict: there is a price of that commodity, grade and day (change it by deleting it, or
            import a list, which replaces).
    """
    s = check_price(spec)
    row = _row(s, by, dt.datetime.now(dt.UTC))
    session.add(row)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(
            f"there is a price of {s.commodity} grade {s.grade} from {s.valid_from} already; delete it first "
            "or import a price list, which replaces"
        ) from exc
    return row


def prices(session: Session, commodity: str | None = None) -> list[BuyingPrice]:
    """Every price, or those of one commodity, by commodity, grade and day."""
    query = select(BuyingPrice).order_by(BuyingPrice.commodity, BuyingPrice.grade, BuyingPrice.valid_from)
    if commodity is not None:
        query = query.where(BuyingPrice.commodity == commodity)
    return list(session.scalars(query))


def delete_price(session: Session, price_id: int) -> None:
    """Delete a price entered by mistake; :class:`services.NotFound` if there is none."""
    row = session.get(BuyingPrice, price_id)
    if row is None:
        raise NotFound(f"no price {price_id}")
    session.delete(row)
    session.commit()


@dataclass(frozen=True)
class PriceBook:
    """Prices to look up by commodity, grade and day (immutable, hashable: a cache key)."""

    specs: tuple[PriceSpec, ...] = ()

    def price(self, commodity: str, day: dt.date, grade: str = "A") -> PriceSpec | None:
        """The price of ``commodity`` and ``grade`` that holds on ``day``, if any."""
        series = self._series.get((commodity, grade), ())
        at = bisect.bisect_right([s.valid_from for s in series], day)
        return series[at - 1] if at else None

    @functools.cached_property
    def _series(self) -> dict[tuple[str, str], tuple[PriceSpec, ...]]:
        grouped: dict[tuple[str, str], list[PriceSpec]] = {}
        for s in sorted(self.specs, key=lambda s: s.valid_from):
            grouped.setdefault((s.commodity, s.grade), []).append(s)
        return {k: tuple(v) for k, v in grouped.items()}


@dataclass(frozen=True)
class CashWeek:
    """What the plan's purchases of one ISO week cost at the buying prices (grade A) of its Monday."""

    iso_week: str
    week_start: dt.date
    tonnes_expected: float
    cost_expected_idr: float  # the mean over members: weeks add up to the horizon's
    cost_p10_idr: float  # of the week's total, member by member
    cost_p90_idr: float
    unpriced_tonnes_expected: float  # of commodities with no price on that day, not in the cost
    unpriced: tuple[str, ...]


def weekly_cash(
    keys: Sequence[tuple[str, str]], labels: Sequence[str], totals: NDArray[np.float64], book: PriceBook
) -> list[CashWeek]:
    """The cash each week of a plan needs: ``totals[key, week, member]`` tonnes of ``keys``'
    commodities (:func:`forecast.plan.plan_members`) at the grade A price of each week's Monday,
    summed over commodities member by member, so a week's P10/P90 are those of its total."""
    out = []
    members = totals.shape[2] if totals.ndim == 3 else 0
    for w, label in enumerate(labels):
        year, week = (int(part) for part in label.split("-W"))
        monday = dt.date.fromisocalendar(year, week, 1)
        cost = np.zeros(members)
        tonnes = unpriced_t = 0.0
        unpriced: set[str] = set()
        for k, (commodity, _coop) in enumerate(keys):
            member_t = totals[k, w]
            expected = float(member_t.mean()) if members else 0.0
            tonnes += expected
            price = book.price(commodity, monday)
            if price is None:
                if expected > 0:
                    unpriced_t += expected
                    unpriced.add(commodity)
                continue
            cost += member_t * 1000 * price.idr_per_kg
        p10, p90 = np.percentile(cost, [10, 90]) if members else (0.0, 0.0)
        out.append(
            CashWeek(
                label,
                monday,
                round(tonnes, 3),
                round(float(cost.mean()) if members else 0.0),
                round(float(p10)),
                round(float(p90)),
                round(unpriced_t, 3),
                tuple(sorted(unpriced)),
            )
        )
    return out


def price_book(session: Session) -> PriceBook:
    """Every price in the registry as a :class:`PriceBook`."""
    return PriceBook(
        tuple(PriceSpec(r.commodity, r.grade, r.idr_per_kg, r.valid_from, r.source) for r in prices(session))
    )
