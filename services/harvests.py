"""Harvest records: what Coosae bought from each field, checked against the crop, corrected and voided
with an audit trail, never deleted (they are purchase history, and what forecasts learn from).

A record is refused when it cannot be true of the field (issue 16: one record dated a month ahead,
of 10,000 t from one tomato field, made the crop's yield factor 61 and the plan's total eleven times
too big, and a record of 5e-324 t broke every forecast after it):

- its date is before planting, more than :data:`MAX_SEASON_DAYS` after it (not for an orchard, whose
  planting date is its trees'), or in the future (WIB);
- its tonnes per hectare are outside the crop's plausible range (:func:`plausible_t_ha`).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forecast.crops import load_crops
from forecast.orchard import is_orchard
from services import InvalidInput, NotFound, OutOfScope, id_date, submissions
from services.access import Principal, Role
from services.notify.messages import COMMODITY_ID
from services.numbers import format_id, format_sig
from services.orchards import plausibility
from storage import local_day
from storage.db import Field, HarvestRecord

__all__ = [
    "AMEND_DAYS",
    "MAX_SEASON_DAYS",
    "NotFound",
    "Recorded",
    "amendable",
    "check_season",
    "correct",
    "may_amend",
    "may_record",
    "plausible_t_ha",
    "record",
    "void",
]

# The longest a season runs from planting to a harvest [est]: rice and chili are done in ~5 months,
# strawberries are picked for months; a year is beyond any annual crop of the library.
MAX_SEASON_DAYS = 365
# Plausible tonnes per hectare, as shares of the crop's potential yield (crops.toml) [est]: a field
# nearly lost still sells a little (2 %); three times Batu's best reported yields is beyond any field.
MIN_SHARE_OF_POTENTIAL = 0.02
MAX_SHARE_OF_POTENTIAL = 3.0
# How long after recording a farmer or a cooperative's manager may still void or correct a record
# [issue 39]: a week covers a slip noticed at the next visit to the collection point; after it, the
# record is purchase history and Coosae's (or the admin's) to amend.
AMEND_DAYS = 7


def plausible_t_ha(commodity: str) -> tuple[float, float]:
    """The range of tonnes per hectare a record of ``commodity`` may claim: shares of the crop's
    potential, and for an orchard species at most the crop its plausibility allows
    (services/plausibility.toml, the bound its fruit counts are held to as well)."""
    crop = load_crops().get(commodity)
    potential = crop.potential_yield_t_ha if crop is not None else 50.0
    high = MAX_SHARE_OF_POTENTIAL * potential
    orchard = plausibility().get(commodity)
    if orchard is not None:
        high = float(orchard["t_per_ha_max"])
    return MIN_SHARE_OF_POTENTIAL * potential, high


def check(field: Field, harvest_date: dt.date, tonnes: float, *, today: dt.date | None = None) -> None:
    """Refuse a record that cannot be true of ``field`` (see the module docstring).

    Raises:
        InvalidInput: saying which bound it passes and what the field's bounds are.
    """
    today = today or local_day(time.time_ns() // 1_000_000)
    planted = field.planting_date
    if harvest_date > today:
        raise InvalidInput(
            f"harvest_date {harvest_date} is in the future (today is {today} in WIB)",
            farmer=f"tanggal panen {id_date(harvest_date)} belum tiba (hari ini {id_date(today)}).",
        )
    if harvest_date < planted:
        raise InvalidInput(
            f"harvest_date {harvest_date} is before the planting date {planted}",
            farmer=f"tanggal panen {id_date(harvest_date)} sebelum tanggal tanam {id_date(planted)}.",
        )
    if (harvest_date - planted).days > MAX_SEASON_DAYS and not is_orchard(field.commodity):
        raise InvalidInput(
            f"harvest_date {harvest_date} is more than {MAX_SEASON_DAYS} days after the planting date "
            f"{planted}: record the field's new season (its planting date) first",
            farmer=f"tanggal panen {id_date(harvest_date)} lebih dari {MAX_SEASON_DAYS} hari setelah "
            f"tanggal tanam {id_date(planted)}: catat dulu tanggal tanam musim ini.",
        )
    low, high = plausible_t_ha(field.commodity)
    per_ha = tonnes / field.area_ha if field.area_ha > 0 else float("inf")
    if not low * field.area_ha <= tonnes <= high * field.area_ha:
        lo_t, hi_t = low * field.area_ha, high * field.area_ha
        crop = COMMODITY_ID.get(field.commodity, field.commodity)
        raise InvalidInput(
            f"tonnes {tonnes:g} is {per_ha:.3g} t/ha on {field.area_ha:g} ha of {field.commodity}; a "
            f"record may claim {low:.2g}-{high:.3g} t/ha ({lo_t:.3g}-{hi_t:.3g} t)",
            farmer=f"{_kg(tonnes)} kg dari {format_id(field.area_ha, 2)} ha adalah {format_sig(per_ha)} ton "
            f"per ha; panen {crop} yang wajar {_kg(lo_t)}-{_kg(hi_t)} kg di lahan ini. Periksa beratnya "
            "(dalam kg).",
        )


def check_season(
    session: Session, field: Field, harvest_date: dt.date, tonnes: float, *, replacing: int | None = None
) -> None:
    """Refuse a record that would take the field's season past what a season can yield: its records
    since planting (not voided; ``replacing``, a record being corrected, left out) and this one add up
    to at most the crop's plausible tonnes per hectare (issue 37: one farmer recorded the same
    maximum-plausible harvest ten times, and every one was taken). Orchards, whose seasons follow
    their cycles, are checked record by record (:func:`check`).

    Raises:
        InvalidInput: saying what the season has already and what it may claim.
    """
    if is_orchard(field.commodity) or harvest_date <= field.planting_date:
        return
    query = select(func.coalesce(func.sum(HarvestRecord.tonnes), 0.0)).where(
        HarvestRecord.field_id == field.id,
        HarvestRecord.voided_at.is_(None),
        HarvestRecord.harvest_date > field.planting_date,
    )
    if replacing is not None:
        query = query.where(HarvestRecord.id != replacing)
    before = float(session.scalar(query) or 0.0)
    _, high = plausible_t_ha(field.commodity)
    limit = high * field.area_ha
    if before + tonnes > limit * (1 + 1e-9):
        crop = COMMODITY_ID.get(field.commodity, field.commodity)
        raise InvalidInput(
            f"tonnes {tonnes:g}: this season's records of field {field.id!r} already come to {before:g} t; "
            f"with this one {before + tonnes:g} t, more than a season of {field.commodity} can yield on "
            f"{field.area_ha:g} ha ({limit:.3g} t, {high:.3g} t/ha). Was it recorded already?",
            farmer=f"musim ini sudah tercatat {_kg(before)} kg; ditambah {_kg(tonnes)} kg menjadi "
            f"{_kg(before + tonnes)} kg, lebih dari panen {crop} yang mungkin di lahan ini "
            f"({_kg(limit)} kg). Apakah panen ini sudah dicatat?",
        )


def _kg(tonnes: float) -> str:
    """Tonnes as kilograms as Indonesians write them (``1.250``; ``1,5`` below ten)."""
    kg = tonnes * 1000
    return format_id(kg, 0 if kg >= 10 else 1)


def may_record(principal: Principal, field: Field) -> bool:
    """Who may record a harvest of ``field``: Coosae and the admin anywhere (purchases), a cooperative's
    manager on its fields, a farmer on their own (from the field page)."""
    if principal.role in (Role.OFFTAKER, Role.ADMIN):
        return True
    if principal.role is Role.COOP_MANAGER:
        return field.coop_id == principal.coop_id
    return field.farmer_id is not None and field.farmer_id == principal.farmer_id


def may_amend(principal: Principal, field: Field, row: HarvestRecord, now: dt.datetime) -> bool:
    """Who may void or correct ``row`` (a record of ``field``) at ``now``: Coosae and the admin at any
    time; whoever may record a harvest of the field (:func:`may_record`) within :data:`AMEND_DAYS` of
    the record being made."""
    if principal.role in (Role.OFFTAKER, Role.ADMIN):
        return True
    return may_record(principal, field) and now - row.recorded_at <= dt.timedelta(days=AMEND_DAYS)


def amendable(principal: Principal, session: Session, record_id: int, now: dt.datetime) -> HarvestRecord:
    """The record ``principal`` asks to void or correct, if they may.

    Raises:
        NotFound: no such record.
        OutOfScope: not theirs to amend (another's field, or older than :data:`AMEND_DAYS`).
    """
    row = _stored(session, record_id)
    field = session.get(Field, row.field_id)
    if field is None or not may_amend(principal, field, row, now):
        raise OutOfScope(
            f"harvest record {record_id} is not yours to amend, or was made more than {AMEND_DAYS} "
            "days ago: ask Coosae to correct it"
        )
    return row


@dataclass(frozen=True)
class Recorded:
    """A record stored, or the one an earlier request with the same key stored (``again``)."""

    row: HarvestRecord
    again: bool


def record(
    session: Session,
    *,
    field_id: str,
    harvest_date: dt.date,
    tonnes: float,
    grade: str,
    by: str,
    key: submissions.Key | None = None,
) -> Recorded:
    """Check and store a new record; with ``key``, the same key again answers with the record it made
    and stores nothing (:mod:`services.submissions`).

    Raises:
        InvalidInput: no such field, the record cannot be true of it, or the key was used for another
            request.
    """
    if key is not None and (earlier := submissions.previous(session, key)) is not None:
        return Recorded(_stored(session, earlier), again=True)
    field = session.get(Field, field_id)
    if field is None:
        raise InvalidInput(f"field_id: no field {field_id!r}")
    check(field, harvest_date, tonnes)
    check_season(session, field, harvest_date, tonnes)
    row = HarvestRecord(
        field_id=field_id,
        harvest_date=harvest_date,
        tonnes=tonnes,
        grade=grade,
        recorded_at=dt.datetime.now(dt.UTC),
        recorded_by=by,
    )
    session.add(row)
    try:
        if key is not None:
            session.flush()
            session.add(key.row(row.id))
        session.commit()
    except IntegrityError:
        # The same key, a moment ago, in another request: its record stands, this one is not kept.
        session.rollback()
        if key is None or (earlier := submissions.previous(session, key)) is None:
            raise
        return Recorded(_stored(session, earlier), again=True)
    return Recorded(row, again=False)


def _stored(session: Session, record_id: int) -> HarvestRecord:
    row = session.get(HarvestRecord, record_id)
    if row is None:
        raise NotFound(f"no harvest record {record_id}")
    return row


def _active(session: Session, record_id: int) -> HarvestRecord:
    row = session.get(HarvestRecord, record_id)
    if row is None:
        raise NotFound(f"no harvest record {record_id}")
    if row.voided_at is not None:
        raise InvalidInput(
            f"harvest record {record_id} was voided on {row.voided_at:%Y-%m-%d} by {row.voided_by}"
        )
    return row


_NO_REASON = "Tulis alasannya (mis. tercatat dua kali)."


def void(session: Session, record_id: int, *, reason: str, by: Principal) -> HarvestRecord:
    """Mark a record void (kept, with who, when and why) if ``by`` may (:func:`may_amend`); forecasts
    stop learning from it.

    Raises:
        NotFound: no such record.
        OutOfScope: not theirs to amend (:func:`amendable`).
        InvalidInput: it is void already, or no reason was given.
    """
    if not reason.strip():
        raise InvalidInput("say why the record is void (reason)", farmer=_NO_REASON)
    now = dt.datetime.now(dt.UTC)
    amendable(by, session, record_id, now)
    row = _active(session, record_id)
    row.voided_at, row.voided_by, row.void_reason = now, by.name, reason.strip()[:500]
    session.commit()
    return row


def correct(
    session: Session,
    record_id: int,
    *,
    reason: str,
    by: Principal,
    harvest_date: dt.date | None = None,
    tonnes: float | None = None,
    grade: str | None = None,
) -> HarvestRecord:
    """Replace a record by a corrected one, if ``by`` may (:func:`may_amend`): the new record names
    the old (``supersedes_id``), the old is voided with the reason. Both stay.

    Raises:
        NotFound: no such record.
        OutOfScope: not theirs to amend (:func:`amendable`).
        InvalidInput: it is void already, no reason, or the corrected record cannot be true.
    """
    if not reason.strip():
        raise InvalidInput("say why the record is corrected (reason)", farmer=_NO_REASON)
    amendable(by, session, record_id, dt.datetime.now(dt.UTC))
    old = _active(session, record_id)
    field = session.get(Field, old.field_id)
    assert field is not None  # a record's field cannot be deleted while it has records
    new_date, new_tonnes = harvest_date or old.harvest_date, tonnes if tonnes is not None else old.tonnes
    check(field, new_date, new_tonnes)
    check_season(session, field, new_date, new_tonnes, replacing=old.id)
    now = dt.datetime.now(dt.UTC)
    new = HarvestRecord(
        field_id=old.field_id,
        harvest_date=new_date,
        tonnes=new_tonnes,
        grade=grade or old.grade,
        recorded_at=now,
        recorded_by=by.name,
        supersedes_id=old.id,
    )
    old.voided_at, old.voided_by = now, by.name
    old.void_reason = f"corrected: {reason.strip()}"[:500]
    session.add(new)
    session.commit()
    return new
