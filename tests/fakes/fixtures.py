"""Pytest fixtures for the fakes; import them explicitly in the test modules that use them:

from tests.fakes.fixtures import fake_openai  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.mcp_http_server import FakeMcpHttpServer
from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI-compatible server on 127.0.0.1, fresh for each test."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def fake_mcp_http() -> Iterator[FakeMcpHttpServer]:
    """An MCP server over streamable HTTP on 127.0.0.1 (`MCPServer`), fresh for each test."""
    with FakeMcpHttpServer() as server:
        yield server


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropicServer]:
    """A fake Anthropic-compatible Messages API on 127.0.0.1, fresh for each test."""
    with FakeAnthropicServer() as server:
        yield server
