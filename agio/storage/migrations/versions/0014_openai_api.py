"""The OpenAI-compatible API (issue 17, SPEC §17): a response's own request options.

`runs.response_options` holds what `POST /v1/responses` was asked besides the input
(`instructions`, `previous_response_id`, `background`, `store`), so that any replica
describes the response the same way; NULL for runs started otherwise.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agio.storage.types import JSONType

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("response_options", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("response_options")
