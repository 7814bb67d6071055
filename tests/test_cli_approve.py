"""`agio chat` asks about a tool call that waits for the caller's decision (SPEC §11):
`Approve calculator({...})? [y/N/e(dit)]`, against a real server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from agio.api.app import create_app
from agio.cli import main
from agio.config.settings import Settings
from tests.live import serve

COMPONENTS = [
    {
        "type": "model",
        "name": "asking_script",
        "provider": "scripted",
        "model": "scripted",
        "responses": [
            {"tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}]},
            {"content": "That is settled."},
        ],
    },
    {
        "type": "agent",
        "name": "asking_agent",
        "model": "asking_script",
        "tools": ["calculator"],
        "config": {"approval": {"tools": "all"}},
    },
]


@pytest.fixture
def server(
    make_settings: Callable[..., Settings],
    configs_dir: Path,
    add_components: Callable[[str, list[dict[str, Any]]], None],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[str, str]]:
    """(URL, the admin key); the CLI finds the key in AGIO_DATA_DIR by itself."""
    add_components("asking.yaml", COMPONENTS)
    settings = make_settings(configs_dir=configs_dir)
    monkeypatch.setenv("AGIO_DATA_DIR", str(settings.data_dir))
    with serve(create_app(settings)) as url:
        yield url, (settings.data_dir / "admin.key").read_text().strip()


def _chat(server: str, answers: str) -> Any:
    return CliRunner().invoke(
        main, ["chat", "asking_agent", "What is 6*7?", "--url", server], input=answers
    )


def _result(server: str, key: str) -> dict[str, Any]:
    runs = httpx.get(f"{server}/api/runs", headers={"X-API-Key": key}, timeout=10).json()
    run_id = runs["items"][0]["id"]
    log = httpx.get(f"{server}/api/runs/{run_id}/events", headers={"X-API-Key": key}, timeout=10)
    done = [e for e in log.json()["events"] if e["type"] == "tool_call_completed"]
    assert len(done) == 1
    return dict(done[0]["data"])


def test_yes_approves_and_the_answer_streams_on(server: tuple[str, str]) -> None:
    url, key = server
    result = _chat(url, "y\n")
    assert result.exit_code == 0, result.output
    assert 'Approve calculator({"expression": "6*7"})? [y/N/e(dit)]' in result.output
    assert "calculator approved by admin" in result.output
    assert "That is settled." in result.output
    assert _result(url, key)["result"]["result"] == 42


def test_no_rejects_and_edit_approves_other_arguments(server: tuple[str, str]) -> None:
    url, key = server
    rejected = _chat(url, "n\n")
    assert rejected.exit_code == 0, rejected.output
    assert "calculator rejected by admin" in rejected.output
    assert _result(url, key)["error"] == "rejected by admin: rejected in agio chat"
    # e: the arguments as JSON; not JSON is asked again, refused by the tool's schema
    # (a 422) the whole question is
    edited = _chat(url, 'e\nnot json\n{"expression": 7}\ne\n{"expression": "2*3"}\n')
    assert edited.exit_code == 0, edited.output
    assert "not JSON" in edited.output
    assert "422" in edited.output
    assert _result(url, key)["result"]["result"] == 6


def test_without_anyone_to_ask_the_run_keeps_waiting(server: tuple[str, str]) -> None:
    url, _ = server
    result = _chat(url, "")
    assert result.exit_code == 0, result.output
    assert "the run waits for a decision" in result.output
