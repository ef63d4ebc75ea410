"""Rows a person created or changed through the API are marked (``edited_at``, ``edited_by``), so a
re-import of the fleet file no longer reverts them silently.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.db import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
TABLES = ("cooperative", "field", "station", "node")


def upgrade() -> None:
    """Add the two columns (empty: no row is known to have been edited)."""
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for table in TABLES:
        if table not in present:
            continue  # create_all makes it whole after the upgrade
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("edited_at", UtcDateTime(), nullable=True))
            batch.add_column(sa.Column("edited_by", sa.String(200), nullable=True))


def downgrade() -> None:
    """Drop them."""
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("edited_by")
            batch.drop_column("edited_at")
