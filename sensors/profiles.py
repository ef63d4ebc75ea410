"""LoRaWAN device profiles as data: how a device decoder's output maps to catalogue metrics.

A network server (The Things Stack, ChirpStack) runs the vendor's JavaScript decoder and relays
its JSON; a profile says which of its fields are which metric, in which unit, and which fields are
known but not stored. Profiles are YAML files: the shipped library (``sensors/profiles/``) and an
operator's folder (``PANEN_DATA_DIR/profiles``), reloaded when a file changes, so a cooperative's
new sensor needs a file, not a release. Each shipped file cites the decoder it was written against.

A profile file::

    name: sensecap-s2105                      # what a node's `profile` names
    device: SenseCAP S2105 soil moisture, temperature and EC
    decoder: TheThingsNetwork/lorawan-devices vendor/sensecap/sensecap210x-common-decoder.js
    fields:                                   # decoded field -> metric
      Bat: {metric: battery_v}                # in the metric's own unit
      conduct_SOIL: {metric: soil_ec_ds_m, unit: uS/cm}
      volumetric_water_content: {metric: soil_vwc_pct, unit: m3/m3, path: [value]}
    ignore:                                   # known fields deliberately not stored
      Mod: working mode
    measurements:                             # decoders that emit a list of {id, value} objects
      list: messages
      id: measurementId
      value: measurementValue
      type: type
      ids: {4102: {metric: soil_temp_c}, 4103: {metric: soil_vwc_pct}}
      types: {upload_battery: {field: battery, metric: battery_pct}}
      ignore_ids: {4100: CO2 is not in the catalogue}
      ignore_types: [upload_version, upload_interval]

Units are :mod:`sensors.units` symbols; a unit that cannot be converted into the metric's is refused
when the file is loaded, as are unknown metrics and keys.

Errors: :class:`ProfileError` (a ``ValueError``) names the file and entry.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from sensors.catalogue import CATALOGUE
from sensors.errors import SensorsError
from sensors.units import conversion_into, convert

__all__ = [
    "SHIPPED_DIR",
    "DeviceProfile",
    "FieldMap",
    "MeasurementList",
    "ProfileError",
    "ProfileLibrary",
    "number_from_text",
    "profile_from_document",
    "shipped_profiles",
]

SHIPPED_DIR = Path(__file__).with_name("profiles")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,59}$")
log = logging.getLogger("panen.profiles")


class ProfileError(SensorsError, ValueError):
    """A profile file is malformed; the message names the file and the entry."""


def number_from_text(value: object) -> object:
    """Decoders send some numbers as strings ("24.59"); anything else is passed on for validation."""
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


@dataclass(frozen=True, slots=True)
class FieldMap:
    """One decoded value into one metric: where it is, its unit's conversion."""

    metric: str
    factor: float = 1.0
    offset: float = 0.0
    path: tuple[str, ...] = ()
    field: str = ""  # in a message of a given type: which of its fields holds the value

    def convert(self, raw: object) -> object:
        """The value in the metric's unit; what cannot be read is passed on for the validator to refuse."""
        for key in self.path:
            if not isinstance(raw, Mapping):
                return raw
            raw = raw.get(key)
        number = number_from_text(raw)
        if isinstance(number, bool) or not isinstance(number, int | float):
            return number
        if self.factor == 1.0 and self.offset == 0.0:
            return number
        return convert(number, self.factor, self.offset)


