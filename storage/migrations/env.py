"""Alembic's environment for the registry: runs on the connection :func:`storage.db.engine.migrate`
hands it (``config.attributes["connection"]``), or on ``sqlalchemy.url`` from ``alembic.ini``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from storage.db import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    """Run the migrations online (Alembic calls this when the environment is loaded)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        # SQLite cannot ALTER a column: batch mode copies the table (its rows and indexes) instead.
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        context.run_migrations()


run()
