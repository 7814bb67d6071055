"""The AG-UI project's own TypeScript client, `@ag-ui/client`'s `HttpAgent`, in Node against
a live Agio on 127.0.0.1: a plain answer, and a front-end tool that the client answers on
the same thread (tests/agui_node/run.mjs). Its packages are installed from
tests/agui_node/package-lock.json (`npm ci`) when node_modules is missing or stale; Node
and npm are required (CI has them), never skipped."""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.api.test_agui import COMPONENTS
from tests.conftest import admin_key
from tests.live import serve

FOLDER = Path(__file__).resolve().parents[1] / "agui_node"
MARKER = FOLDER / "node_modules" / ".agio-lock-sha256"


def _installed() -> None:
    """node_modules as package-lock.json pins it (one installer at a time: xdist)."""
    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm, "npm is needed (on Debian: apt-get install nodejs npm)"
    assert node, "Node.js is needed (on Debian: apt-get install nodejs npm)"
    digest = hashlib.sha256((FOLDER / "package-lock.json").read_bytes()).hexdigest()
    with (FOLDER / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if MARKER.exists() and MARKER.read_text() == digest:
            return
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=FOLDER,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
        MARKER.write_text(digest)


def test_http_agent_runs_agents_end_to_end(
    settings: Settings, add_components: Callable[[str, list[dict[str, Any]]], None]
) -> None:
    _installed()
    add_components("agui.yaml", COMPONENTS)
    with serve(create_app(settings)) as base:
        done = subprocess.run(
            [shutil.which("node") or "node", "run.mjs", base, admin_key(settings)],
            cwd=FOLDER,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)

    plain = out["plain"]
    assert plain["errors"] == []
    assert plain["result"] == "Hello from Agio, over AG-UI."
    assert plain["events"][0] == "RUN_STARTED"
    assert plain["events"][-1] == "RUN_FINISHED"
    assert [(m["role"], m["content"]) for m in plain["newMessages"]] == [
        ("assistant", "Hello from Agio, over AG-UI.")
    ]

    handed = out["handedBack"]
    assert handed["errors"] == []
    call_id = handed["toolCalls"][0]["id"]
    assert handed["toolCalls"] == [
        {"id": call_id, "name": "get_weather", "arguments": '{"city": "Paris"}'}
    ]
    assert handed["outcome"] == {"type": "success", "pendingToolCallIds": [call_id]}
    assert "TOOL_CALL_RESULT" not in handed["events"]

    continued = out["continued"]
    assert continued["errors"] == []
    assert continued["result"] == "It is sunny in Paris."
    # the client's thread: the question, the call, the browser's result, the answer
    assert [m["role"] for m in out["thread"]] == ["user", "assistant", "tool", "assistant"]
    assert out["thread"][1]["toolCalls"][0]["id"] == call_id
    assert out["thread"][2]["toolCallId"] == call_id
    assert out["thread"][3]["content"] == "It is sunny in Paris."
