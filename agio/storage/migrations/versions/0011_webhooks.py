"""Webhooks: subscriptions and their event types, the outbox of deliveries and their
attempts, and a run's own webhook URL (`runs.webhook_url`, from `POST /api/chat`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agio.storage.types import JSONType, UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = "status = 'pending'"


def upgrade() -> None:
    op.add_column("runs", sa.Column("webhook_url", sa.Text(), nullable=True))
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.String(40), nullable=True),
        sa.Column("owner_id", sa.String(128), nullable=False),
        sa.Column("all_runs", sa.Boolean(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
    )
    op.create_index("ix_webhooks_owner_id", "webhooks", ["owner_id"])
    op.create_table(
        "webhook_events",
        sa.Column("subscription_id", sa.String(40), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhooks.id"],
            name="fk_webhook_events_subscription_id_webhooks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", "event_type", name="pk_webhook_events"),
    )
    op.create_index(
        "ix_webhook_events_event_type",
        "webhook_events",
        ["event_type", "subscription_id"],
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(80), nullable=False),
        sa.Column("subscription_id", sa.String(40), nullable=True),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.String(40), nullable=False),
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("data", JSONType, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("lease_token", sa.String(40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhooks.id"],
            name="fk_webhook_deliveries_subscription_id_webhooks",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_webhook_deliveries_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
    )
    op.create_index("ix_webhook_deliveries_run_id", "webhook_deliveries", ["run_id"])
    op.create_index(
        "ix_webhook_deliveries_subscription_id_created_at",
        "webhook_deliveries",
        ["subscription_id", "created_at"],
    )
    op.create_index(
        "ix_webhook_deliveries_pending_next_attempt_at",
        "webhook_deliveries",
        ["next_attempt_at"],
        sqlite_where=sa.text(_PENDING),
        postgresql_where=sa.text(_PENDING),
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(80), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name="fk_webhook_attempts_delivery_id_webhook_deliveries",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
    )
    op.create_index(
        "ix_webhook_attempts_delivery_id_attempt", "webhook_attempts", ["delivery_id", "attempt"]
    )


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("webhooks")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("webhook_url")
