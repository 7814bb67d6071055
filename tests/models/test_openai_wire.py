"""The Chat Completions wire format without the SDK: SSE framing as servers really send it
(comments, other fields, CRLF, multi-line data, events cut anywhere), `[DONE]`, the
request body, and that the provider does not load the `openai` SDK at all."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from agio.config.components import ModelComponent
from agio.domain.messages import Message
from agio.models.base import ModelRequest, TextDelta, Usage
from agio.models.openai_provider import OpenAIModel
from agio.models.openai_wire import SSEDecoder
from tests.fakes.fixtures import fake_openai  # noqa: F401
from tests.fakes.openai_server import FakeOpenAIServer, Stream, chunk, usage_chunk

HELLO = ModelRequest(messages=[Message.user("Hello")])


def data(frame: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(frame).encode()


@pytest.fixture
async def model(fake_openai: FakeOpenAIServer) -> AsyncIterator[OpenAIModel]:  # noqa: F811
    component = ModelComponent.model_validate(
        {
            "name": "gpt",
            "provider": "openai",
            "model": "fake-model",
            "base_url": fake_openai.base_url + "/",  # a trailing slash is not doubled
            "api_key": "sk-test",
            "max_retries": 0,
            "timeout": 5.0,
        }
    )
    live = OpenAIModel(component, base_delay=0.001)
    yield live
    await live.aclose()


# --------------------------------------------------------------------- SSE framing


def test_events_cut_at_every_byte_give_the_same_payloads() -> None:
    stream = (
        b": a comment\r\n\r\n"
        b"event: message\r\nid: 7\r\nretry: 100\r\n" + data({"a": 1}) + b"\r\n\r\n"
        b"data: first line\ndata:second line\n\n"
        b"\n\n"  # blank lines between events are nothing
         + data({"b": "\u00e9"}) + b"\n\ndata: [DONE]\n\n" + data({"after": "done"}) + b"\n\n"
    )
    expected = [b'{"a": 1}', b"first line\nsecond line", data({"b": "\u00e9"})[6:]]
    whole = SSEDecoder()
    assert whole.feed(stream) + whole.close() == expected
    assert whole.done
    for cut in range(1, len(stream)):
        decoder = SSEDecoder()
        payloads = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:]) + decoder.close()
        assert payloads == expected, cut
    one_by_one = SSEDecoder()
    payloads = [p for i in range(len(stream)) for p in one_by_one.feed(stream[i : i + 1])]
    assert payloads == expected


def test_a_last_event_without_its_blank_line_is_not_lost() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"x": 1}') == []
    assert decoder.close() == [b'{"x": 1}']


async def test_comments_other_fields_and_crlf_over_http(
    model: OpenAIModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    hello = json.dumps(chunk("fake-model", content="Hel"))
    frames: list[dict[str, Any] | str] = [
        ": OPENROUTER PROCESSING\n\n",
        f"event: chunk\r\nid: 1\r\ndata: {hello}\r\n\r\n",
        chunk("fake-model", content="lo"),
        "\n",
        usage_chunk("fake-model", 3, 2),
    ]
    fake_openai.enqueue(Stream(frames))
    events = [event async for event in model.stream(HELLO)]
    assert events == [TextDelta("Hel"), TextDelta("lo"), Usage(3, 2)]
    (sent,) = fake_openai.completions
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["content-type"] == "application/json"


async def test_nothing_after_done_is_delivered(
    model: OpenAIModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    frames: list[dict[str, Any] | str] = [
        chunk("fake-model", content="only this"),
        "data: [DONE]\n\n",
        chunk("fake-model", content="not this"),
        "data: {not json\n\n",
    ]
    fake_openai.enqueue(Stream(frames, done=False))
    assert [event async for event in model.stream(HELLO)] == [TextDelta("only this")]


async def test_a_shared_client_is_used_and_not_closed(
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(str(request.url))

    component = ModelComponent.model_validate(
        {"name": "gpt", "provider": "openai", "model": "m", "base_url": fake_openai.base_url}
    )
    fake_openai.enqueue(Stream([chunk("m", content="a")]), Stream([chunk("m", content="b")]))
    async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
        model = OpenAIModel(component, client=client)
        assert [e async for e in model.stream(HELLO)] == [TextDelta("a")]
        await model.aclose()
        assert not client.is_closed
        assert [e async for e in model.stream(HELLO)] == [TextDelta("b")]
    assert seen == [f"{fake_openai.base_url}/chat/completions"] * 2


# --------------------------------------------------------------------- no SDK


def test_the_provider_does_not_load_the_openai_sdk() -> None:
    code = (
        "import sys, agio.models.openai_provider, agio.models.registry\n"
        "loaded = sorted(m for m in sys.modules if m == 'openai' or m.startswith('openai.'))\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
