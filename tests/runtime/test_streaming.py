"""SSE against a real server: ordering, reconnection, late joiners, live deltas,
disconnects, keep-alive pings; plus the Python client and `agio chat`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from agio.api.app import create_app
from agio.cli import main
from agio.client import AgioClient, AgioHTTPError, AsyncAgioClient
from agio.config.settings import Settings
from tests.live import serve

SLOW_SCRIPT = {
    "type": "model",
    "name": "slow_script",
    "provider": "scripted",
    "model": "scripted",
    "responses": [
        {
            "content": "one two three four five six",
            "tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}],
        },
        {"content": "The answer is 42."},
    ],
    "chunk_size": 4,
    "chunk_delay": 0.1,
}


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def server(
    settings: Settings, add_components: Callable[[str, list[dict[str, Any]]], None]
) -> Iterator[str]:
    add_components(
        "slow.yaml",
        [
            SLOW_SCRIPT,
            {
                "type": "agent",
                "name": "slow_agent",
                "model": "slow_script",
                "tools": ["calculator"],
            },
        ],
    )
    # loopback only, so the development switch applies: these tests are about streaming
    app = create_app(settings.model_copy(update={"sse_ping_seconds": 0.3, "auth_disabled": True}))
    with serve(app) as url:
        yield url


def read_sse(
    source: httpx.Response | Iterator[str], stop_after: int | None = None
) -> Iterator[tuple[int, str, dict[str, Any], float]]:
    """(id, event, data, arrival time) for each SSE message of a streaming response (or of
    its line iterator, to go on reading where an earlier call stopped)."""
    fields: dict[str, str] = {}
    count = 0
    lines = source.iter_lines() if isinstance(source, httpx.Response) else source
    for line in lines:
        if line == "":
            if "event" in fields:
                yield (
                    int(fields["id"]),
                    fields["event"],
                    json.loads(fields["data"]),
                    time.monotonic(),
                )
                count += 1
                if stop_after is not None and count >= stop_after:
                    return
            fields = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            fields[key] = value.lstrip(" ")


@contextmanager
def start_stream(url: str, agent: str = "slow_agent") -> Iterator[httpx.Response]:
    with (
        httpx.Client(base_url=url, timeout=30) as client,
        client.stream(
            "POST", "/api/chat", json={"agent_id": agent, "message": "count"}
        ) as response,
    ):
        yield response


def test_stream_is_ordered_live_and_complete(server: str) -> None:
    with start_stream(server) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        run_id = response.headers["x-run-id"]
        messages = list(read_sse(response))
    ids = [m[0] for m in messages]
    assert ids == list(range(1, len(ids) + 1))
    assert messages[0][1] == "run_started"
    assert messages[-1][1] == "run_completed"
    deltas = [m for m in messages if m[1] == "content_delta"]
    # the first delta arrived while the model was still producing (6 more chunks, 0.1 s apart)
    assert deltas[-1][3] - deltas[0][3] > 0.3
    stored = httpx.get(f"{server}/api/runs/{run_id}/events").json()["events"]
    assert [(e["seq"], e["type"], e["data"]) for e in stored] == [m[:3] for m in messages]


def test_reconnect_with_last_event_id_misses_nothing_and_repeats_nothing(server: str) -> None:
    with start_stream(server) as response:
        run_id = response.headers["x-run-id"]
        first = list(read_sse(response, stop_after=5))
    assert [m[0] for m in first] == [1, 2, 3, 4, 5]
    with (
        httpx.Client(base_url=server, timeout=30) as again,
        again.stream(
            "GET",
            f"/api/runs/{run_id}/events",
            headers={"Accept": "text/event-stream", "Last-Event-ID": "5"},
        ) as rest,
    ):
        remaining = list(read_sse(rest))
    assert [m[0] for m in remaining] == list(range(6, 6 + len(remaining)))
    assert remaining[-1][1] == "run_completed"
    total = httpx.get(f"{server}/api/runs/{run_id}/events").json()["total"]
    assert len(first) + len(remaining) == total


def test_late_joiner_gets_the_full_stream(server: str) -> None:
    with start_stream(server) as response:
        run_id = response.headers["x-run-id"]
        collected: dict[str, list[int]] = {}

        def join() -> None:
            with httpx.stream(
                "GET",
                f"{server}/api/runs/{run_id}/events",
                timeout=30,
                headers={"Accept": "text/event-stream"},
            ) as late:
                collected["late"] = [m[0] for m in read_sse(late)]

        lines = response.iter_lines()
        first = list(read_sse(lines, stop_after=3))
        joiner = threading.Thread(target=join)
        joiner.start()
        rest = list(read_sse(lines))
        joiner.join(30)
    owner = [m[0] for m in first + rest]
    assert collected["late"] == owner == list(range(1, len(owner) + 1))


def test_disconnect_does_not_stop_the_run(server: str) -> None:
    with start_stream(server) as response:
        run_id = response.headers["x-run-id"]
        list(read_sse(response, stop_after=2))
    deadline = time.monotonic() + 15
    status = ""
    while time.monotonic() < deadline:
        status = httpx.get(f"{server}/api/runs/{run_id}").json()["status"]
        if status == "completed":
            break
        time.sleep(0.1)
    assert status == "completed"
    events = httpx.get(f"{server}/api/runs/{run_id}/events").json()["events"]
    assert events[-1]["type"] == "run_completed"
    # and anyone can re-attach to a finished run and get everything
    with httpx.stream(
        "GET",
        f"{server}/api/runs/{run_id}/events",
        timeout=30,
        headers={"Accept": "text/event-stream"},
    ) as replay:
        assert [m[0] for m in read_sse(replay)] == [e["seq"] for e in events]


def test_keep_alive_pings_while_quiet(server: str) -> None:
    with httpx.stream(
        "POST", f"{server}/api/chat", timeout=30, json={"agent_id": "slow_agent", "message": "x"}
    ) as response:
        lines = list(response.iter_lines())
    assert any(line.startswith(": ping") for line in lines)


def test_bad_last_event_id_is_422(server: str) -> None:
    result = httpx.post(
        f"{server}/api/chat",
        timeout=30,
        json={"agent_id": "customer_support", "message": "hi", "stream": False},
    )
    run_id = result.json()["run_id"]
    response = httpx.get(
        f"{server}/api/runs/{run_id}/events",
        headers={"Accept": "text/event-stream", "Last-Event-ID": "abc"},
    )
    assert response.status_code == 422


def test_python_client_sync(server: str) -> None:
    with AgioClient(server) as agio:
        events = list(agio.stream_chat("spec_agent", "six times seven"))
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert events[-1].type == "run_completed"
        answer = agio.chat("spec_agent", "again", session_id=events[0].data["session_id"])
        assert answer["response"] == "The answer is 42."
        run = agio.get_run(answer["run_id"])
        assert run["session_id"] == events[0].data["session_id"]
        replay = list(agio.stream_events(answer["run_id"], last_event_id=10))
        assert replay[0].seq == 11
        assert replay[-1].terminal
        assert agio.events(answer["run_id"], limit=2)["events"][1]["seq"] == 2
        assert agio.list_runs(agent_id="spec_agent")["total"] == 2
        assert {a["name"] for a in agio.list_agents(limit=100)["items"]} >= {"spec_agent"}
        with pytest.raises(AgioHTTPError) as caught:
            list(agio.stream_chat("ghost", "hi"))
        assert caught.value.status == 404
        assert caught.value.type == "AgentNotFound"


async def test_python_client_async(server: str) -> None:
    async with AsyncAgioClient(server) as agio:
        events = [e async for e in agio.stream_chat("spec_agent", "six times seven")]
        assert events[-1].data["response"] == "The answer is 42."
        result = await agio.chat("customer_support", "What is 6*7?")
        assert "42" in result["response"]
        with pytest.raises(AgioHTTPError):
            await agio.get_agent("ghost")


def test_agio_chat_cli(server: str) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, ["chat", "customer_support", "What is (2 + 3) * 4?", "--url", server]
    )
    assert result.exit_code == 0, result.output
    assert "→ calculator" in result.output
    assert "20" in result.output
    assert "tokens" in result.output
    assert "session ses_" in result.output
    session = result.output.split("session ")[1].split(" ")[0]
    follow = runner.invoke(
        main, ["chat", "customer_support", "And 6*7?", "--url", server, "--session", session]
    )
    assert follow.exit_code == 0
    assert "42" in follow.output
    unknown = runner.invoke(main, ["chat", "ghost", "hi", "--url", server])
    assert unknown.exit_code == 1
    assert "AgentNotFound" in unknown.output


def test_reconnect_after_the_end_is_204_so_eventsource_stops(server: str) -> None:
    """An EventSource reconnects whenever a stream ends; only a 204 stops it (WHATWG)."""
    result = httpx.post(
        f"{server}/api/chat",
        timeout=30,
        json={"agent_id": "customer_support", "message": "hi", "stream": False},
    )
    run_id = result.json()["run_id"]
    last = httpx.get(f"{server}/api/runs/{run_id}").json()["last_seq"]
    for seen in (last, last + 5):
        response = httpx.get(
            f"{server}/api/runs/{run_id}/events",
            timeout=30,
            headers={"Accept": "text/event-stream", "Last-Event-ID": str(seen)},
        )
        assert response.status_code == 204
        assert response.content == b""
    # one event short of the end: that event, then the stream ends
    with httpx.stream(
        "GET",
        f"{server}/api/runs/{run_id}/events",
        timeout=30,
        headers={"Accept": "text/event-stream", "Last-Event-ID": str(last - 1)},
    ) as response:
        assert response.status_code == 200
        assert [(seq, kind) for seq, kind, _, _ in read_sse(response)] == [(last, "run_completed")]
