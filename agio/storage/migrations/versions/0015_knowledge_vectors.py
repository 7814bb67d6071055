"""Knowledge vectors (SPEC §21): one embedding per chunk, with the fingerprint of the model
that made it. float32 bytes on SQLite (read by sqlite-vec's functions), `real[]` on
PostgreSQL; where PostgreSQL offers the `vector` extension (pgvector) and this role may
create it, it is created, and search casts the arrays to `vector`.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

import contextlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, REAL

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "knowledge_vectors",
        sa.Column("chunk_id", sa.Integer(), nullable=False),
        sa.Column("knowledge", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column(
            "embedding",
            sa.LargeBinary().with_variant(ARRAY(REAL()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["chunk_id"],
            ["knowledge_chunks.id"],
            name="fk_knowledge_vectors_chunk_id_knowledge_chunks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chunk_id", name="pk_knowledge_vectors"),
    )
    op.create_index(
        "ix_knowledge_vectors_knowledge_fingerprint",
        "knowledge_vectors",
        ["knowledge", "fingerprint"],
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        available = bind.execute(
            sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        ).first()
        if available is not None:
            # a role that may not create it leaves the exact scan in SQL
            with contextlib.suppress(sa.exc.DBAPIError), bind.begin_nested():
                bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))


def downgrade() -> None:
    op.drop_index("ix_knowledge_vectors_knowledge_fingerprint", table_name="knowledge_vectors")
    op.drop_table("knowledge_vectors")
