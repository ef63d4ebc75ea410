"""A scratch InfluxDB database for a test (or one hypothesis example) of its own."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from panen.devservices import InfluxServer
from storage.influx import InfluxStore
from storage.retention import Retention


@contextlib.contextmanager
def scratch_influx(server: InfluxServer, retention: Retention | None = None) -> Iterator[InfluxStore]:
    """An :class:`InfluxStore` with ``retention`` on a fresh database of ``server`` (which keeps every
    tier forever, so readings of any age are taken); closed and the database dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.create_database(name)
    store = InfluxStore(server.url, database=name, retention=retention)
    try:
        yield store
    finally:
        store.close()
        server.drop_database(name)
