"""Coosae's buying prices (issue 36): ``buying_price``, one row per commodity, grade and first day.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.db import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the table."""
    if "buying_price" in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table(
        "buying_price",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("commodity", sa.String(40), nullable=False, index=True),
        sa.Column("grade", sa.String(20), nullable=False, server_default="A"),
        sa.Column("idr_per_kg", sa.Float(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False, server_default=""),
        sa.UniqueConstraint("commodity", "grade", "valid_from"),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("buying_price")
