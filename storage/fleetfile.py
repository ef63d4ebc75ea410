"""The fleet document: cooperatives, their fields, weather stations and nodes, as a YAML (or JSON) file.

The fleet file is what the platform is allowed to know: cooperatives, fields (commodity, variety,
planting date, area, soil texture, elevation, location) and nodes (format, DevEUI, device profile,
MQTT user). The registry imports it (:mod:`services.registry_import`), ingest reads it as a node
registry, and the simulator (:mod:`firmware_sim`) generates Kota Batu's and runs it. What only the
simulator knows (each field's hidden variety, management and pest factors) is never written here.

Dates in a fleet file are relative to its ``anchor`` day: :func:`load_fleet` shifts every planting
date by ``anchor - file anchor`` so the same file serves a demo on any day.

Node passwords are not stored: :func:`node_password` derives each from a fleet secret
(``PANEN_FLEET_SECRET``) with HMAC-SHA256, so the broker's password file (``panen broker-config``)
and the simulator agree without a secret in git.

Errors: every parser raises :class:`FleetFileError` (a ``ValueError``) naming the entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from sensors.topics import Format

__all__ = [
    "DEMO_FLEET_SECRET",
    "Fleet",
    "FleetCooperative",
    "FleetField",
    "FleetFileError",
    "FleetStation",
    "NodeSpec",
    "PlacedNode",
    "fleet_from_document",
    "load_fleet",
    "node_password",
    "node_spec",
    "placed_nodes",
    "save_fleet",
]

DEMO_FLEET_SECRET = "panen-demo-fleet"


class FleetFileError(ValueError):
    """A fleet (or node registry) document is malformed; the message names the entry."""


@dataclass(frozen=True)
class NodeSpec:
    """A sensor node: its id (also MQTT user), payload format and LoRaWAN identity."""

    id: str
    format: str = "native"
    dev_eui: str = ""
    profile: str = ""
    interval_min: int = 10
    name: str = ""  # what the farmer calls it; the id stays the key
    firmware: str = ""  # the version flashed at installation


@dataclass(frozen=True)
class FleetField:
    """A field with its crop of this season."""

    id: str
    commodity: str
    variety: str
    planting_date: dt.date
    area_ha: float
    soil_texture: str
    elevation_m: float
    lat: float
    lon: float
    node: NodeSpec
    tree_count: int | None = None  # orchards; their planting_date is when the trees were planted
    name: str = ""  # what the farmer calls it ("Tegal atas"); the id stays the key (issue 39)


@dataclass(frozen=True)
class FleetStation:
    """A cooperative's weather station."""

    id: str
    elevation_m: float
    lat: float
    lon: float
    node: NodeSpec


@dataclass(frozen=True)
class FleetCooperative:
    """A Koperasi Merah Putih of one desa or kelurahan."""

    id: str
    name: str
    kecamatan: str
    kind: str  # desa or kelurahan
    elevation_m: tuple[float, float]
    fields: tuple[FleetField, ...]
    station: FleetStation


@dataclass(frozen=True)
class Fleet:
    """All cooperatives; ``anchor`` is the day the planting dates were laid out around."""

    anchor: dt.date
    cooperatives: tuple[FleetCooperative, ...]

    @property
    def fields(self) -> list[FleetField]:
        """Every field, cooperative by cooperative."""
        return [f for c in self.cooperatives for f in c.fields]

    @property
    def stations(self) -> list[FleetStation]:
        """Every weather station."""
        return [c.station for c in self.cooperatives]

    def coop_of(self, site_id: str) -> FleetCooperative:
        """The cooperative a field or station belongs to."""
        for coop in self.cooperatives:
            if coop.station.id == site_id or any(f.id == site_id for f in coop.fields):
                return coop
        raise KeyError(site_id)

    def shifted(self, anchor: dt.date) -> Fleet:
        """The same fleet with every planting date moved by ``anchor - self.anchor``."""
        delta = anchor - self.anchor
        coops = tuple(
            replace(c, fields=tuple(replace(f, planting_date=f.planting_date + delta) for f in c.fields))
            for c in self.cooperatives
        )
        return Fleet(anchor, coops)

    def subset(self, cooperatives: int, fields_per_coop: int) -> Fleet:
        """A smaller fleet for tests: the first N cooperatives and fields (0: all)."""
        coops = tuple(
            replace(c, fields=c.fields[: fields_per_coop or None])
            for c in self.cooperatives[: cooperatives or None]
        )
        return Fleet(self.anchor, coops)

    def sample(self, cooperatives: int, fields_per_coop: int, coop_ids: Sequence[str] = ()) -> Fleet:
        """A smaller fleet that still shows Batu (the demo's and the simulator's ``--cooperatives``,
        ``--fields-per-coop``, ``--coops``; 0: all).

        The cooperatives named in ``coop_ids``, or else N picked one by one for what they add: each of
        :data:`SHOWCASE_CROPS` (Batu's potato, shallot and cabbage, and its apple and keprok orchards)
        counts ten times any other commodity, ties going to the fleet's order (so four cooperatives
        grow potato, shallot, cabbage and an orchard, not chili and tomato only). In each, N of its
        fields taken in turn by commodity (one of each before a second of any), so ten of a
        cooperative's fields keep its orchard; they stay in the fleet's order.

        Raises:
            KeyError: a name in ``coop_ids`` is no cooperative of the fleet.
        """
        if coop_ids:
            known = {c.id: c for c in self.cooperatives}
            missing = [i for i in coop_ids if i not in known]
            if missing:
                raise KeyError(f"no cooperative {', '.join(missing)}; one of {', '.join(known)}")
            chosen = [known[i] for i in dict.fromkeys(coop_ids)]
        else:
            chosen = _showcase(self.cooperatives, cooperatives or len(self.cooperatives))
        coops = tuple(replace(c, fields=_in_order(c.fields, fields_per_coop)) for c in chosen)
        return Fleet(self.anchor, coops)


