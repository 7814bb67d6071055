"""Chat Completions over Agio runs: the request's messages as a run's input and history,
and a run's events as `chat.completion.chunk` messages.

The stream carries the answer's text only, as the model produces it (`content_delta`);
tool calls and their results stay in the run's own event log
(`GET /api/runs/{run_id}/events`). A run that fails or is cancelled ends the stream with
a `data: {"error": …}` message, which the SDK raises as an `APIError`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from datetime import datetime
from typing import Any

import orjson

from agio.api.openai_compat.schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatMessageIn,
    Choice,
    ChunkChoice,
    Delta,
    Usage,
)
from agio.domain import events as ev
from agio.domain.errors import ValidationFailed
from agio.domain.events import Event
from agio.domain.messages import Message
from agio.domain.runs import Run

DONE = b"data: [DONE]\n\n"


def completion_id(run_id: str) -> str:
    return "chatcmpl-" + run_id.removeprefix("run_")


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def split_messages(messages: list[ChatMessageIn]) -> tuple[list[Message], str]:
    """The history (system, user and assistant text, in order) and the input: the last
    message, which must be the user's, with some text."""
    last = messages[-1]
    where = len(messages) - 1
    if last.role != "user":
        raise ValidationFailed(
            "The last message must be the user's: it is the agent's input",
            details=[{"loc": ["body", "messages", where, "role"], "msg": "must be 'user'",
                      "type": "value_error"}],
        )  # fmt: skip
    if not last.text().strip():
        raise ValidationFailed(
            "The last message has no text",
            details=[{"loc": ["body", "messages", where, "content"], "msg": "empty",
                      "type": "value_error"}],
        )  # fmt: skip
    history: list[Message] = []
    for message in messages[:-1]:
        text = message.text()
        if message.role in ("system", "developer") and text:
            history.append(Message.system(text))
        elif message.role == "user" and text:
            history.append(Message.user(text))
        elif message.role == "assistant" and text:
            history.append(Message.assistant(text))
        # tool messages and an assistant's tool calls: the agent's own tools answer it
    return history, last.text()


def usage_of(metrics: dict[str, Any]) -> Usage:
    prompt = int(metrics.get("prompt_tokens") or 0)
    completion = int(metrics.get("completion_tokens") or 0)
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def completion(run: Run, response: str | None, metrics: dict[str, Any]) -> ChatCompletion:
    return ChatCompletion(
        id=completion_id(run.id),
        created=epoch(run.created_at),
        model=run.agent_name,
        choices=[Choice(message=AssistantMessage(content=response or ""))],
        usage=usage_of(metrics),
    )


def _data(payload: ChatCompletionChunk | dict[str, Any]) -> bytes:
    body = payload if isinstance(payload, dict) else payload.model_dump(mode="json")
    return b"data: " + orjson.dumps(body) + b"\n\n"


def run_error(event: Event) -> dict[str, Any]:
    """The `data: {"error": …}` message of a run that did not complete."""
    if event.type == ev.RUN_CANCELLED:
        message, code = f"The run {event.run_id} was cancelled", "run_cancelled"
    else:
        error = event.data.get("error") or {}
        message = str(error.get("message") or "The run failed")
        code = str(error.get("type") or "run_failed")
    return {"error": {"message": message, "type": "server_error", "code": code, "param": None}}


async def chunks(
    run: Run, events: AsyncGenerator[list[Event], None], *, include_usage: bool
) -> AsyncIterator[bytes]:
    """The run's events (`RunService.follow`) as a Chat Completions stream."""
    base = {"id": completion_id(run.id), "created": epoch(run.created_at), "model": run.agent_name}

    def chunk(delta: Delta, finish: Any = None, **extra: Any) -> bytes:
        return _data(
            ChatCompletionChunk(
                **base, choices=[ChunkChoice(delta=delta, finish_reason=finish)], **extra
            )
        )

    yield chunk(Delta(role="assistant", content=""))
    async with aclosing(events):
        async for batch in events:
            out: list[bytes] = []
            for event in batch:
                if event.type == ev.CONTENT_DELTA and event.data.get("content"):
                    out.append(chunk(Delta(content=str(event.data["content"]))))
                elif event.type == ev.RUN_COMPLETED:
                    out.append(chunk(Delta(), "stop"))
                    if include_usage:
                        metrics = event.data.get("metrics") or {}
                        last = ChatCompletionChunk(**base, choices=[], usage=usage_of(metrics))
                        out.append(_data(last))
                    out.append(DONE)
                elif event.terminal:
                    out.extend((_data(run_error(event)), DONE))
            if out:
                yield b"".join(out)
            if any(event.terminal for event in batch):
                return
