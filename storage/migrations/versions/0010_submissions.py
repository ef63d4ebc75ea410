"""Idempotent record creation (issue 39): ``submission``, a request's key with the record it made.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.db import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the table."""
    if "submission" in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table(
        "submission",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("by", "key"),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("submission")
