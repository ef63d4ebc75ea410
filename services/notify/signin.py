"""Signing in to the field page without a password: a personal link, or a one-time code sent over the
person's own channel.

A link or code is kept only as its SHA-256, works once (a conditional update that one request wins),
and expires: links after :data:`LINK_TTL` (a day: a farmer opens a message in the evening), codes after
:data:`CODE_TTL` (10 minutes, the time to type six digits); a code takes :data:`MAX_GUESSES` wrong tries
and then is dead. Redeeming gives a session: an API token of exactly the contact's role and scope
(farmer: their fields; manager: their cooperative), expiring after :data:`SESSION_TTL`. Coosae staff
and admins use API tokens, never a link sent over a chat.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services import InvalidInput, RateLimited
from services.access import Role, create_token, hash_token
from services.notify.allowance import check_contact_allowance
from services.notify.channels import check_address
from services.notify.messages import sign_in_message
from services.notify.outbox import NotifyConfig, enqueue
from storage.db import Contact, ContactChannel, SignIn

__all__ = [
    "CODE_TTL",
    "LINK_TTL",
    "MAX_GUESSES",
    "SESSION_TTL",
    "contact_by_address",
    "issue_link",
    "link_is_open",
    "redeem_code",
    "redeem_link",
    "send_code",
]

LINK_TTL = dt.timedelta(hours=24)
CODE_TTL = dt.timedelta(minutes=10)
SESSION_TTL = dt.timedelta(days=30)
MAX_GUESSES = 5
MAX_OPEN_CODES = 3  # a person asking again and again gets no flood of codes
_SIGNS_IN = (Role.FARMER.value, Role.COOP_MANAGER.value)


def _code_hash(contact_id: int, code: str) -> str:
    return hash_token(f"code:{contact_id}:{code}")


def _check_role(contact: Contact) -> None:
    if contact.role not in _SIGNS_IN:
        raise InvalidInput(
            "only farmers and cooperative managers sign in to the field page; others use API tokens"
        )


def issue_link(session: Session, contact: Contact, config: NotifyConfig, now: dt.datetime) -> str:
    """A personal sign-in link for ``contact`` (its URL; shown or sent once).

    Raises:
        InvalidInput: the contact is not a farmer's or a manager's.
    """
    _check_role(contact)
    secret = secrets.token_urlsafe(24)
    session.add(
        SignIn(
            contact_id=contact.id,
            secret_sha256=hash_token(secret),
            kind="link",
            created_at=now,
            expires_at=now + LINK_TTL,
            failed_guesses=0,
        )
    )
    session.commit()
    return f"{config.public_url.rstrip('/')}/f/masuk/{secret}"


def contact_by_address(session: Session, address: str) -> Contact | None:
    """The farmer's or manager's contact one of whose confirmed channels is ``address`` (a phone
    number may be written 08…, as Indonesians do)."""
    text = address.strip()
    candidates = {text}
    for kind in ("whatsapp", "telegram", "email"):  # as the channel stored it (check_address's form)
        with contextlib.suppress(InvalidInput):
            candidates.add(check_address(kind, text))
    return session.scalars(
        select(Contact)
        .join(ContactChannel, ContactChannel.contact_id == Contact.id)
        .where(
            ContactChannel.address.in_(candidates),
            ContactChannel.confirmed_at.is_not(None),
            Contact.role.in_(_SIGNS_IN),
        )
    ).first()


def send_code(session: Session, contact: Contact, config: NotifyConfig, now: dt.datetime) -> bool:
    """Put a one-time code (and a link) in the outbox for every confirmed channel of ``contact``;
    False when enough codes are already open (the person should use one of those), when the contact
    has no confirmed channel, or when the codes would pass its daily cap (every message counts:
    :mod:`services.notify.allowance`; a manager can still hand over a link in person)."""
    _check_role(contact)
    channels = list(
        session.scalars(
            select(ContactChannel).where(
                ContactChannel.contact_id == contact.id, ContactChannel.confirmed_at.is_not(None)
            )
        )
    )
    if not channels:
        return False
    try:
        check_contact_allowance(session, contact, len(channels), now)
    except RateLimited:
        return False
    open_codes = session.scalars(
        select(SignIn.id).where(
            SignIn.contact_id == contact.id,
            SignIn.kind == "code",
            SignIn.used_at.is_(None),
            SignIn.expires_at > now,
        )
    ).all()
    if len(open_codes) >= MAX_OPEN_CODES:
        return False
    code = f"{secrets.randbelow(1_000_000):06d}"
    row = SignIn(
        contact_id=contact.id,
        secret_sha256=_code_hash(contact.id, code),
        kind="code",
        created_at=now,
        expires_at=now + CODE_TTL,
        failed_guesses=0,
    )
    session.add(row)
    session.flush()
    link = issue_link(session, contact, config, now)  # commits the code too
    enqueue(
        session,
        contact=contact,
        channels=channels,
        key=f"sign-in:{row.id}",
        message=sign_in_message(
            code=code, link=link, language=contact.language, minutes=int(CODE_TTL.total_seconds() // 60)
        ),
        event="sign_in",
        urgent=True,  # asked for this minute, quiet hours or not
        due_at=now,
        now=now,
        capped=False,
    )
    session.commit()
    return True


def _session_token(session: Session, contact: Contact, now: dt.datetime) -> str:
    role = Role(contact.role)
    return create_token(
        session,
        name=f"field page: {contact.name}",
        role=role,
        coop_id=contact.coop_id if role is Role.COOP_MANAGER else None,
        farmer_id=contact.farmer_id if role is Role.FARMER else None,
        expires_at=now + SESSION_TTL,
        contact_id=contact.id,
    )


def _use(session: Session, row: SignIn, now: dt.datetime) -> bool:
    won = session.execute(
        update(SignIn).where(SignIn.id == row.id, SignIn.used_at.is_(None)).values(used_at=now)
    )
    return bool(won.rowcount)  # type: ignore[attr-defined]


def link_is_open(session: Session, secret: str, now: dt.datetime) -> bool:
    """Whether a link may still be used (unused, unexpired, of a contact that exists); nothing is
    spent: a messenger's link preview, a mail scanner and a HEAD look without using it."""
    row = session.scalars(
        select(SignIn).where(SignIn.secret_sha256 == hash_token(secret), SignIn.kind == "link")
    ).first()
    return (
        row is not None
        and row.used_at is None
        and row.expires_at > now
        and session.get(Contact, row.contact_id) is not None
    )


