"""SIGKILL the server while a child run streams (SPEC §20), start it again: the tree
completes, every tool ran once, no child was started twice, and the parent's log has no
gap and relays the child's log exactly once."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.runtime.test_crash_recovery import sse_messages, start_server
from tests.test_readme_commands import free_port, wait_for_health

pytestmark = pytest.mark.slow

CHILD_ANSWER = "The child paid. " * 10

COMPONENTS: list[dict[str, Any]] = [
    {
        "type": "tool",
        "name": "ledger",
        "kind": "python",
        "import_path": "tests.runtime.sample_tools:ledger",
    },
    {
        "type": "model",
        "name": "child_script",
        "provider": "scripted",
        "model": "s",
        "chunk_size": 4,
        "chunk_delay": 0.05,
        "responses": [
            {"tool_calls": [{"name": "ledger", "arguments": {"note": "child"}}]},
            {"content": CHILD_ANSWER},
        ],
    },
    {"type": "agent", "name": "payer", "model": "child_script", "tools": ["ledger"]},
    {
        "type": "model",
        "name": "parent_script",
        "provider": "scripted",
        "model": "s",
        "responses": [
            {"tool_calls": [{"name": "ledger", "arguments": {"note": "parent"}}]},
            {"tool_calls": [{"name": "ask_payer", "arguments": {"message": "pay"}}]},
            {"content": "All paid."},
        ],
    },
    {
        "type": "agent",
        "name": "manager",
        "model": "parent_script",
        "tools": ["ledger"],
        "agents": ["payer"],
    },
]


def test_sigkill_mid_child_then_restart(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tree.yaml").write_text(yaml.safe_dump(COMPONENTS))
    port = free_port()
    first, log = start_server(tmp_path, port, "first.log")
    seen: list[tuple[int, str, dict[str, Any]]] = []
    try:
        wait_for_health(port, first, log, 15)
        with httpx.stream(
            "POST",
            f"http://127.0.0.1:{port}/api/chat",
            timeout=30,
            json={"agent_id": "manager", "message": "go"},
        ) as response:
            run_id = response.headers["x-run-id"]
            try:
                for message in sse_messages(response):
                    seen.append(message)
                    inner = [m[2]["event"]["type"] for m in seen if m[1] == "child_event"]
                    if "tool_call_completed" in inner and inner.count("content_delta") >= 3:
                        first.send_signal(signal.SIGKILL)
                        first.wait(10)
            except httpx.HTTPError:
                pass  # the connection died with the server
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    assert first.returncode == -signal.SIGKILL
    assert not any(m[1] == "run_completed" for m in seen)
    last_seen = seen[-1][0]

    second, log2 = start_server(tmp_path, port, "second.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(port, second, log2, 15)
        with httpx.stream(
            "GET",
            f"{base}/api/runs/{run_id}/events",
            timeout=60,
            headers={"Accept": "text/event-stream", "Last-Event-ID": str(last_seen)},
        ) as response:
            rest = list(sse_messages(response))
        run = httpx.get(f"{base}/api/runs/{run_id}").json()
        stored = httpx.get(f"{base}/api/runs/{run_id}/events", params={"limit": 1000}).json()
        (child_ref,) = run["children"]
        child = httpx.get(f"{base}/api/runs/{child_ref['id']}").json()
        child_log = httpx.get(
            f"{base}/api/runs/{child_ref['id']}/events", params={"limit": 1000}
        ).json()["events"]
        every_run = httpx.get(f"{base}/api/runs", params={"limit": 100}).json()["items"]
    finally:
        second.terminate()
        second.wait(15)
    assert run["status"] == "completed", (run, log2.read_text()[-3000:])
    assert run["response_content"] == "All paid."
    assert child["status"] == "completed"
    assert child["response_content"] == CHILD_ANSWER
    assert child["recovery_count"] == 1
    # each tool effect once, and one child only
    assert sorted((tmp_path / "ledger.txt").read_text().split()) == ["child", "parent"]
    assert [r["agent_name"] for r in every_run].count("payer") == 1
    events = stored["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert rest[-1][1] == "run_completed"
    after = [(e["seq"], e["type"]) for e in events if e["seq"] > last_seen]
    assert [(m[0], m[1]) for m in rest] == after
    # the child's log, relayed once and in order (its recovery's `run_resumed` included)
    relayed = [e["data"]["event"] for e in events if e["type"] == "child_event"]
    assert [(e["seq"], e["type"]) for e in relayed] == [(e["seq"], e["type"]) for e in child_log]
    assert "run_resumed" in [e["type"] for e in child_log]
