"""Channels prove their owner, requested messages know their sender, and edits that change a forecast
are audited (issue 37).

- ``contact_channel``: ``confirmed_at``/``confirmed_by`` and the open confirmation (hashes of its link
  and code, expiry, wrong guesses). Channels that exist already were receiving messages before
  confirmation existed: they stay confirmed (``confirmed_by`` says so), so an upgrade silences no one.
- ``notification.requested_by``: the sender of a test or a confirmation.
- ``registry_edit``: who changed what a field's forecast depends on, when, before and after.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.db import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

GRANDFATHERED = "confirmed before channels needed confirmation (migration 0009)"


def upgrade() -> None:
    """Add the columns and the table; mark existing channels confirmed."""
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if "contact_channel" in tables:
        with op.batch_alter_table("contact_channel") as batch:
            batch.add_column(sa.Column("confirmed_at", UtcDateTime(), nullable=True))
            batch.add_column(sa.Column("confirmed_by", sa.String(200), nullable=True))
            batch.add_column(sa.Column("confirm_link_sha256", sa.String(64), nullable=True))
            batch.add_column(sa.Column("confirm_code_sha256", sa.String(64), nullable=True))
            batch.add_column(sa.Column("confirm_expires_at", UtcDateTime(), nullable=True))
            batch.add_column(sa.Column("confirm_guesses", sa.Integer(), nullable=False, server_default="0"))
            batch.create_index("ix_contact_channel_confirm_link_sha256", ["confirm_link_sha256"])
        channel = sa.table(
            "contact_channel",
            sa.column("created_at", UtcDateTime()),
            sa.column("confirmed_at", UtcDateTime()),
            sa.column("confirmed_by", sa.String(200)),
        )
        op.execute(channel.update().values(confirmed_at=channel.c.created_at, confirmed_by=GRANDFATHERED))
    if "notification" in tables:
        with op.batch_alter_table("notification") as batch:
            batch.add_column(sa.Column("requested_by", sa.String(200), nullable=True))
            batch.create_index("ix_notification_requested_by", ["requested_by"])
    if "registry_edit" not in tables:
        op.create_table(
            "registry_edit",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("at", UtcDateTime(), nullable=False, index=True),
            sa.Column("by", sa.String(200), nullable=False),
            sa.Column("coop_id", sa.String(128), nullable=False, index=True),
            sa.Column("kind", sa.String(20), nullable=False),
            sa.Column("row_id", sa.String(128), nullable=False, index=True),
            sa.Column("action", sa.String(10), nullable=False),
            sa.Column("changes", sa.JSON(), nullable=False),
        )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("registry_edit")
    with op.batch_alter_table("notification") as batch:
        batch.drop_index("ix_notification_requested_by")
        batch.drop_column("requested_by")
    with op.batch_alter_table("contact_channel") as batch:
        batch.drop_index("ix_contact_channel_confirm_link_sha256")
        for name in (
            "confirm_guesses",
            "confirm_expires_at",
            "confirm_code_sha256",
            "confirm_link_sha256",
            "confirmed_by",
            "confirmed_at",
        ):
            batch.drop_column(name)
