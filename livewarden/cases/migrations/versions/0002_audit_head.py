"""The audit chain's head: one row with the last hash and the entry count, started from the existing log.

Every append locks this row first (SQLite: the write transaction; PostgreSQL: SELECT ... FOR UPDATE), so
concurrent writers queue instead of chaining onto the same entry; and a log cut short at its end no longer
matches its head.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from livewarden.cases.audit import GENESIS

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
    )
    op.execute(sa.text(
        "INSERT INTO audit_head (id, last_hash, entries) SELECT 1,"
        " COALESCE((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), :genesis),"
        " (SELECT COUNT(*) FROM audit_log)"
    ).bindparams(genesis=GENESIS))


def downgrade() -> None:
    op.drop_table("audit_head")
