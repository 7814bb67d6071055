"""What a run interrupted by a new chat on its session (SPEC §12, `interrupt`) leaves in
the session's history: the user's message, what the run had answered so far (its
finished model calls and tool rounds, and the streamed part of the call it was in), so
that the next run of the session knows what was asked and what was said.

A tool round that was cut off is closed with a result for each call (the one it had, or
an error saying it never ran): a model is never shown a tool call without its result.
"""

from __future__ import annotations

import json
from typing import Any

from agio.domain.messages import Message
from agio.domain.time import utcnow
from agio.runtime.state import RunState
from agio.storage.sessions import NewSessionMessage

NOT_RUN = {"error": "not run: the run was interrupted by a new message"}


def _text(result: Any) -> str:
    return (
        result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
    )


def kept_messages(state: RunState) -> list[dict[str, Any]]:
    """The messages an interrupted run adds to its session, as stored."""
    messages = [m for m in state.messages[state.new_from :] if m.role != "system"]
    if state.phase == "tools":
        results = {r.call_id: r for r in state.completed_tool_results}
        answered = {m.tool_call_id for m in messages if m.role == "tool"}
        for call in state.pending_tool_calls:
            if call.id in answered:
                continue
            result = results.get(call.id)
            if result is None:
                content = _text(NOT_RUN)
            else:
                content = _text({"error": result.error} if result.error else result.result)
            messages.append(Message.tool(call, content))
    if state.partial_content:
        messages.append(Message.assistant(state.partial_content))
    return [m.model_dump(mode="json") for m in messages]


def session_rows(
    session_id: str, run_id: str, messages: list[dict[str, Any]]
) -> list[NewSessionMessage]:
    """`session_messages` rows for `messages` of one run."""
    now = utcnow()
    return [
        {"session_id": session_id, "run_id": run_id, "message": message, "created_at": now}
        for message in messages
    ]
