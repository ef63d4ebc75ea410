"""Payload codecs: pure functions from one MQTT payload to samples (metric, value, timestamp).

One codec per format; none does I/O or knows which node sent the message (ingest finds that from
the topic or the DevEUI). Every codec converts to the catalogue's canonical units and returns
what it could not use as :class:`Problem` records with a stable reason, so ingest can keep the good
samples of a partly bad message and dead-letter the rest.

Formats:

- **native JSON** (``panen/v1/{coop}/{node}/up``)::

      {"ts": 1784000000000, "values": {"air_temp_c": 18.2, "soil_vwc_pct": 41.0}}
      {"samples": [{"ts": 1784000000000, "values": {...}}, ...]}   # store-and-forward batch

  ``ts`` is the device's UTC time in ms; a sample without one gets the arrival time (firmware should
  always send it: a redelivered message is then stored once, not twice).
- **SenML** (RFC 8428 JSON, ``panen/v1/{coop}/{node}/senml``): base name/time/unit/value, relative
  times (``t`` < 2**28 s is relative to now), units converted (``/`` and the deprecated ``%`` are 0..1
  ratios, ``%RH`` and ``%EL`` are percentages, ``S/m`` is 10 dS/m). Record names are catalogue metric
  names; a record without a usable name is mapped by its unit (``%RH`` → air_rh_pct, ``%EL`` →
  battery_pct); ``lat``/``lon`` records are location, not readings, and are skipped.
- **The Things Stack v3** uplinks: ``uplink_message.decoded_payload`` mapped through the device
  profile (:mod:`sensors.profiles`), timestamp from ``received_at``, RSSI/SNR of the best gateway.
- **ChirpStack v4** ``up`` (``object`` through the profile, ``time``, ``rxInfo``) and ``status``
  (``batteryLevel`` → battery_pct) events, parsed defensively (protobuf-JSON drops default values).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from sensors.catalogue import CATALOGUE
from sensors.errors import SensorsError
from sensors.profiles import DeviceProfile, ProfileLibrary, number_from_text, shipped_profiles
from sensors.units import conversion_into, convert

__all__ = [
    "CodecError",
    "Decoded",
    "PayloadProblem",
    "Sample",
    "decode_chirpstack_v4",
    "decode_native",
    "decode_senml",
    "decode_tts_v3",
    "parse_json",
    "parse_rfc3339_ms",
    "resolve_senml",
    "tts_dev_eui",
]

# RFC 8428 §4.5.3: a time below 2**28 seconds is relative to the current time.
SENML_RELATIVE_LIMIT_S = 2**28


class Sample(NamedTuple):
    """A decoded value in the catalogue unit of ``metric``; not yet validated (a named tuple: hot path)."""

    metric: str
    value: object
    ts_ms: object


@dataclass(frozen=True, slots=True)
class PayloadProblem:
    """A part of a payload that could not be used, with a stable reason code."""

    reason: str
    detail: str


@dataclass(slots=True)
class Decoded:
    """What a codec got out of one payload. ``samples`` holds :class:`Sample` or equal plain tuples."""

    samples: list[tuple[Any, object, object]] = field(default_factory=list)
    problems: list[PayloadProblem] = field(default_factory=list)
    skipped: int = 0  # records that are not readings by design (e.g. SenML location)


class CodecError(SensorsError):
    """The whole payload is unusable; ``reason`` is a stable code, ``str()`` says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# 20 digits in a row: possibly an integer beyond 64 bits (2**64 has 20 digits). Found by mapping
# every digit to "0" (a minus kept, anything else a space) and looking for twenty of them: a fifth of
# a regular expression's time.
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else b if b == 0x2D else 0x20 for b in range(256))
_NINETEEN_DIGITS = b"0" * 19
_TWENTY_DIGITS = b"0" * 20
# A negative integer of 19 digits may lie below int64's range (-9,223,372,036,854,775,808), where
# orjson answers a float as well (a positive one of 19 digits always fits its uint64). Both are
# looked for only where a run of 19 digits is: one search on a node's usual payload, as before.
_MINUS_NINETEEN_DIGITS = b"-" + _NINETEEN_DIGITS


