"""The state a chat's run starts from: the agent's system prompt (and the run's own
instructions), the conversation so far, and the user's message."""

from __future__ import annotations

from agio.domain.messages import Message
from agio.runtime.client_turn import ClientTurn, turn_messages
from agio.runtime.history import SessionHistory
from agio.runtime.snapshot import AgentSnapshot
from agio.runtime.state import RunState


async def chat_state(
    sessions: SessionHistory,
    snapshot: AgentSnapshot,
    session_id: str | None,
    message: str,
    *,
    history: list[Message] | None = None,
    instructions: str | None = None,
    system: list[Message] | None = None,
    turn: ClientTurn | None = None,
) -> RunState:
    """The system prompt, then `instructions` (a system message for this run only: the
    session does not keep system messages), then the session's history by the agent's
    memory, or the `history` the caller gave for a new session (the OpenAI-compatible
    API), then the user's message. A given history counts as added by the run, so that
    its new session holds the whole conversation. `system`: the system messages to start
    with instead of the prompt and instructions (those a queued run was created with).
    A client's `turn` (AG-UI: `agio.runtime.client_turn`) adds its context after the
    system messages, a new thread's earlier messages, the results of the calls handed
    back to it, and its tools."""
    messages: list[Message] = []
    if system is not None:
        messages.extend(system)
    else:
        if snapshot.agent.system_prompt:
            messages.append(Message.system(snapshot.agent.system_prompt))
        if instructions:
            messages.append(Message.system(instructions))
    if turn is not None:
        messages.extend(turn.context)
    if history is not None:
        new_from = len(messages)
        messages.extend(history)
    else:
        if session_id:
            messages.extend(await sessions.messages_for(session_id, snapshot))
        new_from = len(messages)
        if turn is not None and not session_id:  # a new thread: its start joins the run
            messages.extend(turn.earlier)
    added = turn_messages(messages, turn.results if turn else [], message)
    return RunState(
        messages=[*messages, *added],
        new_from=new_from,
        client_tools=turn.tools if turn else [],
    )
