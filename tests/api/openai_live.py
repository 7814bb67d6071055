"""A live Agio for the `/v1` tests: a real uvicorn server on 127.0.0.1 whose agents'
model is the fake OpenAI-compatible server (so what each model call was sent can be
checked) or a scripted model, reached with the official `openai` SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import admin_key
from tests.fakes.openai_server import FakeOpenAIServer
from tests.live import serve

#: a scripted agent whose first model call asks for the calculator, streamed slowly
SLOW = {
    "type": "model",
    "name": "slow_script",
    "provider": "scripted",
    "model": "scripted",
    "responses": [
        {"tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}]},
        {"content": "The answer is forty-two, as the calculator says."},
    ],
    "chunk_size": 3,
    "chunk_delay": 0.05,
}


@dataclass
class LiveAgio:
    url: str
    key: str
    fake: FakeOpenAIServer

    def sdk(self, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=key or self.key, max_retries=0)

    def async_sdk(self, key: str | None = None) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key=key or self.key, max_retries=0)

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": self.key}, timeout=30)


def components(fake: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [
        {
            "type": "model",
            "name": "fake_gpt",
            "provider": "openai",
            "model": "fake-gpt",
            "base_url": fake.base_url,
            "api_key": "sk-fake-key",
            "max_retries": 0,
        },
        {
            "type": "agent",
            "name": "fake_agent",
            "model": "fake_gpt",
            "tools": ["calculator"],
            "system_prompt": "Be exact.",
        },
        SLOW,
        {"type": "agent", "name": "slow_agent", "model": "slow_script", "tools": ["calculator"]},
    ]


@pytest.fixture
def live(
    settings: Settings,
    add_components: Callable[[str, list[dict[str, Any]]], None],
    fake_openai: FakeOpenAIServer,
) -> Iterator[LiveAgio]:
    add_components("v1.yaml", components(fake_openai))
    app = create_app(settings.model_copy(update={"sse_ping_seconds": 0.5}))
    with serve(app) as url:
        yield LiveAgio(url, admin_key(settings), fake_openai)
