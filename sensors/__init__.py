"""What a reading is: the metric catalogue, the `Reading` record and its validator.

``sensors`` imports nothing else of panen: it is the vocabulary every other package speaks.
The metric catalogue (:mod:`sensors.catalogue`) is the platform's one glossary of names, units
and plausible ranges; :mod:`sensors.reading` classifies each value as valid, implausible (kept,
flagged) or invalid (refused with a reason code).

Errors (:mod:`sensors.errors`)::

    SensorsError
    ├── CodecError     a whole payload is unusable (sensors.codecs): ``reason`` is a stable code
    └── ProfileError   a device profile file is malformed (sensors.profiles; also a ValueError)

A value that fails validation is not an error: it is a :class:`Rejection` with a reason.
"""

from sensors.catalogue import CATALOGUE, Metric, metric_names
from sensors.reading import (
    Quality,
    Reading,
    Rejection,
    RejectReason,
    check_id,
    make_reading,
    make_readings,
)

__all__ = [
    "CATALOGUE",
    "Metric",
    "Quality",
    "Reading",
    "RejectReason",
    "Rejection",
    "check_id",
    "make_reading",
    "make_readings",
    "metric_names",
]
