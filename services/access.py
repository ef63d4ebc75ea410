"""Access: roles, principals and API tokens.

A token is 32 random bytes (URL-safe base64), shown once at creation; the registry keeps only its
SHA-256 (a fast hash is right for high-entropy tokens: there is nothing to brute-force).

Roles and what they see:

- ``farmer``: their own fields;
- ``coop_manager``: their cooperative's fields;
- ``offtaker`` (Coosae): every cooperative, read; writes harvest records;
- ``admin``: everything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from forecast.crops import load_crops
from services import InvalidInput, NotFound, OutOfScope
from storage.db import ApiToken, Base, Cooperative, Farmer, Field

__all__ = [
    "FieldScope",
    "Principal",
    "Recent",
    "Role",
    "TokenCache",
    "check_field",
    "check_filters",
    "create_token",
    "field_in_scope",
    "field_scope",
    "hash_token",
    "list_tokens",
    "require",
    "resolve",
    "revoke",
    "revoke_token",
    "row_in_scope",
    "sender_of",
]


class Role(StrEnum):
    """Who a token speaks for."""

    FARMER = "farmer"
    COOP_MANAGER = "coop_manager"
    OFFTAKER = "offtaker"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller and their scope."""

    token_id: int
    name: str
    role: Role
    coop_id: str | None
    farmer_id: str | None

    @property
    def sees_all(self) -> bool:
        """Offtaker and admin read every cooperative."""
        return self.role in (Role.OFFTAKER, Role.ADMIN)

    def can_see_coop(self, coop_id: str) -> bool:
        """Whether the cooperative is in scope (farmers: their own cooperative's summary)."""
        return self.sees_all or coop_id == self.coop_id

    def can_see_field(self, field: Field | FieldScope) -> bool:
        """Whether the field is in scope."""
        if self.sees_all:
            return True
        if self.role is Role.COOP_MANAGER:
            return field.coop_id == self.coop_id
        return field.farmer_id is not None and field.farmer_id == self.farmer_id

    def field_filter(self) -> ColumnElement[bool] | None:
        """The SQL twin of :meth:`can_see_field`: a condition on ``Field``, or None for "every field"."""
        if self.sees_all:
            return None
        if self.role is Role.COOP_MANAGER:
            return Field.coop_id == self.coop_id
        return Field.farmer_id == self.farmer_id


def sender_of(principal: Principal) -> str:
    """Whose request it is, for limits and idempotency keys: a farmer (every session of theirs), a
    cooperative's managers, or one token (Coosae staff, admins)."""
    if principal.role is Role.FARMER:
        return f"farmer:{principal.farmer_id}"
    if principal.role is Role.COOP_MANAGER:
        return f"coop_manager:{principal.coop_id}"
    return f"token:{principal.token_id}"


