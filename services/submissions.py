"""Idempotent record creation (issue 39: the same form sent twice, a retry after a lost answer, saved
two identical 1,200 kg harvests 27 ms apart).

A request that creates a record may carry a key: the field page's forms a hidden ``submission`` key
made when the page was drawn, an API client the ``Idempotency-Key`` header. The first request with a
key stores its record and the key in one transaction (:class:`storage.db.Submission`, unique per
person and key); the same key from the same person again is answered with that record and nothing new
is stored, whether the first request finished long ago or a moment ago in another worker (the unique
index decides the race). The same key with another request is refused: it is a client's bug, and
guessing which of the two was meant would lose one.

Keys are per person (:func:`services.notify.allowance.sender_of`'s notion: a farmer, a cooperative's
managers, a token), so one farmer's key never answers another's request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import InvalidInput
from services.access import Principal, sender_of
from storage.db import Submission

__all__ = ["Key", "check_key", "fingerprint", "key_for", "previous"]

MAX_KEY = 100


@dataclass(frozen=True)
class Key:
    """A request's idempotency key, whose it is, what kind of record it makes and what it asked."""

    by: str
    key: str
    kind: str
    fingerprint: str

    def row(self, row_id: int) -> Submission:
        """The row that remembers this key made ``row_id`` (add it in the record's transaction)."""
        return Submission(
            by=self.by[:200], key=self.key, kind=self.kind, fingerprint=self.fingerprint, row_id=row_id,
            created_at=dt.datetime.now(dt.UTC),
        )  # fmt: skip


def fingerprint(**asked: object) -> str:
    """SHA-256 of what a request asked, in a canonical form."""
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode()).hexdigest()


def check_key(key: str) -> str:
    """A key as given, stripped.

    Raises:
        InvalidInput: empty, too long, or not printable ASCII.
    """
    text = key.strip()
    if not text or len(text) > MAX_KEY or not text.isascii() or not text.isprintable():
        raise InvalidInput(f"Idempotency-Key: 1 to {MAX_KEY} printable ASCII characters")
    return text


def key_for(principal: Principal, key: str | None, kind: str, **asked: object) -> Key | None:
    """The idempotency key of ``principal``'s request to make a ``kind`` record with ``asked``, or
    None without a key (a form of an older page, an API call without ``Idempotency-Key``).

    Raises:
        InvalidInput: the key is empty, too long or not printable ASCII.
    """
    if key is None:
        return None
    return Key(sender_of(principal), check_key(key), kind, fingerprint(**asked))


def previous(session: Session, key: Key) -> int | None:
    """The record an earlier request with ``key`` made, or None.

    Raises:
        InvalidInput: the key was used for another request (another record, or other values).
    """
    found = session.scalars(
        select(Submission).where(Submission.by == key.by, Submission.key == key.key)
    ).first()
    if found is None:
        return None
    if found.kind != key.kind or found.fingerprint != key.fingerprint:
        raise InvalidInput(
            f"Idempotency-Key {key.key!r} was already used for another request; use a new key for a new "
            "record",
            farmer="formulir ini sudah dipakai untuk catatan lain; muat ulang halaman lalu isi lagi.",
        )
    return found.row_id
