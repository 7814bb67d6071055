"""The tables of schedules (issue 16), registered on `agio.storage.table_base.Base`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from agio.storage.table_base import Base
from agio.storage.types import JSONType, UTCDateTime


class ScheduleRow(Base):
    """A schedule: an agent, a message, a cron expression in a time zone, and where its
    firings are. `next_run_at` is NULL while it is disabled; the scheduler claims a firing
    with a conditional UPDATE of it (`agio.storage.schedules`). `revision` counts the
    user's changes. `created_by` is a user id (no foreign key: the local admin of
    AGIO_AUTH_DISABLED has no row); a deleted user's schedules stay, and their firings
    are refused."""

    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(40))
    agent_name: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    cron: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    missed: Mapped[str] = mapped_column(String(16))
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_run_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        # the scheduler's query: the earliest due firings (disabled ones are NULL)
        Index("ix_schedules_next_run_at", "next_run_at"),
        Index("ix_schedules_created_by_created_at", "created_by", "created_at"),
    )
