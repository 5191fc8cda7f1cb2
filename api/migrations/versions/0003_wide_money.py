"""64-bit money, energy and carbon on PostgreSQL; the round's money reconciliation

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 11:00:00

PostgreSQL's ``integer`` is 32-bit: a budget of CNY 21,474,836.48 or more failed there while SQLite (whose
integers are 64-bit) took it. Every ``*_fen``, ``*_wh`` and ``*_g`` column becomes ``bigint``; SQLite needs no
change. Rounds record how many problems the money reconciliation found at their commit and the utilisation of
the horizon after it (which ``/metrics`` reports instead of computing it per scrape), and the round lease
gets a heartbeat, so that a crashed holder's lease is taken over within a minute. What-if jobs record when
they started, so that one whose process died can be told apart from one still running. Tokens can expire.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import api.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

WIDE = {
    "allocation_round": ("subsidy_fen",),
    "programme": ("voucher_budget_fen",),
    "compute_request": ("max_cost_fen",),
    "pool": ("price_fen_per_hour",),
    "voucher": ("balance_fen",),
    "voucherentry": ("amount_fen",),
    "allocation": ("cost_fen", "subsidy_fen", "energy_wh", "co2_g"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in WIDE.items():
            for column in columns:
                op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer())
    op.add_column("allocation_round", sa.Column("money_problems", sa.Integer(), nullable=True))
    op.add_column("allocation_round", sa.Column("utilisation_ratio", sa.Float(), nullable=True))
    op.add_column("whatif_job", sa.Column("started_at", api.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column("user", sa.Column("token_expires_at", api.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column("round_lock", sa.Column("heartbeat_at", api.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("round_lock", "heartbeat_at")
    op.drop_column("whatif_job", "started_at")
    op.drop_column("user", "token_expires_at")
    op.drop_column("allocation_round", "utilisation_ratio")
    op.drop_column("allocation_round", "money_problems")
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in WIDE.items():
            for column in columns:
                op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger())
