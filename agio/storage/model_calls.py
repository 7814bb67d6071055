"""The model-call log in the database: pages of a run's calls with their request messages
rebuilt from the stored deltas, and the retention sweep. Rows are written by the run
writer, in the batches of the run's other writes (`write_batch.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from agio.domain.model_calls import ModelCall
from agio.storage.database import Database
from agio.storage.tables import RunRow
from agio.storage.tables_model_calls import ModelCallRow

_C = ModelCallRow


class ModelCallRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def page(self, run_id: str, *, offset: int, limit: int) -> tuple[int, list[ModelCall]]:
        """How many calls the run has logged, and a page of them in order, each with its
        whole request. The rows before the page back to the last one that starts afresh
        (`prefix` 0) are read too, for the messages and tools the page's rows share."""
        async with self._db.sessions() as s:
            total = (await s.execute(select(func.count()).where(_C.run_id == run_id))).scalar_one()
            rows = list(
                (
                    await s.execute(
                        select(_C)
                        .where(_C.run_id == run_id)
                        .order_by(_C.id)
                        .offset(offset)
                        .limit(limit)
                    )
                ).scalars()
            )
            if not rows:
                return total, []
            earlier: list[Any] = []
            first = rows[0]
            if first.prefix > 0 or first.tools is None:
                base = (
                    select(func.max(_C.id))
                    .where(_C.run_id == run_id, _C.id < first.id, _C.prefix == 0)
                    .scalar_subquery()
                )
                earlier = list(
                    await s.execute(
                        select(_C.prefix, _C.messages, _C.tools)
                        .where(_C.run_id == run_id, _C.id < first.id, _C.id >= base)
                        .order_by(_C.id)
                    )
                )
        messages: list[dict[str, Any]] = []
        tools: list[dict[str, Any]] = []
        for prefix, delta, offered in earlier:
            messages = messages[:prefix] + delta
            tools = offered if offered is not None else tools
        calls = []
        for number, row in enumerate(rows, start=offset + 1):
            messages = messages[: row.prefix] + row.messages
            tools = row.tools if row.tools is not None else tools
            calls.append(
                ModelCall(
                    number=number,
                    step=row.step_num,
                    model=row.model,
                    messages=messages,
                    tools=tools,
                    response=row.response,
                    prompt_tokens=row.prompt_tokens,
                    completion_tokens=row.completion_tokens,
                    latency_ms=row.latency_ms,
                    first_token_ms=row.first_token_ms,
                    retries=row.retries,
                    error=row.error,
                    started_at=row.started_at,
                )
            )
        return total, calls

    async def sweep(self, cutoff: datetime) -> int:
        """Delete the log of every run that ended before `cutoff` (all of a run's calls
        go together, so that no delta loses the rows it builds on; a run still going, or
        paused, keeps its log). Returns the rows deleted."""
        ended = select(RunRow.id).where(RunRow.ended_at < cutoff)
        async with self._db.write_sessions() as s, s.begin():
            result = await s.execute(delete(_C).where(_C.started_at < cutoff, _C.run_id.in_(ended)))
        return int(getattr(result, "rowcount", 0) or 0)
