"""The registry's database: a SQLite file by default, PostgreSQL through ``PANEN_DB_URL``; its schema
kept by Alembic (``storage/migrations``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from storage.db.base import Base

__all__ = ["migrate", "migrations_config", "open_registry", "sqlite_url"]


def sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of a SQLite registry file."""
    return f"sqlite:///{path}"


def open_registry(url: str) -> sessionmaker[Session]:
    """Connect (creating the schema if needed) and return a session factory."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url == "sqlite://" or ":memory:" in url:
        engine = create_engine(url, poolclass=NullPool)
    elif url.startswith("sqlite"):
        # A pool that never makes a request wait: a bounded pool smaller than the API's 40 worker
        # threads made requests queue for connections, and one whose client vanished mid-checkout then
        # left the API unanswering (found by loading it with wrk). Opening a connection per request
        # instead cost ~40 % of the API's CPU under load (connect, WAL pragma, close; py-spy), so 40
        # connections are kept and any beyond them are opened and closed as needed.
        engine = create_engine(url, pool_size=40, max_overflow=-1)
    else:
        # More connections than the API's 40 worker threads, and a short wait: a request that cannot
        # get a connection fails in 10 s instead of hanging the server.
        engine = create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=30, pool_timeout=10)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(conn: object, _record: object) -> None:
            cursor = conn.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)


_MIGRATIONS = Path(__file__).parents[1] / "migrations"
_PG_MIGRATION_LOCK = 7_267_001  # pg_advisory_xact_lock key: one process migrates at a time


def migrations_config(connection: Connection | None = None) -> AlembicConfig:
    """Alembic's configuration for the registry's migrations, to run on ``connection``."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _pre_alembic_revision(connection: Connection) -> str:
    """The revision a registry made before migrations were Alembic's is at (see 0001_baseline)."""
    if "alert" not in inspect(connection).get_table_names():
        return "0002"  # no alert table yet: create_all will make it as the models say
    alert = {c["name"]: c for c in inspect(connection).get_columns("alert")}
    return "0001" if not alert["coop_id"]["nullable"] else "0002"  # 0003 came with Alembic


def migrate(engine: Engine) -> None:
    """Bring the registry's schema to the newest revision, one process at a time.

    - a new registry: tables from the models, stamped with the head revision;
    - a registry made before Alembic (tables, no ``alembic_version``): stamped with the revision its
      layout matches, upgraded, then given the tables it lacks, as ``create_all`` always did;
    - otherwise: upgraded from its revision.
    """
    if engine.dialect.name == "sqlite":
        # BEGIN IMMEDIATE takes SQLite's write lock: a second process opening the same file waits
        # (busy_timeout) instead of racing to create tables; SQLite's DDL is transactional.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                _migrate(conn)
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        _migrate(conn)


def _migrate(conn: Connection) -> None:
    config = migrations_config(conn)
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" in tables:
        alembic_command.upgrade(config, "head")
    elif not tables & set(Base.metadata.tables):
        Base.metadata.create_all(conn)
        alembic_command.stamp(config, "head")
    else:
        # Stamped with the revision its layout matches, upgraded, and then given the tables it lacks
        # (as create_all always did; revisions skip a table that is not there yet).
        alembic_command.stamp(config, _pre_alembic_revision(conn))
        alembic_command.upgrade(config, "head")
        Base.metadata.create_all(conn)
