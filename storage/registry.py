"""The registry: cooperatives, farmers, fields, stations, nodes, harvest records, alerts, API tokens,
and who hears about alerts (contacts, channels, subscriptions, the notification outbox, sign-ins).

SQLAlchemy 2 models; SQLite in ``PANEN_DATA_DIR`` by default, PostgreSQL through ``PANEN_DB_URL``.
The schema is kept by Alembic (:mod:`storage.migrations`): :func:`open_registry` creates a new
registry from the models and stamps it with the newest revision, and upgrades an older one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import cast

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Dialect,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import JSON, TypeDecorator

from storage.fleetfile import Fleet, NodeSpec

__all__ = [
    "Alert",
    "ApiToken",
    "Base",
    "Contact",
    "ContactChannel",
    "Contract",
    "Cooperative",
    "Farmer",
    "Field",
    "HarvestRecord",
    "Node",
    "Notification",
    "OrchardEvent",
    "SignIn",
    "Station",
    "Subscription",
    "import_fleet",
    "mark_edited",
    "migrate",
    "migrations_config",
    "open_registry",
    "site",
    "site_kind",
    "sqlite_url",
]


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every database.

    SQLite stores no time zone and hands back naive datetimes, which the API would then send without
    an offset (not RFC 3339). Values are converted to UTC on the way in and marked UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of the registry."""


class Cooperative(Base):
    """A Koperasi Merah Putih."""

    __tablename__ = "cooperative"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kecamatan: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(20), default="desa")
    # Set when a person created or changed the row through the API: a re-import keeps such a row
    # unless asked to overwrite it (``import_fleet(overwrite=True)``).
    edited_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    edited_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Farmer(Base):
    """A member farmer of a cooperative."""

    __tablename__ = "farmer"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    coop_id: Mapped[str] = mapped_column(ForeignKey("cooperative.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))


class Field(Base):
    """A field with its crop of this season."""

    __tablename__ = "field"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    coop_id: Mapped[str] = mapped_column(ForeignKey("cooperative.id"), index=True)
    farmer_id: Mapped[str | None] = mapped_column(ForeignKey("farmer.id"), index=True, nullable=True)
    commodity: Mapped[str] = mapped_column(String(40))
    variety: Mapped[str] = mapped_column(String(80), default="")
    planting_date: Mapped[dt.date] = mapped_column(Date)
    area_ha: Mapped[float] = mapped_column(Float)
    soil_texture: Mapped[str] = mapped_column(String(40))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    elevation_m: Mapped[float] = mapped_column(Float)
    # Orchards (apple, citrus): how many trees; their planting_date is when the trees were planted.
    tree_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Set when a person created or changed the row through the API: a re-import keeps such a row
    # unless asked to overwrite it (``import_fleet(overwrite=True)``).
    edited_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    edited_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Station(Base):
    """A cooperative's weather station."""

    __tablename__ = "station"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    coop_id: Mapped[str] = mapped_column(ForeignKey("cooperative.id"), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    elevation_m: Mapped[float] = mapped_column(Float)
    # Set when a person created or changed the row through the API: a re-import keeps such a row
    # unless asked to overwrite it (``import_fleet(overwrite=True)``).
    edited_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    edited_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Node(Base):
    """A sensor node standing in a field or at a station."""

    __tablename__ = "node"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    coop_id: Mapped[str] = mapped_column(ForeignKey("cooperative.id"), index=True)
    site_id: Mapped[str] = mapped_column(String(128), index=True)
    format: Mapped[str] = mapped_column(String(20), default="native")
    dev_eui: Mapped[str | None] = mapped_column(String(16), unique=True, nullable=True)
    profile: Mapped[str] = mapped_column(String(60), default="")
    interval_min: Mapped[int] = mapped_column(Integer, default=10)
    # Set when a person created or changed the row through the API: a re-import keeps such a row
    # unless asked to overwrite it (``import_fleet(overwrite=True)``).
    edited_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    edited_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class HarvestRecord(Base):
    """What Coosae bought from a field. Purchase history: never deleted. A wrong record is voided
    (who, when, why), and a correction is a new record that names the one it supersedes."""

    __tablename__ = "harvest_record"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    field_id: Mapped[str] = mapped_column(ForeignKey("field.id"), index=True)
    harvest_date: Mapped[dt.date] = mapped_column(Date)
    tonnes: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(20), default="A")
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200), default="")
    # The record this one corrects (a plain id: SQLite's batch migrations cannot add a self-reference).
    supersedes_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    voided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    voided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class OrchardEvent(Base):
    """What a farmer or manager recorded of an orchard's crop: a defoliation (perompesan), a flowering,
    a fruit count on sample trees, a thinning. Never deleted; a wrong one is voided (who, when, why)."""

    __tablename__ = "orchard_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    field_id: Mapped[str] = mapped_column(ForeignKey("field.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    day: Mapped[dt.date] = mapped_column(Date)
    fruits_per_tree: Mapped[float | None] = mapped_column(Float, nullable=True)
    trees_sampled: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200), default="")
    voided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    voided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class Alert(Base):
    """Something a person should act on; raised and cleared by the alert evaluation."""

    __tablename__ = "alert"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    subject: Mapped[str] = mapped_column(String(128), index=True)  # field, station or node id
    # None for alerts about no one cooperative (a sales contract at risk): only offtaker and admin see them.
    coop_id: Mapped[str | None] = mapped_column(ForeignKey("cooperative.id"), index=True, nullable=True)
    field_id: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    severity: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(String(500))
    first_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The figures the message is made of (e.g. soil_vwc_pct, threshold_vwc_pct), so a notification
    # can say them in the reader's language; the English ``message`` stays for the API and logs.
    facts: Mapped[dict[str, float | str] | None] = mapped_column(JSON, nullable=True)


