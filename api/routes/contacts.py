"""Contacts (who hears about alerts, over which channels, about what) and the notifications sent to
them. Scope rules are :mod:`services.notify.contacts`'s: no one reads or changes another person's
contact outside their scope."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import select

from api.deps import PrincipalDep, SessionDep, StateDep
from api.routes.alerts import alert_in_scope
from api.schemas import (
    ChannelIn,
    ChannelPublic,
    ConfirmIn,
    ContactCreate,
    ContactPublic,
    ContactUpdate,
    NotificationPublic,
    SignInLink,
    SubscriptionIn,
    SubscriptionPublic,
)
from services.notify import contacts as svc
from services.notify.confirm import confirm_code
from services.notify.outbox import utc_now
from services.notify.signin import LINK_TTL, issue_link
from storage.db import Contact, ContactChannel, Notification, Subscription

RowId = Annotated[int, Path(ge=1, le=2**62)]
router = APIRouter(tags=["notifications"])


def _public(session: SessionDep, state: StateDep, contact: Contact) -> ContactPublic:
    channels = session.scalars(
        select(ContactChannel).where(ContactChannel.contact_id == contact.id).order_by(ContactChannel.id)
    )
    subs = session.scalars(
        select(Subscription).where(Subscription.contact_id == contact.id).order_by(Subscription.id)
    )
    configured = state.notify.channels.configured
    return ContactPublic(
        id=contact.id,
        name=contact.name,
        role=contact.role,
        coop_id=contact.coop_id,
        farmer_id=contact.farmer_id,
        language=contact.language,
        quiet_start_h=contact.quiet_start_h,
        quiet_end_h=contact.quiet_end_h,
        daily_cap=contact.daily_cap,
        channels=[
            ChannelPublic(
                id=c.id,
                kind=c.kind,
                address=c.address,
                configured=configured(c.kind),
                confirmed=c.confirmed_at is not None,
                confirmed_by=c.confirmed_by,
            )
            for c in channels
        ],
        subscriptions=[SubscriptionPublic.model_validate(s) for s in subs],
    )


@router.get("/v1/contacts", response_model=list[ContactPublic])
def list_contacts(session: SessionDep, principal: PrincipalDep, state: StateDep) -> list[ContactPublic]:
    """The contacts in the caller's scope (admin: all; manager: their cooperative's; farmer: their own;
    Coosae: its staff's)."""
    return [_public(session, state, c) for c in svc.contacts_in_scope(session, principal)]


