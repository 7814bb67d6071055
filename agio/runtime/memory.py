"""Which earlier messages of a session go to the model: the memory strategies."""

from __future__ import annotations

import json
import math

from agio.domain.messages import Message


def message_tokens(message: Message) -> int:
    """An estimate of the tokens a message costs (about four characters a token, plus a
    few for its framing): the same on every backend, with no tokenizer to download."""
    total = 4 + math.ceil(len(message.content or "") / 4)
    for call in message.tool_calls:
        total += math.ceil((len(call.name) + len(json.dumps(call.arguments))) / 4)
    return total


def _from_user(window: list[Message]) -> list[Message]:
    """Start at a user message, so that no answer or tool result comes without its turn."""
    start = next((i for i, m in enumerate(window) if m.role == "user"), len(window))
    return window[start:]


def buffer_window(history: list[Message], max_messages: int) -> list[Message]:
    """The last `max_messages` messages, starting at a user message so that a tool call is
    never separated from the assistant message that asked for it."""
    if max_messages <= 0:
        return []
    return _from_user(history[-max_messages:])


def _units(history: list[Message]) -> list[list[Message]]:
    """Messages that go together: an assistant message with the tool results that answer
    its calls; any other message alone."""
    units: list[list[Message]] = []
    for message in history:
        if message.role == "tool" and units and units[-1][0].role == "assistant":
            units[-1].append(message)
        else:
            units.append([message])
    return units


def token_window(history: list[Message], max_tokens: int, max_messages: int) -> list[Message]:
    """The most recent messages whose estimated tokens fit in `max_tokens` (and at most
    `max_messages`), never splitting a tool call from its results, starting at a user
    message."""
    chosen: list[list[Message]] = []
    used = count = 0
    for unit in reversed(_units(history)):
        cost = sum(message_tokens(m) for m in unit)
        if used + cost > max_tokens or count + len(unit) > max_messages:
            break
        chosen.append(unit)
        used += cost
        count += len(unit)
    window = [m for unit in reversed(chosen) for m in unit]
    return _from_user(window)


def split_for_summary(history: list[Message], keep: int) -> tuple[list[Message], list[Message]]:
    """(older messages to summarise, recent ones kept as they are): the recent part is the
    buffer window of `keep` messages."""
    recent = buffer_window(history, keep)
    return history[: len(history) - len(recent)], recent


SUMMARY_INSTRUCTIONS = (
    "You keep the memory of a conversation between a user and an assistant. Write a "
    "concise summary of it for the assistant, who will continue the conversation without "
    "seeing these messages: keep facts, names, numbers, decisions, the user's preferences "
    "and open questions. Write only the summary."
)


def summary_request(previous: str | None, older: list[Message]) -> list[Message]:
    """The messages that ask a model to extend the summary with `older`."""
    lines = []
    for message in older:
        if message.role == "tool":
            lines.append(f"tool {message.name or ''} result: {message.content or ''}")
        elif message.role in ("user", "assistant") and message.content:
            lines.append(f"{message.role}: {message.content}")
        for call in message.tool_calls:
            lines.append(f"assistant called {call.name}({json.dumps(call.arguments)})")
    parts = []
    if previous:
        parts.append(f"The summary so far:\n{previous}")
    parts.append("The conversation to add to it:\n" + "\n".join(lines))
    return [Message.system(SUMMARY_INSTRUCTIONS), Message.user("\n\n".join(parts))]


def summary_message(summary: str) -> Message:
    return Message.system(f"Summary of the earlier conversation:\n{summary}")
