"""Table definitions. Every schema change also gets an Alembic migration in `migrations/`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from agio.domain.runs import UNFINISHED_STATUSES as _UNFINISHED
from agio.storage.table_base import NAMING as NAMING
from agio.storage.table_base import Base as Base
from agio.storage.types import JSONType, UTCDateTime

# `Base` and `NAMING` live in `table_base.py`: the feature tables' modules register on
# `Base` without importing this module back


class ComponentRow(Base):
    """The current revision of a component (agents included). Names are unique across types."""

    __tablename__ = "components"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(16), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(1024), default="api")
    file_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ComponentTagRow(Base):
    __tablename__ = "component_tags"

    component_id: Mapped[str] = mapped_column(
        ForeignKey("components.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_component_tags_tag", "tag"),)


class ComponentRefRow(Base):
    """That component `component_id` (an agent) names component `ref_name`.

    The foreign key on the name makes the database itself refuse to delete a component
    that an agent still uses.
    """

    __tablename__ = "component_refs"

    component_id: Mapped[str] = mapped_column(
        ForeignKey("components.id", ondelete="CASCADE"), primary_key=True
    )
    ref_name: Mapped[str] = mapped_column(
        ForeignKey("components.name", ondelete="RESTRICT"), primary_key=True
    )

    __table_args__ = (Index("ix_component_refs_ref_name", "ref_name"),)


class ComponentRevisionRow(Base):
    """One entry of a component's change history (kept after the component is deleted)."""

    __tablename__ = "component_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    component_name: Mapped[str] = mapped_column(String(64))
    component_type: Mapped[str] = mapped_column(String(16))
    revision: Mapped[int] = mapped_column(Integer)
    change_type: Mapped[str] = mapped_column(String(16))
    old_config: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    new_config: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    actor: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: a `rolled_back` entry: the revision whose configuration it made current again
    #: (migration 0010)
    rolled_back_from: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (Index("ix_component_revisions_name_id", "component_name", "id"),)


class SessionRow(Base):
    """A conversation: the runs of one agent that share their message history."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(40), index=True)
    user_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: `summary` memory: the summary of the first `summary_upto` messages of the history
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary_upto: Mapped[int] = mapped_column(Integer, default=0)


class SessionMessageRow(Base):
    """A message of a session's history, appended when a run completes."""

    __tablename__ = "session_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[str] = mapped_column(String(40))
    message: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


#: The statuses of a run that has not ended (`agio.domain.runs.UNFINISHED_STATUSES`, as
#: text). An ended run is history: the queries of the hot and periodic paths (quota,
#: control polling, orphan search, active-run gauges) read only unfinished runs, through
#: partial indexes over them (`RunRow.__table_args__`), so they cost as much as there are
#: unfinished runs, however many have ended.
UNFINISHED_STATUSES = tuple(status.value for status in _UNFINISHED)
#: The predicate of those partial indexes, as SQL (migration 0007 holds the same text:
#: "status IN ('pending', 'running', 'paused')").
UNFINISHED_SQL = "status IN (" + ", ".join(f"'{s}'" for s in UNFINISHED_STATUSES) + ")"


#: The predicate of the unique index of session slots: only runs holding one are in it.
SESSION_SLOT_SQL = "session_slot IS NOT NULL"


def _unfinished_index(name: str, *columns: str) -> Index:
    where = text(UNFINISHED_SQL)
    return Index(name, *columns, sqlite_where=where, postgresql_where=where)


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(40))
    agent_name: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str] = mapped_column(String(40), index=True)
    user_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    input_query: Mapped[str] = mapped_column(Text)
    response_content: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType)
    agent_config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    model_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    tool_calls: Mapped[int] = mapped_column(Integer, default=0)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    owner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    control: Mapped[str | None] = mapped_column(String(16), nullable=True)
    parent_run_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    #: composition (migration 0016): the parent's tool call or workflow step that started
    #: this run; NULL for a fork or restore (which set `parent_run_id` alone) and others
    parent_call_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    forked_from_checkpoint_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    recovery_count: Mapped[int] = mapped_column(Integer, default=0)
    schedule_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    #: webhooks (migration 0011): the chat's own `webhook`, for the run's terminal event
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: the OpenAI-compatible API (migration 0014): a response's own request options
    #: (`instructions`, `previous_response_id`, `background`, `store`); NULL otherwise
    response_options: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: one run in progress per session (SPEC §12): the session's id while this run holds
    #: it, from its creation (or, queued, from its start) to the write that ends it; NULL
    #: otherwise. Unique (`uq_runs_session_slot`): a second run cannot take a held session,
    #: whichever process or replica tries, so the rule is the database's.
    session_slot: Mapped[str | None] = mapped_column(String(40), nullable=True)
    #: a queued run (created, not started, not holding its session): its
    #: `agio.domain.runs.QueueRank`; NULL for every other run
    queue_rank: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        Index("ix_runs_created_at", "created_at"),
        Index("ix_runs_agent_id_created_at", "agent_id", "created_at"),
        Index("ix_runs_user_id_created_at", "user_id", "created_at"),
        Index("ix_runs_status", "status"),
        Index("ix_runs_parent_run_id", "parent_run_id"),
        # partial: unfinished runs only (see `UNFINISHED_STATUSES`, `unfinished_runs`)
        _unfinished_index("ix_runs_unfinished_user_id_status", "user_id", "status"),
        _unfinished_index("ix_runs_unfinished_owner_id", "owner_id"),
        _unfinished_index("ix_runs_unfinished_status_heartbeat_at", "status", "heartbeat_at"),
        # partial: only the runs holding their session (migration 0013 holds the same text)
        Index(
            "uq_runs_session_slot",
            "session_slot",
            unique=True,
            sqlite_where=text(SESSION_SLOT_SQL),
            postgresql_where=text(SESSION_SLOT_SQL),
        ),
    )