@router.post("/v1/contacts", response_model=ContactPublic, status_code=201)
def create_contact(
    body: ContactCreate, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> ContactPublic:
    """Create a contact (with default subscriptions: a farmer hears about their fields, a manager
    about their cooperative, Coosae about contracts and the forecast refresh). Each channel is sent a
    confirmation and carries nothing else until its owner confirms it (the admin's are vouched for)."""
    spec = svc.ContactSpec(
        name=body.name,
        role=body.role,
        coop_id=body.coop_id,
        farmer_id=body.farmer_id,
        language=body.language,
        quiet_start_h=body.quiet_start_h,
        quiet_end_h=body.quiet_end_h,
        daily_cap=body.daily_cap,
        channels=tuple((c.kind, c.address) for c in body.channels),
    )
    return _public(session, state, svc.create_contact(session, principal, spec, state.notify))


@router.get("/v1/contacts/{contact_id}", response_model=ContactPublic)
def get_contact(
    contact_id: RowId, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> ContactPublic:
    """One contact in scope."""
    return _public(session, state, svc.get_contact(session, principal, contact_id))


@router.patch("/v1/contacts/{contact_id}", response_model=ContactPublic)
def update_contact(
    contact_id: RowId, body: ContactUpdate, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> ContactPublic:
    """Change a contact's name, language, quiet hours or daily cap."""
    contact = svc.get_contact(session, principal, contact_id)
    svc.update_contact(session, principal, contact, body.model_dump(exclude_unset=True))
    return _public(session, state, contact)


@router.delete("/v1/contacts/{contact_id}", status_code=204)
def delete_contact(
    contact_id: RowId, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> Response:
    """Remove a contact, with its channels, subscriptions and messages; its field-page sessions end."""
    svc.delete_contact(session, svc.get_contact(session, principal, contact_id))
    state.tokens.clear()
    return Response(status_code=204)


@router.post("/v1/contacts/{contact_id}/channels", response_model=ContactPublic, status_code=201)
def add_channel(
    contact_id: RowId, body: ChannelIn, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> ContactPublic:
    """Add a channel (webhooks: admin only). It is sent a confirmation (a code and a link) and
    carries nothing else until its owner confirms it; the admin's additions are vouched for."""
    contact = svc.get_contact(session, principal, contact_id)
    svc.add_channel(session, principal, contact, body.kind, body.address, state.notify)
    return _public(session, state, contact)


@router.post("/v1/contacts/{contact_id}/channels/{channel_id}/confirm", response_model=ContactPublic)
def confirm_channel(
    contact_id: RowId,
    channel_id: RowId,
    body: ConfirmIn,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
) -> ContactPublic:
    """Confirm a channel with the code its confirmation carried, as its owner read it out (five
    wrong codes end the confirmation)."""
    contact = svc.get_contact(session, principal, contact_id)
    confirm_code(session, principal, contact, channel_id, body.code, utc_now())
    return _public(session, state, contact)


@router.post(
    "/v1/contacts/{contact_id}/channels/{channel_id}/confirmation",
    response_model=ContactPublic,
    status_code=202,
)
def ask_confirmation(
    contact_id: RowId, channel_id: RowId, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> ContactPublic:
    """Send an unconfirmed channel a new confirmation (the previous code and link stop working);
    limited per address, per sender and by the contact's daily cap."""
    contact = svc.get_contact(session, principal, contact_id)
    svc.ask_confirmation(session, principal, contact, channel_id, state.notify)
    return _public(session, state, contact)


@router.delete("/v1/contacts/{contact_id}/channels/{channel_id}", status_code=204)
def remove_channel(
    contact_id: RowId, channel_id: RowId, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Remove a channel."""
    svc.remove_channel(session, svc.get_contact(session, principal, contact_id), channel_id)
    return Response(status_code=204)


@router.post("/v1/contacts/{contact_id}/subscriptions", response_model=ContactPublic, status_code=201)
def add_subscription(
    contact_id: RowId, body: SubscriptionIn, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> ContactPublic:
    """Subscribe to an alert kind within a scope the contact's role reaches."""
    contact = svc.get_contact(session, principal, contact_id)
    svc.add_subscription(session, contact, kind=body.kind, scope=body.scope, coop_id=body.coop_id)
    return _public(session, state, contact)


@router.delete("/v1/contacts/{contact_id}/subscriptions/{subscription_id}", status_code=204)
def remove_subscription(
    contact_id: RowId, subscription_id: RowId, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Remove a subscription."""
    svc.remove_subscription(session, svc.get_contact(session, principal, contact_id), subscription_id)
    return Response(status_code=204)


@router.post("/v1/contacts/{contact_id}/sign-in-link", response_model=SignInLink, status_code=201)
def sign_in_link(
    contact_id: RowId, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> SignInLink:
    """A personal, single-use sign-in link to the field page for a farmer's or manager's contact (to
    hand over in person, e.g. as a QR code at the cooperative)."""
    contact = svc.get_contact(session, principal, contact_id)
    now = utc_now()
    return SignInLink(url=issue_link(session, contact, state.notify, now), expires_at=now + LINK_TTL)


@router.post("/v1/contacts/{contact_id}/test", response_model=list[NotificationPublic], status_code=201)
def send_test(contact_id: RowId, session: SessionDep, principal: PrincipalDep) -> list[Notification]:
    """Put a test message to each of the contact's channels in the outbox; follow them in
    ``GET /v1/notifications``."""
    return svc.send_test(session, principal, contact_id)


@router.get("/v1/notifications", response_model=list[NotificationPublic])
def list_notifications(
    session: SessionDep,
    principal: PrincipalDep,
    status: Annotated[
        Literal["pending", "sending", "sent", "failed", "capped", "cancelled"] | None, Query()
    ] = None,
    contact_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    alert_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[Notification]:
    """Messages to contacts in the caller's scope, newest first: a manager sees what reached (or
    failed to reach) their cooperative's people."""
    query = (
        select(Notification)
        .join(Contact, Contact.id == Notification.contact_id)
        .where(svc.contact_filter(principal))
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(Notification.status == status)
    # A filter of a contact or an alert that is not the caller's is refused as the row would be,
    # not answered with an empty list ("nothing was sent").
    if contact_id is not None:
        svc.get_contact(session, principal, contact_id)
        query = query.where(Notification.contact_id == contact_id)
    if alert_id is not None:
        alert_in_scope(session, principal, alert_id)
        query = query.where(Notification.alert_id == alert_id)
    return list(session.scalars(query))
