"""The bounded local dead-letter log: every refused message, one JSON line each.

Two files at most (``deadletters.jsonl`` and the previous ``deadletters.1.jsonl``), bounded by size
(never past twice ``max_bytes``) and by age: the current file becomes the previous one once its
first letter is half of ``max_age_s`` old, and the previous one is deleted half of ``max_age_s``
after that. Ingest checks every 15 s (:meth:`DeadLetterLog.expire`), so no letter is kept longer
than ``max_age_s`` (default 7 days) and those checks, and none is dropped for age before half of it.
The counts by reason live in the Prometheus metrics, which keep no such limit.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ingest.files import append_all_or_nothing
from ingest.pipeline import DeadLetter

__all__ = ["DeadLetterLog"]


class DeadLetterLog:
    """Append-only, rotated by size and age, fsynced per batch."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int,
        max_age_s: float = 7 * 86_400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Log to ``path`` (parent created), rotating to ``<stem>.1.jsonl`` (see the module docstring)."""
        self.path = path
        self.previous = path.with_name(path.stem + ".1.jsonl")
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._started = self._first_letter_s(path)

    @staticmethod
    def _first_letter_s(path: Path) -> float | None:
        """When the file's first letter was received [s], if it has one that says so."""
        try:
            with path.open("rb") as f:
                first = f.readline()
            return float(json.loads(first)["received_ms"]) / 1000
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def append(self, letters: Sequence[DeadLetter]) -> None:
        """Write the letters and fsync, rotating first when the file is too big or too old."""
        if not letters:
            return
        data = "".join(letter.to_json() + "\n" for letter in letters).encode()
        now = self._clock()
        with self._lock:
            if self.path.exists() and self.path.stat().st_size + len(data) > self.max_bytes:
                self._rotate(now)
            self._expire(now)
            append_all_or_nothing(self.path, data)  # a full disk leaves no half letter to join
            if self._started is None:
                self._started = now

    def expire(self) -> None:
        """Rotate and delete by age (see the module docstring); ingest calls this every 15 s."""
        with self._lock:
            self._expire(self._clock())

    def _rotate(self, now: float) -> None:
        os.replace(self.path, self.previous)
        os.utime(self.previous, (now, now))  # when it was rotated: its age is counted from here
        self._started = None

    def _expire(self, now: float) -> None:
        half = self.max_age_s / 2
        if self._started is not None and now - self._started > half and self.path.exists():
            self._rotate(now)
        try:
            rotated = self.previous.stat().st_mtime
        except FileNotFoundError:
            return
        if now - rotated > half:
            self.previous.unlink(missing_ok=True)
