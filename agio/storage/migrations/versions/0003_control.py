"""Execution control: run control flags, lineage, recovery count, checkpoints.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agio.storage.types import JSONType, UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("control", sa.String(16), nullable=True))
        batch.add_column(sa.Column("parent_run_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("forked_from_checkpoint_id", sa.String(40), nullable=True))
        batch.add_column(
            sa.Column("recovery_count", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("step_num", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", JSONType, nullable=False),
        sa.Column("state", JSONType, nullable=False),
        sa.Column("agent_config", JSONType, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("run_status", sa.String(16), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_checkpoints_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_checkpoints"),
    )
    op.create_index("ix_checkpoints_run_id_created_at", "checkpoints", ["run_id", "created_at"])


def downgrade() -> None:
    op.drop_table("checkpoints")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("recovery_count")
        batch.drop_column("forked_from_checkpoint_id")
        batch.drop_column("parent_run_id")
        batch.drop_column("control")
