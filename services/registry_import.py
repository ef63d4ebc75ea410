"""A fleet document into the registry: one parser and one set of checks for every door (the API's
``POST /v1/registry/import``, ``panen registry import`` and the demo).

A document is checked whole before anything is written: its shape (:mod:`storage.fleetfile`), the
ids and formats ingest needs (:func:`ingest.nodes.nodes_from_document`), and that every field can
be forecast (a commodity of the crop library, a soil of the soil table, a positive area).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import math
import multiprocessing
import re
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, cast

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from forecast.crops import load_crops
from forecast.soils import soil_table
from ingest.nodes import RegistryError, nodes_from_document
from sensors.reading import REGISTRY_ID_PATTERN
from services import Conflict, InvalidInput
from services.orchards import check_trees
from services.yamlsafe import UnsafeDocument, safe_load
from storage.db import Cooperative, Farmer, Field, Node, Station, site, site_kind
from storage.db.engine import open_registry
from storage.fleetfile import Fleet, FleetField, FleetFileError, FleetStation, NodeSpec, fleet_from_document

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "FleetImporter",
    "ImportConflict",
    "check_document",
    "check_fleet",
    "check_site_ids",
    "import_body",
    "import_document",
    "import_file",
    "import_fleet",
    "parse_document",
]

_log = logging.getLogger("panen.registry")
_ID = re.compile(REGISTRY_ID_PATTERN)
MAX_DOCUMENT_BYTES = 20 * 1024**2
# The largest field one record may be [est]: fields in Batu are 0.1-3 ha; an estate block is < 1,000.
MAX_FIELD_HA = 1_000.0  # the Kota Batu fleet is ~100 KiB; a national one fits


def parse_document(body: bytes | str, *, anchor: dt.date | None = None) -> Fleet:
    """A fleet from the text of a fleet document (YAML, or JSON, which YAML reads too), its shape,
    ids and formats checked (:func:`import_document` checks the rest).

    Raises:
        InvalidInput: too large, not YAML/JSON, or not a fleet document; the message names the entry.
    """
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(f"a fleet document is at most {MAX_DOCUMENT_BYTES // 1024**2} MiB")
    try:
        doc = safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the document is not UTF-8 text: {exc}") from exc
    except UnsafeDocument as exc:
        raise InvalidInput(str(exc)) from exc
    return check_document(doc, anchor=anchor)


def check_document(doc: Any, *, anchor: dt.date | None = None) -> Fleet:
    """A checked fleet from a parsed fleet document (see :func:`parse_document`)."""
    try:
        fleet = fleet_from_document(doc, anchor=anchor)
        nodes_from_document(doc, "document")  # the checks ingest applies: formats and ids
    except (FleetFileError, RegistryError) as exc:
        raise InvalidInput(f"not a fleet document: {exc}") from exc
    return fleet


def check_fleet(fleet: Fleet) -> None:
    """Ids follow the API's rule, and every field can be forecast: a known commodity and soil, a
    positive area.

    Raises:
        InvalidInput: naming the first field that cannot.
    """
    crops = load_crops()
    ids = [("cooperative", c.id) for c in fleet.cooperatives]
    ids += [("weather station", c.station.id) for c in fleet.cooperatives]
    ids += [("node", c.station.node.id) for c in fleet.cooperatives]
    ids += [(kind, ident) for f in fleet.fields for kind, ident in (("field", f.id), ("node", f.node.id))]
    for kind, ident in ids:
        if not _ID.match(ident):
            raise InvalidInput(
                f"{kind} id {ident[:60]!r}: ids are letters, digits, '.', '_' and '-', starting with a "
                "letter or digit, at most 128 characters (the same rule as the API's)"
            )
    places: list[tuple[str, FleetStation | FleetField]] = [
        ("weather station", c.station) for c in fleet.cooperatives
    ]
    places += [("field", f) for f in fleet.fields]
    for kind, place in places:
        for name, value, low, high in (
            ("lat", place.lat, -90.0, 90.0),
            ("lon", place.lon, -180.0, 180.0),
            ("elevation_m", place.elevation_m, -500.0, 6000.0),
        ):
            if not (math.isfinite(value) and low <= value <= high):
                raise InvalidInput(
                    f"{kind} {place.id!r}: {name} {value!r} is not a number from {low:g} to {high:g}"
                )
    for f in fleet.fields:
        if not (math.isfinite(f.area_ha) and 0 < f.area_ha <= MAX_FIELD_HA):
            raise InvalidInput(
                f"field {f.id!r}: area_ha {f.area_ha!r} is not a number above 0 and at most {MAX_FIELD_HA:g}"
            )
        if f.commodity not in crops:
            raise InvalidInput(f"field {f.id!r}: unknown commodity {f.commodity!r} (known: {sorted(crops)})")
        if f.soil_texture not in soil_table():
            raise InvalidInput(
                f"field {f.id!r}: unknown soil_texture {f.soil_texture!r} (known: {sorted(soil_table())})"
            )
        try:
            check_trees(f.commodity, f.tree_count, f.area_ha)
        except InvalidInput as exc:
            raise InvalidInput(f"field {f.id!r}: {exc}") from exc


def check_site_ids(session: Session, fleet: Fleet) -> None:
    """Fields and stations share one id space, in the document and against the registry, and a
    site never moves to another cooperative.

    Raises:
        InvalidInput: naming the first id that collides.
    """
    seen: dict[str, str] = {}
    for coop in fleet.cooperatives:
        sites = [("weather station", coop.station.id), *(("field", f.id) for f in coop.fields)]
        for kind, site_id in sites:
            if site_id in seen:
                raise InvalidInput(
                    f"{kind} {site_id!r}: the id is used twice in the document ({seen[site_id]})"
                )
            seen[site_id] = f"{kind} of {coop.id}"
            existing = site(session, site_id)
            if existing is None:
                continue
            existing_kind, existing_coop = site_kind(existing), existing.coop_id
            if existing_kind != kind or existing_coop != coop.id:
                raise InvalidInput(
                    f"{kind} {site_id!r} of {coop.id}: the id is already a {existing_kind} of "
                    f"{existing_coop}; fields and stations share one id space and nothing moves "
                    "between cooperatives"
                )


def import_document(session: Session, fleet: Fleet, *, overwrite: bool = False) -> dict[str, int]:
    """Check the fleet (:func:`check_fleet`), then insert or update its rows; returns counts per kind.

    Importing the same document twice changes nothing; harvest records and tokens are never touched;
    rows people edited through the API since are kept unless ``overwrite`` (``kept_edited`` counts
    them). Every door (the API, the CLI, the demo) imports through here, with the document's own
    dates unless it asks otherwise.

    Raises:
        InvalidInput: a field cannot be forecast; nothing was written.
    """
    check_fleet(fleet)
    check_site_ids(session, fleet)
    return import_fleet(session, fleet, overwrite=overwrite)


def import_file(
    session: Session, path: Path, *, anchor: dt.date | None = None, overwrite: bool = False
) -> dict[str, int]:
    """Check and import the fleet file at ``path`` (planting dates shifted to ``anchor``).

    Raises:
        InvalidInput: the file is unreadable or fails a check.
    """
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read fleet file {path}: {exc.strerror}") from exc
    return import_document(session, parse_document(body, anchor=anchor), overwrite=overwrite)


class ImportConflict(Conflict):
    """The registry database refused the rows (an id or DevEUI already used elsewhere)."""


def import_body(registry_url: str, body: bytes, *, overwrite: bool = False) -> dict[str, int]:
    """Parse, check and import a document into the registry at ``registry_url``, all in the calling
    process: the API runs this in a worker process, so that neither the parse nor the thousands of
    row writes of a 20 MiB document hold the API's own interpreter.

    Raises:
        InvalidInput: the document fails a check.
        ImportConflict: the registry database refused its rows.
    """
    fleet = parse_document(body)
    with open_registry(registry_url)() as session:
        try:
            return import_document(session, fleet, overwrite=overwrite)
        except SQLAlchemyError as exc:
            session.rollback()
            _log.warning("fleet import refused by the registry database: %s", exc)
            raise ImportConflict(
                "the fleet conflicts with rows of the registry (an id or DevEUI already used elsewhere)"
            ) from None


class FleetImporter:
    """Imports fleet documents in one worker process of its own, started on the first import
    (spawned: a fork of a threaded server is not safe). Parsing 20 MiB of YAML and writing its rows
    held the API's GIL in stretches, and every other request (a farmer's page, /health) waited."""

    def __init__(self) -> None:
        """Nothing starts until the first import."""
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn")
                )
            return self._pool

    async def run(
        self, sessions: sessionmaker[Session], body: bytes, *, overwrite: bool = False
    ) -> dict[str, int]:
        """:func:`import_body` into ``sessions``' registry, in the worker process; raises what it raises."""
        url = sessions.kw["bind"].url.render_as_string(hide_password=False)
        work = functools.partial(import_body, url, body, overwrite=overwrite)
        return await asyncio.get_running_loop().run_in_executor(self._executor(), work)

    def close(self) -> None:
        """Stop the worker process, if one was started."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


# The rows a fleet document writes (each carries the edited-by columns a re-import respects).
_Imported = Cooperative | Field | Station | Node


def import_fleet(session: Session, fleet: Fleet, *, overwrite: bool = False) -> dict[str, int]:
    """Insert or update the cooperatives, fields, stations and nodes of a fleet.

    Importing the same file twice changes nothing; harvest records and tokens are never touched.
    One farmer per field is created (``{field}-farmer``) when none exists. A row a person created
    or changed through the API since (``edited_at``) is kept as they left it, and counted in
    ``kept_edited``, unless ``overwrite``, which also clears the mark.
    """
    counts = {"cooperatives": 0, "fields": 0, "stations": 0, "nodes": 0, "kept_edited": 0}
    session.info.setdefault("actor", "fleet import")  # who services.audit names for the fields it changes

    def upsert(row: _Imported, kind: str) -> None:
        existing = cast("_Imported | None", session.get(type(row), row.id))
        counts[kind] += 1
        if existing is None:
            session.add(row)
            return
        table = type(row).__table__
        columns = [c.key for c in table.columns if c.key not in ("edited_at", "edited_by")]
        differs = any(getattr(existing, c) != getattr(row, c) for c in columns)
        if existing.edited_at is not None and not overwrite:
            if differs:
                counts["kept_edited"] += 1
            return
        for c in columns:
            setattr(existing, c, getattr(row, c))
        if overwrite:
            existing.edited_at = existing.edited_by = None

    for c in fleet.cooperatives:
        upsert(Cooperative(id=c.id, name=c.name, kecamatan=c.kecamatan, kind=c.kind), "cooperatives")
        s = c.station
        upsert(Station(id=s.id, coop_id=c.id, lat=s.lat, lon=s.lon, elevation_m=s.elevation_m), "stations")
        upsert(_node(s.node, c.id, s.id), "nodes")
        for f in c.fields:
            farmer_id = f"{f.id}-farmer"
            if session.get(Farmer, farmer_id) is None:
                session.add(Farmer(id=farmer_id, coop_id=c.id, name=f"Petani {f.id}"))
            upsert(
                Field(
                    id=f.id,
                    coop_id=c.id,
                    farmer_id=farmer_id,
                    commodity=f.commodity,
                    variety=f.variety,
                    planting_date=f.planting_date,
                    area_ha=f.area_ha,
                    soil_texture=f.soil_texture,
                    lat=f.lat,
                    lon=f.lon,
                    elevation_m=f.elevation_m,
                    tree_count=f.tree_count,
                    name=f.name,
                ),
                "fields",
            )
            upsert(_node(f.node, c.id, f.id), "nodes")
    session.commit()
    return counts


def _node(spec: NodeSpec, coop_id: str, site_id: str) -> Node:
    return Node(
        id=spec.id,
        coop_id=coop_id,
        site_id=site_id,
        format=spec.format,
        dev_eui=spec.dev_eui or None,
        profile=spec.profile,
        interval_min=spec.interval_min,
        name=spec.name,
        firmware=spec.firmware,
    )
