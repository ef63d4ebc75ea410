"""Orchards (issue 20): ``field.tree_count`` and the ``orchard_event`` table (defoliation, flowering,
fruit counts, thinning), voided with an audit trail, never deleted.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.db import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column to ``field`` when it exists, and the table."""
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if "field" in present:
        with op.batch_alter_table("field") as batch:
            batch.add_column(sa.Column("tree_count", sa.Integer(), nullable=True))
    if "orchard_event" not in present:
        op.create_table(
            "orchard_event",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("field_id", sa.String(128), sa.ForeignKey("field.id"), nullable=False, index=True),
            sa.Column("kind", sa.String(20), nullable=False),
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("fruits_per_tree", sa.Float(), nullable=True),
            sa.Column("trees_sampled", sa.Integer(), nullable=True),
            sa.Column("note", sa.String(500), nullable=False, server_default=""),
            sa.Column("recorded_at", UtcDateTime(), nullable=False),
            sa.Column("recorded_by", sa.String(200), nullable=False, server_default=""),
            sa.Column("voided_at", UtcDateTime(), nullable=True),
            sa.Column("voided_by", sa.String(200), nullable=True),
            sa.Column("void_reason", sa.String(500), nullable=True),
        )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("orchard_event")
    with op.batch_alter_table("field") as batch:
        batch.drop_column("tree_count")
