"""Python tools are built once per component configuration, not once per run."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import agio.tools.function
from agio.config.components import ToolComponent
from agio.config.settings import Settings
from agio.tools import python_tool
from agio.tools.python_tool import load_python_tool
from agio.tools.registry import build_tool


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every python tool whose arguments model is built from now on."""
    seen: list[str] = []
    real = agio.tools.function.create_model

    def spy(model_name: str, /, **kwargs: Any) -> Any:
        seen.append(model_name)
        return real(model_name, **kwargs)

    monkeypatch.setattr(agio.tools.function, "create_model", spy)
    return seen


def _unique() -> str:
    """A description no earlier test used: the cache outlives a test."""
    return f"Adds two integers ({uuid.uuid4().hex})."


def _adder(**fields: Any) -> ToolComponent:
    return ToolComponent(
        name="adder",
        kind="python",
        import_path="tests.tools.sample_tools:add",
        **{"description": _unique(), **fields},
    )


def test_the_same_component_is_built_once(builds: list[str]) -> None:
    component = _adder()
    first = build_tool(component)
    again = build_tool(ToolComponent.model_validate(component.model_dump()))
    assert again is first
    assert builds == ["adder"]


@pytest.mark.parametrize(
    "change",
    [
        {"timeout": 2.0},
        {"import_path": "tests.tools.sample_tools:shout"},
        {"parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}},
        {"name": "adder_two"},
    ],
)
def test_a_changed_component_is_built_anew(builds: list[str], change: dict[str, Any]) -> None:
    component = _adder()
    before = load_python_tool(component)
    after = load_python_tool(component.model_copy(update=change))
    assert after is not before
    assert len(builds) == 2
    assert load_python_tool(component) is before  # the old one is still cached


def test_a_replaced_callable_is_built_anew(
    builds: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import path is looked up on every load: a reloaded or patched module's new
    function is the one that runs."""
    component = _adder()
    before = load_python_tool(component)

    def add(a: int, b: int = 1) -> int:
        return a + b + 100

    monkeypatch.setattr("tests.tools.sample_tools.add", add)
    after = load_python_tool(component)
    assert after is not before
    assert after.fn is add
    assert len(builds) == 2


def test_the_cache_is_bounded(builds: list[str]) -> None:
    components = [_adder() for _ in range(python_tool.CACHE_SIZE + 1)]
    first = load_python_tool(components[0])
    for component in components[1:]:
        load_python_tool(component)
    assert len(builds) == python_tool.CACHE_SIZE + 1
    assert load_python_tool(components[0]) is not first  # the least recently used went
    assert len(builds) == python_tool.CACHE_SIZE + 2


# ------------------------------------------------------------------ through real runs


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings],
    database_url: str,
    configs_dir: Path,
    add_components: Callable[[str, list[dict[str, Any]]], None],
) -> Settings:
    add_components(
        "adder.yaml",
        [
            {
                "type": "tool",
                "name": "adder",
                "kind": "python",
                "import_path": "tests.tools.sample_tools:add",
                "description": _unique(),
            },
            {
                "type": "model",
                "name": "adds",
                "provider": "scripted",
                "model": "scripted",
                "responses": [
                    {"tool_calls": [{"name": "adder", "arguments": {"a": 40, "b": 2}}]},
                    {"content": "It is 42."},
                ],
            },
            {"type": "agent", "name": "adding", "model": "adds", "tools": ["adder"]},
        ],
    )
    return make_settings(
        database_url=database_url,
        configs_dir=configs_dir,
        allowed_python_tool_modules=["tests.tools"],
    )


async def _run(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await client.post(
        "/api/chat", json={"agent_id": "adding", "message": "40 + 2?", "stream": False}
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["status"] == "completed", body
    return body


async def _tool_results(client: httpx.AsyncClient, run_id: str) -> list[Any]:
    events = (await client.get(f"/api/runs/{run_id}/events", params={"limit": 100})).json()
    return [e["data"].get("result") for e in events["events"] if e["type"] == "tool_call_completed"]


async def test_runs_share_the_tool_until_its_component_changes(
    client: httpx.AsyncClient, builds: list[str]
) -> None:
    first = await _run(client)
    second = await _run(client)
    assert builds == ["adder"]  # two runs, one build
    assert await _tool_results(client, first["run_id"]) == [42]
    assert await _tool_results(client, second["run_id"]) == [42]

    stored = (await client.get("/api/config/adder")).json()
    config = {k: stored[k] for k in ("type", "kind", "import_path")}
    changed = await client.put(
        "/api/config/adder", json={"config": {**config, "description": _unique(), "timeout": 5}}
    )
    assert changed.status_code == 200, changed.text
    await _run(client)
    assert builds == ["adder", "adder"]  # the new revision got a new tool
    await _run(client)
    assert builds == ["adder", "adder"]
