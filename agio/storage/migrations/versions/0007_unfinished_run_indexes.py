"""Partial indexes over unfinished runs, for the queries of the hot and periodic paths.

The quota check, control polling, orphan search and the active-run gauges read only runs
that are pending, running or paused; over these indexes they cost as much as there are
unfinished runs, not as much as there are runs. The predicate is the text of
`agio.storage.tables.UNFINISHED_SQL` (copied: a migration does not change afterwards).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNFINISHED = "status IN ('pending', 'running', 'paused')"

_INDEXES = {
    "ix_runs_unfinished_user_id_status": ["user_id", "status"],
    "ix_runs_unfinished_owner_id": ["owner_id"],
    "ix_runs_unfinished_status_heartbeat_at": ["status", "heartbeat_at"],
}


def upgrade() -> None:
    for name, columns in _INDEXES.items():
        op.create_index(
            name,
            "runs",
            columns,
            sqlite_where=sa.text(_UNFINISHED),
            postgresql_where=sa.text(_UNFINISHED),
        )


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="runs")