# What a small fleet should still grow: Batu's staple vegetables and its orchards (docs/sources.md §3).
SHOWCASE_CROPS = ("potato", "shallot", "cabbage", "apple", "citrus")


def _showcase(coops: Sequence[FleetCooperative], n: int) -> list[FleetCooperative]:
    """``n`` cooperatives picked greedily for the commodities they add, in the fleet's order."""
    left, grown = list(coops), set[str]()
    chosen: list[FleetCooperative] = []
    while left and len(chosen) < n:
        best = max(left, key=lambda c: _adds(c, grown))  # the first of equals: the fleet's order
        chosen.append(best)
        left.remove(best)
        grown |= {f.commodity for f in best.fields}
    return [c for c in coops if c in chosen]


def _adds(coop: FleetCooperative, grown: set[str]) -> int:
    return sum(10 if crop in SHOWCASE_CROPS else 1 for crop in {f.commodity for f in coop.fields} - grown)


def _in_order(fields: Sequence[FleetField], n: int) -> tuple[FleetField, ...]:
    """``n`` of ``fields`` (0: all) taken by commodity in turn (:func:`_in_turn`), in their own order."""
    kept = {f.id for f in _in_turn(fields)[: n or None]}
    return tuple(f for f in fields if f.id in kept)


def _in_turn(fields: Sequence[FleetField]) -> tuple[FleetField, ...]:
    """Fields by commodity in turn: the first of each commodity (:data:`SHOWCASE_CROPS` first, then in
    order of appearance), then the second of each, and so on."""
    by_crop: dict[str, list[FleetField]] = {}
    for f in fields:
        by_crop.setdefault(f.commodity, []).append(f)
    order = sorted(by_crop, key=lambda crop: crop not in SHOWCASE_CROPS)  # stable: appearance otherwise
    rounds = max((len(v) for v in by_crop.values()), default=0)
    return tuple(by_crop[c][i] for i in range(rounds) for c in order if i < len(by_crop[c]))


def node_password(node_id: str, secret: str = DEMO_FLEET_SECRET) -> str:
    """The MQTT password of a node: HMAC-SHA256(secret, node id), hex, first 32 characters."""
    return hmac.new(secret.encode(), node_id.encode(), hashlib.sha256).hexdigest()[:32]


def _node_dict(node: NodeSpec) -> dict[str, Any]:
    return {k: v for k, v in asdict(node).items() if v not in ("", None)}


