"""Baseline: the registry as panen's ``create_all`` made it before migrations were Alembic's.

Cooperatives, farmers, fields, stations, nodes, harvest records, alerts (``coop_id`` NOT NULL),
contracts and API tokens. Registries of that age are stamped with this revision (after ``create_all``
added any table they lacked) and upgraded from here; a new registry is created from the models and
stamped with the head revision.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to do: the baseline is what ``create_all`` makes."""


def downgrade() -> None:
    """Nothing to undo."""
