"""The services' closed vocabularies as enums: what alerts are about and where a notification is.

Each is a ``StrEnum``, so a member is its string wherever one is stored (the registry's columns, the
store's tags, the API's JSON) and compared; code names the member, so a typo is an error at import,
not an alert kind that never matches.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AlertKind", "NotificationStatus"]


class AlertKind(StrEnum):
    """What an alert is about (``alert.kind``)."""

    IRRIGATION_NEEDED = "irrigation_needed"
    FROST_RISK = "frost_risk"
    HEAT_STRESS = "heat_stress"
    NODE_OFFLINE = "node_offline"
    BATTERY_LOW = "battery_low"
    CONTRACT_AT_RISK = "contract_at_risk"
    REFRESH_FAILED = "refresh_failed"


class NotificationStatus(StrEnum):
    """Where a message of the outbox is (``notification.status``)."""

    PENDING = "pending"  # due at due_at
    SENDING = "sending"  # claimed by a sender (put back after its lease if the sender died)
    SENT = "sent"
    FAILED = "failed"  # still failing after give_up_after
    CAPPED = "capped"  # over the person's daily cap: kept, visible, not sent
    CANCELLED = "cancelled"  # its alert cleared or was acknowledged before it could go
