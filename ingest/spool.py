"""The local spool: readings that could not reach the store wait here, on disk, in order.

Append-only segment files of JSON lines (one line per batch, fsynced before the batch's messages
are acknowledged), replayed oldest first when the store is back; a segment is deleted only after
all its readings were written. It survives a restart. A torn last line (a crash mid-append) is
skipped: its messages were never acknowledged, so the broker delivers them again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from ingest.errors import SpoolFull
from sensors import Quality, Reading

__all__ = ["Spool", "SpoolFull"]

log = logging.getLogger("panen.ingest.spool")

# Segments are rotated at this size so replay can delete finished work in pieces.
SEGMENT_BYTES = 8 * 1024 * 1024


def _encode(readings: Sequence[Reading]) -> bytes:
    rows = [[r.node_id, r.coop_id, r.site_id, r.metric, r.value, r.ts_ms, int(r.quality)] for r in readings]
    return (json.dumps(rows, separators=(",", ":")) + "\n").encode()


def _decode(line: bytes) -> list[Reading]:
    return [Reading(n, c, s, m, float(v), int(t), Quality(q)) for n, c, s, m, v, t, q in json.loads(line)]


class Spool:
    """A bounded on-disk FIFO of reading batches (see the module docstring)."""

    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        """Open the spool in ``directory`` (created if needed), counting what an earlier run left."""
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._segments = sorted(directory.glob("segment-*.jsonl"))
        self._bytes = sum(p.stat().st_size for p in self._segments)
        self._readings = sum(len(batch) for p in self._segments for batch in self._read(p))
        last = int(self._segments[-1].stem.split("-")[1]) if self._segments else 0
        self._next = last + 1
        self._active: Path | None = None

    @property
    def bytes(self) -> int:
        """Bytes on disk."""
        return self._bytes

    @property
    def readings(self) -> int:
        """Readings waiting."""
        return self._readings

    def __len__(self) -> int:
        return self._readings

    def append(self, readings: Sequence[Reading]) -> None:
        """Append one batch and fsync it.

        Raises:
            SpoolFull: the batch would take the spool past ``max_bytes`` (nothing was written).
            OSError: the disk refused the write.
        """
        data = _encode(readings)
        with self._lock:
            if self._bytes + len(data) > self.max_bytes:
                raise SpoolFull(f"spool at {self._bytes} of {self.max_bytes} bytes")
            if self._active is None or self._active.stat().st_size >= SEGMENT_BYTES:
                self._active = self.directory / f"segment-{self._next:012d}.jsonl"
                self._next += 1
                self._segments.append(self._active)
            with self._active.open("ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._bytes += len(data)
            self._readings += len(readings)

    def _read(self, path: Path) -> list[list[Reading]]:
        batches = []
        with path.open("rb") as f:
            for number, line in enumerate(f, 1):
                try:
                    batches.append(_decode(line))
                except (ValueError, TypeError) as exc:
                    log.warning("spool %s line %d is torn or corrupt, skipped: %s", path.name, number, exc)
        return batches

    def replay(self, write: Callable[[Sequence[Reading]], object]) -> int:
        """Write every spooled batch, oldest first, deleting each segment once written.

        ``write`` raising stops the replay; what was not written stays for the next call.

        Returns:
            How many readings were written.
        """
        done = 0
        while True:
            with self._lock:
                if not self._segments:
                    return done
                segment = self._segments[0]
                if segment == self._active:
                    self._active = None  # later appends start a new segment
            batches = self._read(segment)
            for batch in batches:
                write(batch)
            size = segment.stat().st_size
            segment.unlink()
            with self._lock:
                self._segments.pop(0)
                self._bytes -= size
                self._readings -= sum(len(b) for b in batches)
                done += sum(len(b) for b in batches)
