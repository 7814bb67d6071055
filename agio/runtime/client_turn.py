"""A chat turn from a client that runs some tools itself (an AG-UI front-end, SPEC §18):
its tools, offered to the model beside the agent's; the results of the calls an earlier
run handed back to it; its thread, which names the Agio session; and the messages it
adds for this run only (its context, its state).

A front-end tool call ends its run `completed` with the call pending
(`pending_tool_call_ids` on `run_completed`); the client runs it and posts the result in
its next input, which starts the next run of the same session from there: the session's
history ends with the assistant message that made the call, and the result follows it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from agio.domain.errors import ValidationFailed
from agio.domain.messages import Message, ToolSpec
from agio.runtime.snapshot import AgentSnapshot
from agio.storage.runs import RunRepository

#: the result given to the model for a handed-back call the client did not answer
UNANSWERED = '{"error": "the client gave no result for this call"}'

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # the ids' own (Crockford base32)


@dataclass(frozen=True)
class ClientTurn:
    """What such a client adds to a chat (the user's message, if any, is the chat's)."""

    #: the client's conversation: its session is `thread_session_id(...)`, or the thread
    #: itself when it names a session of the caller's with this agent
    thread_id: str
    #: the tools the client runs itself
    tools: list[ToolSpec] = field(default_factory=list)
    #: `tool` messages answering calls handed back to the client (`tool_call_id` set)
    results: list[Message] = field(default_factory=list)
    #: the client's conversation before this turn: the history of a thread that is new
    #: here (ignored for a thread the session of which exists: the server's history wins)
    earlier: list[Message] = field(default_factory=list)
    #: system messages for this run only (never stored in the session)
    context: list[Message] = field(default_factory=list)


def thread_session_id(thread_id: str, agent_id: str, user_id: str | None) -> str:
    """The session of a client's thread: the same for the same caller, agent and thread,
    and shaped like every session id (`ses_` and 26 characters)."""
    digest = hashlib.sha256(f"agui\0{user_id or ''}\0{agent_id}\0{thread_id}".encode()).digest()
    value = int.from_bytes(digest[:17], "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "ses_" + "".join(chars)


def check_tools(turn: ClientTurn, snapshot: AgentSnapshot) -> None:
    """A front-end tool may not take the name of one of the agent's own tools (whose
    calls run on the server): a 422 naming it."""
    own = {tool.name for tool in snapshot.tools}
    if snapshot.knowledge is not None:
        own.add("search_knowledge")
    clashes = sorted(spec.name for spec in turn.tools if spec.name in own)
    if clashes:
        raise ValidationFailed(
            f"Front-end tool name(s) {', '.join(clashes)} are the agent's own tools; "
            "rename them on the client"
        )


def _pending(history: list[Message]) -> dict[str, str]:
    """The calls (id → tool name) of the conversation's last assistant message that no
    tool message answers: those an earlier run handed back to the client."""
    for index in range(len(history) - 1, -1, -1):
        message = history[index]
        if message.role != "assistant":
            continue
        answered = {m.tool_call_id for m in history[index + 1 :] if m.role == "tool"}
        return {c.id: c.name for c in message.tool_calls if c.id not in answered}
    return {}


def turn_messages(history: list[Message], results: list[Message], message: str) -> list[Message]:
    """What the run adds after `history` (which holds, for a new thread, the client's
    earlier messages): the client's results for the calls handed back to it, in the order
    the model made them (a call it left unanswered gets an error result, so the model
    sees every call answered: a chat that follows a hand-back without answering it too),
    then the user's message if there is one. A result for a call that is not waiting for
    one is a 422."""
    pending = _pending(history)
    given: dict[str, Message] = {}
    for result in results:
        call_id = result.tool_call_id or ""
        if call_id not in pending:
            raise ValidationFailed(
                f"The tool message for call '{call_id}' answers no call waiting for a result "
                "(only the calls of the thread's last assistant message are)"
            )
        if call_id in given:
            raise ValidationFailed(f"Two tool messages answer call '{call_id}'")
        given[call_id] = result
    added = [
        (
            given[call_id] if call_id in given else Message(role="tool", content=UNANSWERED)
        ).model_copy(update={"tool_call_id": call_id, "name": name})
        for call_id, name in pending.items()
    ]
    if message:
        added.append(Message.user(message))
    return added


async def thread_session(
    runs: RunRepository,
    turn: ClientTurn,
    agent_id: str,
    user_id: str | None,
    visible_to: str | None,
) -> tuple[str, bool]:
    """(the session of the client's thread, whether it is new): the thread itself when it
    names a session of this agent that the caller may see, else the thread's own session
    (`thread_session_id`), created by this chat when it does not exist yet."""
    named = await runs.get_session(turn.thread_id)
    if (
        named is not None
        and named.agent_id == agent_id
        and (visible_to is None or named.user_id == visible_to)
    ):
        return named.id, False
    session_id = thread_session_id(turn.thread_id, agent_id, user_id)
    return session_id, await runs.get_session(session_id) is None
