"""A channel proves it belongs to its contact before it carries anything (issue 37: a farmer added a
stranger's e-mail address to their contact and had panen mail it thirty times).

A channel added by a farmer, a manager or Coosae staff gets one message, :func:`messages.confirm_message`
(a six-digit code and a personal link, no word anyone chose), and nothing else until it is confirmed:
by its owner opening the link and pressing *Ya, ini saya* (the link's GET only shows that page, so a
messenger's preview confirms nothing), or by the code, which the owner tells the person enrolling
them (``POST /v1/contacts/{id}/channels/{id}/confirm``). The owner may also press *Bukan saya*, which
removes the channel. A confirmation expires after :data:`CONFIRM_TTL` and takes :data:`MAX_GUESSES`
wrong codes; a new one may be asked for (``…/confirmation``) within :mod:`services.notify.allowance`'s
limits.

The admin's own additions are confirmed at once, as vouched for by them: the admin holds the
registry, the channels' credentials and every token already, so a code would prove nothing against
them (and a webhook, the admin's alone to add, is a machine that reads no code).

Only hashes of the code and the link's secret are kept; the message itself is blanked in the outbox
once delivered (:data:`services.notify.outbox.SECRET_EVENTS`).
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import InvalidInput, NotFound, OutOfScope
from services.access import Principal, Role, hash_token, sender_of
from services.notify.allowance import (
    check_address_allowance,
    check_contact_allowance,
    check_sender_allowance,
)
from services.notify.messages import confirm_message
from services.notify.outbox import NotifyConfig, enqueue
from storage.db import Contact, ContactChannel

__all__ = [
    "CONFIRM_TTL",
    "MAX_GUESSES",
    "ask",
    "channel_by_link",
    "confirm_code",
    "confirm_link",
    "decline_link",
    "vouch",
]

CONFIRM_TTL = dt.timedelta(days=3)  # [est] a farmer may read a message days after it came
MAX_GUESSES = 5


def _code_hash(channel_id: int, code: str) -> str:
    return hash_token(f"confirm:{channel_id}:{code}")


def vouch(channel: ContactChannel, principal: Principal, now: dt.datetime) -> None:
    """Confirm ``channel`` as vouched for by the admin who adds it (see the module docstring).

    Raises:
        OutOfScope: the caller is not an admin.
    """
    if principal.role is not Role.ADMIN:
        raise OutOfScope("only the admin vouches for a channel; its owner confirms it otherwise")
    channel.confirmed_at = now
    channel.confirmed_by = f"vouched for by {principal.name} (admin)"[:200]


def ask(
    session: Session,
    principal: Principal,
    contact: Contact,
    channel: ContactChannel,
    config: NotifyConfig,
    now: dt.datetime,
) -> None:
    """Send ``channel`` a new confirmation (the previous code and link stop working); flushed, not
    committed, so a new channel and its message are added together.

    Raises:
        InvalidInput: the channel is confirmed already.
        RateLimited: the contact's daily cap, the sender's hourly limit or the address's daily
            limit of confirmations would be passed.
    """
    if channel.confirmed_at is not None:
        raise InvalidInput(f"channel {channel.id} is confirmed already")
    sender = sender_of(principal)
    check_address_allowance(session, channel.kind, channel.address, now)
    check_sender_allowance(session, sender, 1, now)
    check_contact_allowance(session, contact, 1, now)
    code = f"{secrets.randbelow(1_000_000):06d}"
    secret = secrets.token_urlsafe(24)
    channel.confirm_code_sha256 = _code_hash(channel.id, code)
    channel.confirm_link_sha256 = hash_token(secret)
    channel.confirm_expires_at = now + CONFIRM_TTL
    channel.confirm_guesses = 0
    link = f"{config.public_url.rstrip('/')}/f/pastikan/{secret}"
    enqueue(
        session,
        contact=contact,
        channels=[channel],
        key=f"confirm:{channel.id}:{now.timestamp():.6f}",
        message=confirm_message(code=code, link=link, language=contact.language, days=CONFIRM_TTL.days),
        event="confirm",
        urgent=True,  # asked for this minute
        due_at=now,
        now=now,
        capped=False,
        requested_by=sender,
    )


def _confirmed(channel: ContactChannel, by: str, now: dt.datetime) -> None:
    channel.confirmed_at, channel.confirmed_by = now, by[:200]
    channel.confirm_code_sha256 = channel.confirm_link_sha256 = None
    channel.confirm_expires_at = None


def confirm_code(
    session: Session, principal: Principal, contact: Contact, channel_id: int, code: str, now: dt.datetime
) -> ContactChannel:
    """Confirm one of ``contact``'s channels with the code its message carried (confirming one that
    is confirmed already changes nothing). Commits.

    Raises:
        NotFound: the contact has no such channel.
        InvalidInput: no open confirmation (none asked, expired, or too many wrong codes), or a
            wrong code (saying how many tries are left).
    """
    channel = session.get(ContactChannel, channel_id)
    if channel is None or channel.contact_id != contact.id:
        raise NotFound(f"contact {contact.id} has no channel {channel_id}")
    if channel.confirmed_at is not None:
        return channel
    if (
        channel.confirm_code_sha256 is None
        or channel.confirm_expires_at is None
        or channel.confirm_expires_at <= now
        or channel.confirm_guesses >= MAX_GUESSES
    ):
        raise InvalidInput(
            f"channel {channel_id} has no open confirmation (expired, or {MAX_GUESSES} wrong codes); ask "
            f"for a new one: POST /v1/contacts/{contact.id}/channels/{channel_id}/confirmation"
        )
    if not secrets.compare_digest(channel.confirm_code_sha256, _code_hash(channel.id, code.strip())):
        channel.confirm_guesses += 1
        session.commit()
        left = MAX_GUESSES - channel.confirm_guesses
        raise InvalidInput(f"code: wrong code for channel {channel_id}; {left} tries left")
    _confirmed(channel, f"code given to {principal.name}", now)
    session.commit()
    return channel


def channel_by_link(session: Session, secret: str, now: dt.datetime) -> ContactChannel | None:
    """The unconfirmed channel whose open confirmation link holds ``secret``; nothing is changed."""
    if not secret or len(secret) > 100:
        return None
    channel = session.scalars(
        select(ContactChannel).where(ContactChannel.confirm_link_sha256 == hash_token(secret))
    ).first()
    if (
        channel is None
        or channel.confirmed_at is not None
        or channel.confirm_expires_at is None
        or channel.confirm_expires_at <= now
    ):
        return None
    return channel


def confirm_link(session: Session, secret: str, now: dt.datetime) -> ContactChannel | None:
    """Confirm the channel of an open link (its owner pressed *Ya, ini saya*); None when the link is
    used, expired or unknown. Commits."""
    channel = channel_by_link(session, secret, now)
    if channel is None:
        return None
    _confirmed(channel, "its owner, by the link", now)
    session.commit()
    return channel


def decline_link(session: Session, secret: str, now: dt.datetime) -> bool:
    """Remove the channel of an open link (its owner pressed *Bukan saya*); False when the link is
    used, expired or unknown. Commits."""
    channel = channel_by_link(session, secret, now)
    if channel is None:
        return False
    session.delete(channel)
    session.commit()
    return True