def save_fleet(fleet: Fleet, path: Path) -> None:
    """Write the fleet as YAML (readable by ingest's registry loader too)."""
    doc = {
        "anchor": fleet.anchor.isoformat(),
        "cooperatives": [
            {
                "id": c.id,
                "name": c.name,
                "kecamatan": c.kecamatan,
                "kind": c.kind,
                "elevation_m": list(c.elevation_m),
                "station": {
                    "id": c.station.id,
                    "elevation_m": c.station.elevation_m,
                    "lat": c.station.lat,
                    "lon": c.station.lon,
                    "node": _node_dict(c.station.node),
                },
                "fields": [
                    {
                        **{k: v for k, v in asdict(f).items() if k != "node" and v not in (None, "")},
                        "planting_date": f.planting_date.isoformat(),
                        "node": _node_dict(f.node),
                    }
                    for f in c.fields
                ],
            }
            for c in fleet.cooperatives
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Kota Batu fleet: 24 cooperatives, their fields, weather stations and nodes.\n"
        "# Generated by `panen sim-fleet`; planting dates are relative to `anchor` (storage/fleetfile.py).\n"
        + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    )


def load_fleet(path: Path, *, anchor: dt.date | None = None) -> Fleet:
    """Read a fleet file; with ``anchor``, planting dates are shifted to lie around that day.

    Raises:
        FleetFileError: the file is unreadable or not a fleet document.
    """
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise FleetFileError(f"cannot read fleet file {path}: {exc}") from exc
    return fleet_from_document(doc, anchor=anchor)


def node_spec(entry: Any, where: str) -> NodeSpec:
    """One node entry (``id``, ``format``, ``dev_eui``, ``profile``, ``interval_min``).

    Raises:
        FleetFileError: not a mapping, unknown keys, a non-text id, an unknown format.
    """
    if not isinstance(entry, Mapping):
        raise FleetFileError(f"{where}: 'node' must be a mapping")
    try:
        spec = NodeSpec(**{str(k): v for k, v in entry.items()})
    except TypeError as exc:
        raise FleetFileError(f"{where}: node {dict(entry)!r} is malformed ({exc})") from exc
    if not isinstance(spec.id, str) or not isinstance(spec.interval_min, int):
        raise FleetFileError(f"{where}: node id must be text and interval_min an integer")
    try:
        fmt = Format(spec.format)
    except ValueError as exc:
        known = ", ".join(f.value for f in Format)
        raise FleetFileError(
            f"{where}: node {spec.id!r} is malformed: unknown format {spec.format!r} (known: {known})"
        ) from exc
    return replace(
        spec,
        format=fmt.value,
        dev_eui=str(spec.dev_eui or "").lower(),
        profile=str(spec.profile),
        name=str(spec.name or ""),
        firmware=str(spec.firmware or ""),
    )


@dataclass(frozen=True)
class PlacedNode:
    """A node with the cooperative and site (field or station) it stands in."""

    coop_id: str
    site_id: str
    spec: NodeSpec


def placed_nodes(doc: Any, where: str = "registry") -> list[PlacedNode]:
    """The nodes of a node registry document: a fleet's ``cooperatives`` (each field's and station's
    ``node``), a ``nodes`` list of ``{id, coop, site, format, dev_eui, profile}``, or both.

    Only what placing a node needs is read, so a registry file may hold less than a full fleet.

    Raises:
        FleetFileError: the document or an entry is malformed.
    """
    if not isinstance(doc, Mapping):
        raise FleetFileError(f"{where}: expected a mapping with 'nodes' or 'cooperatives'")
    out = []
    for i, entry in enumerate(doc.get("nodes") or []):
        here = f"{where}: nodes[{i}]"
        if not isinstance(entry, Mapping) or "coop" not in entry or "id" not in entry:
            raise FleetFileError(f"{here}: node entry {entry!r} is malformed (needs id and coop)")
        fields = {k: v for k, v in entry.items() if k not in ("coop", "site")}
        out.append(PlacedNode(str(entry["coop"]), str(entry.get("site", "")), node_spec(fields, here)))
    for i, coop in enumerate(doc.get("cooperatives") or []):
        here = f"{where}: cooperatives[{i}]"
        if not isinstance(coop, Mapping) or "id" not in coop:
            raise FleetFileError(f"{here}: a cooperative needs an id")
        places = [*(coop.get("fields") or []), *([coop["station"]] if coop.get("station") else [])]
        for place in places:
            if not isinstance(place, Mapping) or "id" not in place:
                raise FleetFileError(f"{here}: every field and station needs an id")
            if place.get("node"):
                spec = node_spec(place["node"], f"{here}.{place['id']}")
                out.append(PlacedNode(str(coop["id"]), str(place["id"]), spec))
    return out


def fleet_from_document(doc: Any, *, anchor: dt.date | None = None) -> Fleet:
    """A fleet from a parsed fleet document (the YAML of :func:`save_fleet`, or the same as JSON).

    Raises:
        FleetFileError: the document is malformed; the message names the entry.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("cooperatives"), list):
        raise FleetFileError("a fleet document is a mapping with a 'cooperatives' list")
    coops = []
    for i, c in enumerate(doc["cooperatives"]):
        where = f"cooperatives[{i}]"
        try:
            s = c["station"]
            station = FleetStation(
                str(s["id"]),
                float(s["elevation_m"]),
                float(s["lat"]),
                float(s["lon"]),
                node_spec(s["node"], f"{where}.station"),
            )
            fields = tuple(
                FleetField(
                    id=str(f["id"]),
                    commodity=str(f["commodity"]),
                    variety=str(f.get("variety", "")),
                    planting_date=dt.date.fromisoformat(str(f["planting_date"])),
                    area_ha=float(f["area_ha"]),
                    soil_texture=str(f["soil_texture"]),
                    elevation_m=float(f["elevation_m"]),
                    lat=float(f["lat"]),
                    lon=float(f["lon"]),
                    node=node_spec(f["node"], f"{where}.fields[{j}]"),
                    tree_count=int(f["tree_count"]) if f.get("tree_count") is not None else None,
                    name=str(f.get("name") or ""),
                )
                for j, f in enumerate(c["fields"])
            )
            lo, hi = c.get("elevation_m") or (station.elevation_m, station.elevation_m)
            coops.append(
                FleetCooperative(
                    str(c["id"]),
                    str(c["name"]),
                    str(c.get("kecamatan", "")),
                    str(c.get("kind", "desa")),
                    (float(lo), float(hi)),
                    fields,
                    station,
                )
            )
        except FleetFileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            missing = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise FleetFileError(f"{where}: {missing}") from exc
    try:
        fleet_anchor = dt.date.fromisoformat(str(doc.get("anchor") or dt.date.today()))
    except ValueError as exc:
        raise FleetFileError(f"anchor: {exc}") from exc
    fleet = Fleet(fleet_anchor, tuple(coops))
    return fleet.shifted(anchor) if anchor is not None else fleet
