"""The local spool: readings that could not reach the store wait here, on disk, in order.

Append-only segment files of JSON lines (one line per batch, fsynced before the batch's messages
are acknowledged), replayed oldest first when the store is back; a segment is deleted only after
all its readings were written. It survives a restart, whatever state it was left in (full, a torn
last line, a corrupted line, a stray file): what can be read is replayed; a line that cannot is
moved out of the segment into ``spool-corrupt/`` beside the spool, raw bytes kept, and reported as
a :class:`CorruptLine` (ingest makes each a ``spool_corrupt`` dead letter). A torn last line is what
a crash mid-append leaves: its messages were never acknowledged, so the broker delivers them again.

A full disk is a state, not damage (issue 35): an append the disk refuses is cut back to the last
good line (:func:`ingest.files.append_all_or_nothing`), so the next append after space returns is
not glued to it; and recovery needs no free space: a torn last line is cut off (its bytes kept in
``spool-corrupt/`` if there is room), a stray file is renamed, and a corrupt line that cannot be
copied out is skipped in place and its segment renamed into ``spool-corrupt/`` once replayed. The
quarantine folder is made up front, while there is room, so that those renames need none.
"""

from __future__ import annotations

import builtins
import errno
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import SpoolFull
from ingest.files import TornTail, append_all_or_nothing
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
        try:  # made now, while there is room: setting lines aside on a full disk is then a rename
            self.quarantine.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("cannot make the spool's quarantine folder %s: %s", self.quarantine, exc)
        self._lock = threading.Lock()
        self._corrupt: list[CorruptLine] = []
        # Unreadable lines that could not be moved out of their segment (the disk was full): skipped
        # when read, reported once, and the segment renamed into quarantine once replayed.
        self._skipped: dict[Path, set[int]] = {}
        segments: list[tuple[int, Path]] = []
        for path in sorted(directory.iterdir()):
            match = _SEGMENT_RE.match(path.name)
            if match and path.is_file():
                segments.append((int(match.group(1)), path))
            else:
                self._set_aside(path, "not a spool segment")
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
        self._active_size = 0

    @staticmethod
    def _size(path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

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

        All or nothing: if the disk refuses it, the segment is left as it was.

        Raises:
            SpoolFull: the batch would take the spool past ``max_bytes`` (nothing was written).
            OSError: the disk refused the write (nothing of it stays readable).
        """
        data = _encode(readings)
        with self._lock:
            if self._bytes + len(data) > self.max_bytes:
                raise SpoolFull(f"spool at {self._bytes} of {self.max_bytes} bytes")
            if self._active is None or self._active_size >= SEGMENT_BYTES:
                self._active = self.directory / f"segment-{self._next:012d}.jsonl"
                self._active_size = 0
                self._next += 1
                self._segments.append(self._active)
            try:
                size = append_all_or_nothing(self._active, data)
            except TornTail:
                # Its partial line stays: later appends go to a new segment, and the torn line is
                # set aside when this one is replayed (its messages were never acknowledged).
                self._bytes += self._size(self._active) - self._active_size
                self._active = None
                raise
            self._bytes += size - self._active_size
            self._active_size = size
            self._readings += len(readings)

    def take_corrupt(self) -> list[CorruptLine]:
        """The unreadable lines found since the last call (each reported once)."""
        with self._lock:
            found, self._corrupt = self._corrupt, []
        return found

    def _report(
        self, segment: str, line: int, raw: builtins.bytes, error: str, kept: Path, torn: bool
    ) -> None:
        with self._lock:
            self._corrupt.append(CorruptLine(segment, line, error, kept, raw, torn))
        log.error(
            "spool %s%s cannot be read (%s): kept in %s",
            segment,
            f" line {line}" if line else "",
            error,
            kept,
        )

    def _set_aside(self, path: Path, error: str) -> None:
        """Move a whole file that is not a readable segment into quarantine (a rename: no space needed)."""
        try:
            raw = path.read_bytes()[:4096] if path.is_file() else b""
        except OSError:
            raw = b""
        kept = self.quarantine / path.name
        try:
            os.replace(path, kept)
        except OSError as exc:  # no quarantine folder (the disk was full when it was to be made)
            log.error("spool: cannot move %s aside (%s); it is ignored", path, exc.strerror)
            return
        self._report(path.name, 0, raw, error, kept, False)

    def _keep_line(self, path: Path, line: int, raw: builtins.bytes) -> Path | None:
        """Copy one unreadable line into quarantine; None if the disk refuses."""
        kept = self.quarantine / f"{path.name}.line-{line}"
        try:
            append_all_or_nothing(kept, raw)
        except OSError:
            kept.unlink(missing_ok=True)
            return None
        return kept

    def _read(self, path: Path) -> list[list[Reading]]:
        """The segment's batches; unreadable lines are moved out of it into the quarantine folder.

        On a full disk this still succeeds: a torn last line is cut off (a truncation), and other
        unreadable lines are skipped in place (see the module docstring).
        """
        try:
            data = path.read_bytes()
        except OSError as exc:
            self._set_aside(path, f"unreadable: {exc.strerror}")
            return []
        skipped = self._skipped.get(path, set())
        batches: list[list[Reading]] = []
        good: list[builtins.bytes] = []
        bad: list[tuple[int, builtins.bytes, str]] = []
        lines = data.splitlines(keepends=True)
        torn_at: int | None = None
        for number, line in enumerate(lines, 1):
            if number in skipped:
                continue
            if number == len(lines) and not line.endswith(b"\n"):
                torn_at = len(data) - len(line)
                kept = self._keep_line(path, number, line)
                error = "the last line has no newline: an append cut short"
                self._report(path.name, number, line, error, kept or path, True)
                continue
            try:
                batches.append(_decode(line))
                good.append(line)
            except (ValueError, TypeError, OverflowError) as exc:
                bad.append((number, line, str(exc)[:200]))
        if torn_at is not None:  # its messages were never acknowledged: cut it off, needing no space
            with path.open("r+b") as f:
                f.truncate(torn_at)
                os.fsync(f.fileno())
        if bad:
            self._move_out(path, good, bad)
        return batches

    def _move_out(
        self, path: Path, good: list[builtins.bytes], bad: list[tuple[int, builtins.bytes, str]]
    ) -> None:
        """Copy unreadable lines to quarantine and rewrite the segment without them; on a full disk,
        leave them in place, skipped from now on (the segment goes to quarantine once replayed)."""
        tmp = path.with_suffix(".rewrite")
        kept: list[tuple[int, builtins.bytes, str, Path]] = []
        try:
            for number, line, error in bad:
                copy = self._keep_line(path, number, line)
                if copy is None:
                    raise OSError(errno.ENOSPC, "no room to copy the line out")
                kept.append((number, line, error, copy))
            append_all_or_nothing(tmp, b"".join(good))
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            for *_, copy in kept:
                copy.unlink(missing_ok=True)
            log.warning("spool %s: %s; its unreadable lines are skipped in place", path.name, exc.strerror)
            self._skipped.setdefault(path, set()).update(number for number, _, _ in bad)
            kept = [(number, line, error, path) for number, line, error in bad]
        for number, line, error, where in kept:
            self._report(path.name, number, line, error, where, False)

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
            before = self._size(segment)
            batches = self._read(segment)
            after = self._size(segment)
            with self._lock:
                self._bytes -= before - after  # corrupt lines set aside just now
            for batch in batches:
                write(batch)
            size = self._size(segment)
            self._finish(segment)
            with self._lock:
                self._segments.pop(0)
                self._bytes -= size
                self._readings -= sum(len(b) for b in batches)
                done += sum(len(b) for b in batches)

    def _finish(self, segment: Path) -> None:
        """A replayed segment is deleted; one with lines skipped in place goes to quarantine instead."""
        if self._skipped.pop(segment, None):
            try:
                os.replace(segment, self.quarantine / segment.name)
                return
            except OSError as exc:
                log.error("spool %s: cannot keep its unreadable lines (%s)", segment.name, exc.strerror)
        segment.unlink(missing_ok=True)
