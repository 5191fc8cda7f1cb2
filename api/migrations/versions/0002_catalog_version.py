"""catalogue version: a counter that triggers raise on every write to the tables a submission is checked against

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 07:30:00

The API caches those tables per process (``api.catalog``) and re-reads them when this counter moved. Triggers
rather than application code raise it, so that no write path (ORM, bulk statements, imports, another process,
an administrator's psql) can leave a cache stale. On PostgreSQL they are deferred constraint triggers: the
counter row is locked only at commit, after every other lock the transaction takes, so it adds no lock-order
cycle (deadlock) to the round's or a redemption's voucher updates.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CATALOG_TABLES = ("site", "pool", "maintenance", "org", "user", "voucher", "policyversion", "programme")
BUMP = "UPDATE catalog_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    table = op.create_table(
        "catalog_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0}])
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(
            "CREATE FUNCTION bump_catalog_version() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
    for name in CATALOG_TABLES:
        if postgres:
            op.execute(
                f'CREATE CONSTRAINT TRIGGER catalog_version_{name} AFTER INSERT OR UPDATE OR DELETE ON "{name}" '
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_catalog_version()"
            )
            continue
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f'CREATE TRIGGER catalog_version_{name}_{event.lower()} AFTER {event} ON "{name}" BEGIN {BUMP}; END'
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in CATALOG_TABLES:
        if postgres:
            op.execute(f'DROP TRIGGER catalog_version_{name} ON "{name}"')
            continue
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER catalog_version_{name}_{event}")
    if postgres:
        op.execute("DROP FUNCTION bump_catalog_version()")
    op.drop_table("catalog_version")
