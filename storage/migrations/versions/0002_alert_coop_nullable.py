"""``alert.coop_id`` becomes nullable: a contract at risk belongs to no cooperative.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Drop NOT NULL from ``alert.coop_id`` (SQLite: the table is copied, rows and indexes kept)."""
    with op.batch_alter_table("alert") as batch:
        batch.alter_column("coop_id", existing_type=sa.String(128), nullable=True)


def downgrade() -> None:
    """Restore NOT NULL (fails while alerts of no cooperative exist)."""
    with op.batch_alter_table("alert") as batch:
        batch.alter_column("coop_id", existing_type=sa.String(128), nullable=False)
