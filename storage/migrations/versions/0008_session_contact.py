"""A sign-in session knows its contact (issue 37): ``api_token.contact_id``, so deleting the contact
revokes its sessions at once.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column and its index when the table exists."""
    if "api_token" not in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("contact_id", sa.Integer(), nullable=True))
        batch.create_index("ix_api_token_contact_id", ["contact_id"])


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("api_token") as batch:
        batch.drop_index("ix_api_token_contact_id")
        batch.drop_column("contact_id")
