"""The platform: API keys, cases, actions, notices, the event log, webhook subscriptions and their outbox;
alerts get their scope (platform, seller, brand, person) and their case.

Alerts made before this revision get platform "default" and no scope: `livewarden db upgrade` cannot know
which registry they came from (the server fills the scope of new alerts).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SCOPE = ("platform", "seller", "brand", "person")


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:  # SQLite cannot ALTER much: batch mode copies the table
        batch.add_column(sa.Column("platform", sa.String(64), nullable=False, server_default="default"))
        for name in _SCOPE[1:]:
            batch.add_column(sa.Column(name, sa.String(64), nullable=True))
        batch.add_column(sa.Column("case_id", sa.Integer, nullable=True))
    for name in (*_SCOPE, "case_id"):
        op.create_index(f"ix_alerts_{name}", "alerts", [name])
    op.create_index("ix_alerts_opened_at", "alerts", ["opened_at"])  # time ranges: exports, aggregates, since=

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float, nullable=True),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("room_id", sa.String(64), nullable=False, index=True),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("opened_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("platform", sa.String(64), nullable=False, index=True),
        sa.Column("seller", sa.String(64), nullable=True, index=True),
        sa.Column("brand", sa.String(64), nullable=True, index=True),
        sa.Column("person", sa.String(64), nullable=True, index=True),
        sa.Column("claimed_by", sa.String(32), nullable=True),
        sa.Column("claim_expires", sa.Float, nullable=True),
        sa.Column("first_seen_at", sa.Float, nullable=True),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, nullable=False, index=True),
        sa.Column("alert_id", sa.Integer, nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("automated", sa.Boolean, nullable=False),
        sa.Column("statement", sa.JSON, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("case_id", sa.Integer, nullable=False, index=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("due_at", sa.Float, nullable=True),
        sa.Column("closed_at", sa.Float, nullable=True),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("type", sa.String(32), nullable=False, index=True),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("seller", sa.String(64), nullable=True),
        sa.Column("brand", sa.String(64), nullable=True),
        sa.Column("person", sa.String(64), nullable=True),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False, index=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("types", sa.JSON, nullable=False),
        sa.Column("secrets", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("disabled_reason", sa.String(256), nullable=True),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("webhook_id", sa.Integer, nullable=False, index=True),
        sa.Column("event_id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.Float, nullable=False, index=True),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(512), nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("deliveries", "webhooks", "events", "notices", "actions", "cases", "api_keys"):
        op.drop_table(table)
    op.drop_index("ix_alerts_opened_at", "alerts")
    for name in (*_SCOPE, "case_id"):
        op.drop_index(f"ix_alerts_{name}", "alerts")
    with op.batch_alter_table("alerts") as batch:
        for name in (*_SCOPE, "case_id"):
            batch.drop_column(name)
