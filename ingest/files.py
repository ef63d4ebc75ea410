"""Appends that are all or nothing: what ingest acknowledges is never glued to a torn line.

A write cut short by a full disk (ENOSPC), a quota (EDQUOT) or an I/O error leaves part of the data
at the end of the file. If the next append, made after space was freed, lands right after it, the
two become one unreadable line, and the second batch's messages were already acknowledged. So a
failed append truncates the file back to where it started (truncating needs no free space); only
if even that fails does the caller seal the file and start another (:class:`TornTail`).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["TornTail", "append_all_or_nothing", "disk_is_full"]

# Errors that say "no room" rather than "something is broken".
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class TornTail(OSError):
    """An append failed and its partial bytes could not be cut off: the file ends in a torn line.

    Nothing more may be appended to that file; the torn line is set aside when it is next read.
    """


def disk_is_full(exc: OSError) -> bool:
    """Whether ``exc`` means the disk (or a quota) has no room, not a broken disk."""
    return exc.errno in _NO_ROOM


def append_all_or_nothing(path: Path, data: bytes) -> int:
    """Append ``data`` to ``path`` (created if missing) and fsync; returns the file's new size.

    On failure the file is cut back to its old size (an empty file if this call made it), and the
    error is raised.

    Raises:
        TornTail: the append failed and the file could not be cut back (seal it).
        OSError: the append failed; the file is unchanged.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as exc:
            _cut_back(fd, start, exc)
            raise
        return start + len(data)
    finally:
        os.close(fd)


def _cut_back(fd: int, start: int, cause: OSError) -> None:
    try:
        os.ftruncate(fd, start)
        os.fsync(fd)
    except OSError as exc:
        raise TornTail(
            cause.errno, f"{cause.strerror}; and the partial append could not be cut off ({exc.strerror})"
        ) from cause
