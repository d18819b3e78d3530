"""The case schema as `Base.metadata.create_all` made it before migrations: alerts and the audit log.

Stores created before migrations have exactly these tables and no alembic_version; `migrate.upgrade` stamps
them at this revision instead of running it.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("shadow", sa.Boolean, nullable=False),
        sa.Column("message", sa.String(512), nullable=False),
        sa.Column("first_stream_time", sa.Float, nullable=False),
        sa.Column("last_stream_time", sa.Float, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("hits", sa.Integer, nullable=False),
        sa.Column("first_signal_wall_time", sa.Float, nullable=False),
        sa.Column("opened_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("signals", sa.JSON, nullable=False),
    )
    op.create_index("ix_alerts_room_id", "alerts", ["room_id"])
    op.create_index("ix_alerts_rule", "alerts", ["rule"])
    op.create_index("ix_alerts_status", "alerts", ["status"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("alert_id", sa.Integer, nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_alert_id", "audit_log", ["alert_id"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("alerts")
