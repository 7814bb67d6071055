"""One run per session (SPEC §12): the runs' session slot and queue rank.

`runs.session_slot` is the session's id while the run holds its session, under a unique
partial index, so that two runs never hold one session whichever process creates them;
`runs.queue_rank` marks a queued run (created, waiting for the session). A run not ended
when this migration runs keeps going: the oldest unfinished run of each session gets the
session (the others of an older server's concurrent runs finish as they are).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# copied from agio.storage.tables (a migration does not change afterwards)
_SLOT = "session_slot IS NOT NULL"
_ENDED = "('completed', 'failed', 'cancelled')"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("session_slot", sa.String(40), nullable=True))
        batch.add_column(sa.Column("queue_rank", sa.Integer(), nullable=True))
    # (plain SQL that SQLite and PostgreSQL both take; the constants are the only text)
    op.execute(
        "UPDATE runs SET session_slot = session_id "  # noqa: S608
        f"WHERE status NOT IN {_ENDED} AND id = ("
        "SELECT earliest.id FROM runs AS earliest "
        f"WHERE earliest.session_id = runs.session_id AND earliest.status NOT IN {_ENDED} "
        "ORDER BY earliest.created_at, earliest.id LIMIT 1)"
    )
    op.create_index(
        "uq_runs_session_slot",
        "runs",
        ["session_slot"],
        unique=True,
        sqlite_where=sa.text(_SLOT),
        postgresql_where=sa.text(_SLOT),
    )


def downgrade() -> None:
    op.drop_index("uq_runs_session_slot", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("queue_rank")
        batch.drop_column("session_slot")
