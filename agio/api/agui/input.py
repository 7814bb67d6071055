"""An AG-UI `RunAgentInput` as an Agio chat: the user's message and a `ClientTurn`.

AG-UI clients send the whole conversation every time. The messages after its last
assistant message are what is new: `user` messages (the chat's message, joined when
there are several) and `tool` messages (results of the calls a run handed back). The
messages before it are the thread's history, used only when the thread is new to Agio
(otherwise the session's own history is the model's). `system` and `developer` messages,
`context` and `state` are given to the model for this run only; `forwardedProps` is
accepted and not used.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ag_ui.core import (
    AssistantMessage,
    DeveloperMessage,
    RunAgentInput,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
)
from ag_ui.core import Message as AguiMessage
from ag_ui.core import Tool as AguiTool

from agio.domain.errors import ValidationFailed
from agio.domain.messages import Message, ToolCall, ToolSpec
from agio.runtime.client_turn import ClientTurn

#: what an OpenAI-compatible model accepts as a function name
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TOOLS = 128
NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


def _text(content: str | list[Any], where: str) -> str:
    """A message's content as text: a string, or its text parts joined."""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if not isinstance(part, TextPart):
            raise ValidationFailed(
                f"{where}: only text content is supported (got a '{part.type}' part)"
            )
        parts.append(part.text)
    return "\n".join(parts)


def _tool_spec(tool: AguiTool) -> ToolSpec:
    if not TOOL_NAME.match(tool.name):
        raise ValidationFailed(
            f"Front-end tool name '{tool.name[:80]}' must be 1-64 letters, digits, '_' or '-'"
        )
    parameters = NO_PARAMETERS if tool.parameters is None else tool.parameters
    if not isinstance(parameters, dict):
        raise ValidationFailed(
            f"Front-end tool '{tool.name}': parameters must be a JSON Schema object"
        )
    return ToolSpec(name=tool.name, description=tool.description, parameters=parameters)


def _tools(tools: list[AguiTool]) -> list[ToolSpec]:
    if len(tools) > MAX_TOOLS:
        raise ValidationFailed(f"At most {MAX_TOOLS} front-end tools may be given")
    specs = [_tool_spec(tool) for tool in tools]
    names = [spec.name for spec in specs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValidationFailed(f"Front-end tool name(s) given twice: {', '.join(twice)}")
    return specs


def _tool_result(message: ToolMessage, where: str) -> Message:
    content = _text(message.content, where)
    if message.error:
        content = json.dumps({"error": message.error}, ensure_ascii=False)
    return Message(role="tool", content=content, tool_call_id=message.tool_call_id)


def _arguments(text: str) -> tuple[dict[str, Any], str | None]:
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}, text
    return (value, None) if isinstance(value, dict) else ({}, text)


def _earlier(message: AguiMessage, where: str) -> Message | None:
    """A message of the thread's history, as Agio keeps it (None: not kept)."""
    if isinstance(message, UserMessage):
        return Message.user(_text(message.content, where))
    if isinstance(message, AssistantMessage):
        calls = []
        for call in message.tool_calls or []:
            arguments, raw = _arguments(call.function.arguments)
            calls.append(
                ToolCall(
                    id=call.id, name=call.function.name, arguments=arguments, raw_arguments=raw
                )
            )
        return Message.assistant(message.content, calls)
    if isinstance(message, ToolMessage):
        return _tool_result(message, where)
    return None  # system and developer messages are context; activity, reasoning: the UI's


def _context(body: RunAgentInput) -> list[Message]:
    context = []
    for index, message in enumerate(body.messages):
        if isinstance(message, SystemMessage | DeveloperMessage):
            context.append(Message.system(_text(message.content, f"messages[{index}]")))
    if body.context:
        lines = "\n".join(f"- {item.description}: {item.value}" for item in body.context)
        context.append(Message.system(f"Context from the application:\n{lines}"))
    if body.state not in (None, {}, []):
        state = json.dumps(body.state, ensure_ascii=False, default=str)
        context.append(Message.system(f"The application's current state (JSON): {state}"))
    return context


def chat_input(body: RunAgentInput) -> tuple[str, ClientTurn]:
    """(the chat's message, possibly empty when the input only answers tool calls; its
    turn). A 422 when nothing is new, or content is not text, or a tool is ill-named."""
    last = max((i for i, m in enumerate(body.messages) if m.role == "assistant"), default=-1)
    texts: list[str] = []
    results: list[Message] = []
    for index in range(last + 1, len(body.messages)):
        item, where = body.messages[index], f"messages[{index}]"
        if isinstance(item, UserMessage):
            texts.append(_text(item.content, where))
        elif isinstance(item, ToolMessage):
            results.append(_tool_result(item, where))
    message = "\n\n".join(text for text in texts if text)
    if not message and not results:
        raise ValidationFailed(
            "RunAgentInput.messages holds nothing new after its last assistant message: "
            "send a user message or the result of a front-end tool call"
        )
    earlier = [
        kept
        for index, item in enumerate(body.messages[: last + 1])
        if (kept := _earlier(item, f"messages[{index}]")) is not None
    ]
    turn = ClientTurn(
        thread_id=body.thread_id,
        tools=_tools(body.tools or []),
        results=results,
        earlier=earlier,
        context=_context(body),
    )
    return message, turn
