"""The Kota Batu fleet the simulator generates: 24 cooperatives, their fields, weather stations and nodes.

The fleet document itself (its dataclasses, parsing, saving, node passwords) is
:mod:`storage.fleetfile`; this module only lays Kota Batu's fleet out (``panen sim-fleet``), and
``fleets/batu.yaml`` is that, committed.
"""

from __future__ import annotations

import datetime as dt
import zlib
from pathlib import Path

import numpy as np

from sensors.topics import LORAWAN_FORMATS, Format
from storage.fleetfile import Fleet, FleetCooperative, FleetField, FleetStation, NodeSpec, load_fleet

__all__ = ["DEFAULT_FLEET_PATH", "batu_fleet", "default_fleet"]

DEFAULT_FLEET_PATH = Path(__file__).with_name("fleets") / "batu.yaml"


def batu_fleet(*, anchor: dt.date | None = None, path: Path | None = None) -> Fleet:
    """The fleet file at ``path``, else Kota Batu's committed one; with ``anchor``, its planting dates
    shifted to lie around that day."""
    return load_fleet(path or DEFAULT_FLEET_PATH, anchor=anchor)


# ---- the default Kota Batu fleet -----------------------------------------------------------------

# (id, name, kecamatan, kind, elevation range m, commodity weights). Altitudes and crops from
# docs/sources.md §3; where a village's altitude was not found, the kecamatan's range is used [est].
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
# Orchards where docs/sources.md places them: apple in Tulungrejo, Bumiaji, Sumbergondo and Bulukerto, keprok
# (Batu 55) in Punten and Oro-oro Ombo. (cooperative -> commodity -> orchards), after each cooperative's
# annual fields, from their own random stream so the annual fields stay as they were.
_ORCHARDS: dict[str, dict[str, int]] = {
    "tulungrejo": {"apple": 3},
    "bumiaji": {"apple": 2},
    "sumbergondo": {"apple": 2},
    "bulukerto": {"apple": 2},
    "punten": {"citrus": 3},
    "oro-oro-ombo": {"citrus": 2},
}
_ORCHARD_VARIETIES = {"apple": ["Manalagi", "Anna", "Rome Beauty"], "citrus": ["Keprok Batu 55"]}
# Trees per hectare [est]: apples at about 2.5 x 3 m, keprok at 5 x 5 m.
_TREES_PER_HA = {"apple": 1300, "citrus": 400}
# The apple zone starts around 950 m (Tlekung's lowest plots ~900 m, docs/sources.md).
_APPLE_MIN_ELEVATION_M = 950
_FORMATS = (Format.NATIVE,) * 6 + (Format.SENML, Format.SENML, Format.TTS_V3, Format.CHIRPSTACK_V4)
_PROFILES = {Format.TTS_V3: "dragino-lse01", Format.CHIRPSTACK_V4: "milesight-em500-smtc"}


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
            # Andosols cover the slopes above ~1,000 m; alluvial and latosol soils below (docs/sources.md §2).
            texture = "andosol" if elevation >= 1000 else str(rng.choice(["loam", "clay_loam", "silt_loam"]))
            season = _SEASON_DAYS[commodity]
            planted = anchor - dt.timedelta(days=int(season * rng.uniform(0.25, 0.95)))
            fmt = _FORMATS[f_index % len(_FORMATS)]
            node = NodeSpec(
                id=f"{cid}-n{f_index + 1:02d}",
                format=fmt.value,
                dev_eui=f"{rng.integers(0, 2**64, dtype=np.uint64):016x}" if fmt in LORAWAN_FORMATS else "",
                profile=_PROFILES.get(fmt, ""),
            )
            fields.append(
                FleetField(
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
        fields += _orchards(cid, anchor, seed, (z_lo, z_hi), lat0, lon0, first_node=fields_per_coop + 1)
        station = FleetStation(
            id=f"{cid}-ws",
            elevation_m=float(round((z_lo + z_hi) / 2)),
            lat=round(lat0, 5),
            lon=round(lon0, 5),
            node=NodeSpec(id=f"{cid}-ws1", format=Format.NATIVE.value),
        )
        coops.append(
            FleetCooperative(
                cid, f"Koperasi Merah Putih {name}", kec, kind, (z_lo, z_hi), tuple(fields), station
            )
        )
    return Fleet(anchor, tuple(coops))


def _orchards(
    cid: str,
    anchor: dt.date,
    seed: int,
    elevation: tuple[float, float],
    lat0: float,
    lon0: float,
    first_node: int,
) -> list[FleetField]:
    """The cooperative's orchards (:data:`_ORCHARDS`): trees planted 4-25 years before ``anchor``."""
    rng = np.random.default_rng([seed, zlib.crc32(f"orchards:{cid}".encode())])
    out: list[FleetField] = []
    for commodity, count in _ORCHARDS.get(cid, {}).items():
        for _ in range(count):
            index = len(out)
            low = max(elevation[0], _APPLE_MIN_ELEVATION_M) if commodity == "apple" else elevation[0]
            z = float(round(rng.uniform(low, max(low, elevation[1]))))
            area = round(float(np.clip(rng.lognormal(np.log(0.5), 0.4), 0.15, 2.0)), 2)
            planted = anchor - dt.timedelta(days=int(rng.uniform(4, 25) * 365))
            out.append(
                FleetField(
                    id=f"{cid}-o{index + 1:02d}",
                    commodity=commodity,
                    variety=str(rng.choice(_ORCHARD_VARIETIES[commodity])),
                    planting_date=dt.date(planted.year, 1, 1),
                    area_ha=area,
                    soil_texture="andosol" if z >= 1000 else "loam",
                    elevation_m=z,
                    lat=round(lat0 + float(rng.normal(0, 0.004)), 5),
                    lon=round(lon0 + float(rng.normal(0, 0.004)), 5),
                    node=NodeSpec(id=f"{cid}-n{first_node + index:02d}", format=Format.NATIVE.value),
                    tree_count=round(area * _TREES_PER_HA[commodity] * rng.uniform(0.85, 1.1)),
                )
            )
    return out
