"""Which earlier messages of a session go to the model."""

from __future__ import annotations

from agio.domain.messages import Message


def buffer_window(history: list[Message], max_messages: int) -> list[Message]:
    """The last `max_messages` messages, starting at a user message so that a tool call is
    never separated from the assistant message that asked for it."""
    if max_messages <= 0:
        return []
    window = history[-max_messages:]
    start = next((i for i, m in enumerate(window) if m.role == "user"), len(window))
    return window[start:]
