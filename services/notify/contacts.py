"""Contacts, their channels and subscriptions, each within the caller's scope.

Who may see and change whose (the same rule for reading and writing: a person's phone number is
theirs and their cooperative's business, not Coosae's):

- ``admin``: every contact;
- ``coop_manager``: the contacts of their cooperative (its farmers and managers);
- ``farmer``: their own contact;
- ``offtaker``: Coosae staff's contacts (role ``offtaker``).

A contact outside the caller's scope is :class:`services.OutOfScope` whether or not it exists, so ids
cannot be probed. Webhook channels are the admin's to add: a URL the platform posts to is a way into
the network it runs on. A channel anyone else adds carries nothing until its owner confirms it
(:mod:`services.notify.confirm`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import InvalidInput, NotFound, OutOfScope
from services.access import Principal, Role, sender_of
from services.alerts import ALERT_KINDS
from services.kinds import AlertKind
from services.notify import confirm
from services.notify.allowance import (
    check_contact_allowance,
    check_sender_allowance,
    check_test_allowance,
)
from services.notify.channels import check_address
from services.notify.messages import LANGUAGES
from services.notify.outbox import NotifyConfig, utc_now
from storage.db import ApiToken, Contact, ContactChannel, Cooperative, Farmer, Notification, Subscription
from storage.db.base import mark_edited

__all__ = [
    "ALERT_KINDS",
    "SCOPES",
    "ContactSpec",
    "add_channel",
    "add_subscription",
    "ask_confirmation",
    "confirmed_channels",
    "contact_filter",
    "contacts_in_scope",
    "create_contact",
    "default_subscriptions",
    "delete_contact",
    "get_contact",
    "remove_channel",
    "remove_subscription",
    "update_contact",
    "visible",
]

SCOPES = ("own", "coop", "all")
MAX_DAILY_CAP = 200


@dataclass(frozen=True)
class ContactSpec:
    """What a new contact says about itself."""

    name: str
    role: Role
    coop_id: str | None = None
    farmer_id: str | None = None
    language: str = "id"
    quiet_start_h: int = 21
    quiet_end_h: int = 5
    daily_cap: int = 12
    channels: tuple[tuple[str, str], ...] = ()


def contact_filter(principal: Principal) -> ColumnElement[bool]:
    """The SQL condition on ``Contact`` of :func:`visible`."""
    if principal.role is Role.ADMIN:
        return true()
    if principal.role is Role.OFFTAKER:
        return Contact.role == Role.OFFTAKER.value
    if principal.role is Role.COOP_MANAGER:
        return Contact.coop_id == principal.coop_id
    return Contact.farmer_id == principal.farmer_id


def visible(principal: Principal, contact: Contact) -> bool:
    """Whether the caller may see and change ``contact``."""
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.OFFTAKER:
        return contact.role == Role.OFFTAKER.value
    if principal.role is Role.COOP_MANAGER:
        return contact.coop_id is not None and contact.coop_id == principal.coop_id
    return contact.farmer_id is not None and contact.farmer_id == principal.farmer_id


def contacts_in_scope(session: Session, principal: Principal) -> list[Contact]:
    """The contacts the caller may see, oldest first."""
    return list(session.scalars(select(Contact).where(contact_filter(principal)).order_by(Contact.id)))


def get_contact(session: Session, principal: Principal, contact_id: int) -> Contact:
    """One contact in scope.

    Raises:
        NotFound: no such contact (only for callers who see every contact).
        OutOfScope: not the caller's to see.
    """
    row = session.get(Contact, contact_id)
    if row is not None and visible(principal, row):
        return row
    if principal.role is Role.ADMIN:
        raise NotFound(f"no contact {contact_id}")
    raise OutOfScope(f"contact {contact_id} is not in your scope")


def _check_settings(language: str, quiet_start_h: int, quiet_end_h: int, daily_cap: int) -> None:
    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}")
    for name, hour in (("quiet_start_h", quiet_start_h), ("quiet_end_h", quiet_end_h)):
        if not 0 <= hour <= 23:
            raise InvalidInput(f"{name} must be an hour of the day in WIB, 0 to 23")
    if not 1 <= daily_cap <= MAX_DAILY_CAP:
        raise InvalidInput(f"daily_cap must be 1 to {MAX_DAILY_CAP} messages a day")


def default_subscriptions(role: Role) -> list[tuple[str, str]]:
    """What a new contact hears about unless they choose: a farmer every alert on their fields, a
    manager every alert of their cooperative, Coosae staff its contracts and the forecast refresh."""
    defaults: dict[Role, list[tuple[str, str]]] = {
        Role.FARMER: [("*", "own")],
        Role.COOP_MANAGER: [("*", "coop")],
        Role.OFFTAKER: [(AlertKind.CONTRACT_AT_RISK, "all"), (AlertKind.REFRESH_FAILED, "all")],
        Role.ADMIN: [(AlertKind.REFRESH_FAILED, "all")],
    }
    return defaults[role]


def create_contact(
    session: Session, principal: Principal, spec: ContactSpec, config: NotifyConfig | None = None
) -> Contact:
    """Create a contact with its channels (each sent its confirmation, unless the admin adds it: see
    :mod:`services.notify.confirm`; ``config`` says where the confirmation links point) and default
    subscriptions.

    Raises:
        RateLimited: a channel's confirmation would pass a limit (nothing is created).
        InvalidInput: a setting out of range, an unknown farmer or cooperative, a bad address, or the
            farmer already has a contact.
        OutOfScope: the caller may not create this contact.
    """
    _check_settings(spec.language, spec.quiet_start_h, spec.quiet_end_h, spec.daily_cap)
    coop_id, farmer_id = spec.coop_id, spec.farmer_id
    if spec.role is Role.FARMER:
        farmer = session.get(Farmer, farmer_id) if farmer_id else None
        if farmer is None:
            raise InvalidInput(f"farmer_id: a farmer's contact needs an existing farmer (got {farmer_id!r})")
        coop_id = farmer.coop_id
    elif spec.role is Role.COOP_MANAGER:
        if not coop_id or session.get(Cooperative, coop_id) is None:
            raise InvalidInput(
                f"coop_id: a manager's contact needs an existing cooperative (got {coop_id!r})"
            )
        farmer_id = None
    else:
        coop_id = farmer_id = None
    row = Contact(
        name=spec.name.strip()[:200] or "?",
        role=spec.role.value,
        coop_id=coop_id,
        farmer_id=farmer_id,
        language=spec.language,
        quiet_start_h=spec.quiet_start_h,
        quiet_end_h=spec.quiet_end_h,
        daily_cap=spec.daily_cap,
        created_at=dt.datetime.now(dt.UTC),
    )
    if not visible(principal, row):
        raise OutOfScope(f"a {spec.role.value} contact there is not yours to create")
    if farmer_id and session.scalars(select(Contact.id).where(Contact.farmer_id == farmer_id)).first():
        raise InvalidInput(f"farmer_id: farmer {farmer_id!r} already has a contact; change that one")
    mark_edited(row, principal.name)
    session.add(row)
    session.flush()
    now = dt.datetime.now(dt.UTC)
    try:
        for kind, address in spec.channels:
            _add_channel(session, principal, row, kind, address, config or NotifyConfig(), now)
    except Exception:
        session.rollback()
        raise
    for kind, scope in default_subscriptions(spec.role):
        session.add(Subscription(contact_id=row.id, kind=kind, scope=scope, coop_id=None))
    session.commit()
    return row


def update_contact(
    session: Session, principal: Principal, contact: Contact, changes: dict[str, object]
) -> Contact:
    """Change a contact's name, language, quiet hours or daily cap (role and scope stay).

    Raises:
        InvalidInput: a setting out of range.
    """
    allowed = {"name", "language", "quiet_start_h", "quiet_end_h", "daily_cap"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"only {', '.join(sorted(allowed))} can change (not {', '.join(sorted(unknown))})")
    merged = {k: getattr(contact, k) for k in allowed} | {k: v for k, v in changes.items() if v is not None}
    _check_settings(
        str(merged["language"]),
        int(merged["quiet_start_h"]),
        int(merged["quiet_end_h"]),
        int(merged["daily_cap"]),
    )
    for key, value in merged.items():
        setattr(contact, key, value)
    contact.name = contact.name.strip()[:200] or "?"
    mark_edited(contact, principal.name)
    session.commit()
    return contact


def delete_contact(session: Session, contact: Contact) -> None:
    """Remove a contact with its channels, subscriptions, sign-ins and messages, and revoke its
    field-page sessions at once (a session outliving its person kept the page, and the API, open
    for 30 days: issue 37). The caller forgets cached tokens (:meth:`TokenCache.clear`)."""
    for token in session.scalars(select(ApiToken).where(ApiToken.contact_id == contact.id)):
        token.revoked = True
    session.delete(contact)
    session.commit()


def _add_channel(
    session: Session,
    principal: Principal,
    contact: Contact,
    kind: str,
    address: str,
    config: NotifyConfig,
    now: dt.datetime,
) -> ContactChannel:
    value = check_address(kind, address)
    if kind == "webhook" and principal.role is not Role.ADMIN:
        raise OutOfScope("webhook channels are the admin's to add (the platform posts to them)")
    exists = session.scalars(
        select(ContactChannel).where(
            ContactChannel.contact_id == contact.id,
            ContactChannel.kind == kind,
            ContactChannel.address == value,
        )
    ).first()
    if exists is not None:
        return exists
    row = ContactChannel(contact_id=contact.id, kind=kind, address=value, created_at=now, confirm_guesses=0)
    session.add(row)
    session.flush()
    if principal.role is Role.ADMIN:
        confirm.vouch(row, principal, now)
    else:
        confirm.ask(session, principal, contact, row, config, now)
    session.flush()
    return row


def add_channel(
    session: Session,
    principal: Principal,
    contact: Contact,
    kind: str,
    address: str,
    config: NotifyConfig | None = None,
) -> ContactChannel:
    """Add a channel (adding one the contact has returns it) and send its confirmation, or confirm it
    at once when the admin adds it (:mod:`services.notify.confirm`).

    Raises:
        InvalidInput: an unknown kind or an address of the wrong shape.
        OutOfScope: a webhook from anyone but the admin.
        RateLimited: the confirmation would pass a limit (:mod:`services.notify.allowance`); the
            channel is not added.
    """
    try:
        row = _add_channel(session, principal, contact, kind, address, config or NotifyConfig(), utc_now())
        session.commit()
    except IntegrityError as exc:  # a twin added at the same moment
        session.rollback()
        raise InvalidInput(f"contact {contact.id} already has this {kind} address") from exc
    except Exception:
        session.rollback()
        raise
    return row


def ask_confirmation(
    session: Session, principal: Principal, contact: Contact, channel_id: int, config: NotifyConfig
) -> ContactChannel:
    """Send one of the contact's unconfirmed channels a new confirmation (the old code and link stop
    working). Commits.

    Raises:
        NotFound: the contact has no such channel.
        InvalidInput: it is confirmed already.
        RateLimited: a limit of :mod:`services.notify.allowance` would be passed.
    """
    row = session.get(ContactChannel, channel_id)
    if row is None or row.contact_id != contact.id:
        raise NotFound(f"contact {contact.id} has no channel {channel_id}")
    confirm.ask(session, principal, contact, row, config, utc_now())
    session.commit()
    return row


def confirmed_channels(session: Session, contact_id: int) -> list[ContactChannel]:
    """The contact's channels that may carry messages (confirmed), oldest first."""
    return list(
        session.scalars(
            select(ContactChannel)
            .where(ContactChannel.contact_id == contact_id, ContactChannel.confirmed_at.is_not(None))
            .order_by(ContactChannel.id)
        )
    )


