"""The fleet: Kota Batu's 24 cooperatives, their fields, weather stations and nodes.

The fleet file (YAML) is what the platform is allowed to know: cooperatives, fields (commodity,
variety, planting date, area, soil texture, elevation, location) and nodes (format, DevEUI, device
profile, MQTT user). It doubles as ingest's node registry. What only the simulator knows (each
field's hidden variety, management and pest factors) is drawn from the seed in
:mod:`firmware_sim.environment` and never written here.

Dates in a fleet file are relative to its ``anchor`` day: :func:`load_fleet` shifts every planting
date by ``anchor - file anchor`` so the same file serves a demo on any day.

Node passwords are not stored: :func:`node_password` derives each from a fleet secret
(``PANEN_FLEET_SECRET``) with HMAC-SHA256, so the broker's password file (``panen broker-config``)
and the simulator agree without a secret in git.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

__all__ = [
    "DEFAULT_FLEET_PATH",
    "Cooperative",
    "Field",
    "Fleet",
    "NodeSpec",
    "Station",
    "default_fleet",
    "fleet_from_document",
    "load_fleet",
    "node_password",
    "save_fleet",
]

DEFAULT_FLEET_PATH = Path(__file__).with_name("fleets") / "batu.yaml"
DEMO_FLEET_SECRET = "panen-demo-fleet"


@dataclass(frozen=True)
class NodeSpec:
    """A sensor node: its id (also MQTT user), payload format and LoRaWAN identity."""

    id: str
    format: str = "native"
    dev_eui: str = ""
    profile: str = ""
    interval_min: int = 10


@dataclass(frozen=True)
class Field:
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


@dataclass(frozen=True)
class Station:
    """A cooperative's weather station."""

    id: str
    elevation_m: float
    lat: float
    lon: float
    node: NodeSpec


@dataclass(frozen=True)
class Cooperative:
    """A Koperasi Merah Putih of one desa or kelurahan."""

    id: str
    name: str
    kecamatan: str
    kind: str  # desa or kelurahan
    elevation_m: tuple[float, float]
    fields: tuple[Field, ...]
    station: Station


@dataclass(frozen=True)
class Fleet:
    """All cooperatives; ``anchor`` is the day the planting dates were laid out around."""

    anchor: dt.date
    cooperatives: tuple[Cooperative, ...]

    @property
    def fields(self) -> list[Field]:
        """Every field, cooperative by cooperative."""
        return [f for c in self.cooperatives for f in c.fields]

    @property
    def stations(self) -> list[Station]:
        """Every weather station."""
        return [c.station for c in self.cooperatives]

    def coop_of(self, site_id: str) -> Cooperative:
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
        """A smaller fleet for tests and quick demos: the first N cooperatives and fields (0: all)."""
        coops = tuple(
            replace(c, fields=c.fields[: fields_per_coop or None])
            for c in self.cooperatives[: cooperatives or None]
        )
        return Fleet(self.anchor, coops)


def node_password(node_id: str, secret: str = DEMO_FLEET_SECRET) -> str:
    """The MQTT password of a node: HMAC-SHA256(secret, node id), hex, first 32 characters."""
    return hmac.new(secret.encode(), node_id.encode(), hashlib.sha256).hexdigest()[:32]


# ---- the default Kota Batu fleet -----------------------------------------------------------------

