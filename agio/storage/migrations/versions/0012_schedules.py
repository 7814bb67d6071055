"""Schedules (issue 16, SPEC §15): the `schedules` table, and the runs' `schedule_id`.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agio.storage.types import JSONType, UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("agent_id", sa.String(40), nullable=False),
        sa.Column("agent_name", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("cron", sa.String(128), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(40), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("missed", sa.String(16), nullable=False),
        sa.Column("next_run_at", UTCDateTime(), nullable=True),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.Column("last_run_id", sa.String(40), nullable=True),
        sa.Column("last_error", JSONType, nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schedules"),
    )
    op.create_index("ix_schedules_next_run_at", "schedules", ["next_run_at"])
    op.create_index("ix_schedules_created_by_created_at", "schedules", ["created_by", "created_at"])
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("schedule_id", sa.String(40), nullable=True))
    op.create_index("ix_runs_schedule_id", "runs", ["schedule_id"])


def downgrade() -> None:
    op.drop_index("ix_runs_schedule_id", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("schedule_id")
    op.drop_table("schedules")
