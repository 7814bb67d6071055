"""The rows of the model-call log (SPEC §22) for one execution of a run: `CallLog`.

Each call's request shares most of its messages with the previous call's (the history,
then the previous answer and its tool results), so a row stores only the messages after
the longest run of the previous request's own message objects (compared by identity:
no encoding, no comparison of contents), with that count as `prefix`; the tool schemas
only when they changed. The first call of an execution (a new run, a resume, a recovery)
stores everything. The reader rebuilds whole requests (`agio.storage.model_calls`).
What is stored is what the model was sent, minus the transport: no headers, no keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agio.domain.messages import Message, ToolSpec
from agio.models.base import ModelRequest, Usage


class CallLog:
    def __init__(self, run_id: str, model: str) -> None:
        self.run_id = run_id
        self.model = model
        self._previous: list[Message] = []
        self._tools: list[ToolSpec] | None = None

    def row(
        self,
        *,
        step_num: int,
        request: ModelRequest,
        dumped: list[dict[str, Any]] | None,
        response: dict[str, Any] | None,
        usage: Usage,
        latency: float,
        first_token: float | None,
        retries: int,
        error: dict[str, Any] | None,
        started_at: datetime,
    ) -> dict[str, Any]:
        """The row of one call. `dumped`: the request's messages as JSON already (the
        step's copy), else the new ones are dumped here; `latency` and `first_token` in
        seconds from the start of the call."""
        messages = request.messages
        previous = self._previous
        prefix = 0
        end = min(len(previous), len(messages))
        while prefix < end and previous[prefix] is messages[prefix]:
            prefix += 1
        if dumped is not None:
            new = dumped[prefix:]
        else:
            new = [m.model_dump(mode="json") for m in messages[prefix:]]
        tools: list[dict[str, Any]] | None = None
        if prefix == 0 or self._tools != request.tools:
            tools = [t.model_dump(mode="json") for t in request.tools]
        self._previous = messages
        self._tools = request.tools
        return {
            "run_id": self.run_id,
            "step_num": step_num,
            "model": self.model,
            "prefix": prefix,
            "messages": new,
            "tools": tools,
            "response": response,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "latency_ms": round(latency * 1000, 3),
            "first_token_ms": None if first_token is None else round(first_token * 1000, 3),
            "retries": retries,
            "error": error,
            "started_at": started_at,
        }