class Contract(Base):
    """A sales contract Coosae has signed with a buyer: will the harvests cover it?"""

    __tablename__ = "contract"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    buyer: Mapped[str] = mapped_column(String(200))
    commodity: Mapped[str] = mapped_column(String(40), index=True)
    tonnes: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(20), default="A")
    first_day: Mapped[dt.date] = mapped_column(Date)
    last_day: Mapped[dt.date] = mapped_column(Date)
    delivery_point: Mapped[str] = mapped_column(String(200), default="")
    price_idr_per_kg: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(200), default="")


class ApiToken(Base):
    """An API token: only its SHA-256 is stored; the token itself is shown once, at creation."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    role: Mapped[str] = mapped_column(String(20))
    coop_id: Mapped[str | None] = mapped_column(ForeignKey("cooperative.id"), nullable=True)
    farmer_id: Mapped[str | None] = mapped_column(ForeignKey("farmer.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set for the field page's sign-in sessions; tokens made with ``panen token create`` never expire.
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Contact(Base):
    """A person panen tells about alerts: a farmer, a cooperative manager or Coosae staff.

    ``role`` and the scope columns say what the person may hear about and see on the field page, as
    :class:`services.access.Principal` does for tokens. Quiet hours are whole hours in WIB
    (``quiet_start_h`` = ``quiet_end_h``: none).
    """

    __tablename__ = "contact"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    coop_id: Mapped[str | None] = mapped_column(ForeignKey("cooperative.id"), index=True, nullable=True)
    farmer_id: Mapped[str | None] = mapped_column(ForeignKey("farmer.id"), unique=True, nullable=True)
    language: Mapped[str] = mapped_column(String(5), default="id")
    quiet_start_h: Mapped[int] = mapped_column(Integer, default=21)
    quiet_end_h: Mapped[int] = mapped_column(Integer, default=5)
    daily_cap: Mapped[int] = mapped_column(Integer, default=12)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    edited_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    edited_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ContactChannel(Base):
    """One way to reach a contact: ``kind`` (whatsapp, telegram, email, ntfy, webhook) and the
    address on it (a phone number, chat id, e-mail address, topic or URL). The channels' credentials
    (bot tokens, SMTP password) are settings, never rows."""

    __tablename__ = "contact_channel"
    __table_args__ = (UniqueConstraint("contact_id", "kind", "address"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class Subscription(Base):
    """What a contact hears about: an alert ``kind`` (``*``: every kind) within a ``scope``: ``own``
    (the farmer's fields), ``coop`` (a cooperative: ``coop_id``, else the contact's) or ``all``."""

    __tablename__ = "subscription"
    __table_args__ = (UniqueConstraint("contact_id", "kind", "scope", "coop_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    scope: Mapped[str] = mapped_column(String(10))
    coop_id: Mapped[str | None] = mapped_column(ForeignKey("cooperative.id"), nullable=True)


class Notification(Base):
    """The outbox: one message to one channel, written in the transaction of the change that causes
    it and delivered by :class:`services.notify.outbox.Sender`.

    ``key`` is the idempotency key (one per alert state change, channel and day where it applies): a
    second write of the same message is refused by the unique index, and the key travels with the
    message so a receiver can drop a repeat. The channel's kind and address are copied, so a message
    stays readable after its channel is removed. ``status``: pending, sending, sent, failed, capped
    (over the person's daily cap), cancelled (its alert cleared or was acknowledged first).
    """

    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    channel_kind: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(500))
    coop_id: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    alert_id: Mapped[int | None] = mapped_column(Integer, index=True, nullable=True)
    event: Mapped[str] = mapped_column(String(20))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(12), index=True, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)


class SignIn(Base):
    """A personal sign-in link or one-time code for the field page: only its SHA-256 is kept; it
    works once, until ``expires_at``, and a code takes at most a few wrong guesses."""

    __tablename__ = "sign_in"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # link or code
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    failed_guesses: Mapped[int] = mapped_column(Integer, default=0)


_Editable = Cooperative | Field | Station | Node | Contact


def mark_edited(row: _Editable, by: str) -> None:
    """Note that a person created or changed ``row`` (through the API): re-imports keep it."""
    row.edited_at = dt.datetime.now(dt.UTC)
    row.edited_by = by[:200]


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


_MIGRATIONS = Path(__file__).with_name("migrations")
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


def import_fleet(session: Session, fleet: Fleet, *, overwrite: bool = False) -> dict[str, int]:
    """Insert or update the cooperatives, fields, stations and nodes of a fleet.

    Importing the same file twice changes nothing; harvest records and tokens are never touched.
    One farmer per field is created (``{field}-farmer``) when none exists. A row a person created
    or changed through the API since (``edited_at``) is kept as they left it, and counted in
    ``kept_edited``, unless ``overwrite``, which also clears the mark.
    """
    counts = {"cooperatives": 0, "fields": 0, "stations": 0, "nodes": 0, "kept_edited": 0}

    def upsert(row: _Editable, kind: str) -> None:
        existing = cast("_Editable | None", session.get(type(row), row.id))
        counts[kind] += 1
        if existing is None:
            session.add(row)
            return
        table = type(row).__table__
        columns = [c.key for c in table.columns if c.key not in ("edited_at", "edited_by")]
        differs = any(getattr(existing, c) != getattr(row, c) for c in columns)
        if existing.edited_at is not None and not overwrite:
            if differs:
                counts["kept_edited"] += 1
            return
        for c in columns:
            setattr(existing, c, getattr(row, c))
        if overwrite:
            existing.edited_at = existing.edited_by = None

    for c in fleet.cooperatives:
        upsert(Cooperative(id=c.id, name=c.name, kecamatan=c.kecamatan, kind=c.kind), "cooperatives")
        s = c.station
        upsert(Station(id=s.id, coop_id=c.id, lat=s.lat, lon=s.lon, elevation_m=s.elevation_m), "stations")
        upsert(_node(s.node, c.id, s.id), "nodes")
        for f in c.fields:
            farmer_id = f"{f.id}-farmer"
            if session.get(Farmer, farmer_id) is None:
                session.add(Farmer(id=farmer_id, coop_id=c.id, name=f"Petani {f.id}"))
            upsert(
                Field(
                    id=f.id,
                    coop_id=c.id,
                    farmer_id=farmer_id,
                    commodity=f.commodity,
                    variety=f.variety,
                    planting_date=f.planting_date,
                    area_ha=f.area_ha,
                    soil_texture=f.soil_texture,
                    lat=f.lat,
                    lon=f.lon,
                    elevation_m=f.elevation_m,
                    tree_count=f.tree_count,
                ),
                "fields",
            )
            upsert(_node(f.node, c.id, f.id), "nodes")
    session.commit()
    return counts


def _node(spec: NodeSpec, coop_id: str, site_id: str) -> Node:
    return Node(
        id=spec.id,
        coop_id=coop_id,
        site_id=site_id,
        format=spec.format,
        dev_eui=spec.dev_eui or None,
        profile=spec.profile,
        interval_min=spec.interval_min,
    )


def site(session: Session, site_id: str) -> Field | Station | None:
    """The field or weather station with this id: they share one id space, since readings, nodes
    and forecasts name a site by its id alone."""
    return session.get(Field, site_id) or session.get(Station, site_id)


def site_kind(row: Field | Station) -> str:
    """``"field"`` or ``"weather station"``."""
    return "field" if isinstance(row, Field) else "weather station"


def fields_of(session: Session, coop_ids: list[str] | None = None) -> list[Field]:
    """Fields, optionally of some cooperatives, ordered by id."""
    query = select(Field).order_by(Field.id)
    if coop_ids is not None:
        query = query.where(Field.coop_id.in_(coop_ids))
    return list(session.scalars(query))
