"""The bounded local dead-letter log: every refused message or reading, one JSON line each.

Two files at most (``deadletters.jsonl`` and the previous ``deadletters.1.jsonl``), so the log
never grows past twice ``max_bytes``; the counts by reason live in the Prometheus metrics.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from ingest.pipeline import DeadLetter

__all__ = ["DeadLetterLog"]


class DeadLetterLog:
    """Append-only, rotated, fsynced per batch."""

    def __init__(self, path: Path, *, max_bytes: int) -> None:
        """Log to ``path`` (parent created), rotating to ``<stem>.1.jsonl`` past ``max_bytes``."""
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def append(self, letters: Sequence[DeadLetter]) -> None:
        """Write the letters and fsync."""
        if not letters:
            return
        data = "".join(letter.to_json() + "\n" for letter in letters).encode()
        with self._lock:
            if self.path.exists() and self.path.stat().st_size + len(data) > self.max_bytes:
                os.replace(self.path, self.path.with_name(self.path.stem + ".1.jsonl"))
            with self.path.open("ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
