"""Components, their tags, their references and their revision history.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agio.storage.types import JSONType, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "components",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("config", JSONType, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("file_digest", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_components"),
        sa.UniqueConstraint("name", name="uq_components_name"),
    )
    op.create_index("ix_components_type", "components", ["type"])
    op.create_table(
        "component_tags",
        sa.Column("component_id", sa.String(40), nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["component_id"],
            ["components.id"],
            name="fk_component_tags_component_id_components",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("component_id", "tag", name="pk_component_tags"),
    )
    op.create_index("ix_component_tags_tag", "component_tags", ["tag"])
    op.create_table(
        "component_refs",
        sa.Column("component_id", sa.String(40), nullable=False),
        sa.Column("ref_name", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["component_id"],
            ["components.id"],
            name="fk_component_refs_component_id_components",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ref_name"],
            ["components.name"],
            name="fk_component_refs_ref_name_components",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("component_id", "ref_name", name="pk_component_refs"),
    )
    op.create_index("ix_component_refs_ref_name", "component_refs", ["ref_name"])
    op.create_table(
        "component_revisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("component_name", sa.String(64), nullable=False),
        sa.Column("component_type", sa.String(16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("change_type", sa.String(16), nullable=False),
        sa.Column("old_config", JSONType, nullable=True),
        sa.Column("new_config", JSONType, nullable=True),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_component_revisions"),
    )
    op.create_index(
        "ix_component_revisions_name_id", "component_revisions", ["component_name", "id"]
    )


def downgrade() -> None:
    op.drop_table("component_revisions")
    op.drop_table("component_refs")
    op.drop_table("component_tags")
    op.drop_table("components")
