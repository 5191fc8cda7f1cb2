"""catalogue versions per table: a process reloads only the tables that changed

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:10:00

Every write to a catalogue table moved the one ``version`` and made every process reload the whole catalogue: all
organisations after every round (whose voucher debits move the version), which stalled a process for seconds once
an import had brought 200,000 organisations. The triggers now also move a counter of the written table,
``v_<table>``, and the cache reloads the tables whose counter moved. ``version`` keeps moving on every write (the
rounds' check that nothing changed under them reads it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CATALOG_TABLES = ("site", "pool", "maintenance", "org", "user", "voucher", "policyversion", "programme")


def _bump(name: str | None) -> str:
    also = f", v_{name} = v_{name} + 1" if name else ""
    return f"UPDATE catalog_version SET version = version + 1{also} WHERE id = 1"


def _triggers(per_table: bool) -> None:
    """(Re)create the triggers of migration 0002, moving the table's own counter too when ``per_table``."""
    if op.get_bind().dialect.name == "postgresql":
        also = ", %1$I = %1$I + 1" if per_table else ""
        body = (
            f"EXECUTE format('UPDATE catalog_version SET version = version + 1{also} WHERE id = 1', "
            "'v_' || TG_TABLE_NAME)"
            if per_table
            else _bump(None)
        )
        op.execute(
            "CREATE OR REPLACE FUNCTION bump_catalog_version() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {body}; RETURN NULL; END $$"
        )
        return
    for name in CATALOG_TABLES:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER catalog_version_{name}_{event.lower()}")
            bump = _bump(name if per_table else None)
            op.execute(
                f'CREATE TRIGGER catalog_version_{name}_{event.lower()} AFTER {event} ON "{name}" BEGIN {bump}; END'
            )


def upgrade() -> None:
    for name in CATALOG_TABLES:
        op.add_column("catalog_version", sa.Column(f"v_{name}", sa.Integer(), nullable=False, server_default="0"))
    _triggers(per_table=True)


def downgrade() -> None:
    _triggers(per_table=False)
    for name in CATALOG_TABLES:
        op.drop_column("catalog_version", f"v_{name}")