# (id, name, kecamatan, kind, elevation range m, commodity weights). Altitudes and crops from
# shared/BATU.md §3; where a village's altitude was not found, the kecamatan's range is used [est].
_COOPS: tuple[tuple[str, str, str, str, tuple[float, float], dict[str, float]], ...] = (
    (
        "oro-oro-ombo",
        "Oro-Oro Ombo",
        "Batu",
        "desa",
        (900, 1300),
        {"cabbage": 3, "carrot": 2, "chili": 2, "tomato": 1},
    ),
    ("pesanggrahan", "Pesanggrahan", "Batu", "desa", (850, 1050), {"chili": 3, "tomato": 3, "cabbage": 2}),
    ("sidomulyo", "Sidomulyo", "Batu", "desa", (1000, 1150), {"tomato": 3, "chili": 3, "strawberry": 1}),
    (
        "sumberejo",
        "Sumberejo",
        "Batu",
        "desa",
        (850, 1000),
        {"chili": 2, "tomato": 2, "strawberry": 1, "cabbage": 1},
    ),
    ("ngaglik", "Ngaglik", "Batu", "kelurahan", (850, 950), {"chili": 3, "sweet_corn": 2, "tomato": 2}),
    ("sisir", "Sisir", "Batu", "kelurahan", (850, 950), {"chili": 2, "sweet_corn": 3, "shallot": 1}),
    (
        "songgokerto",
        "Songgokerto",
        "Batu",
        "kelurahan",
        (900, 1100),
        {"cabbage": 4, "carrot": 1, "tomato": 1},
    ),
    ("temas", "Temas", "Batu", "kelurahan", (800, 900), {"rice": 4, "sweet_corn": 2, "chili": 1}),
    ("bulukerto", "Bulukerto", "Bumiaji", "desa", (1100, 1400), {"potato": 3, "cabbage": 3, "carrot": 1}),
    (
        "bumiaji",
        "Bumiaji",
        "Bumiaji",
        "desa",
        (900, 1400),
        {"cabbage": 3, "carrot": 2, "potato": 2, "tomato": 1},
    ),
    ("giripurno", "Giripurno", "Bumiaji", "desa", (1000, 1300), {"rice": 2, "sweet_corn": 3, "cabbage": 2}),
    ("gunungsari", "Gunungsari", "Bumiaji", "desa", (1000, 1200), {"cabbage": 2, "chili": 2, "tomato": 2}),
    (
        "pandanrejo",
        "Pandanrejo",
        "Bumiaji",
        "desa",
        (900, 1100),
        {"strawberry": 4, "sweet_corn": 2, "chili": 1},
    ),
    ("punten", "Punten", "Bumiaji", "desa", (1000, 1200), {"tomato": 3, "cabbage": 2, "chili": 1}),
    (
        "sumberbrantas",
        "Sumberbrantas",
        "Bumiaji",
        "desa",
        (1400, 1700),
        {"potato": 5, "carrot": 3, "cabbage": 2},
    ),
    ("sumbergondo", "Sumbergondo", "Bumiaji", "desa", (1150, 1550), {"potato": 3, "cabbage": 2, "carrot": 1}),
    ("tulungrejo", "Tulungrejo", "Bumiaji", "desa", (1250, 1450), {"potato": 4, "tomato": 2, "cabbage": 2}),
    ("beji", "Beji", "Junrejo", "desa", (700, 850), {"rice": 4, "sweet_corn": 2}),
    ("junrejo", "Junrejo", "Junrejo", "desa", (700, 850), {"rice": 4, "sweet_corn": 2, "chili": 1}),
    (
        "mojorejo",
        "Mojorejo",
        "Junrejo",
        "desa",
        (750, 850),
        {"rice": 3, "sweet_corn": 2, "chili": 1, "shallot": 1},
    ),
    ("pendem", "Pendem", "Junrejo", "desa", (700, 800), {"rice": 5, "sweet_corn": 2}),
    (
        "tlekung",
        "Tlekung",
        "Junrejo",
        "desa",
        (850, 1000),
        {"shallot": 2, "chili": 2, "tomato": 1, "cabbage": 1},
    ),
    ("torongrejo", "Torongrejo", "Junrejo", "desa", (750, 900), {"rice": 3, "chili": 2, "shallot": 2}),
    ("dadaprejo", "Dadaprejo", "Junrejo", "kelurahan", (700, 800), {"rice": 4, "sweet_corn": 2}),
)
# Visible variety per commodity (what a cooperative would register); the simulator hides how each
# field's variety really behaves.
_VARIETIES = {
    "potato": ["Granola", "Atlantic"],
    "cabbage": ["Grand 11", "KK Cross"],
    "carrot": ["Lokal Batu", "Kuroda"],
    "tomato": ["Servo F1", "Marta"],
    "chili": ["Lado F1", "Kencana"],
    "shallot": ["Bima Brebes", "Tajuk"],
    "sweet_corn": ["Bonanza F1", "Talenta"],
    "rice": ["Inpari 32", "Ciherang"],
    "strawberry": ["Mencir", "California"],
}
# Typical season length in days, only to lay planting dates out so harvests fall in the coming weeks.
_SEASON_DAYS = {
    "potato": 105,
    "cabbage": 90,
    "carrot": 110,
    "tomato": 100,
    "chili": 130,
    "shallot": 70,
    "sweet_corn": 85,
    "rice": 115,
    "strawberry": 120,
}
_FORMATS = ("native",) * 6 + ("senml", "senml", "tts-v3", "chirpstack-v4")


