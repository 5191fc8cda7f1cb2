"""what replays a round: the slot its commitments start before and the optimiser's value of waiting

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 17:00:00

A round runs the platform's online policy (``scheduler.decide_round``): it commits the placements that start before
the next round, and the optimiser values a slot of waiting at ``wait_weight_per_slot`` of a request's value. With
the seed, workers and time limit it already records (its solve is deterministic), these make its plan repeatable.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("allocation_round", sa.Column("next_round_slot", sa.Integer(), nullable=True))
    op.add_column("allocation_round", sa.Column("wait_weight_per_slot", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("allocation_round", "wait_weight_per_slot")
    op.drop_column("allocation_round", "next_round_slot")
