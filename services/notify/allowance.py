"""How many messages people may have panen send: the limits on messages someone asks for.

Alerts are panen's own doing and are bounded by the policy (the daily cap keeps a flapping sensor off
a farmer's phone; a frost goes through it). A test message, a channel's confirmation and a sign-in
code are asked for by a person, so a person could ask without end (issue 37: one farmer had panen
send 30 e-mails to a stranger's address). Each such message passes three limits:

- **the contact's daily cap**: every message of the WIB day counts (alerts, digests, tests, codes,
  confirmations); a requested message past it is refused until midnight WIB;
- **per sender**: :data:`SENDER_MESSAGES_PER_HOUR` messages asked for by one person (a farmer, one
  cooperative's managers, one token) in an hour, over all the contacts they may reach;
- **per contact**: :data:`TESTS_PER_HOUR` tests an hour;
- **per address**: :data:`CONFIRMATIONS_PER_ADDRESS_PER_DAY` confirmations to one address in a day,
  whoever asks and for whichever contact, so an address that is not the asker's hears from panen at
  most that often and never anything but "someone added this address; ignore it if it was not you".

Refusals are :class:`services.RateLimited`, saying when to try again.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from services import RateLimited
from services.kinds import NotificationStatus
from services.notify.policy import wib_day, wib_midnight
from storage.db import Contact, Notification

__all__ = [
    "CONFIRMATIONS_PER_ADDRESS_PER_DAY",
    "SENDER_MESSAGES_PER_HOUR",
    "TESTS_PER_HOUR",
    "check_address_allowance",
    "check_contact_allowance",
    "check_sender_allowance",
    "check_test_allowance",
    "sent_today",
]

# [est] a manager enrolling a village's farmers at the cooperative office confirms a few dozen numbers
# in an hour; more from one person is not enrolment.
SENDER_MESSAGES_PER_HOUR = 30
# [est] a person who did not receive the first confirmation asks once or twice more.
CONFIRMATIONS_PER_ADDRESS_PER_DAY = 3
# Test messages a contact may be sent in an hour [est: enough to try each channel after a fix]: a test
# is sent at once, through quiet hours, so without a limit anyone who may test a contact could make
# panen message its address without end (issue 37: 30 tests, 30 e-mails).
TESTS_PER_HOUR = 3


def sent_today(session: Session, contact_id: int, now: dt.datetime) -> int:
    """The messages to ``contact_id`` since midnight WIB that count against its daily cap (every
    message written to go, not those kept back as over the cap)."""
    start = wib_midnight(wib_day(now))
    return (
        session.scalar(
            select(func.count(Notification.id)).where(
                Notification.contact_id == contact_id,
                Notification.created_at >= start,
                Notification.status != NotificationStatus.CAPPED,
            )
        )
        or 0
    )


def _seconds_to_midnight(now: dt.datetime) -> int:
    tomorrow = wib_midnight(wib_day(now) + dt.timedelta(days=1))
    return max(1, int((tomorrow - now).total_seconds()) + 1)


def check_contact_allowance(session: Session, contact: Contact, messages: int, now: dt.datetime) -> None:
    """Refuse ``messages`` more to ``contact`` if they would pass its daily cap.

    Raises:
        RateLimited: saying the cap and when it resets.
    """
    if sent_today(session, contact.id, now) + messages > contact.daily_cap:
        wait = _seconds_to_midnight(now)
        raise RateLimited(
            f"contact {contact.id} has had its {contact.daily_cap} messages today (its daily cap); more "
            f"may be sent after midnight WIB, in {wait // 3600} h {wait % 3600 // 60} min",
            retry_after_s=wait,
        )


def _in_window(session: Session, since: dt.datetime, *where: ColumnElement[bool]) -> list[dt.datetime]:
    """When the messages matching ``where`` were written since ``since``, oldest first."""
    query = select(Notification.created_at).where(Notification.created_at > since, *where)
    return sorted(session.scalars(query))


def _refuse_past(
    times: list[dt.datetime], adding: int, allowed: int, since: dt.datetime, window_s: int, message: str
) -> None:
    """Raise :class:`RateLimited` when ``adding`` more messages would make the window's ``times``
    exceed ``allowed``, with the wait until enough of them leave it."""
    if len(times) + adding <= allowed:
        return
    if adding > allowed or not times:
        wait = window_s
    else:
        oldest_to_leave = times[len(times) + adding - allowed - 1]
        wait = int((oldest_to_leave - since).total_seconds()) + 1
    raise RateLimited(message.format(minutes=wait // 60 + 1, hours=wait // 3600), retry_after_s=wait)


def check_test_allowance(session: Session, contact: Contact, now: dt.datetime) -> None:
    """Refuse a test past :data:`TESTS_PER_HOUR` to ``contact``.

    Raises:
        RateLimited: saying when the next may be sent.
    """
    since = now - dt.timedelta(hours=1)
    tests = _in_window(session, since, Notification.contact_id == contact.id, Notification.event == "test")
    # One test is a message per channel; count the tests (their times), not the messages.
    _refuse_past(
        sorted(set(tests)),
        1,
        TESTS_PER_HOUR,
        since,
        3600,
        f"contact {contact.id} had {TESTS_PER_HOUR} test messages in the last hour; the next may be sent "
        "in {minutes} min",
    )


def check_sender_allowance(session: Session, sender: str, messages: int, now: dt.datetime) -> None:
    """Refuse ``messages`` more asked for by ``sender`` past :data:`SENDER_MESSAGES_PER_HOUR`.

    Raises:
        RateLimited: saying when enough of the hour's messages leave the window.
    """
    since = now - dt.timedelta(hours=1)
    _refuse_past(
        _in_window(session, since, Notification.requested_by == sender),
        messages,
        SENDER_MESSAGES_PER_HOUR,
        since,
        3600,
        f"you have asked for {SENDER_MESSAGES_PER_HOUR} messages in the last hour (tests and "
        "confirmations); ask again in {minutes} min",
    )


def check_address_allowance(session: Session, kind: str, address: str, now: dt.datetime) -> None:
    """Refuse another confirmation to ``address`` past :data:`CONFIRMATIONS_PER_ADDRESS_PER_DAY`.

    Raises:
        RateLimited: saying when one may be sent again.
    """
    since = now - dt.timedelta(days=1)
    confirmations = _in_window(
        session,
        since,
        Notification.event == "confirm",
        Notification.channel_kind == kind,
        Notification.address == address,
    )
    _refuse_past(
        confirmations,
        1,
        CONFIRMATIONS_PER_ADDRESS_PER_DAY,
        since,
        86400,
        f"this {kind} address had {CONFIRMATIONS_PER_ADDRESS_PER_DAY} confirmations in the last day; another "
        "may be sent in {hours} h",
    )
