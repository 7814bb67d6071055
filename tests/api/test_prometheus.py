"""`GET /metrics`: parses with prometheus-client's own parser, its counters move by exactly
what the test did, route labels are templates, and with several workers the numbers are
the whole server's."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, add_user
from tests.test_readme_commands import free_port

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def scrape(client: httpx.AsyncClient, **kwargs: Any) -> Samples:
    response = await client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_metrics_are_for_admins_and_take_a_key_as_bearer(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/metrics", headers={"X-API-Key": ""})).status_code == 401
    key = client.headers["X-API-Key"]
    as_bearer = await client.get(
        "/metrics", headers={"X-API-Key": "", "Authorization": f"Bearer {key}"}
    )
    assert as_bearer.status_code == 200
    # the figures cover every user's runs: not for other roles
    for role in ("viewer", "user"):
        _, headers = await add_user(client, role)
        assert (await client.get("/metrics", headers=headers)).status_code == 403


async def test_counters_move_by_exactly_what_was_done(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    for _ in range(3):
        assert (await client.get("/api/agents/customer_support")).status_code == 200
    assert (await client.get("/api/agents/ghost")).status_code == 404
    assert (await client.get("/api/no/such/route")).status_code == 404
    runs = []
    for message in ("What is 6 * 7?", "hello"):
        answer = await client.post(
            "/api/chat",
            json={"agent_id": "customer_support", "message": message, "stream": False},
        )
        runs.append((await client.get(f"/api/runs/{answer.json()['run_id']}")).json())
    streamed = await client.post(
        "/api/chat", json={"agent_id": "customer_support", "message": "What is 2+2?"}
    )
    assert streamed.status_code == 200
    runs.append((await client.get(f"/api/runs/{streamed.headers['x-run-id']}")).json())

    deadline = time.monotonic() + 10
    while True:
        after = await scrape(client)
        started = value(after, "agio_runs_started_total", agent="customer_support") - value(
            before, "agio_runs_started_total", agent="customer_support"
        )
        finished = value(
            after, "agio_runs_finished_total", agent="customer_support", status="completed"
        ) - value(before, "agio_runs_finished_total", agent="customer_support", status="completed")
        if finished == 3 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert started == 3
    assert finished == 3

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = "/api/agents/{agent_id}"
    assert moved("agio_http_requests_total", method="GET", route=route, status="200") == 3
    assert moved("agio_http_requests_total", method="GET", route=route, status="404") == 1
    assert moved("agio_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert moved("agio_http_request_duration_seconds_count", method="GET", route=route) == 4
    chat_route = {"method": "POST", "route": "/api/chat", "status": "200"}
    assert moved("agio_http_requests_total", **chat_route) == 3
    assert not any("customer_support" in dict(labels).get("route", "") for _, labels in after)
    assert not any("/api/runs/run_" in dict(labels).get("route", "") for _, labels in after)

    model = runs[0]["agent_config"]["model"]["name"]
    for kind in ("prompt", "completion"):
        expected = sum(r["metrics"][f"{kind}_tokens"] for r in runs)
        assert expected > 0
        got = moved("agio_tokens_total", agent="customer_support", model=model, kind=kind)
        assert got == expected, kind
    per_tool: dict[str, int] = {}
    for r in runs:
        events = (await client.get(f"/api/runs/{r['id']}/events")).json()["events"]
        for e in events:
            if e["type"] == "tool_call_completed":
                per_tool[e["data"]["tool"]] = per_tool.get(e["data"]["tool"], 0) + 1
    assert sum(per_tool.values()) == sum(r["metrics"]["tool_calls"] for r in runs)
    assert per_tool["calculator"] >= 2
    for tool, count in per_tool.items():
        assert moved("agio_tool_calls_total", tool=tool) == count, tool
        assert moved("agio_tool_errors_total", tool=tool) == 0, tool
    events = sum(r["last_seq"] for r in runs)
    assert moved("agio_event_log_lag_seconds_count") == events
    assert value(after, "agio_sse_streams_open") == 0
    assert value(after, "agio_runs_active", status="running") == 0
    assert ("agio_runs_active", (("status", "paused"),)) in after


def _server(tmp_path: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGIO_", "PROMETHEUS_"))}
    env.update(
        {
            "AGIO_DATA_DIR": str(tmp_path / "data"),
            "AGIO_CONFIGS_DIR": str(ROOT / "configs"),
            "AGIO_WATCH_CONFIGS": "false",
            "AGIO_RATE_LIMIT_READ": "",
            "AGIO_LOG_LEVEL": "WARNING",
        }
    )
    return subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "agio"),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        cwd=tmp_path,
        stdout=(tmp_path / "server.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_several_workers_report_the_whole_servers_numbers(tmp_path: Path) -> None:
    port = free_port()
    process = _server(tmp_path, port, workers=2)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        key_file = tmp_path / "data" / "admin.key"
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200 and (
                    key_file.exists()
                ):
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        headers = {"X-API-Key": key_file.read_text().strip()}
        for _ in range(40):  # new connections: the kernel spreads them over the workers
            with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
                assert client.get("/api/agents/customer_support").status_code == 200
        route = {"method": "GET", "route": "/api/agents/{agent_id}", "status": "200"}
        for _ in range(6):  # whichever worker answers, the count is the server's
            with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
                samples = parse(client.get("/metrics").text)
            assert value(samples, "agio_http_requests_total", **route) == 40
        counters = list((tmp_path / "data" / "prometheus").glob("counter_*.db"))
        assert len(counters) >= 2  # both workers counted requests (this or the health checks)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
