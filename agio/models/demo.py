"""The `demo` model: offline and deterministic, so a fresh clone works with no API key.

With tools, it calls the ones that fit the user's message (arithmetic → a tool taking an
`expression`; a question about the time → a time tool; otherwise a tool whose name or
description shares a word with the message, its string arguments filled with the
message), then streams an answer built from the results, word by word. Without a
fitting tool it says, clearly labelled, that it is a demo and how to plug in a model.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from agio.config.components import ModelComponent
from agio.domain.arithmetic import extract_arithmetic
from agio.domain.messages import Message, ToolSpec
from agio.models.base import ModelEvent, ModelRequest, TextDelta, ToolCallDelta, Usage
from agio.models.scripted import prompt_tokens

_TIME_WORDS = re.compile(r"\b(time|date|day|today|clock|hour|now)\b", re.I)
_WORD = re.compile(r"[a-z]{4,}")
_STOP = frozenset(
    [
        "what",
        "when",
        "where",
        "which",
        "with",
        "this",
        "that",
        "your",
        "have",
        "from",
        "about",
        "would",
        "could",
        "should",
        "there",
        "their",
        "please",
        "tell",
        "help",
        "does",
        "into",
    ]
)
HOW_TO_PLUG_IN = (
    "To get real answers, set OPENAI_API_KEY (or OPENAI_BASE_URL for Ollama, vLLM or a "
    "llama.cpp server) and point this agent's `model` at `openai`; the README shows how."
)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def _string_params(spec: ToolSpec) -> list[str]:
    props: dict[str, Any] = spec.parameters.get("properties", {})
    required = spec.parameters.get("required", list(props))
    return [n for n in required if props.get(n, {}).get("type") == "string"]


def choose_calls(text: str, tools: list[ToolSpec]) -> list[tuple[str, dict[str, Any]]]:
    """The tool calls that fit `text`, in the order the tools are listed. An agent that
    asks other agents (`ask_<name>` tools: SPEC §20) asks every one of them, side by side."""
    calls: list[tuple[str, dict[str, Any]]] = []
    message_words = _words(text)
    search: tuple[str, dict[str, Any]] | None = None
    for spec in tools:
        props = spec.parameters.get("properties", {})
        about = f"{spec.name} {spec.description}"
        if spec.name.startswith("ask_") and "message" in props:
            calls.append((spec.name, {"message": text}))
        elif "expression" in props:
            expression = extract_arithmetic(text)
            if expression:
                calls.append((spec.name, {"expression": expression}))
        elif "time" in about.lower() and _TIME_WORDS.search(text) and not _string_params(spec):
            calls.append((spec.name, {}))
        elif spec.name == "search_knowledge" and (strings := _string_params(spec)):
            search = (spec.name, dict.fromkeys(strings, text))
        elif (strings := _string_params(spec)) and message_words & _words(about.replace("_", " ")):
            calls.append((spec.name, dict.fromkeys(strings, text)))
    # the knowledge base answers what no other tool does
    if not calls and search is not None:
        calls.append(search)
    return calls


def _describe(message: Message) -> str:
    name = message.name or "tool"
    try:
        result = json.loads(message.content or "")
    except ValueError:
        result = message.content
    if isinstance(result, dict):
        if "error" in result and len(result) == 1:
            return f"{name} failed: {result['error']}"
        if "expression" in result and "result" in result:
            return f"{result['expression']} = {result['result']}"
        if "iso" in result:
            return f"the current time is {result['iso']} ({result.get('timezone', 'UTC')})"
        if "results" in result and "query" in result:  # search_knowledge
            hits = result["results"]
            if not hits:
                return "the knowledge base has nothing about that"
            best = hits[0]
            return f"from {best['document']}:\n\n{str(best['content'])[:1200]}"
    text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
    if name.startswith("ask_"):  # another agent's answer (SPEC §20)
        return f"{name.removeprefix('ask_')} answered: {text[:600]}"
    return f"{name} returned: {text[:400]}"


def answer_text(messages: list[Message]) -> str:
    """The final answer: built from the tool results after the last user message."""
    results: list[Message] = []
    for message in reversed(messages):
        if message.role == "user":
            break
        if message.role == "tool":
            results.append(message)
    results.reverse()
    if len(results) == 1:
        return f"[demo model] Using {results[0].name}: {_describe(results[0])}."
    lines = "\n".join(f"- {m.name}: {_describe(m)}" for m in results)
    return f"[demo model] Here is what the tools found:\n{lines}"


def _only_empty_searches(messages: list[Message]) -> bool:
    """The tool results of this turn are all knowledge searches that found nothing."""
    results = []
    for message in reversed(messages):
        if message.role == "user":
            break
        if message.role == "tool":
            results.append(message)
    if not results:
        return False
    for message in results:
        try:
            data = json.loads(message.content or "")
        except ValueError:
            return False
        if not (isinstance(data, dict) and data.get("results") == [] and "query" in data):
            return False
    return True


def fallback_text(question: str) -> str:
    shown = question if len(question) <= 120 else question[:117] + "..."
    return (
        f"[demo model] You asked: “{shown}”. I am Agio's offline demo model and cannot "
        f"really answer that. {HOW_TO_PLUG_IN}"
    )


class DemoModel:
    def __init__(self, component: ModelComponent) -> None:
        self.name = component.name

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        messages = request.messages
        last_user = next((m for m in reversed(messages) if m.role == "user"), None)
        question = (last_user.content or "") if last_user else ""
        tool_results_since_user = False
        for message in reversed(messages):
            if message.role == "user":
                break
            if message.role == "tool":
                tool_results_since_user = True
        if not tool_results_since_user:
            calls = choose_calls(question, request.tools)
            if calls:
                completion = 0
                for index, (name, args) in enumerate(calls):
                    text = json.dumps(args)
                    completion += (len(text) + 3) // 4
                    yield ToolCallDelta(index=index, id=f"demo_{index}", name=name, arguments=text)
                yield Usage(prompt_tokens(messages), completion)
                return
            answer = fallback_text(question)
        elif _only_empty_searches(messages):
            # the knowledge base had nothing: say so, and how a real model would do better
            answer = (
                "[demo model] The knowledge base has nothing about that, and I am Agio's "
                f"offline demo model, so I cannot answer it myself. {HOW_TO_PLUG_IN}"
            )
        else:
            answer = answer_text(messages)
        for word in re.findall(r"\S+\s*", answer):
            yield TextDelta(word)
        yield Usage(prompt_tokens(messages), (len(answer) + 3) // 4)
