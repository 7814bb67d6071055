"""The model-call log's table (SPEC §22), registered on `agio.storage.tables.Base`.

A row per model call of a run, in the order the run made them (`id`). The request's
messages are stored as a delta: `prefix` messages are those of the request of the run's
previous row, followed by `messages` (so a call stores only what was added since the
previous one, not the whole history again); `prefix` 0 starts afresh with every message.
`tools` is null when the call offered the same tools as the previous row (a row with
`prefix` 0 always has them). Secrets never get here: no headers, no API keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from agio.storage.table_base import Base
from agio.storage.types import JSONType, UTCDateTime


class ModelCallRow(Base):
    __tablename__ = "model_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step_num: Mapped[int] = mapped_column(Integer)
    #: the model component's name
    model: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[int] = mapped_column(Integer)
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    tools: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
    #: the assistant message the call produced (null when it failed)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    first_token_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    retries: Mapped[int] = mapped_column(Integer)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_model_calls_run_id_id", "run_id", "id"),
        Index("ix_model_calls_started_at", "started_at"),
    )
