"""Harvest records can be voided and corrected with an audit trail (who, when, why), never deleted.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.db import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the correction link and the void columns (all empty for existing records). A registry
    without the table yet gets it whole from ``create_all`` after the upgrade."""
    if "harvest_record" not in sa.inspect(op.get_bind()).get_table_names():
        return
    with op.batch_alter_table("harvest_record") as batch:
        batch.add_column(sa.Column("supersedes_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("voided_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("voided_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("void_reason", sa.String(500), nullable=True))


def downgrade() -> None:
    """Drop them (the audit trail is lost)."""
    with op.batch_alter_table("harvest_record") as batch:
        for column in ("void_reason", "voided_by", "voided_at", "supersedes_id"):
            batch.drop_column(column)
