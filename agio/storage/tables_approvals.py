"""The tables of tool-call approvals (SPEC §11), registered on `agio.storage.tables.Base`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from agio.storage.table_base import Base
from agio.storage.types import JSONType, UTCDateTime

#: the predicate of the partial index over undecided approvals
PENDING_SQL = "decision IS NULL"


class ApprovalRow(Base):
    """One tool call of a run that waits for (or got) a person's decision. Asked for once
    per call (`run_id`, `call_id`); decided at most once, by a conditional update."""

    __tablename__ = "approvals"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(String(128))
    #: the run's agent and owner, so the inbox is listed without a join
    agent_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    tool: Mapped[str] = mapped_column(String(64))
    #: the model's arguments
    args: Mapped[dict[str, Any]] = mapped_column(JSONType)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: null until decided: "approve" or "reject" (an expired one is rejected, reason expired)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: the arguments the call runs with when the decider changed them
    decided_args: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        UniqueConstraint("run_id", "call_id"),
        Index(
            "ix_approvals_pending_expires_at",
            "expires_at",
            sqlite_where=text(PENDING_SQL),
            postgresql_where=text(PENDING_SQL),
        ),
        Index("ix_approvals_user_id_requested_at", "user_id", "requested_at"),
    )
