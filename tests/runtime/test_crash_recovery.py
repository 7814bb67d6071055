"""SIGKILL the server in the middle of a run, start it again: the run finishes, its tool
ran once, the event log has no gap and no duplicate, and a client that reconnects with
`Last-Event-ID` gets exactly what it missed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import ROOT
from tests.test_readme_commands import free_port, wait_for_health

pytestmark = pytest.mark.slow

ANSWER = "The ledger has it. " * 8

COMPONENTS = [
    {
        "type": "model",
        "name": "crashy",
        "provider": "scripted",
        "model": "s",
        "chunk_size": 4,
        "chunk_delay": 0.05,
        "responses": [
            {"tool_calls": [{"name": "ledger", "arguments": {"note": "paid"}}]},
            {"content": ANSWER},
        ],
    },
    {
        "type": "tool",
        "name": "ledger",
        "kind": "python",
        "import_path": "tests.runtime.sample_tools:ledger",
    },
    {"type": "agent", "name": "crash_agent", "model": "crashy", "tools": ["ledger"]},
]


def start_server(
    tmp_path: Path, port: int, log_name: str, **extra: str
) -> tuple[subprocess.Popen[bytes], Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGIO_", "OPENAI_"))}
    env.update(
        {
            "AGIO_DATA_DIR": str(tmp_path / "data"),
            "AGIO_CONFIGS_DIR": str(tmp_path / "configs"),
            "AGIO_WATCH_CONFIGS": "false",
            "AGIO_RUN_LEASE_SECONDS": "1.5",
            "AGIO_AUTH_DISABLED": "true",  # loopback only: the development switch applies
            "AGIO_TEST_LEDGER": str(tmp_path / "ledger.txt"),
            "PYTHONPATH": str(ROOT),
            **extra,
        }
    )
    log = tmp_path / log_name
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "agio"), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return process, log


def sse_messages(response: httpx.Response, lines: list[str] | None = None):  # type: ignore[no-untyped-def]
    """(id, event, data) of each SSE message; every raw line is also kept in `lines`."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if lines is not None:
            lines.append(line)
        if line == "":
            if "event" in fields:
                yield int(fields["id"]), fields["event"], json.loads(fields["data"])
            fields = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            fields[key] = value.lstrip(" ")


def test_sigkill_mid_run_then_restart(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "crash.yaml").write_text(yaml.safe_dump(COMPONENTS))
    port = free_port()
    first, log = start_server(tmp_path, port, "first.log")
    seen: list[tuple[int, str, dict[str, Any]]] = []
    try:
        wait_for_health(port, first, log, 15)
        with httpx.stream(
            "POST",
            f"http://127.0.0.1:{port}/api/chat",
            timeout=30,
            json={"agent_id": "crash_agent", "message": "pay"},
        ) as response:
            run_id = response.headers["x-run-id"]
            try:
                for message in sse_messages(response):
                    seen.append(message)
                    deltas_after_tool = [m for m in seen if m[1] == "content_delta"]
                    tool_done = any(m[1] == "tool_call_completed" for m in seen)
                    if tool_done and len(deltas_after_tool) >= 3:
                        first.send_signal(signal.SIGKILL)
                        first.wait(10)
            except httpx.HTTPError:
                pass  # the connection died with the server
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    assert first.returncode == -signal.SIGKILL
    assert any(m[1] == "tool_call_completed" for m in seen)
    assert not any(m[1] == "run_completed" for m in seen)
    last_seen = seen[-1][0]

    second, log2 = start_server(tmp_path, port, "second.log")
    try:
        wait_for_health(port, second, log2, 15)
        with httpx.stream(
            "GET",
            f"http://127.0.0.1:{port}/api/runs/{run_id}/events",
            timeout=30,
            headers={"Accept": "text/event-stream", "Last-Event-ID": str(last_seen)},
        ) as response:
            rest = list(sse_messages(response))
        run = httpx.get(f"http://127.0.0.1:{port}/api/runs/{run_id}").json()
        stored = httpx.get(f"http://127.0.0.1:{port}/api/runs/{run_id}/events").json()["events"]
    finally:
        second.terminate()
        second.wait(15)
    assert run["status"] == "completed", (run, log2.read_text()[-3000:])
    assert run["response_content"] == ANSWER
    assert run["recovery_count"] == 1
    assert (tmp_path / "ledger.txt").read_text() == "paid\n"  # the tool ran exactly once
    seqs = [e["seq"] for e in stored]
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no duplicate
    assert [m[0] for m in seen] == list(range(1, last_seen + 1))
    assert [(m[0], m[1], m[2]) for m in rest] == [
        (e["seq"], e["type"], e["data"]) for e in stored if e["seq"] > last_seen
    ]
    assert rest[-1][1] == "run_completed"
    resumed = [m for m in rest if m[1] == "run_resumed"]
    assert resumed[0][2]["reason"] == "recovered"
    # the text streamed after the restart continues the answer instead of repeating it
    text = "".join(e["data"]["content"] for e in stored if e["type"] == "content_delta")
    assert text == ANSWER


def test_sigterm_lets_streams_go_and_hands_the_run_back(tmp_path: Path) -> None:
    """A graceful stop: the SSE stream (which began with a `retry:` hint) ends, the process
    exits within its grace period, and the run is continued by the next process."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "crash.yaml").write_text(yaml.safe_dump(COMPONENTS))
    port = free_port()
    first, log = start_server(tmp_path, port, "first.log", AGIO_SHUTDOWN_GRACE_SECONDS="2")
    lines: list[str] = []
    seen: list[tuple[int, str, dict[str, Any]]] = []
    try:
        wait_for_health(port, first, log, 15)
        with httpx.stream(
            "POST",
            f"http://127.0.0.1:{port}/api/chat",
            timeout=30,
            json={"agent_id": "crash_agent", "message": "pay"},
        ) as response:
            run_id = response.headers["x-run-id"]
            stopped_at = None
            try:
                for message in sse_messages(response, lines):
                    seen.append(message)
                    deltas = sum(m[1] == "content_delta" for m in seen)
                    if deltas >= 2 and stopped_at is None:
                        stopped_at = time.monotonic()
                        first.send_signal(signal.SIGTERM)
            except httpx.HTTPError:
                pass
        assert stopped_at is not None
        first.wait(15)
        exited_in = time.monotonic() - stopped_at
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    assert lines[0] == "retry: 1000"
    # uvicorn re-raises the signal once it has shut down cleanly
    assert first.returncode in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert "Application shutdown complete" in log.read_text()
    assert exited_in < 2 + 5, exited_in  # the grace period, then hand-back and exit
    assert not any(m[1] == "run_completed" for m in seen)
    second, log2 = start_server(tmp_path, port, "second.log")
    try:
        wait_for_health(port, second, log2, 15)
        deadline = time.monotonic() + 20
        while True:
            run = httpx.get(f"http://127.0.0.1:{port}/api/runs/{run_id}").json()
            if run["status"] == "completed" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        second.terminate()
        second.wait(15)
    assert run["status"] == "completed", log2.read_text()[-3000:]
    assert run["response_content"] == ANSWER
    assert (tmp_path / "ledger.txt").read_text() == "paid\n"
