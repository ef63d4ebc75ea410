"""The `Reading` record and the validator that admits, flags or refuses a value.

Three outcomes, decided here and nowhere else:

- **valid**: stored as is (quality 0);
- **implausible**: a number outside the metric's plausible range; stored with quality 1 so a
  forecast can ignore it while a person can still see it;
- **invalid**: cannot be stored meaningfully (not a number, NaN, ±Inf, a number beyond any float,
  unknown metric, a timestamp before 2000, more than a day in the future or beyond 64 bits, an
  identifier that storage cannot carry); refused as a :class:`Rejection` whose ``reason`` is a
  stable code (used by ingest as the dead-letter topic) and whose ``detail`` says what was wrong in
  words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import NamedTuple

from sensors.catalogue import CATALOGUE

__all__ = [
    "EARLIEST_TS_MS",
    "FUTURE_TOLERANCE_MS",
    "MAX_ID_LENGTH",
    "REGISTRY_ID_PATTERN",
    "Quality",
    "Reading",
    "RejectReason",
    "Rejection",
    "check_id",
    "make_reading",
    "make_readings",
]

# 2000-01-01T00:00:00Z. Older timestamps come from nodes whose RTC reset to its epoch (1970 or 2000).
EARLIEST_TS_MS = 946_684_800_000
# A day of slack for clock drift between a node, its gateway and the server; more is a wrong clock.
FUTURE_TOLERANCE_MS = 86_400_000
# Identifiers become InfluxDB tag values and URL path segments; 128 characters is plenty for a DevEUI
# or "sumberbrantas-f07" and keeps a hostile payload from inflating series keys.
MAX_ID_LENGTH = 128
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1  # what every store's timestamp column holds
_new_tuple = tuple.__new__
_FORBIDDEN_IN_ID = re.compile(r"[\x00-\x1f\x7f\\]")
# Ids people give registry rows (cooperatives, farmers, fields, stations, nodes), through the API and
# in imported files alike: they sit safely in URLs, topics, tags and spreadsheet cells (no leading
# = + - @, which a spreadsheet would read as a formula).
REGISTRY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class Quality(IntEnum):
    """Quality flag stored beside each value."""

    VALID = 0
    IMPLAUSIBLE = 1


class RejectReason(StrEnum):
    """Why a value was refused. The values are stable: dashboards and dead-letter topics use them."""

    UNKNOWN_METRIC = "unknown_metric"
    NOT_A_NUMBER = "not_a_number"
    NAN = "nan"
    INFINITE = "infinite"
    OUT_OF_RANGE = "out_of_range"  # a number no float (value) or 64-bit integer (timestamp) can hold
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    ANCIENT_TIMESTAMP = "ancient_timestamp"
    BAD_ID = "bad_id"


class Reading(NamedTuple):
    """One value of one metric from one node at one instant.

    A named tuple rather than a frozen dataclass: it is just as immutable, and ingest builds a
    million of them a minute, where a frozen dataclass's ``__init__`` costs three times as much.

    Attributes:
        node_id: The sensor node that measured it.
        coop_id: The cooperative the node belongs to.
        site_id: The field or the cooperative's weather station the node stands in ("" if unassigned).
        metric: A catalogue metric name.
        value: The value in the metric's canonical unit.
        ts_ms: UTC instant of the measurement, milliseconds since the Unix epoch.
        quality: Whether the value lies in the metric's plausible range.
    """

    node_id: str
    coop_id: str
    site_id: str
    metric: str
    value: float
    ts_ms: int
    quality: Quality = Quality.VALID


@dataclass(frozen=True, slots=True)
class Rejection:
    """A value that was refused, with a stable reason code and a sentence for people."""

    reason: RejectReason
    detail: str
    node_id: str = ""
    metric: str = ""


def check_id(kind: str, value: object, *, allow_empty: bool = False) -> Rejection | None:
    """Check an identifier (node, cooperative, site) can be stored and queried safely.

    Spaces, commas, quotes and equals signs are allowed (storage escapes them). Control characters
    and backslashes are refused: line protocol cannot carry a newline in a tag, and a trailing
    backslash is read differently by different InfluxDB versions.

    Returns:
        ``None`` when the identifier is acceptable, else a :class:`Rejection` with reason ``bad_id``.
    """
    if not isinstance(value, str):
        return Rejection(RejectReason.BAD_ID, f"{kind} id must be a string, got {type(value).__name__}")
    if not value:
        if allow_empty:
            return None
        return Rejection(RejectReason.BAD_ID, f"{kind} id is empty")
    if len(value) > MAX_ID_LENGTH:
        return Rejection(RejectReason.BAD_ID, f"{kind} id is longer than {MAX_ID_LENGTH} characters")
    if _FORBIDDEN_IN_ID.search(value):
        return Rejection(
            RejectReason.BAD_ID, f"{kind} id {value[:40]!r} contains a backslash or a control character"
        )
    return None


def _refuser(node_id: str, metric: object) -> Callable[[RejectReason, str], Rejection]:
    def refuse(reason: RejectReason, detail: str) -> Rejection:
        return Rejection(reason, detail, node_id=node_id, metric=str(metric)[:MAX_ID_LENGTH])

    return refuse


def make_reading(
    *,
    node_id: str,
    coop_id: str,
    site_id: str,
    metric: str,
    value: object,
    ts_ms: object,
    now_ms: int,
    ids_checked: bool = False,
) -> Reading | Rejection:
    """Validate one value and build a :class:`Reading`, or say why it is refused.

    Args:
        node_id: Node identifier.
        coop_id: Cooperative identifier.
        site_id: Field or weather-station identifier ("" when the node is not assigned).
        metric: Catalogue metric name.
        value: The value as decoded (must already be in the metric's canonical unit). Strings and
            booleans are refused: codecs convert numbers sent as strings before calling this.
        ts_ms: Measurement instant [ms since epoch, UTC], an integer.
        now_ms: The receiving clock's current instant [ms since epoch, UTC].
        ids_checked: The caller has already checked the identifiers with :func:`check_id` (ingest
            checks a node's ids once, when the registry is loaded, not for every reading).

    Returns:
        A :class:`Reading` (quality valid or implausible) or a :class:`Rejection`.
    """
    if not ids_checked:
        for kind, ident, empty_ok in (
            ("node", node_id, False),
            ("coop", coop_id, False),
            ("site", site_id, True),
        ):
            bad = check_id(kind, ident, allow_empty=empty_ok)
            if bad is not None:
                return Rejection(
                    bad.reason, bad.detail, node_id=str(node_id)[:MAX_ID_LENGTH], metric=str(metric)
                )
    spec = CATALOGUE.get(metric) if isinstance(metric, str) else None
    # The common case first, in the fewest operations: a finite float (x - x is 0.0 only for finite x)
    # and an int timestamp inside the window. Everything else takes the explaining path below.
    if (
        spec is not None
        and type(value) is float
        and type(ts_ms) is int
        and value - value == 0.0
        and EARLIEST_TS_MS <= ts_ms <= now_ms + FUTURE_TOLERANCE_MS
    ):
        quality = Quality.VALID if spec.low <= value <= spec.high else Quality.IMPLAUSIBLE
        # tuple.__new__ skips the named tuple's Python-level __new__: a third of the cost.
        return _new_tuple(Reading, (node_id, coop_id, site_id, metric, value, ts_ms, quality))
    refuse = _refuser(node_id, metric)
    if spec is None:
        return refuse(RejectReason.UNKNOWN_METRIC, f"metric {str(metric)[:60]!r} is not in the catalogue")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return refuse(RejectReason.NOT_A_NUMBER, f"{metric} value {str(value)[:40]!r} is not a number")
    try:
        number = float(value)
    except OverflowError:  # an integer of more than 308 digits
        bits = value.bit_length() if isinstance(value, int) else 0
        return refuse(RejectReason.OUT_OF_RANGE, f"{metric} value of {bits} bits is beyond any float")
    if math.isnan(number):
        return refuse(RejectReason.NAN, f"{metric} value is NaN")
    if math.isinf(number):
        return refuse(RejectReason.INFINITE, f"{metric} value is infinite")
    if isinstance(ts_ms, bool) or not isinstance(ts_ms, int):
        return refuse(RejectReason.BAD_TIMESTAMP, f"timestamp {str(ts_ms)[:40]!r} is not an integer of ms")
    if not _INT64_MIN <= ts_ms <= _INT64_MAX:
        return refuse(RejectReason.OUT_OF_RANGE, f"timestamp of {ts_ms.bit_length()} bits is beyond 64 bits")
    if ts_ms < EARLIEST_TS_MS:
        return refuse(RejectReason.ANCIENT_TIMESTAMP, f"timestamp {ts_ms} ms is before 2000-01-01")
    if ts_ms > now_ms + FUTURE_TOLERANCE_MS:
        ahead_h = (ts_ms - now_ms) / 3_600_000
        return refuse(RejectReason.FUTURE_TIMESTAMP, f"timestamp is {ahead_h:.1f} h in the future")
    quality = Quality.VALID if spec.is_plausible(number) else Quality.IMPLAUSIBLE
    return Reading(node_id, coop_id, site_id, metric, number, ts_ms, quality)


def make_readings(
    node_id: str,
    coop_id: str,
    site_id: str,
    samples: Iterable[tuple[object, object, object]],
    now_ms: int,
) -> tuple[list[Reading], list[tuple[tuple[object, object, object], Rejection]]]:
    """:func:`make_reading` for each (metric, value, ts_ms) of one node whose ids are checked:
    the readings, and each refused sample with its :class:`Rejection`, in input order.

    Ingest's hot path: the common case (a catalogue metric, a finite float, an int timestamp in the
    window) is decided here without a call per sample, by :func:`make_reading`'s own first test;
    every other sample goes through :func:`make_reading` itself. A test holds the two equal over the
    whole input space.
    """
    readings: list[Reading] = []
    refused: list[tuple[tuple[object, object, object], Rejection]] = []
    catalogue, new, valid, implausible = CATALOGUE, _new_tuple, Quality.VALID, Quality.IMPLAUSIBLE
    latest = now_ms + FUTURE_TOLERANCE_MS
    for sample in samples:
        metric, value, ts_ms = sample
        spec = catalogue.get(metric) if type(metric) is str else None
        if (
            spec is not None
            and type(value) is float
            and type(ts_ms) is int
            and value - value == 0.0
            and EARLIEST_TS_MS <= ts_ms <= latest
        ):
            quality = valid if spec.low <= value <= spec.high else implausible
            readings.append(new(Reading, (node_id, coop_id, site_id, metric, value, ts_ms, quality)))
            continue
        made = make_reading(
            node_id=node_id,
            coop_id=coop_id,
            site_id=site_id,
            metric=metric,  # type: ignore[arg-type]  # make_reading explains a metric that is no str
            value=value,
            ts_ms=ts_ms,
            now_ms=now_ms,
            ids_checked=True,
        )
        if type(made) is Reading:
            readings.append(made)
        else:
            assert isinstance(made, Rejection)
            refused.append((sample, made))
    return readings, refused