def redeem_link(session: Session, secret: str, now: dt.datetime) -> str | None:
    """The session token for a valid, unused, unexpired link (which is then used up); else None."""
    row = session.scalars(
        select(SignIn).where(SignIn.secret_sha256 == hash_token(secret), SignIn.kind == "link")
    ).first()
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    contact = session.get(Contact, row.contact_id)
    if contact is None or not _use(session, row, now):
        session.rollback()
        return None
    return _session_token(session, contact, now)  # commits the use with the token


def redeem_code(session: Session, contact: Contact, code: str, now: dt.datetime) -> str | None:
    """The session token for a right code of ``contact`` (then used up); a wrong one counts against
    every open code of the contact, which die after :data:`MAX_GUESSES`."""
    open_codes = list(
        session.scalars(
            select(SignIn).where(
                SignIn.contact_id == contact.id,
                SignIn.kind == "code",
                SignIn.used_at.is_(None),
                SignIn.expires_at > now,
                SignIn.failed_guesses < MAX_GUESSES,
            )
        )
    )
    wanted = _code_hash(contact.id, code.strip())
    for row in open_codes:
        if secrets.compare_digest(row.secret_sha256, wanted):
            if not _use(session, row, now):
                session.rollback()
                return None
            return _session_token(session, contact, now)
    for row in open_codes:
        row.failed_guesses += 1
    session.commit()
    return None