@dataclass(frozen=True, slots=True)
class MeasurementList:
    """A decoded field holding a list of measurement objects (SenseCAP's ``messages``)."""

    list_key: str
    id_key: str
    value_key: str
    type_key: str = "type"
    ids: Mapping[str, FieldMap] = field(default_factory=dict)
    types: Mapping[str, FieldMap] = field(default_factory=dict)
    ignore_ids: Mapping[str, str] = field(default_factory=dict)
    ignore_types: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """How one device type's decoded fields map to catalogue metrics (see the module docstring)."""

    name: str
    device: str = ""
    decoder: str = ""
    fields: Mapping[str, FieldMap] = field(default_factory=dict)
    ignored: Mapping[str, str] = field(default_factory=dict)
    measurements: MeasurementList | None = None
    source: str = ""  # the file it was read from

    @property
    def metrics(self) -> list[str]:
        """Every metric this profile can yield."""
        maps = list(self.fields.values())
        if self.measurements is not None:
            maps += [*self.measurements.ids.values(), *self.measurements.types.values()]
        return sorted({m.metric for m in maps})

    def map(
        self,
        decoded: Mapping[str, Any],
        sample: Callable[[str, object], None],
        problem: Callable[[str, str], None],
    ) -> int:
        """Call ``sample(metric, value)`` for each mapped value and ``problem(reason, detail)`` for each
        field without a mapping; returns how many known fields were skipped by design."""
        skipped = 0
        for key, raw in decoded.items():
            mapping = self.fields.get(key)
            if mapping is not None:
                sample(mapping.metric, mapping.convert(raw))
            elif key in self.ignored:
                skipped += 1
            elif self.measurements is not None and key == self.measurements.list_key:
                skipped += self._map_list(raw, sample, problem)
            else:
                problem("unknown_metric", f"{self.name} field {str(key)[:60]!r} has no mapping")
        return skipped

    def _map_list(
        self, raw: object, sample: Callable[[str, object], None], problem: Callable[[str, str], None]
    ) -> int:
        spec = self.measurements
        assert spec is not None
        if not isinstance(raw, list):
            problem("bad_payload", f"{self.name} field {spec.list_key!r} is not a list")
            return 0
        items = [i for entry in raw for i in (entry if isinstance(entry, list) else [entry])]
        skipped = 0
        for item in items:
            if not isinstance(item, Mapping):
                problem("bad_payload", f"{self.name} {spec.list_key} entry is not an object")
                continue
            kind = str(item.get(spec.type_key, ""))
            by_type = spec.types.get(kind)
            if by_type is not None:
                sample(by_type.metric, by_type.convert(item.get(by_type.field)))
                continue
            if kind in spec.ignore_types:
                skipped += 1
                continue
            ident = _ident(item.get(spec.id_key))
            mapping = spec.ids.get(ident)
            if mapping is not None:
                sample(mapping.metric, mapping.convert(item.get(spec.value_key)))
            elif ident in spec.ignore_ids:
                skipped += 1
            else:
                problem(
                    "unknown_metric", f"{self.name} measurement {ident[:40]!r} ({kind[:40]}) has no mapping"
                )
        return skipped