def default_fleet(anchor: dt.date, *, seed: int = 2026, fields_per_coop: int = 10) -> Fleet:
    """Generate the Kota Batu fleet around ``anchor`` (the file in ``fleets/`` is this, committed)."""
    rng = np.random.default_rng(seed)
    coops = []
    for c_index, (cid, name, kec, kind, (z_lo, z_hi), crops) in enumerate(_COOPS):
        # Cooperatives sit roughly along the Brantas valley; offsets are illustrative [est].
        lat0 = float(-7.87 + 0.06 * np.sin(c_index) + rng.normal(0, 0.005))
        lon0 = float(112.52 + 0.06 * np.cos(c_index) + rng.normal(0, 0.005))
        names = list(crops)
        weights = np.array([crops[k] for k in names], dtype=float)
        fields = []
        for f_index in range(fields_per_coop):
            commodity = str(rng.choice(names, p=weights / weights.sum()))
            elevation = float(round(rng.uniform(z_lo, z_hi)))
            # Andosols cover the slopes above ~1,000 m; alluvial and latosol soils below (BATU.md §2).
            texture = "andosol" if elevation >= 1000 else str(rng.choice(["loam", "clay_loam", "silt_loam"]))
            season = _SEASON_DAYS[commodity]
            planted = anchor - dt.timedelta(days=int(season * rng.uniform(0.25, 0.95)))
            fmt = _FORMATS[f_index % len(_FORMATS)]
            node = NodeSpec(
                id=f"{cid}-n{f_index + 1:02d}",
                format=fmt,
                dev_eui=f"{rng.integers(0, 2**64, dtype=np.uint64):016x}"
                if fmt in ("tts-v3", "chirpstack-v4")
                else "",
                profile={"tts-v3": "dragino-lse01", "chirpstack-v4": "milesight-em500-smtc"}.get(fmt, ""),
            )
            fields.append(
                Field(
                    id=f"{cid}-f{f_index + 1:02d}",
                    commodity=commodity,
                    variety=str(rng.choice(_VARIETIES[commodity])),
                    planting_date=planted,
                    area_ha=round(float(np.clip(rng.lognormal(np.log(0.6), 0.5), 0.1, 3.0)), 2),
                    soil_texture=texture,
                    elevation_m=elevation,
                    lat=round(lat0 + float(rng.normal(0, 0.004)), 5),
                    lon=round(lon0 + float(rng.normal(0, 0.004)), 5),
                    node=node,
                )
            )
        station = Station(
            id=f"{cid}-ws",
            elevation_m=float(round((z_lo + z_hi) / 2)),
            lat=round(lat0, 5),
            lon=round(lon0, 5),
            node=NodeSpec(id=f"{cid}-ws1", format="native"),
        )
        coops.append(
            Cooperative(cid, f"Koperasi Merah Putih {name}", kec, kind, (z_lo, z_hi), tuple(fields), station)
        )
    return Fleet(anchor, tuple(coops))


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
                        **{k: v for k, v in asdict(f).items() if k != "node"},
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
        "# Generated by `panen sim-fleet`; planting dates are relative to `anchor` (firmware_sim/fleet.py).\n"
        + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    )


def load_fleet(path: Path = DEFAULT_FLEET_PATH, *, anchor: dt.date | None = None) -> Fleet:
    """Read a fleet file; with ``anchor``, planting dates are shifted to lie around that day."""
    return fleet_from_document(yaml.safe_load(path.read_text()), anchor=anchor)


def fleet_from_document(doc: Any, *, anchor: dt.date | None = None) -> Fleet:
    """A fleet from a parsed fleet document (the YAML of :func:`save_fleet`, or the same as JSON).

    Raises:
        ValueError: the document is malformed; the message names the entry.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("cooperatives"), list):
        raise ValueError("a fleet document is a mapping with a 'cooperatives' list")

    def node(d: Any, where: str) -> NodeSpec:
        if not isinstance(d, dict):
            raise ValueError(f"{where}: 'node' must be a mapping")
        spec = NodeSpec(**d)
        if not isinstance(spec.id, str) or not isinstance(spec.interval_min, int):
            raise ValueError(f"{where}: node id must be text and interval_min an integer")
        return spec

    coops = []
    for i, c in enumerate(doc["cooperatives"]):
        where = f"cooperatives[{i}]"
        try:
            s = c["station"]
            station = Station(
                str(s["id"]),
                float(s["elevation_m"]),
                float(s["lat"]),
                float(s["lon"]),
                node(s["node"], f"{where}.station"),
            )
            fields = tuple(
                Field(
                    id=str(f["id"]),
                    commodity=str(f["commodity"]),
                    variety=str(f.get("variety", "")),
                    planting_date=dt.date.fromisoformat(str(f["planting_date"])),
                    area_ha=float(f["area_ha"]),
                    soil_texture=str(f["soil_texture"]),
                    elevation_m=float(f["elevation_m"]),
                    lat=float(f["lat"]),
                    lon=float(f["lon"]),
                    node=node(f["node"], f"{where}.fields[{j}]"),
                )
                for j, f in enumerate(c["fields"])
            )
            lo, hi = c.get("elevation_m") or (station.elevation_m, station.elevation_m)
            coops.append(
                Cooperative(
                    str(c["id"]),
                    str(c["name"]),
                    str(c.get("kecamatan", "")),
                    str(c.get("kind", "desa")),
                    (float(lo), float(hi)),
                    fields,
                    station,
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            missing = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"{where}: {missing}") from exc
    try:
        fleet_anchor = dt.date.fromisoformat(str(doc.get("anchor") or dt.date.today()))
    except ValueError as exc:
        raise ValueError(f"anchor: {exc}") from exc
    fleet = Fleet(fleet_anchor, tuple(coops))
    return fleet.shifted(anchor) if anchor is not None else fleet