def parse_json(payload: bytes | bytearray) -> Any:
    """Parse UTF-8 JSON; raise :class:`CodecError` ``bad_json`` with the parser's complaint.

    orjson parses a node's payload in about a third of ``json``'s time. The result is ``json``'s own:
    what orjson refuses (``NaN``, ``Infinity``, ``1e400``, lone surrogates, nesting past 1,024) is
    parsed again by ``json``, so a message with one ``NaN`` keeps its other readings and that one is
    refused for being NaN; and a payload with a run of 20 digits, or a minus and 19, goes to ``json``
    at once, because orjson reads an integer beyond 64 bits (or below int64's range) as a float,
    which would turn a timestamp's ``out_of_range`` into ``bad_timestamp``. JSON exchanged between
    systems must be UTF-8 (RFC 8259 §8.1), so the bytes are decoded as such (``json.loads`` on bytes
    would also guess UTF-16/32).
    """
    shape = payload.translate(_DIGITS_AS_ZERO)
    long_number = _NINETEEN_DIGITS in shape and (_TWENTY_DIGITS in shape or _MINUS_NINETEEN_DIGITS in shape)
    if not long_number:
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CodecError("bad_json", f"payload is not JSON: {str(exc)[:120]}") from exc


_FRACTION_RE = re.compile(r"\.(\d+)")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def parse_rfc3339_ms(text: object) -> int:
    """An RFC 3339 timestamp (any fraction length, ``Z`` or offset) as UTC ms since the epoch."""
    if not isinstance(text, str):
        raise CodecError("bad_timestamp", f"timestamp {str(text)[:40]!r} is not an RFC 3339 string")
    # Python parses at most microseconds; network servers send nanoseconds.
    clean = _FRACTION_RE.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text.strip(), count=1)
    clean = clean.replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(clean)
    except ValueError as exc:
        raise CodecError("bad_timestamp", f"timestamp {text[:40]!r} is not RFC 3339") from exc
    if parsed.tzinfo is None:
        raise CodecError("bad_timestamp", f"timestamp {text[:40]!r} has no time zone")
    return (parsed - _EPOCH) // dt.timedelta(milliseconds=1)


# ---- native JSON ---------------------------------------------------------------------------


def decode_native(message: Any, *, arrival_ms: int) -> Decoded:
    """Decode panen's own JSON (see the module docstring) into samples."""
    if type(message) is dict and "samples" not in message:  # one sample: nearly every message
        values = message.get("values")
        if type(values) is dict:
            ts = message.get("ts", arrival_ms)
            return Decoded([(metric, value, ts) for metric, value in values.items()])
    if isinstance(message, list):
        entries: Any = message
    elif isinstance(message, dict) and "samples" in message:
        entries = message["samples"]
    elif isinstance(message, dict):
        entries = [message]
    else:
        raise CodecError("bad_payload", f"expected a JSON object or array, got {type(message).__name__}")
    if not isinstance(entries, list):
        raise CodecError("bad_payload", '"samples" must be an array')
    out = Decoded()
    for index, entry in enumerate(entries):
        values = entry.get("values") if isinstance(entry, dict) else None
        if not isinstance(values, dict):
            out.problems.append(PayloadProblem("bad_payload", f'sample {index} has no "values" object'))
            continue
        ts = entry.get("ts", arrival_ms)
        # Plain tuples equal Sample(...) and cost a third to build: this is ingest's hot path.
        out.samples += [(metric, value, ts) for metric, value in values.items()]
    return out


# ---- SenML ---------------------------------------------------------------------------------

_SENML_NUMBER_KEYS = ("v",)
_SENML_OTHER_VALUE_KEYS = ("vs", "vb", "vd")


_SENML_BASE_KEYS = frozenset({"bn", "bt", "bu", "bv", "bs", "bver"})


