"""Two server instances on one database, no shared bus (as with several workers on SQLite):
a run started on A is followed and controlled through B."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.live import serve

pytestmark = pytest.mark.slow

SLOW = {
    "type": "model",
    "name": "two_slow",
    "provider": "scripted",
    "model": "s",
    "chunk_size": 3,
    "chunk_delay": 0.1,
    "responses": [{"content": "x" * 45}],
}


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def pair(
    settings: Settings, add_components: Callable[[str, list[dict[str, Any]]], None]
) -> Iterator[tuple[str, str]]:
    add_components("two.yaml", [SLOW, {"type": "agent", "name": "two_agent", "model": "two_slow"}])
    settings = settings.model_copy(update={"auth_disabled": True})  # loopback only
    with serve(create_app(settings)) as a, serve(create_app(settings)) as b:
        yield a, b


def sse(response: httpx.Response) -> list[tuple[int, str]]:
    out = []
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if "event" in fields:
                out.append((int(fields["id"]), fields["event"]))
                json.loads(fields["data"])
            fields = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            fields[key] = value.lstrip(" ")
    return out


def start_on(url: str) -> str:
    with httpx.stream(
        "POST", f"{url}/api/chat", timeout=30, json={"agent_id": "two_agent", "message": "go"}
    ) as response:
        return response.headers["x-run-id"]  # the client leaves; the run goes on


def test_follow_a_run_from_the_other_instance(pair: tuple[str, str]) -> None:
    a, b = pair
    run_id = start_on(a)
    with httpx.stream(
        "GET", f"{b}/api/runs/{run_id}/events", timeout=30, headers={"Accept": "text/event-stream"}
    ) as response:
        events = sse(response)
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
    assert events[-1][1] == "run_completed"


def test_cancel_through_the_other_instance(pair: tuple[str, str]) -> None:
    a, b = pair
    run_id = start_on(a)
    time.sleep(0.3)
    started = time.perf_counter()
    response = httpx.post(f"{b}/api/runs/{run_id}/cancel", timeout=30)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert elapsed < 1.0, elapsed
    paused_elsewhere = start_on(a)
    time.sleep(0.2)
    assert (
        httpx.post(f"{b}/api/runs/{paused_elsewhere}/pause", timeout=30).json()["status"]
        == "paused"
    )
    resumed = httpx.post(f"{b}/api/runs/{paused_elsewhere}/resume", timeout=30)
    assert resumed.json()["status"] == "running"  # now executing on B
    for _ in range(100):
        if httpx.get(f"{a}/api/runs/{paused_elsewhere}").json()["status"] == "completed":
            break
        time.sleep(0.1)
    assert httpx.get(f"{a}/api/runs/{paused_elsewhere}").json()["status"] == "completed"
