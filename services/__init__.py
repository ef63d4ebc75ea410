"""The application: what panen does, callable from the API, the CLI, a cron job or a test alike.

No FastAPI and no typer here: the API (:mod:`api`) and the command (:mod:`panen.cli`) parse,
authorise, call one of these and shape the answer.

- :mod:`services.forecasting`: forecasts of every registered field from the store's daily aggregates;
- :mod:`services.contracts`: Coosae's sales contracts against those forecasts (coverage, allocation);
- :mod:`services.alerts`: alerts raised and cleared from readings, forecasts and contracts;
- :mod:`services.refresh`: the refresh cycle (forecasts → contracts → alerts) and its scheduler;
- :mod:`services.access`: roles, principals and API tokens;
- :mod:`services.registry_import`: a fleet document into the registry, with one set of checks;
- :mod:`services.broker_config`: Mosquitto's password file and ACL from the registry's nodes;
- :mod:`services.harvests`: harvest records, checked, corrected and voided with an audit trail;
- :mod:`services.notify`: contacts, the notification outbox and its sender, the field page's sign-in;
- :mod:`services.audit`: who changed what a forecast depends on, before and after;
- :mod:`services.registry`: the registry's write rules; :mod:`services.planning`: the purchase plan
  and its cache; :mod:`services.kinds`: alert kinds and notification statuses as enums.

Errors raised by the services (store and registry errors pass through as their own trees)::

    ServiceError
    ├── InvalidInput          what was asked is malformed or names something unknown (422)
    │   └── UnsafeDocument    a YAML document with aliases, too deep, or not YAML (services.yamlsafe)
    ├── NotFound              no such row (404)
    ├── OutOfScope            the row exists or not, but the caller may not see or change it (403)
    ├── Conflict              the change collides with what is there: an id in use, rows that
    │   │                     still depend on the one to delete (409)
    │   └── ImportConflict    the registry database refused a fleet document's rows
    ├── RateLimited           asked too often: again after the time it says (429)
    ├── RefreshFailed         a forecast refresh failed; the previous forecasts stay in use
    ├── ComputeFailed         a forecast computation in another process failed
    ├── ChannelUnavailable    a notification channel has no credentials in settings
    └── GrafanaSyncError      Grafana refused a request or could not be reached
"""

from __future__ import annotations

import datetime as dt

__all__ = ["Conflict", "InvalidInput", "NotFound", "OutOfScope", "RateLimited", "ServiceError", "id_date"]

_MONTHS_ID = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")


def id_date(day: dt.date) -> str:
    """A date as the field page writes it (``3 Des 2026``)."""
    return f"{day.day} {_MONTHS_ID[day.month - 1]} {day.year}"


class ServiceError(Exception):
    """Root of the errors the services raise on their own account."""


class InvalidInput(ServiceError, ValueError):
    """The request is malformed or names something unknown; the message says which (and where).

    ``farmer``, where a farmer can meet the error on the field page (a harvest, a planting, an
    orchard record), says the same in Indonesian and in a grower's words; the API's problem answer
    keeps the English message, which names the request's fields.
    """

    def __init__(self, message: str, *, farmer: str | None = None) -> None:
        super().__init__(message)
        self.farmer = farmer


class NotFound(ServiceError, LookupError):
    """No such row."""


class OutOfScope(ServiceError, PermissionError):
    """The caller's role or scope does not reach the row (said whether or not it exists)."""


class Conflict(ServiceError):
    """The change collides with what is there (an id in use, rows that depend on the one to delete)."""


class RateLimited(ServiceError):
    """Asked too often (a test message, a sign-in code); ``retry_after_s`` says when it may be again."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


# Every session's flush audits the edits that change a forecast (services.audit), whichever path
# writes them; installed here, before any service can write.
from services import audit as _audit  # noqa: E402

_audit.install()