def resolve_senml(records: Any, *, now_s: float) -> list[dict[str, Any]]:
    """Resolve SenML records (RFC 8428 §4.6): full names, absolute times [s], units, values.

    Base fields apply to the record that carries them and every later one until replaced. Records
    come back in input order, each with ``n``, ``t`` and, when present, ``u``, ``v``, ``vs``, ``vb``,
    ``vd`` and ``s``. A record whose own fields cannot be used (a time or value beyond float range, a
    name or unit that is not text) comes back with ``problem``: (reason, detail) instead, so the
    pack's other records are kept. A record of base fields only yields nothing.

    Raises:
        CodecError: ``bad_payload`` if the pack is not an array of objects or a base field is
            malformed (every later record depends on it).
    """
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise CodecError("bad_payload", "SenML must be a JSON array of objects")
    base_name, base_time, base_unit, base_value, base_sum = "", 0.0, None, 0.0, 0.0
    resolved: list[dict[str, Any]] = []
    for record in records:
        if "bn" in record:
            base_name = _senml_str(record["bn"], "bn")
        if "bt" in record:
            base_time = _senml_num(record["bt"], "bt")
        if "bu" in record:
            base_unit = _senml_str(record["bu"], "bu")
        if "bv" in record:
            base_value = _senml_num(record["bv"], "bv")
        if "bs" in record:
            base_sum = _senml_num(record["bs"], "bs")
        if record.keys() <= _SENML_BASE_KEYS:
            continue  # a record of base fields only
        try:
            resolved.append(
                _senml_record(record, base_name, base_time, base_unit, base_value, base_sum, now_s)
            )
        except CodecError as exc:
            name = record.get("n")
            label = base_name + name if isinstance(name, str) else base_name
            resolved.append({"n": label, "t": now_s, "problem": (exc.reason, exc.detail)})
    return resolved


