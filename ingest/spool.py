"""The local spool: readings that could not reach the store wait here, on disk, in order.

Append-only segment files of JSON lines (one line per batch, fsynced before the batch's messages
are acknowledged), replayed oldest first when the store is back; a segment is deleted only after
all its readings were written. It survives a restart, whatever state it was left in (full, a torn
last line, a corrupted line, a stray file): what can be read is replayed; a line that cannot is
moved out of the segment into ``spool-corrupt/`` beside the spool, raw bytes kept, and reported as
a :class:`CorruptLine` (ingest makes each a ``spool_corrupt`` dead letter). A torn last line is what
a crash mid-append leaves: its messages were never acknowledged, so the broker delivers them again.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import SpoolFull
from sensors import Quality, Reading

__all__ = ["CorruptLine", "Spool", "SpoolFull"]

log = logging.getLogger("panen.ingest.spool")

# Segments are rotated at this size so replay can delete finished work in pieces.
SEGMENT_BYTES = 8 * 1024 * 1024
_SEGMENT_RE = re.compile(r"^segment-(\d{1,18})\.jsonl$")


@dataclass(frozen=True)
class CorruptLine:
    """A spool line (or file) that could not be read, and where its raw bytes were put."""

    segment: str
    line: int  # 0: the whole file
    error: str
    kept_at: Path
    raw: bytes
    torn: bool  # the last line without its newline: an append cut short by a crash


def _encode(readings: Sequence[Reading]) -> bytes:
    rows = [[r.node_id, r.coop_id, r.site_id, r.metric, r.value, r.ts_ms, int(r.quality)] for r in readings]
    return (json.dumps(rows, separators=(",", ":")) + "\n").encode()


def _decode(line: bytes) -> list[Reading]:
    return [Reading(n, c, s, m, float(v), int(t), Quality(q)) for n, c, s, m, v, t, q in json.loads(line)]


class Spool:
    """A bounded on-disk FIFO of reading batches (see the module docstring)."""

    def __init__(self, directory: Path, *, max_bytes: int, quarantine: Path | None = None) -> None:
        """Open the spool in ``directory`` (created if needed), counting what an earlier run left;
        unreadable lines go to ``quarantine`` (default ``spool-corrupt`` beside it)."""
        self.directory = directory
        self.max_bytes = max_bytes
        self.quarantine = quarantine or directory.with_name(directory.name + "-corrupt")
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._corrupt: list[CorruptLine] = []
        segments: list[tuple[int, Path]] = []
        for path in sorted(directory.iterdir()):
            match = _SEGMENT_RE.match(path.name)
            if match and path.is_file():
                segments.append((int(match.group(1)), path))
            else:
                self._set_aside(path, 0, b"", "not a spool segment", torn=False)
        segments.sort()
        self._segments = [p for _, p in segments]
        self._readings = 0
        for path in list(self._segments):
            batches = self._read(path)
            self._readings += sum(len(b) for b in batches)
        self._segments = [p for p in self._segments if p.exists()]
        self._bytes = sum(p.stat().st_size for p in self._segments)
        self._next = (segments[-1][0] + 1) if segments else 1
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

    def take_corrupt(self) -> list[CorruptLine]:
        """The unreadable lines found since the last call (each reported once)."""
        with self._lock:
            found, self._corrupt = self._corrupt, []
        return found

    def _set_aside(self, path: Path, line: int, raw: builtins.bytes, error: str, *, torn: bool) -> Path:
        """Keep unreadable bytes (or a whole stray file) in the quarantine folder; report them."""
        self.quarantine.mkdir(parents=True, exist_ok=True)
        kept = self.quarantine / (f"{path.name}.line-{line}" if line else path.name)
        if line:
            kept.write_bytes(raw)
        else:
            try:
                raw = path.read_bytes()[:4096] if path.is_file() else b""
            except OSError:
                raw = b""
            os.replace(path, kept)
        with self._lock:
            self._corrupt.append(CorruptLine(path.name, line, error, kept, raw, torn))
        log.error(
            "spool %s%s cannot be read (%s): kept in %s",
            path.name,
            f" line {line}" if line else "",
            error,
            kept,
        )
        return kept

    def _read(self, path: Path) -> list[list[Reading]]:
        """The segment's batches; unreadable lines are moved out of it into the quarantine folder."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            self._set_aside(path, 0, b"", f"unreadable: {exc.strerror}", torn=False)
            return []
        batches: list[list[Reading]] = []
        good: list[builtins.bytes] = []
        bad = False
        lines = data.splitlines(keepends=True)
        for number, line in enumerate(lines, 1):
            torn = number == len(lines) and not line.endswith(b"\n")
            try:
                if torn:
                    raise ValueError("the last line has no newline: an append cut short")
                batches.append(_decode(line))
                good.append(line)
            except (ValueError, TypeError, OverflowError) as exc:
                self._set_aside(path, number, line, str(exc)[:200], torn=torn)
                bad = True
        if bad:  # rewrite the segment without them, so they are not read (and reported) again
            tmp = path.with_suffix(".rewrite")
            tmp.write_bytes(b"".join(good))
            with tmp.open("rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
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
                    # Nothing left on disk: lines that turned unreadable since they were counted
                    # were set aside, so the counts start again from what is there.
                    self._readings, self._bytes = 0, 0
                    return done
                segment = self._segments[0]
                if segment == self._active:
                    self._active = None  # later appends start a new segment
            # Read outside the lock: the segment is no longer the one appends go to, and an 8 MiB
            # read must not hold up the flusher's appends.
            before = segment.stat().st_size if segment.exists() else 0
            batches = self._read(segment)
            after = segment.stat().st_size if segment.exists() else 0
            with self._lock:
                self._bytes -= before - after  # corrupt lines set aside just now
            for batch in batches:
                write(batch)
            size = segment.stat().st_size if segment.exists() else 0
            segment.unlink(missing_ok=True)
            with self._lock:
                self._segments.pop(0)
                self._bytes -= size
                self._readings -= sum(len(b) for b in batches)
                done += sum(len(b) for b in batches)
