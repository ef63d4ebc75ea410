"""People and what reaches them: API tokens, contacts with their channels and subscriptions, the
notification outbox and the field page's sign-ins."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.base import Base, EditedByPeople, UtcDateTime

__all__ = ["ApiToken", "Contact", "ContactChannel", "Notification", "SignIn", "Subscription"]


class ApiToken(Base):
    """An API token: only its SHA-256 is stored; the token itself is shown once, at creation."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    role: Mapped[str] = mapped_column(String(20))
    coop_id: Mapped[str | None] = mapped_column(ForeignKey("cooperative.id"), nullable=True)
    farmer_id: Mapped[str | None] = mapped_column(ForeignKey("farmer.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set for the field page's sign-in sessions; tokens made with ``panen token create`` never expire.
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The contact a sign-in session is of: deleting the contact revokes it (a plain id, as SQLite's batch
    # migrations add no foreign key to an existing table).
    contact_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class Contact(EditedByPeople, Base):
    """A person panen tells about alerts: a farmer, a cooperative manager or Coosae staff.

    ``role`` and the scope columns say what the person may hear about and see on the field page, as
    :class:`services.access.Principal` does for tokens. Quiet hours are whole hours in WIB
    (``quiet_start_h`` = ``quiet_end_h``: none).
    """

    __tablename__ = "contact"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    coop_id: Mapped[str | None] = mapped_column(ForeignKey("cooperative.id"), index=True, nullable=True)
    farmer_id: Mapped[str | None] = mapped_column(ForeignKey("farmer.id"), unique=True, nullable=True)
    language: Mapped[str] = mapped_column(String(5), default="id")
    quiet_start_h: Mapped[int] = mapped_column(Integer, default=21)
    quiet_end_h: Mapped[int] = mapped_column(Integer, default=5)
    daily_cap: Mapped[int] = mapped_column(Integer, default=12)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class ContactChannel(Base):
    """One way to reach a contact: ``kind`` (whatsapp, telegram, email, ntfy, webhook) and the
    address on it (a phone number, chat id, e-mail address, topic or URL). The channels' credentials
    (bot tokens, SMTP password) are settings, never rows."""

    __tablename__ = "contact_channel"
    __table_args__ = (UniqueConstraint("contact_id", "kind", "address"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    # A channel carries nothing but its confirmation until its owner proves it is theirs (issue 37:
    # a farmer added a stranger's e-mail address and had panen mail it): who confirmed, or vouched.
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The open confirmation: the SHA-256 of its link's secret and of its code, when it expires, and
    # the wrong codes tried.
    confirm_link_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    confirm_code_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    confirm_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    confirm_guesses: Mapped[int] = mapped_column(Integer, default=0)


class Subscription(Base):
    """What a contact hears about: an alert ``kind`` (``*``: every kind) within a ``scope``: ``own``
    (the farmer's fields), ``coop`` (a cooperative: ``coop_id``, else the contact's) or ``all``."""

    __tablename__ = "subscription"
    __table_args__ = (UniqueConstraint("contact_id", "kind", "scope", "coop_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    scope: Mapped[str] = mapped_column(String(10))
    coop_id: Mapped[str | None] = mapped_column(ForeignKey("cooperative.id"), nullable=True)


class Notification(Base):
    """The outbox: one message to one channel, written in the transaction of the change that causes
    it and delivered by :class:`services.notify.outbox.Sender`.

    ``key`` is the idempotency key (one per alert state change, channel and day where it applies): a
    second write of the same message is refused by the unique index, and the key travels with the
    message so a receiver can drop a repeat. The channel's kind and address are copied, so a message
    stays readable after its channel is removed. ``status``: pending, sending, sent, failed, capped
    (over the person's daily cap), cancelled (its alert cleared or was acknowledged first).
    """

    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    channel_kind: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(500))
    coop_id: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    alert_id: Mapped[int | None] = mapped_column(Integer, index=True, nullable=True)
    event: Mapped[str] = mapped_column(String(20))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(12), index=True, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # Who asked for a message someone requests (a test, a confirmation): limits count per sender.
    requested_by: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)


class SignIn(Base):
    """A personal sign-in link or one-time code for the field page: only its SHA-256 is kept; it
    works once, until ``expires_at``, and a code takes at most a few wrong guesses."""

    __tablename__ = "sign_in"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # link or code
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    failed_guesses: Mapped[int] = mapped_column(Integer, default=0)