def _senml_record(
    record: dict[str, Any],
    base_name: str,
    base_time: float,
    base_unit: str | None,
    base_value: float,
    base_sum: float,
    now_s: float,
) -> dict[str, Any]:
    out: dict[str, Any] = {"n": base_name + _senml_str(record.get("n", ""), "n")}
    t = base_time + (_senml_num(record["t"], "t") if "t" in record else 0.0)
    if not math.isfinite(t):
        raise CodecError("out_of_range", f"SenML record {out['n'][:60]!r}: bt + t is beyond float range")
    out["t"] = now_s + t if t < SENML_RELATIVE_LIMIT_S else t
    unit = record.get("u", base_unit)
    if unit is not None:
        out["u"] = _senml_str(unit, "u")
    try:
        if "v" in record:
            value = record["v"]
            out["v"] = base_value + value if _is_number(value) else value
        for key in _SENML_OTHER_VALUE_KEYS:
            if key in record:
                out[key] = record[key]
        if "s" in record:
            out["s"] = base_sum + record["s"] if _is_number(record["s"]) else record["s"]
    except OverflowError as exc:
        raise CodecError(
            "out_of_range", f"SenML record {out['n'][:60]!r}: a value beyond float range"
        ) from exc
    return out


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _senml_str(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise CodecError("bad_payload", f"SenML {key} must be a string")
    return value


def _senml_num(value: object, key: str) -> float:
    if not _is_number(value):
        raise CodecError("bad_payload", f"SenML {key} must be a finite number")
    try:
        number = float(value)  # type: ignore[arg-type]
    except OverflowError as exc:
        raise CodecError("out_of_range", f"SenML {key} is beyond float range") from exc
    if not math.isfinite(number):
        raise CodecError("bad_payload", f"SenML {key} must be a finite number")
    return number


# Records named by unit only (the RFC 8428 examples name the device in bn and nothing in n).
_METRIC_BY_UNIT = {"%RH": "air_rh_pct", "%EL": "battery_pct"}
_LOCATION_UNITS = frozenset({"lat", "lon"})


def decode_senml(records: Any, *, now_ms: int) -> Decoded:
    """Decode a SenML pack: resolve it, map names/units to catalogue metrics, convert units."""
    out = Decoded()
    for rec in resolve_senml(records, now_s=now_ms / 1000):
        if "problem" in rec:
            out.problems.append(PayloadProblem(*rec["problem"]))
            continue
        unit = rec.get("u")
        if unit in _LOCATION_UNITS:
            out.skipped += 1
            continue
        name = rec["n"].rsplit(":", 1)[-1].rsplit("/", 1)[-1]
        metric = name if name in CATALOGUE else _METRIC_BY_UNIT.get(unit or "")
        if metric is None:
            out.problems.append(
                PayloadProblem("unknown_metric", f"SenML record {rec['n'][:60]!r} ({unit}) is not a metric")
            )
            continue
        if "v" not in rec:
            out.problems.append(
                PayloadProblem("not_a_number", f"SenML record {rec['n'][:60]!r} has no numeric value")
            )
            continue
        t_ms = rec["t"] * 1000
        if not math.isfinite(t_ms):
            out.problems.append(
                PayloadProblem("out_of_range", f"SenML record {rec['n'][:60]!r}: time beyond float range")
            )
            continue
        value = rec["v"]
        if unit is not None and _is_number(value):
            conversion = conversion_into(CATALOGUE[metric].unit, unit)
            if conversion is None:
                out.problems.append(
                    PayloadProblem("bad_unit", f"SenML unit {unit!r} cannot be converted for {metric}")
                )
                continue
            value = convert(value, *conversion)
        out.samples.append(Sample(metric, value, round(t_ms)))
    return out


# ---- LoRaWAN device profiles (sensors/profiles.py, the YAML files in sensors/profiles/) -------------


def _map_profile(decoded: Any, profile: DeviceProfile, ts_ms: int, out: Decoded) -> None:
    if not isinstance(decoded, dict):
        raise CodecError("bad_payload", "decoded payload is not an object")
    out.skipped += profile.map(
        decoded,
        lambda metric, value: out.samples.append(Sample(metric, value, ts_ms)),
        lambda reason, detail: out.problems.append(PayloadProblem(reason, detail)),
    )


def _best_radio(gateways: Any, rssi_key: str, snr_key: str, ts_ms: int, out: Decoded) -> None:
    """RSSI and SNR of the gateway that heard the node best: what decides whether a node stays online."""
    if not isinstance(gateways, list):
        return
    heard = [g for g in gateways if isinstance(g, dict) and _is_number(g.get(rssi_key))]
    if not heard:
        return
    best = max(heard, key=lambda g: g[rssi_key])
    out.samples.append(Sample("rssi_dbm", best[rssi_key], ts_ms))
    if _is_number(best.get(snr_key)):
        out.samples.append(Sample("snr_db", best[snr_key], ts_ms))


def _profile(name: str | None, profiles: ProfileLibrary | None) -> DeviceProfile:
    library = profiles or shipped_profiles()
    profile = library.get(name or "")
    if profile is None:
        raise CodecError("unknown_profile", f"device profile {name!r} is not one of {library.names()}")
    return profile


def tts_dev_eui(message: Any) -> str | None:
    """The DevEUI (lower-case hex) of a The Things Stack v3 uplink, if it carries one."""
    ids = message.get("end_device_ids") if isinstance(message, dict) else None
    eui = ids.get("dev_eui") if isinstance(ids, dict) else None
    return eui.lower() if isinstance(eui, str) else None


def decode_tts_v3(message: Any, *, profile: str | None, profiles: ProfileLibrary | None = None) -> Decoded:
    """Decode a The Things Stack v3 uplink message through the device's profile."""
    if not isinstance(message, dict) or not isinstance(message.get("uplink_message"), dict):
        raise CodecError("bad_payload", "not a The Things Stack uplink (no uplink_message)")
    uplink = message["uplink_message"]
    decoded = uplink.get("decoded_payload")
    if decoded is None:
        raise CodecError(
            "no_decoded_payload", "uplink has no decoded_payload: add a payload formatter in TTS"
        )
    ts_ms = parse_rfc3339_ms(uplink.get("received_at") or message.get("received_at"))
    out = Decoded()
    _map_profile(decoded, _profile(profile, profiles), ts_ms, out)
    _best_radio(uplink.get("rx_metadata"), "rssi", "snr", ts_ms, out)
    return out


def decode_chirpstack_v4(
    message: Any, *, event: str, profile: str | None, profiles: ProfileLibrary | None = None
) -> Decoded:
    """Decode a ChirpStack v4 ``up`` or ``status`` event (``object`` through the device's profile)."""
    if not isinstance(message, dict):
        raise CodecError("bad_payload", "ChirpStack event is not a JSON object")
    ts_ms = parse_rfc3339_ms(message.get("time"))
    out = Decoded()
    if event == "status":
        if message.get("batteryLevelUnavailable") or "batteryLevel" not in message:
            out.skipped += 1
        else:
            out.samples.append(Sample("battery_pct", number_from_text(message["batteryLevel"]), ts_ms))
        return out
    decoded = message.get("object")
    if decoded is None:
        raise CodecError("no_decoded_payload", "uplink has no object: add a codec to the device profile")
    _map_profile(decoded, _profile(profile, profiles), ts_ms, out)
    _best_radio(message.get("rxInfo"), "rssi", "snr", ts_ms, out)
    return out
