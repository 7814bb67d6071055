"""The workspace tools and web_fetch in real agent runs (a scripted model calls them, the
app runs them on both databases): results reach the model, and a refused path or URL is a
tool error the model sees while the run completes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import start_client
from tests.tools.conftest import LocalServer

WORKSPACE_TOOLS = ["write_file", "edit_file", "read_file", "list_files", "glob", "grep"]


def call(tool: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": tool, "arguments": arguments}]}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    root.mkdir()
    (tmp_path / "outside.txt").write_text("not for agents\n")
    return root


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings],
    database_url: str,
    configs_dir: Path,
    add_components: Callable[[str, list[dict[str, Any]]], None],
    workspace: Path,
) -> Settings:
    tools = [
        {"type": "tool", "name": name, "kind": "builtin", "builtin": name}
        for name in WORKSPACE_TOOLS
    ]
    add_components(
        "workspace.yaml",
        [
            *tools,
            {
                "type": "model",
                "name": "file_clerk",
                "provider": "scripted",
                "model": "scripted",
                "responses": [
                    call("write_file", path="notes/plan.md", content="step one\nstep two\n"),
                    call("edit_file", path="notes/plan.md", old_text="two", new_text="2"),
                    call("read_file", path="notes/plan.md"),
                    call("list_files", path="notes"),
                    call("glob", pattern="**/*.md"),
                    call("grep", pattern="step \\d"),
                    call("read_file", path="../outside.txt"),
                    {"content": "Filed."},
                ],
            },
            {"type": "agent", "name": "clerk", "model": "file_clerk", "tools": WORKSPACE_TOOLS},
        ],
    )
    return make_settings(
        database_url=database_url, configs_dir=configs_dir, workspace_root=workspace
    )


async def completed_tool_calls(client: httpx.AsyncClient, message: str) -> list[dict[str, Any]]:
    answer = await client.post(
        "/api/chat", json={"agent_id": "clerk", "message": message, "stream": False}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "completed", body
    events = await client.get(f"/api/runs/{body['run_id']}/events", params={"limit": 100})
    return [e["data"] for e in events.json()["events"] if e["type"] == "tool_call_completed"]


async def test_an_agent_works_in_its_workspace(client: httpx.AsyncClient, workspace: Path) -> None:
    calls = await completed_tool_calls(client, "Write the plan down.")
    assert [c["tool"] for c in calls] == [*WORKSPACE_TOOLS, "read_file"]
    wrote, edited, read, listed, globbed, grepped, refused = calls
    assert wrote["result"] == {"path": "notes/plan.md", "bytes": 18, "created": True}
    assert edited["result"]["replacements"] == 1
    assert read["result"]["content"] == "step one\nstep 2\n"
    assert listed["result"]["entries"] == [{"name": "plan.md", "type": "file", "size": 16}]
    assert globbed["result"]["matches"] == ["notes/plan.md"]
    assert grepped["result"]["matches"] == [{"path": "notes/plan.md", "line": 2, "text": "step 2"}]
    assert refused["result"] is None
    assert "'..' is not allowed" in refused["error"]
    assert (workspace / "notes" / "plan.md").read_text() == "step one\nstep 2\n"


# ------------------------------------------------------------------ web_fetch


def fetching_settings(
    make_settings: Callable[..., Settings],
    database_url: str,
    configs_dir: Path,
    add_components: Callable[[str, list[dict[str, Any]]], None],
    url: str,
    **overrides: Any,
) -> Settings:
    add_components(
        "fetch.yaml",
        [
            {"type": "tool", "name": "web_fetch", "kind": "builtin", "builtin": "web_fetch"},
            {
                "type": "model",
                "name": "reader",
                "provider": "scripted",
                "model": "scripted",
                "responses": [call("web_fetch", url=url), {"content": "Read it."}],
            },
            {"type": "agent", "name": "clerk", "model": "reader", "tools": ["web_fetch"]},
        ],
    )
    return make_settings(database_url=database_url, configs_dir=configs_dir, **overrides)


@pytest.mark.parametrize(
    ("overrides", "text", "error"),
    [
        (
            {"enable_web_fetch_tool": True, "tool_allowed_networks": "127.0.0.1/32"},
            "First paragraph with bold text.",
            None,
        ),
        ({"enable_web_fetch_tool": True}, None, "127.0.0.1, a loopback address"),
        ({"tool_allowed_networks": "127.0.0.1/32"}, None, "AGIO_ENABLE_WEB_FETCH_TOOL=true"),
    ],
    ids=["allowed", "loopback-refused", "disabled"],
)
async def test_an_agent_fetches_a_page(
    make_settings: Callable[..., Settings],
    database_url: str,
    configs_dir: Path,
    add_components: Callable[[str, list[dict[str, Any]]], None],
    local_server: LocalServer,
    overrides: dict[str, Any],
    text: str | None,
    error: str | None,
) -> None:
    settings = fetching_settings(
        make_settings,
        database_url,
        configs_dir,
        add_components,
        local_server.url("/page"),
        **overrides,
    )
    client, lifespan = await start_client(create_app(settings))
    try:
        (fetched,) = await completed_tool_calls(client, "What does the page say?")
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
    if error is None:
        assert "error" not in fetched
        assert fetched["result"]["status"] == 200
        assert text in fetched["result"]["text"]
    else:
        assert fetched["result"] is None
        assert error in fetched["error"]