def hash_token(token: str) -> str:
    """SHA-256 hex of a token, or of any secret panen keeps only as its hash (sign-in links and codes,
    channel confirmations)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    *,
    name: str,
    role: Role,
    coop_id: str | None = None,
    farmer_id: str | None = None,
    expires_at: dt.datetime | None = None,
    contact_id: int | None = None,
) -> str:
    """Create a token and return it (the only time it is visible); with ``expires_at`` it stops
    working then (the field page's sign-in sessions, which name their ``contact_id``).

    Raises:
        InvalidInput: the role needs a cooperative or farmer that is missing or unknown.
    """
    if role is Role.FARMER:
        farmer = session.get(Farmer, farmer_id) if farmer_id else None
        if farmer is None:
            raise InvalidInput(f"a farmer token needs an existing --farmer (got {farmer_id!r})")
        coop_id = farmer.coop_id
    if role is Role.COOP_MANAGER and (not coop_id or session.get(Cooperative, coop_id) is None):
        raise InvalidInput(f"a coop_manager token needs an existing --coop (got {coop_id!r})")
    token = "pn_" + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            name=name,
            token_sha256=hash_token(token),
            role=role.value,
            coop_id=coop_id,
            farmer_id=farmer_id,
            created_at=dt.datetime.now(dt.UTC),
            expires_at=expires_at,
            contact_id=contact_id,
        )
    )
    session.commit()
    return token


def resolve(session: Session, token: str) -> Principal | None:
    """The principal of a valid, unrevoked, unexpired token (read from the registry every time)."""
    row = session.scalars(select(ApiToken).where(ApiToken.token_sha256 == hash_token(token))).first()
    if row is None or row.revoked:
        return None
    if row.expires_at is not None and row.expires_at <= dt.datetime.now(dt.UTC):
        return None
    return Principal(row.id, row.name, Role(row.role), row.coop_id, row.farmer_id)


K = TypeVar("K")
_T = TypeVar("_T")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """What was looked up in the registry lately, so a busy client costs no registry query per request.

    Entries live ``ttl_s`` seconds: a change another process makes (``panen token revoke``, a field
    given to another farmer) takes effect within that time. Misses are not cached, so a new token or
    field works at once. Thread-safe enough for its use: dict reads and writes are atomic, and a race
    only costs a lookup.
    """

    def __init__(self, ttl_s: float = 10.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        """The cached value of ``key`` if still fresh."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        """Remember a looked-up value for ``ttl_s``."""
        if len(self._entries) >= self.max_entries:
            self._entries = {}
        self._entries[key] = (time.monotonic() + self.ttl_s, value)

    def clear(self) -> None:
        """Forget every entry (after a change in this process: a revocation, a field's new farmer)."""
        self._entries = {}


TokenCache = Recent[str, Principal]


@dataclass(frozen=True, slots=True)
class FieldScope:
    """What a scope check needs of a field (:meth:`Principal.can_see_field`): cached per field by the
    API, so a cheap read (the latest readings) spends no registry query on its check."""

    id: str
    coop_id: str
    farmer_id: str | None


def field_scope(session: Session, field_id: str) -> FieldScope | None:
    """The field's :class:`FieldScope`, or None for an unknown field."""
    row = session.get(Field, field_id)
    return None if row is None else FieldScope(row.id, row.coop_id, row.farmer_id)


def check_field(principal: Principal, field_id: str, scope: FieldScope | None) -> FieldScope:
    """``scope`` if the caller may see the field; else as :func:`row_in_scope` refuses."""
    return _visible(principal, "field", field_id, scope, principal.can_see_field)


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token's row (its hash, never the token), oldest first."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, token: str) -> bool:
    """Revoke a token by its value (a session signing out); returns whether it existed."""
    row = session.scalars(select(ApiToken).where(ApiToken.token_sha256 == hash_token(token))).first()
    if row is None:
        return False
    row.revoked = True
    session.commit()
    return True


def revoke(session: Session, token_id: int) -> bool:
    """Revoke a token by its id; returns whether it existed."""
    row = session.get(ApiToken, token_id)
    if row is None:
        return False
    row.revoked = True
    session.commit()
    return True


# --- scope: who may see which row --------------------------------------------------------------

_Row = TypeVar("_Row", bound=Base)


def require(principal: Principal, *roles: Role) -> None:
    """Refuse (:class:`OutOfScope`, a 403) unless the caller has one of ``roles``."""
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise OutOfScope(f"this needs the role {allowed}; your token is {principal.role.value}")


def row_in_scope(
    session: Session, principal: Principal, model: type[_Row], ident: str, visible: Callable[[_Row], bool]
) -> _Row:
    """The registry row ``ident`` of ``model``, if ``visible`` to the caller.

    A row outside a scoped caller's reach is :class:`OutOfScope` (403) whether or not it exists, so
    ids of other farmers' fields (or other cooperatives' rows) cannot be probed; callers who see
    everything get :class:`NotFound` (404) for an unknown id.
    """
    return _visible(principal, model.__tablename__, ident, session.get(model, ident), visible)


def _visible(
    principal: Principal, name: str, ident: str, row: _T | None, visible: Callable[[_T], bool]
) -> _T:
    """``row`` if it exists and is ``visible``; else 404 for callers who see everything, 403 for the
    others (see :func:`row_in_scope`)."""
    if row is not None and visible(row):
        return row
    if principal.sees_all:
        raise NotFound(f"no {name} {ident!r}")
    raise OutOfScope(f"{name} {ident!r} is not in your scope")


def field_in_scope(session: Session, principal: Principal, field_id: str) -> Field:
    """The field, if the caller may see it (see :func:`row_in_scope`)."""
    return row_in_scope(session, principal, Field, field_id, principal.can_see_field)


def commodity_named(name: str) -> str:
    """The crop library's name of a commodity a person typed: ``potato`` as itself, and the Indonesian
    names the field page shows (``kentang``, ``Bawang merah``, ``bawang_merah``) as their crop; a name
    that is neither is returned as typed, for :func:`check_filters` to refuse."""
    from services.notify.messages import COMMODITY_ID

    key = " ".join(name.strip().lower().replace("_", " ").split())
    crops = load_crops()
    for crop, indonesian in COMMODITY_ID.items():
        if key in (crop.replace("_", " "), indonesian) and crop in crops:
            return crop
    return name


def check_filters(
    session: Session, principal: Principal, *, coop_id: str | None = None, commodity: str | None = None
) -> None:
    """Refuse a list filter that cannot match: a mistyped commodity or cooperative would otherwise
    answer an empty list, which reads as "nothing there" (no alerts, nothing to harvest).
    :class:`InvalidInput` (422) for a commodity that is not a crop of the library; a cooperative
    answers as a registry row does (404 unknown, 403 outside a scoped caller's reach, see
    :func:`row_in_scope`)."""
    if commodity is not None and commodity not in load_crops():
        raise InvalidInput(
            f"unknown commodity {commodity!r}: one of {', '.join(sorted(load_crops()))} "
            "(or their Indonesian names: kentang, kubis, wortel, ...)"
        )
    if coop_id is not None:
        row_in_scope(session, principal, Cooperative, coop_id, lambda c: principal.can_see_coop(c.id))
