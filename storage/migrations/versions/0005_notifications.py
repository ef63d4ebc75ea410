"""Who hears about alerts: contacts, their channels and subscriptions, the notification outbox and the
field page's sign-ins; ``alert.facts`` (the figures a message is made of) and ``api_token.expires_at``
(sign-in sessions expire).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.db import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns to tables that exist, and the five tables."""

    # Long: one revision's DDL, in the order it must run; a migration is read top to bottom.
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if "alert" in present:
        with op.batch_alter_table("alert") as batch:
            batch.add_column(sa.Column("facts", sa.JSON(), nullable=True))
    if "api_token" in present:
        with op.batch_alter_table("api_token") as batch:
            batch.add_column(sa.Column("expires_at", UtcDateTime(), nullable=True))
    if "cooperative" not in present:
        return  # a registry without its base tables: create_all makes every table whole afterwards
    op.create_table(
        "contact",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("coop_id", sa.String(128), sa.ForeignKey("cooperative.id"), nullable=True, index=True),
        sa.Column("farmer_id", sa.String(128), sa.ForeignKey("farmer.id"), nullable=True, unique=True),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("quiet_start_h", sa.Integer(), nullable=False),
        sa.Column("quiet_end_h", sa.Integer(), nullable=False),
        sa.Column("daily_cap", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("edited_at", UtcDateTime(), nullable=True),
        sa.Column("edited_by", sa.String(200), nullable=True),
    )
    op.create_table(
        "contact_channel",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "contact_id",
            sa.Integer(),
            sa.ForeignKey("contact.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("contact_id", "kind", "address"),
    )
    op.create_table(
        "subscription",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "contact_id",
            sa.Integer(),
            sa.ForeignKey("contact.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("coop_id", sa.String(128), sa.ForeignKey("cooperative.id"), nullable=True),
        sa.UniqueConstraint("contact_id", "kind", "scope", "coop_id"),
    )
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column(
            "contact_id",
            sa.Integer(),
            sa.ForeignKey("contact.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("channel_kind", sa.String(20), nullable=False),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("coop_id", sa.String(128), nullable=True, index=True),
        sa.Column("alert_id", sa.Integer(), nullable=True, index=True),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.String(2000), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, index=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False, index=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=True),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
    )
    op.create_table(
        "sign_in",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "contact_id",
            sa.Integer(),
            sa.ForeignKey("contact.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
        sa.Column("failed_guesses", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    """Drop the tables and the columns."""
    for table in ("sign_in", "notification", "subscription", "contact_channel", "contact"):
        op.drop_table(table)
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("alert") as batch:
        batch.drop_column("facts")