def _ident(value: object) -> str:
    """A measurement id as text: 4102, "4102" and 4102.0 are the same id."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)[:60]


# ---- loading and checking ----------------------------------------------------------------------

_PROFILE_KEYS = {"name", "device", "decoder", "fields", "ignore", "measurements"}
_FIELD_KEYS = {"metric", "unit", "path"}
_LIST_KEYS = {"list", "id", "value", "type", "ids", "types", "ignore_ids", "ignore_types"}


def _mapping(doc: object, where: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise ProfileError(f"{where}: expected a mapping, got {type(doc).__name__}")
    return doc


def _keys(doc: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(doc) - allowed
    if unknown:
        raise ProfileError(
            f"{where}: unknown key(s) {sorted(map(str, unknown))} (allowed: {sorted(allowed)})"
        )


def _field_map(doc: object, where: str, *, value_field: str = "") -> FieldMap:
    entry = _mapping(doc, where)
    _keys(entry, _FIELD_KEYS | ({"field"} if value_field == "required" else set()), where)
    metric = entry.get("metric")
    if metric not in CATALOGUE:
        raise ProfileError(
            f"{where}: metric {metric!r} is not in the catalogue ({', '.join(sorted(CATALOGUE))})"
        )
    canonical = CATALOGUE[metric].unit
    unit = str(entry.get("unit", canonical))
    # A field in the metric's own unit needs no conversion ("%" is a percentage here, not SenML's
    # deprecated 0..1 ratio: a ratio is "/").
    conversion = (1.0, 0.0) if unit == canonical else conversion_into(canonical, unit)
    if conversion is None:
        raise ProfileError(f"{where}: unit {unit!r} cannot be converted into {metric}'s {canonical!r}")
    path = entry.get("path", [])
    if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
        raise ProfileError(f"{where}: path must be a list of keys")
    field_name = ""
    if value_field == "required":
        field_name = entry.get("field", "")
        if not isinstance(field_name, str) or not field_name:
            raise ProfileError(f"{where}: a message type's mapping names the 'field' holding the value")
    return FieldMap(str(metric), conversion[0], conversion[1], tuple(path), field_name)


def _reasons(doc: object, where: str) -> dict[str, str]:
    if doc is None:
        return {}
    return {str(k): str(v) for k, v in _mapping(doc, where).items()}


def profile_from_document(doc: object, source: str = "profile") -> DeviceProfile:
    """A checked profile from a parsed profile document.

    Raises:
        ProfileError: naming the entry that is wrong.
    """
    top = _mapping(doc, source)
    _keys(top, _PROFILE_KEYS, source)
    name = top.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ProfileError(f"{source}: name {name!r} must be lower-case letters, digits, '.', '_' or '-'")
    fields = {
        str(k): _field_map(v, f"{source}: fields.{k}")
        for k, v in _mapping(top.get("fields") or {}, source).items()
    }
    measurements = None
    if top.get("measurements") is not None:
        m = _mapping(top["measurements"], f"{source}: measurements")
        _keys(m, _LIST_KEYS, f"{source}: measurements")
        for required in ("list", "id", "value"):
            if not isinstance(m.get(required), str):
                raise ProfileError(f"{source}: measurements.{required} must name a key")
        ignore_types = m.get("ignore_types") or []
        if not isinstance(ignore_types, list):
            raise ProfileError(f"{source}: measurements.ignore_types must be a list")
        measurements = MeasurementList(
            list_key=m["list"],
            id_key=m["id"],
            value_key=m["value"],
            type_key=str(m.get("type", "type")),
            ids={
                _ident(k): _field_map(v, f"{source}: measurements.ids.{k}")
                for k, v in _mapping(m.get("ids") or {}, source).items()
            },
            types={
                str(k): _field_map(v, f"{source}: measurements.types.{k}", value_field="required")
                for k, v in _mapping(m.get("types") or {}, source).items()
            },
            ignore_ids={_ident(k): str(v) for k, v in _mapping(m.get("ignore_ids") or {}, source).items()},
            ignore_types=frozenset(str(t) for t in ignore_types),
        )
    if not fields and measurements is None:
        raise ProfileError(f"{source}: a profile maps at least one field or a measurements list")
    return DeviceProfile(
        name=name,
        device=str(top.get("device", "")),
        decoder=str(top.get("decoder", "")),
        fields=fields,
        ignored=_reasons(top.get("ignore"), f"{source}: ignore"),
        measurements=measurements,
        source=source,
    )


def _load_file(path: Path) -> DeviceProfile:
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: cannot read it as YAML: {exc}") from exc
    return profile_from_document(doc, str(path))


class ProfileLibrary:
    """Profiles from folders of YAML files (later folders override earlier ones), reloaded on change.

    A file that fails its checks is left out, with its error in :attr:`errors` and the log; the
    others keep working. Lookups are lock-free (a reference swap).
    """

    def __init__(self, folders: Sequence[Path]) -> None:
        """Load the profiles of ``folders`` (a missing folder holds none)."""
        self.folders = list(folders)
        self._lock = threading.Lock()
        self._stamp: tuple[tuple[str, int, int], ...] | None = None
        self._profiles: dict[str, DeviceProfile] = {}
        self.errors: dict[str, str] = {}
        self.refresh()

    def _files(self) -> list[Path]:
        files = []
        for folder in self.folders:
            if folder.is_dir():
                files += sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
        return files

    def refresh(self) -> bool:
        """Reload if any file was added, changed or removed; returns whether it reloaded."""
        files = self._files()
        stamp = []
        for path in files:
            try:
                st = path.stat()
            except OSError:
                continue
            stamp.append((str(path), st.st_mtime_ns, st.st_size))
        with self._lock:
            if tuple(stamp) == self._stamp:
                return False
            profiles: dict[str, DeviceProfile] = {}
            errors: dict[str, str] = {}
            for path in files:
                try:
                    profile = _load_file(path)
                except ProfileError as exc:
                    errors[str(path)] = str(exc)
                    log.error("device profile left out: %s", exc)
                    continue
                profiles[profile.name] = profile
            self._profiles, self.errors, self._stamp = profiles, errors, tuple(stamp)
            return True

    def get(self, name: str) -> DeviceProfile | None:
        """The profile called ``name``, if loaded."""
        return self._profiles.get(name)

    def names(self) -> list[str]:
        """Every loaded profile's name, sorted."""
        return sorted(self._profiles)

    def all(self) -> list[DeviceProfile]:
        """Every loaded profile, by name."""
        return [self._profiles[n] for n in self.names()]


@cache
def shipped_profiles() -> ProfileLibrary:
    """The library shipped with panen (``sensors/profiles/``), loaded once."""
    return ProfileLibrary([SHIPPED_DIR])