def unfinished_runs() -> ColumnElement[bool]:
    """`runs.status IN ('pending', 'running', 'paused')`, the partial indexes' predicate, for
    a query's WHERE: a database plans a query on a partial index only when the query's
    WHERE implies the index's, and neither does algebra with bound parameters. SQLite looks
    for this very term, literals included; PostgreSQL's generic plan of a prepared
    statement (asyncpg prepares every statement) knows nothing of a parameter's value. So
    the statuses are literals in the SQL, never parameters, and a query that wants fewer
    statuses adds its own condition next to this one."""
    return RunRow.status.in_([literal_column(f"'{status}'") for status in UNFINISHED_STATUSES])


class RunStepRow(Base):
    __tablename__ = "run_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step_num: Mapped[int] = mapped_column(Integer)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    type: Mapped[str] = mapped_column(String(16))
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    model_response: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    tool_calls: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_run_steps_run_id_step_num", "run_id", "step_num"),)


class CheckpointRow(Base):
    """A run's state at a step boundary, a pause or on request: plain JSON."""

    __tablename__ = "checkpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step_num: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSONType)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    agent_config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    seq: Mapped[int] = mapped_column(Integer)
    run_status: Mapped[str] = mapped_column(String(16))
    message_count: Mapped[int] = mapped_column(Integer)
    total_tokens: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_checkpoints_run_id_created_at", "run_id", "created_at"),)


class RunEventRow(Base):
    """The event log: what SSE replays. Primary key (run_id, seq)."""

    __tablename__ = "run_events"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserRow(Base):
    """Someone who may use the API. `password_hash` is an Argon2 hash (pwdlib), or None
    for a user that signs in with API keys only (the bootstrap admin)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(256), nullable=True)
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiKeyRow(Base):
    """An API key: only its visible prefix and the SHA-256 of the whole key are stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class BrowserSessionRow(Base):
    """A browser's signed-in session (the console's cookie): only the SHA-256 of its token
    is stored. `key_id`: the API key it was opened with (None: a password). A revoked
    session is deleted; `expires_at` is its absolute end, `last_seen_at` (written at most
    once a minute) measures its idle time."""

    __tablename__ = "browser_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_id: Mapped[str | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class KnowledgeDocumentRow(Base):
    """A document of a knowledge component: a file from its folder, or one added through
    the API. `digest` (SHA-256 of the text) says whether it needs indexing again."""

    __tablename__ = "knowledge_documents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    knowledge: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(512))
    source: Mapped[str] = mapped_column(String(8))  # "file" or "api"
    content_type: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    chunk_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("knowledge", "name"),)


class KnowledgeChunkRow(Base):
    """A searchable piece of a document. The full-text index is the database's own and is
    not described here (migration 0005): SQLite's FTS5 table `knowledge_fts`, kept by
    triggers; PostgreSQL's generated column `tsv` with a GIN index."""

    __tablename__ = "knowledge_chunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_documents.id", ondelete="CASCADE"), index=True
    )
    knowledge: Mapped[str] = mapped_column(String(64), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)


#: database objects of the full-text index that the table definitions leave out (for the
#: migrations-versus-tables comparison)
SEARCH_INDEX_OBJECTS = frozenset(
    {
        "knowledge_fts",
        "knowledge_fts_data",
        "knowledge_fts_idx",
        "knowledge_fts_docsize",
        "knowledge_fts_config",
        "knowledge_fts_content",
        "tsv",
        "ix_knowledge_chunks_tsv",
    }
)


# The tables of later features, each in a module of its own that registers on `Base`
# (from `table_base`; imported here so that `Base.metadata` holds every table).
from agio.storage import tables_approvals as tables_approvals  # noqa: E402

#
from agio.storage import tables_idempotency as tables_idempotency  # noqa: E402

#
from agio.storage import tables_knowledge_vectors as tables_knowledge_vectors  # noqa: E402

#
from agio.storage import tables_model_calls as tables_model_calls  # noqa: E402

#
from agio.storage import tables_schedules as tables_schedules  # noqa: E402

#
from agio.storage import tables_webhooks as tables_webhooks  # noqa: E402
