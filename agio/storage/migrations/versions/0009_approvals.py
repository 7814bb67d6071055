"""Approvals of tool calls (SPEC §11): the `approvals` table, and the partial indexes over
unfinished runs recreated with the new unfinished status `waiting_approval` in their
predicate (the text of `agio.storage.tables.UNFINISHED_SQL`, copied).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agio.storage.types import JSONType, UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = "status IN ('pending', 'running', 'paused')"
_AFTER = "status IN ('pending', 'running', 'paused', 'waiting_approval')"
_INDEXES = {
    "ix_runs_unfinished_user_id_status": ["user_id", "status"],
    "ix_runs_unfinished_owner_id": ["owner_id"],
    "ix_runs_unfinished_status_heartbeat_at": ["status", "heartbeat_at"],
}


def _unfinished_indexes(predicate: str) -> None:
    for name, columns in _INDEXES.items():
        op.drop_index(name, table_name="runs")
        op.create_index(
            name,
            "runs",
            columns,
            sqlite_where=sa.text(predicate),
            postgresql_where=sa.text(predicate),
        )


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("args", JSONType, nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("decided_args", JSONType, nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_approvals_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
        sa.UniqueConstraint("run_id", "call_id", name="uq_approvals_run_id_call_id"),
    )
    op.create_index(
        "ix_approvals_pending_expires_at",
        "approvals",
        ["expires_at"],
        sqlite_where=sa.text("decision IS NULL"),
        postgresql_where=sa.text("decision IS NULL"),
    )
    op.create_index("ix_approvals_user_id_requested_at", "approvals", ["user_id", "requested_at"])
    _unfinished_indexes(_AFTER)


def downgrade() -> None:
    _unfinished_indexes(_BEFORE)
    op.drop_table("approvals")
