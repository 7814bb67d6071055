"""The tables of idempotency (issue 16), registered on `agio.storage.table_base.Base`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agio.storage.table_base import Base
from agio.storage.types import JSONType, UTCDateTime


class IdempotencyKeyRow(Base):
    """A user's `Idempotency-Key`: claimed (`in_progress`) before the first request does
    its work, then `completed` with that request's response. The unique constraint on
    (user, key) makes the database the arbiter between concurrent duplicates, whichever
    process they reach; an expired row is ignored and deleted."""

    __tablename__ = "idempotency_keys"

    #: `idem_…`, never reused (SQLite would reuse an integer key once its row is deleted,
    #: and a late answer of an abandoned claim must not land in the next one)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[Any] = mapped_column(JSONType, nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (UniqueConstraint("user_id", "key"),)
