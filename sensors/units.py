"""Units payloads arrive in, and how each converts into a catalogue metric's canonical unit.

Unit symbols are SenML's (RFC 8428 §12.1 and the IANA SenML units registry), which device profiles
use too, with the few that decoders emit and SenML lacks (``uS/cm``, ``mS/cm``, ``m3/m3``, ``mV``).
"""

from __future__ import annotations

__all__ = ["CONVERSIONS", "conversion_into", "convert"]

# Ratios: SenML's "/" and the deprecated "%" are 0..1; "%RH" and "%EL" are already percentages;
# a volumetric water content in m³/m³ is a ratio too.
_TO_PERCENT: dict[str, float] = {"/": 100.0, "%": 100.0, "%RH": 1.0, "%EL": 1.0, "m3/m3": 100.0}
# canonical unit -> {unit it may arrive in: (factor, offset)}: value * factor + offset.
CONVERSIONS: dict[str, dict[str, tuple[float, float]]] = {
    "Cel": {"Cel": (1.0, 0.0), "K": (1.0, -273.15)},
    "%": {unit: (factor, 0.0) for unit, factor in _TO_PERCENT.items()},
    # 1 S/m = 10 dS/m; 1 dS/m = 1 mS/cm = 1,000 µS/cm.
    "dS/m": {"dS/m": (1.0, 0.0), "S/m": (10.0, 0.0), "mS/cm": (1.0, 0.0), "uS/cm": (1e-3, 0.0)},
    "mm": {"mm": (1.0, 0.0), "m": (1000.0, 0.0)},
    "W/m2": {"W/m2": (1.0, 0.0)},
    "m/s": {"m/s": (1.0, 0.0), "km/h": (1 / 3.6, 0.0)},
    "V": {"V": (1.0, 0.0), "mV": (1e-3, 0.0)},
    "dBm": {"dBm": (1.0, 0.0)},
    "dB": {"dB": (1.0, 0.0)},
}


def conversion_into(canonical: str, unit: str) -> tuple[float, float] | None:
    """(factor, offset) taking a value in ``unit`` into ``canonical``, or None if there is none."""
    return CONVERSIONS.get(canonical, {}).get(unit)


def convert(value: int | float, factor: float, offset: float) -> object:
    """``value * factor + offset``; an integer beyond float range is passed on unchanged, for the
    validator to refuse as ``out_of_range``."""
    try:
        return value * factor + offset
    except OverflowError:
        return value
