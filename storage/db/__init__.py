"""The registry: the relational store of who and what panen knows, and what happened to them.

SQLAlchemy 2 models in SQLite (``PANEN_DATA_DIR``) by default, PostgreSQL through ``PANEN_DB_URL``,
grouped by concern:

- :mod:`storage.db.fleet`: cooperatives, farmers, fields, weather stations, nodes;
- :mod:`storage.db.records`: harvest records, orchard records, alerts, sales contracts, buying prices;
- :mod:`storage.db.people`: API tokens, contacts, channels, subscriptions, the notification outbox,
  sign-ins;
- :mod:`storage.db.base`: the declarative base, UTC timestamps, the edited-by columns;
- :mod:`storage.db.engine`: connecting, and the schema kept by Alembic (``storage/migrations``):
  :func:`open_registry` creates a new registry from the models and stamps it with the newest
  revision, and upgrades an older one.

Rules about these rows (who may write what, what a delete needs) live in :mod:`services`, not here.
This package exports the models and the lookups that only read; what writes or connects is imported
from its module (:func:`storage.db.base.mark_edited`, :func:`storage.db.engine.open_registry`), which
the API may not (an import-linter contract): its routes write through the services.
"""

from storage.db.base import Base, EditedByPeople, UtcDateTime
from storage.db.fleet import Cooperative, Farmer, Field, Node, Station, fields_of, site, site_kind
from storage.db.people import ApiToken, Contact, ContactChannel, Notification, SignIn, Subscription
from storage.db.records import (
    Alert,
    BuyingPrice,
    Contract,
    HarvestRecord,
    OrchardEvent,
    RegistryEdit,
    Submission,
)

__all__ = [
    "Alert",
    "ApiToken",
    "Base",
    "BuyingPrice",
    "Contact",
    "ContactChannel",
    "Contract",
    "Cooperative",
    "EditedByPeople",
    "Farmer",
    "Field",
    "HarvestRecord",
    "Node",
    "Notification",
    "OrchardEvent",
    "RegistryEdit",
    "SignIn",
    "Station",
    "Submission",
    "Subscription",
    "UtcDateTime",
    "fields_of",
    "site",
    "site_kind",
]
