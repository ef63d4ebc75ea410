"""When a notification goes out: urgency, quiet hours, escalation, reminders, digest and cap.

All times are instants (UTC ``datetime``); hours people set are whole hours of the day in WIB
(Asia/Jakarta, UTC+7, no daylight saving), as Batu's farmers read a clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from services.kinds import AlertKind
from storage import local_day, local_day_start_ms
from storage.base import WIB_OFFSET_MS

__all__ = ["WIB", "Policy", "in_quiet_hours", "next_digest_at", "quiet_hours_end", "wib_day", "wib_midnight"]

WIB = dt.timezone(dt.timedelta(milliseconds=WIB_OFFSET_MS), "WIB")  # the store's local day, as a tzinfo


def _hours(**kinds: float) -> dict[str, dt.timedelta]:
    return {kind: dt.timedelta(hours=h) for kind, h in kinds.items()}


@dataclass(frozen=True)
class Policy:
    """The rules. Defaults and their reasons:

    - ``urgent``: frost kills a potato canopy before dawn, the hour quiet hours cover; it goes at once,
      through quiet hours and past the daily cap.
    - ``digest``: a silent node or a low battery is a visit this week, not a call at night; they are
      gathered into one message at ``digest_hour_wib`` (06:00, before people go to the fields).
    - ``escalate_after``: a frost unacknowledged for 30 minutes, or a dry field for 6 hours, goes to
      the cooperative's managers too: the farmer may be asleep or without signal.
    - ``remind_every``: an alert still active and unacknowledged is sent again once a day.
    - every other kind goes at once, or at the end of the person's quiet hours.
    """

    urgent: frozenset[str] = frozenset({AlertKind.FROST_RISK})
    digest: frozenset[str] = frozenset({AlertKind.NODE_OFFLINE, AlertKind.BATTERY_LOW})
    escalate_after: dict[str, dt.timedelta] = field(
        default_factory=lambda: _hours(frost_risk=0.5, irrigation_needed=6)
    )
    remind_every: dt.timedelta = dt.timedelta(days=1)
    digest_hour_wib: int = 6


def _ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


def wib_day(when: dt.datetime) -> dt.date:
    """The local day in Kota Batu of an instant (:func:`storage.local_day`)."""
    return local_day(_ms(when))


def wib_midnight(day: dt.date) -> dt.datetime:
    """The instant local day ``day`` begins (00:00 WIB), in UTC."""
    return dt.datetime.fromtimestamp(local_day_start_ms(day) / 1000, dt.UTC)


def in_quiet_hours(when: dt.datetime, start_h: int, end_h: int) -> bool:
    """Whether ``when`` falls in quiet hours from ``start_h`` to ``end_h`` WIB (they may span midnight;
    equal hours mean none)."""
    hour = when.astimezone(WIB).hour
    if start_h == end_h:
        return False
    if start_h < end_h:
        return start_h <= hour < end_h
    return hour >= start_h or hour < end_h


def quiet_hours_end(when: dt.datetime, start_h: int, end_h: int) -> dt.datetime:
    """``when`` itself outside quiet hours, else the instant they end (``end_h``:00 WIB)."""
    if not in_quiet_hours(when, start_h, end_h):
        return when
    local = when.astimezone(WIB)
    end = local.replace(hour=end_h, minute=0, second=0, microsecond=0)
    if end <= local:
        end += dt.timedelta(days=1)
    return end.astimezone(dt.UTC)


def next_digest_at(when: dt.datetime, digest_hour_wib: int) -> dt.datetime:
    """The first digest time (``digest_hour_wib``:00 WIB) at or after ``when``."""
    local = when.astimezone(WIB)
    at = local.replace(hour=digest_hour_wib, minute=0, second=0, microsecond=0)
    if at < local:
        at += dt.timedelta(days=1)
    return at.astimezone(dt.UTC)
