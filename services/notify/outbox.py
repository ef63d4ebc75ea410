"""The durable outbox and its sender.

Writing: :func:`enqueue_raised` runs inside the alert evaluation's transaction, so an alert and the
messages it causes are stored together or not at all; :func:`plan` adds what time brings
(escalations, daily reminders, the morning digest) and is safe to run any number of times: every
message has an idempotency key (``raised:<alert>:<channel>``, ``escalation:…``,
``reminder:<alert>:<n>:<channel>``, ``digest:<contact>:<day>:<channel>``) and a key is written once.

Sending: :class:`Sender` claims one due message at a time (``pending`` → ``sending``, a conditional
update that only one sender can win), hands it to Apprise, and marks it ``sent``; a failure puts it
back as ``pending`` after a capped, jittered back-off (tenacity's), until it is older than
``give_up_after``; then it is ``failed``, visible to the cooperative's managers through
``GET /v1/notifications``. A message about an alert that cleared or was acknowledged before it
could go (quiet hours held it back) is ``cancelled``, not sent.

A sender killed mid-delivery leaves at most its in-flight messages ``sending``; once their lease
runs out another sender (or the same, restarted) delivers them again, with the same idempotency
key. Nothing is lost; the only possible repeat is of a message the receiver may already have, and
it says so in its ``Idempotency-Key``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import tenacity
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from ingest.retry import backoff
from services.access import Role
from services.kinds import NotificationStatus
from services.names import shown_names
from services.notify.allowance import sent_today
from services.notify.channels import ChannelSettings, ChannelUnavailable, apprise_url, deliver
from services.notify.messages import Message, alert_message, digest_message
from services.notify.policy import Policy, next_digest_at, quiet_hours_end, wib_day, wib_midnight
from storage.db import Alert, Contact, ContactChannel, Field, Notification, Subscription

__all__ = [
    "FORGOTTEN",
    "SECRET_EVENTS",
    "Audience",
    "NotifyConfig",
    "SendReport",
    "Sender",
    "enqueue",
    "enqueue_raised",
    "plan",
    "retry_failed",
]

log = logging.getLogger("services.notify")
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The wall clock, as an aware UTC instant."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class NotifyConfig:
    """How notifications go out; every interval is a setting so tests compress hours into seconds.

    ``public_url`` is where people reach the API (the field page links in messages).
    """

    public_url: str = "http://127.0.0.1:8000"
    policy: Policy = field(default_factory=Policy)
    channels: ChannelSettings = field(default_factory=ChannelSettings)
    retry_min_s: float = 30.0  # a flapping link is back in a minute
    retry_max_s: float = 1800.0  # a channel down for hours is tried every half hour
    give_up_after: dt.timedelta = dt.timedelta(hours=24)  # a day late, a frost warning is history
    lease_s: float = 120.0  # a message "sending" longer than this belongs to a dead sender
    batch: int = 200
    workers: int = 4

    def link(self, field_id: str | None) -> str:
        """The field page of ``field_id`` (the farmer's list of fields without one)."""
        base = self.public_url.rstrip("/")
        return f"{base}/f/{field_id}" if field_id else f"{base}/f"


@dataclass
class Audience:
    """Every contact with their confirmed channels (an unconfirmed one carries nothing but its
    confirmation) and subscriptions, and whose fields are whose: read once per evaluation, so matching
    an alert to its readers costs no query."""

    contacts: dict[int, Contact]
    channels: dict[int, list[ContactChannel]]
    subscriptions: dict[int, list[Subscription]]
    field_farmer: dict[str, str | None]

    @classmethod
    def load(cls, session: Session) -> Audience:
        """Read it from the registry."""
        contacts = {c.id: c for c in session.scalars(select(Contact))}
        channels: dict[int, list[ContactChannel]] = {}
        confirmed = select(ContactChannel).where(ContactChannel.confirmed_at.is_not(None))
        for ch in session.scalars(confirmed.order_by(ContactChannel.id)):
            channels.setdefault(ch.contact_id, []).append(ch)
        subs: dict[int, list[Subscription]] = {}
        for s in session.scalars(select(Subscription)):
            subs.setdefault(s.contact_id, []).append(s)
        farmers = {c.farmer_id for c in contacts.values() if c.farmer_id}
        rows = session.execute(select(Field.id, Field.farmer_id).where(Field.farmer_id.in_(farmers)))
        owner: dict[str, str | None] = {}
        for field_id, farmer_id in rows:
            owner[field_id] = farmer_id
        return cls(contacts, channels, subs, owner)

    def _matches(self, contact: Contact, sub: Subscription, alert: Alert) -> bool:
        if sub.kind not in ("*", alert.kind):
            return False
        if sub.scope == "own":
            return alert.field_id is not None and self.field_farmer.get(alert.field_id) == contact.farmer_id
        if sub.scope == "coop":
            return alert.coop_id is not None and alert.coop_id == (sub.coop_id or contact.coop_id)
        return True

    def readers(self, alert: Alert) -> list[Contact]:
        """The contacts subscribed to ``alert``."""
        return [
            c
            for cid, c in self.contacts.items()
            if any(self._matches(c, s, alert) for s in self.subscriptions.get(cid, []))
        ]

    def managers(self, coop_id: str) -> list[Contact]:
        """The cooperative's managers, who get escalations whatever they subscribe to."""
        return [
            c for c in self.contacts.values() if c.role == Role.COOP_MANAGER.value and c.coop_id == coop_id
        ]


def enqueue(
    session: Session,
    *,
    contact: Contact,
    channels: Sequence[ContactChannel],
    key: str,
    message: Message,
    event: str,
    urgent: bool,
    due_at: dt.datetime,
    now: dt.datetime,
    alert_id: int | None = None,
    coop_id: str | None = None,
    capped: bool = True,
    requested_by: str | None = None,
) -> int:
    """Add one message per channel (idempotency key ``<key>:<channel id>``) unless its key is already
    there; returns how many were added.

    Past the contact's daily cap a non-urgent message is kept as ``capped`` (not sent, but visible):
    the cap protects a farmer's phone from a flapping sensor, never from a frost. A message someone
    asked for (``requested_by``: a test, a confirmation, a sign-in code) is checked against the cap
    before it is written (:mod:`services.notify.allowance`), so it passes ``capped=False``.
    """
    keys = {ch.id: f"{key}:{ch.id}" for ch in channels}
    known = set(session.scalars(select(Notification.key).where(Notification.key.in_(list(keys.values())))))
    fresh = [ch for ch in channels if keys[ch.id] not in known]
    if not fresh:
        return 0
    over = capped and not urgent and sent_today(session, contact.id, now) >= contact.daily_cap
    for ch in fresh:
        session.add(
            Notification(
                key=keys[ch.id][:200],
                contact_id=contact.id,
                channel_kind=ch.kind,
                address=ch.address,
                coop_id=contact.coop_id or coop_id,
                alert_id=alert_id,
                event=event,
                urgent=urgent,
                title=message.title[:200],
                body=message.body[:2000],
                status=NotificationStatus.CAPPED if over else NotificationStatus.PENDING,
                attempts=0,
                due_at=due_at,
                created_at=now,
                last_error=f"over the daily cap of {contact.daily_cap} messages" if over else None,
                requested_by=requested_by,
            )
        )
    session.flush()
    return len(fresh)


def _alert_text(
    alert: Alert, contact: Contact, config: NotifyConfig, event: str, now: dt.datetime, subject: str
) -> Message:
    return alert_message(
        kind=alert.kind,
        subject=subject,
        facts=alert.facts,
        english=alert.message,
        language=contact.language,
        link=config.link(alert.field_id),
        event=event,
        unacknowledged_h=(now - alert.first_seen).total_seconds() / 3600,
    )


def _due(contact: Contact, urgent: bool, now: dt.datetime) -> dt.datetime:
    return now if urgent else quiet_hours_end(now, contact.quiet_start_h, contact.quiet_end_h)


def _about_alert(
    session: Session,
    alert: Alert,
    readers: Iterable[Contact],
    *,
    event: str,
    key: str,
    audience: Audience,
    config: NotifyConfig,
    now: dt.datetime,
) -> int:
    """One message about ``alert`` to each of ``readers``, in their language, over their channels."""
    readers = list(readers)
    if not readers:  # most alerts of a big fleet reach nobody: no name to look up
        return 0
    urgent = alert.kind in config.policy.urgent
    subject = shown_names(session, {alert.subject}).get(alert.subject, alert.subject)  # "Tegal atas"
    added = 0
    for contact in readers:
        added += enqueue(
            session,
            contact=contact,
            channels=audience.channels.get(contact.id, []),
            key=key,
            message=_alert_text(alert, contact, config, event, now, subject),
            event=event,
            urgent=urgent,
            due_at=_due(contact, urgent, now),
            now=now,
            alert_id=alert.id,
            coop_id=alert.coop_id,
        )
    return added


def enqueue_raised(
    session: Session,
    alerts: Iterable[Alert],
    now: dt.datetime,
    config: NotifyConfig,
    audience: Audience | None = None,
) -> int:
    """The messages about newly raised ``alerts`` (flushed, so they have ids), in the caller's
    transaction; digest kinds wait for the morning digest. Returns how many were added."""
    policy = config.policy
    todo = [a for a in alerts if a.kind not in policy.digest]
    if not todo:
        return 0
    audience = audience or Audience.load(session)
    return sum(
        _about_alert(
            session,
            a,
            audience.readers(a),
            event="raised",
            key=f"raised:{a.id}",
            audience=audience,
            config=config,
            now=now,
        )
        for a in todo
    )


def plan(session: Session, now: dt.datetime, config: NotifyConfig) -> int:
    """Add what time brings: escalations of unacknowledged alerts to the cooperative's managers,
    one reminder a day of an alert still active and unacknowledged, and the morning digest. Commits;
    returns how many messages were added."""
    policy = config.policy
    open_alerts = list(
        session.scalars(select(Alert).where(Alert.active, Alert.acknowledged_at.is_(None)).order_by(Alert.id))
    )
    if not open_alerts:
        return 0
    audience = Audience.load(session)
    added = 0
    for alert in open_alerts:
        age = now - alert.first_seen
        delay = policy.escalate_after.get(alert.kind)
        if delay is not None and age >= delay and alert.coop_id is not None:
            added += _about_alert(
                session, alert, audience.managers(alert.coop_id), event="escalation",
                key=f"escalation:{alert.id}", audience=audience, config=config, now=now,
            )  # fmt: skip
        reminders = math.floor(age / policy.remind_every)
        if reminders >= 1 and alert.kind not in policy.digest:
            added += _about_alert(
                session, alert, audience.readers(alert), event="reminder",
                key=f"reminder:{alert.id}:{reminders}", audience=audience, config=config, now=now,
            )  # fmt: skip
    added += _digests(session, [a for a in open_alerts if a.kind in policy.digest], audience, now, config)
    session.commit()
    return added


def _digests(
    session: Session, alerts: Sequence[Alert], audience: Audience, now: dt.datetime, config: NotifyConfig
) -> int:
    if not alerts:
        return 0
    day = wib_day(now)
    # Today's digest time in WIB: before it, yesterday's digest is all there is.
    today_at = next_digest_at(wib_midnight(day), config.policy.digest_hour_wib)
    if now < today_at:
        return 0
    # The morning digest gathers what was already open at digest time; later ones wait for tomorrow.
    alerts = [a for a in alerts if a.first_seen <= today_at]
    mine: dict[int, list[Alert]] = {}
    for alert in alerts:
        for contact in audience.readers(alert):
            mine.setdefault(contact.id, []).append(alert)
    names = shown_names(session, {a.subject for a in alerts})  # "Tiang timur", not a node's id
    added = 0
    for contact_id, items in mine.items():
        contact = audience.contacts[contact_id]
        message = digest_message(
            [(a.kind, names.get(a.subject, a.subject), a.facts, a.message) for a in items],
            language=contact.language,
            link=config.link(None),
        )
        added += enqueue(
            session,
            contact=contact,
            channels=audience.channels.get(contact_id, []),
            key=f"digest:{contact_id}:{day.isoformat()}",
            message=message,
            event="digest",
            urgent=False,
            due_at=_due(contact, False, now),
            now=now,
            coop_id=contact.coop_id,
        )
    return added


@dataclass
class SendReport:
    """What one pass of the sender did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    recovered: int = 0


def _retry_delay_s(attempt: int, config: NotifyConfig) -> float:
    # The platform's one back-off (tenacity's, see ingest.retry), asked for the wait after ``attempt``
    # tries; the outbox keeps the schedule in the row, so it survives a restart of the sender.
    state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
    state.attempt_number = max(attempt, 1)
    return float(backoff(config.retry_min_s, config.retry_max_s)(state))


def _moot(session: Session, row: Notification) -> str | None:
    """Why a message about an alert need not go any more, or None."""
    if row.alert_id is None or row.event not in ("raised", "reminder", "escalation"):
        return None
    alert = session.get(Alert, row.alert_id)
    if alert is None or not alert.active:
        return "the alert cleared before this message could go"
    if alert.acknowledged_at is not None:
        who = alert.acknowledged_by or "someone"
        return f"{who} acknowledged the alert before this message could go"
    return None


# Messages whose body holds a secret (a sign-in code and link, a channel's confirmation code and link):
# once delivered or given up, the outbox keeps that a message went, not what would let someone use it.
SECRET_EVENTS = frozenset({"sign_in", "confirm"})
FORGOTTEN = "(code and link removed after delivery)"


def _forget_secret(msg: Notification) -> None:
    if msg.event in SECRET_EVENTS:
        msg.body = FORGOTTEN


def retry_failed(session: Session, now: dt.datetime, ids: Sequence[int] | None = None) -> list[int]:
    """Put failed messages (all, or those of ``ids``) back in the outbox, due now, with a fresh day
    to be delivered in (issue 40: a failed message stayed failed once the channel was fixed); returns
    their ids. A message whose secret was forgotten (a sign-in link or code) is not resent: ask for a
    new one."""
    query = select(Notification).where(
        Notification.status == NotificationStatus.FAILED, Notification.body != FORGOTTEN
    )
    if ids is not None:
        query = query.where(Notification.id.in_(list(ids)))
    again = list(session.scalars(query.order_by(Notification.id)))
    for msg in again:
        msg.status, msg.due_at, msg.created_at, msg.attempts = NotificationStatus.PENDING, now, now, 0
        log.info(
            "notification %d (alert %s, %s) put back to be sent again", msg.id, msg.alert_id, msg.channel_kind
        )
    session.commit()
    return [m.id for m in again]


class Sender:
    """Delivers due messages from the outbox (see the module's docstring for the guarantees).

    ``clock`` gives "now" (tests move it); ``deliver_fn`` is Apprise's delivery, replaceable only to
    inject a failure a real channel cannot be made to produce.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: NotifyConfig,
        *,
        clock: Clock = utc_now,
        deliver_fn: Callable[[str, str, str], str | None] = deliver,
        on_sent: Callable[[str, float], None] | None = None,
    ) -> None:
        """A sender over the registry ``sessions``; ``on_sent(channel kind, seconds since the message
        entered the outbox)`` after each delivery (the API's latency histogram)."""
        self.sessions = sessions
        self.config = config
        self.clock = clock
        self.deliver_fn = deliver_fn
        self.on_sent = on_sent
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def recover(self, now: dt.datetime) -> int:
        """Put back messages whose sender died mid-delivery (``sending`` past the lease)."""
        stale = now - dt.timedelta(seconds=self.config.lease_s)
        with self.sessions() as session:
            result = session.execute(
                update(Notification)
                .where(Notification.status == NotificationStatus.SENDING, Notification.claimed_at < stale)
                .values(status=NotificationStatus.PENDING, due_at=now)
            )
            session.commit()
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def _claim(self, ident: int, now: dt.datetime) -> Notification | str:
        """Take message ``ident`` for delivery, in one session: the row to send, "skipped" when another
        sender took it, or "cancelled" when its alert cleared or was acknowledged before it could go
        (e.g. while quiet hours held it back)."""
        with self.sessions() as session:
            won = session.execute(
                update(Notification)
                .where(Notification.id == ident, Notification.status == NotificationStatus.PENDING)
                .values(status=NotificationStatus.SENDING, claimed_at=now, attempts=Notification.attempts + 1)
            )
            if not won.rowcount:  # type: ignore[attr-defined]
                session.commit()
                return "skipped"  # another sender took it
            row = session.get(Notification, ident)
            if row is None:
                session.commit()
                return "skipped"
            if (moot := _moot(session, row)) is not None:
                row.status, row.last_error = NotificationStatus.CANCELLED, moot
                session.commit()
                return NotificationStatus.CANCELLED
            session.commit()
            return row

    def _send_one(self, ident: int) -> str:
        row = self._claim(ident, self.clock())
        if isinstance(row, str):
            return row
        try:
            url = apprise_url(row.channel_kind, row.address, row.key, self.config.channels)
            error = self.deliver_fn(url, row.title, row.body)
            permanent = False
        except ChannelUnavailable as exc:
            error, permanent = str(exc), True
        except Exception as exc:  # a channel library's bug must not stop the other messages
            log.exception("delivering notification %d failed", ident)
            error, permanent = f"{type(exc).__name__}: {exc}", False
        done = self.clock()
        with self.sessions() as session:
            msg = session.get(Notification, ident)
            if msg is None:  # its contact was deleted meanwhile
                return "skipped"
            if error is None:
                msg.status, msg.sent_at, msg.last_error = NotificationStatus.SENT, done, None
                outcome: str = NotificationStatus.SENT
                _forget_secret(msg)
                log.info("notification %d (alert %s, %s) delivered by %s", ident, msg.alert_id, msg.event,
                         msg.channel_kind)  # fmt: skip
                if self.on_sent is not None:
                    self.on_sent(msg.channel_kind, max(0.0, (done - msg.created_at).total_seconds()))
            elif permanent or done - msg.created_at >= self.config.give_up_after:
                msg.status, msg.last_error = NotificationStatus.FAILED, error[:500]
                outcome = NotificationStatus.FAILED
                _forget_secret(msg)
                log.warning("notification %d to %s failed for good: %s", ident, msg.channel_kind, error)
            else:
                msg.status, msg.last_error = NotificationStatus.PENDING, error[:500]
                msg.due_at = done + dt.timedelta(seconds=_retry_delay_s(msg.attempts, self.config))
                outcome = "retrying"
            session.commit()
        return outcome

    def deliver_due(self) -> SendReport:
        """One pass: recover stale claims, then deliver every due message (urgent first)."""
        now = self.clock()
        report = SendReport(recovered=self.recover(now))
        with self.sessions() as session:
            due = list(
                session.scalars(
                    select(Notification.id)
                    .where(Notification.status == NotificationStatus.PENDING, Notification.due_at <= now)
                    .order_by(Notification.urgent.desc(), Notification.due_at, Notification.id)
                    .limit(self.config.batch)
                )
            )
        if not due:
            return report
        with ThreadPoolExecutor(max(1, self.config.workers), thread_name_prefix="notify") as pool:
            for outcome in pool.map(self._send_one, due):
                if outcome in (
                    NotificationStatus.SENT,
                    "retrying",
                    NotificationStatus.FAILED,
                    NotificationStatus.CANCELLED,
                ):
                    setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    def run_once(self) -> SendReport:
        """Plan what time brings, then deliver what is due."""
        with self.sessions() as session:
            plan(session, self.clock(), self.config)
        return self.deliver_due()

    def run_forever(self, *, every_s: float = 2.0, plan_every_s: float = 60.0) -> None:
        """Deliver every ``every_s`` and plan every ``plan_every_s`` seconds until :meth:`stop`."""
        last_plan = -math.inf
        while not self._stop.is_set():
            try:
                if time.monotonic() - last_plan >= plan_every_s:
                    with self.sessions() as session:
                        plan(session, self.clock(), self.config)
                    last_plan = time.monotonic()
                report = self.deliver_due()
                if report.sent or report.failed:
                    log.info(
                        "notifications: %d sent, %d retrying, %d failed",
                        report.sent,
                        report.retrying,
                        report.failed,
                    )
                if report.sent + report.retrying + report.failed >= self.config.batch:
                    continue  # more are due: no pause
            except Exception:  # the registry is away: try again next tick
                log.exception("the notification sender's pass failed")
            self._stop.wait(every_s)

    def start(self, *, every_s: float = 2.0, plan_every_s: float = 60.0) -> None:
        """Run :meth:`run_forever` in a daemon thread."""
        self._thread = threading.Thread(
            target=self.run_forever,
            kwargs={"every_s": every_s, "plan_every_s": plan_every_s},
            name="notify",
            daemon=True,
        )
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Ask the loop to finish after its current pass and wait for its thread (if :meth:`start`
        ran it), up to ``timeout_s``; returns whether it has finished, so that the registry is not
        closed under a delivery in progress."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and threading.current_thread() is not thread:
            thread.join(timeout_s)
        if thread is not None and thread.is_alive():
            log.warning("notification sender still running %.0f s after it was asked to stop", timeout_s)
            return False
        return True