def remove_channel(session: Session, contact: Contact, channel_id: int) -> None:
    """Remove one of the contact's channels.

    Raises:
        NotFound: the contact has no such channel.
    """
    row = session.get(ContactChannel, channel_id)
    if row is None or row.contact_id != contact.id:
        raise NotFound(f"contact {contact.id} has no channel {channel_id}")
    session.delete(row)
    session.commit()


def add_subscription(
    session: Session, contact: Contact, *, kind: str, scope: str, coop_id: str | None = None
) -> Subscription:
    """Subscribe a contact to ``kind`` (``*``: every kind) within ``scope``.

    A farmer hears about their own fields (``own``); a manager about their cooperative (``coop``);
    Coosae staff and admins about ``all`` or one cooperative (``coop`` with ``coop_id``).

    Raises:
        InvalidInput: an unknown kind or scope, or a scope the contact's role does not reach.
    """
    if kind != "*" and kind not in ALERT_KINDS:
        raise InvalidInput(f"kind must be * or one of {', '.join(ALERT_KINDS)}")
    if scope not in SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}")
    role = Role(contact.role)
    if role is Role.FARMER and scope != "own":
        raise InvalidInput("a farmer's contact subscribes to its own fields only (scope own)")
    if role is Role.COOP_MANAGER and (scope != "coop" or coop_id not in (None, contact.coop_id)):
        raise InvalidInput("a manager's contact subscribes to its own cooperative only (scope coop)")
    if role in (Role.OFFTAKER, Role.ADMIN):
        if scope == "own":
            raise InvalidInput("Coosae's contacts have no fields: subscribe with scope all or coop")
        if scope == "coop" and (not coop_id or session.get(Cooperative, coop_id) is None):
            raise InvalidInput(f"coop_id: scope coop needs an existing cooperative (got {coop_id!r})")
    if scope != "coop" or role is Role.COOP_MANAGER:
        coop_id = None
    existing = session.scalars(
        select(Subscription).where(
            Subscription.contact_id == contact.id,
            Subscription.kind == kind,
            Subscription.scope == scope,
            Subscription.coop_id.is_(None) if coop_id is None else Subscription.coop_id == coop_id,
        )
    ).first()
    if existing is not None:
        return existing
    row = Subscription(contact_id=contact.id, kind=kind, scope=scope, coop_id=coop_id)
    session.add(row)
    session.commit()
    return row


