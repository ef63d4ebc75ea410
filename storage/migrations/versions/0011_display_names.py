"""Display names of fields and nodes (issue 39): what a farmer calls them; the id stays the key. And
a node's firmware version as installed (issue 40: the fleet view shows it).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``name`` (empty: the id is shown) to ``field`` and ``node``, and ``firmware`` to ``node``."""
    inspector = sa.inspect(op.get_bind())
    for table, column, length in (("field", "name", 80), ("node", "name", 80), ("node", "firmware", 40)):
        if table not in inspector.get_table_names():
            continue
        if column in {c["name"] for c in inspector.get_columns(table)}:
            continue
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(column, sa.String(length), nullable=False, server_default=""))


def downgrade() -> None:
    """Drop them."""
    for table, column in (("field", "name"), ("node", "name"), ("node", "firmware")):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
