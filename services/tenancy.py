"""One InfluxDB database per cooperative, and who may read and write which (issue 18).

Grafana lets any viewer of an organisation send its own queries to that organisation's datasources,
so a dashboard variable is no boundary: the boundary must be the credentials the datasource holds.
InfluxDB 1.x grants per database, so each cooperative's readings, aggregates, forecasts and alerts
live in ``<database>_<coop>`` (:meth:`storage.influx.InfluxStore.tenant_database`), and the shared
``<database>`` keeps what Coosae reads across cooperatives. The users, all with passwords derived
from ``PANEN_TENANT_SECRET`` (HMAC-SHA256, as node passwords are from the fleet secret), so nothing
is stored and ``panen grafana sync`` derives the same ones for the datasources:

==================  =========================================================================
``coop_<id>``       READ on its cooperative's database: the datasource of its Grafana org
``coosae``          READ on the shared database and every cooperative's: Coosae sees all
``panen_ingest``    WRITE on every cooperative's database (readings) and the shared one (its
                    counters); it reads nothing
``panen_api``       ALL on every database: reads readings for forecasts and the API, writes
                    forecasts, plan, alerts, and runs the rollup backfill (SELECT … INTO)
==================  =========================================================================
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from storage.influx import InfluxStore, quote_ident, quote_string

__all__ = [
    "API_USER",
    "COOSAE_USER",
    "INGEST_USER",
    "InfluxUser",
    "coop_user",
    "derived_password",
    "grant_statements",
    "influx_users",
    "tenant_password",
]

COOSAE_USER = "coosae"
INGEST_USER = "panen_ingest"
API_USER = "panen_api"


def coop_user(coop_id: str) -> str:
    """The InfluxDB user that reads one cooperative's database."""
    return f"coop_{coop_id}"


def derived_password(secret: str, purpose: str, name: str, *, nbytes: int = 18) -> str:
    """A password derived from the tenant secret for ``name`` in ``purpose`` (``influxdb``, ``grafana``):
    HMAC-SHA256, so one secret gives every password and no password is stored."""
    digest = hmac.new(secret.encode(), f"{purpose}:{name}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:nbytes]).decode()


def tenant_password(secret: str, user: str) -> str:
    """The password of an InfluxDB user of a per-cooperative store, derived from the tenant secret."""
    return derived_password(secret, "influxdb", user)


@dataclass(frozen=True)
class InfluxUser:
    """A user and what it may do: ``grants`` maps a database to READ, WRITE or ALL."""

    name: str
    password: str
    grants: tuple[tuple[str, str], ...]


def influx_users(store: InfluxStore, coop_ids: Sequence[str], secret: str) -> list[InfluxUser]:
    """Every user of a per-cooperative store of ``coop_ids``, with its grants (module docstring)."""
    shared = store.database
    tenants = [store.tenant_database(c) for c in coop_ids]

    def user(name: str, grants: list[tuple[str, str]]) -> InfluxUser:
        return InfluxUser(name, tenant_password(secret, name), tuple(grants))

    users = [user(coop_user(c), [(db, "READ")]) for c, db in zip(coop_ids, tenants, strict=True)]
    users.append(user(COOSAE_USER, [(shared, "READ"), *((db, "READ") for db in tenants)]))
    users.append(user(INGEST_USER, [(shared, "WRITE"), *((db, "WRITE") for db in tenants)]))
    users.append(user(API_USER, [(shared, "ALL"), *((db, "ALL") for db in tenants)]))
    return users


def grant_statements(user: InfluxUser, existing: set[str], *, hide_password: bool = False) -> list[str]:
    """InfluxQL that creates ``user`` (or resets its password, if it is in ``existing``) and grants
    exactly its privileges. Grants are additive in InfluxDB; a privilege taken away from the plan
    stays until revoked by hand (`panen store tenants` says so rather than revoking on a guess)."""
    password = "'…'" if hide_password else quote_string(user.password)
    name = quote_ident(user.name)
    if user.name in existing:
        statements = [f"SET PASSWORD FOR {name} = {password}"]
    else:
        statements = [f"CREATE USER {name} WITH PASSWORD {password}"]
    statements += [f"GRANT {privilege} ON {quote_ident(db)} TO {name}" for db, privilege in user.grants]
    return statements