def remove_subscription(session: Session, contact: Contact, subscription_id: int) -> None:
    """Remove one of the contact's subscriptions.

    Raises:
        NotFound: the contact has no such subscription.
    """
    row = session.get(Subscription, subscription_id)
    if row is None or row.contact_id != contact.id:
        raise NotFound(f"contact {contact.id} has no subscription {subscription_id}")
    session.delete(row)
    session.commit()


def send_test(session: Session, principal: Principal, contact_id: int) -> list[Notification]:
    """Put a test message to each of the contact's confirmed channels in the outbox (sent at once,
    through quiet hours); returns the messages queued.

    Raises:
        InvalidInput: the contact has no confirmed channel.
        RateLimited: the contact had ``TESTS_PER_HOUR`` tests in the last hour, or the test would
            pass the contact's daily cap or the sender's hourly limit (:mod:`services.notify.allowance`).
    """
    from services.notify.messages import probe_message
    from services.notify.outbox import enqueue

    contact = get_contact(session, principal, contact_id)
    now = utc_now()
    check_test_allowance(session, contact, now)
    channels = confirmed_channels(session, contact.id)
    if not channels:
        raise InvalidInput(
            f"contact {contact.id} has no confirmed channel: a channel carries messages once its owner "
            "confirms it (the code or link its confirmation message carries)"
        )
    sender = sender_of(principal)
    check_sender_allowance(session, sender, len(channels), now)
    check_contact_allowance(session, contact, len(channels), now)
    key = f"test:{contact.id}:{now.timestamp():.6f}"
    enqueue(
        session,
        contact=contact,
        channels=channels,
        key=key,
        message=probe_message(language=contact.language),
        event="test",
        urgent=True,
        due_at=now,
        now=now,
        capped=False,
        requested_by=sender,
    )
    session.commit()
    return list(session.scalars(select(Notification).where(Notification.key.startswith(key + ":"))))
