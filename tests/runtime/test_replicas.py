"""Three server processes on 127.0.0.1 sharing PostgreSQL and Redis behave as one server:
a run started on A is followed from B with `Last-Event-ID`, paused from C, resumed from B;
a cancel sent to B stops a run on A within a second; when A is killed, another process
finishes its run within the lease, its tool having run once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.conftest import ROOT, redis_settings
from tests.test_readme_commands import free_port

pytestmark = pytest.mark.slow

ANSWER = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"

COMPONENTS = [
    {
        "type": "model",
        "name": "replica_model",
        "provider": "scripted",
        "model": "s",
        "chunk_size": 3,
        "chunk_delay": 0.08,
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
    {"type": "agent", "name": "replica_agent", "model": "replica_model", "tools": ["ledger"]},
]


class Cluster:
    def __init__(self, tmp_path: Path, database_url: str, redis_url: str) -> None:
        self.tmp = tmp_path
        (tmp_path / "configs").mkdir()
        (tmp_path / "configs" / "replicas.yaml").write_text(yaml.safe_dump(COMPONENTS))
        redis = redis_settings(redis_url)
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("AGIO_", "OPENAI_"))
        } | {
            "AGIO_DATABASE_URL": make_url(database_url).render_as_string(hide_password=False),
            "AGIO_REDIS_URL": redis["redis_url"],
            "AGIO_REDIS_PREFIX": redis["redis_prefix"],
            "AGIO_DATA_DIR": str(tmp_path / "data"),  # shared, like a volume
            "AGIO_CONFIGS_DIR": str(tmp_path / "configs"),
            "AGIO_WATCH_CONFIGS": "false",
            "AGIO_RUN_LEASE_SECONDS": "2",
            "AGIO_TEST_LEDGER": str(tmp_path / "ledger.txt"),
            "AGIO_RATE_LIMIT_CHAT": "",
            "AGIO_RATE_LIMIT_WRITE": "",
            "AGIO_RATE_LIMIT_READ": "",
            "AGIO_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.urls: dict[str, str] = {}
        self.headers: dict[str, str] = {}

    def start(self, name: str) -> None:
        port = free_port()
        self.processes[name] = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "agio"), "serve", "--port", str(port)],
            env=self.env,
            cwd=self.tmp,
            stdout=(self.tmp / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.urls[name] = f"http://127.0.0.1:{port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        for name, url in self.urls.items():
            while True:
                process = self.processes[name]
                assert process.poll() is None, self.log(name)
                try:
                    if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, self.log(name)
                time.sleep(0.1)
        key = (self.tmp / "data" / "admin.key").read_text().strip()
        self.headers = {"X-API-Key": key}

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()[-4000:]

    def client(self, name: str) -> httpx.Client:
        return httpx.Client(base_url=self.urls[name], headers=self.headers, timeout=30)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str, module_redis_url: str
) -> Iterator[Cluster]:
    """One cluster for the module (starting three processes takes seconds); the test that
    kills a process comes last."""
    nodes = Cluster(tmp_path_factory.mktemp("replicas"), module_database_url, module_redis_url)
    try:
        for name in ("a", "b", "c"):
            nodes.start(name)
        nodes.wait_ready()
        yield nodes
    finally:
        nodes.stop()


def sse(response: httpx.Response) -> Iterator[tuple[int, str, dict[str, Any]]]:
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if "event" in fields:
                yield int(fields["id"]), fields["event"], json.loads(fields["data"])
            fields = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            fields[key] = value.lstrip(" ")


def start_run(cluster: Cluster, node: str) -> tuple[str, list[tuple[int, str, dict[str, Any]]]]:
    """Start a chat on `node`, read until the answer streams, then let go."""
    seen: list[tuple[int, str, dict[str, Any]]] = []
    with (
        cluster.client(node) as client,
        client.stream(
            "POST", "/api/chat", json={"agent_id": "replica_agent", "message": "pay"}
        ) as response,
    ):
        assert response.status_code == 200
        run_id = response.headers["x-run-id"]
        for message in sse(response):
            seen.append(message)
            if sum(m[1] == "content_delta" for m in seen) >= 2:
                break
    return run_id, seen


@pytest.fixture(autouse=True)
def fresh_ledger(cluster: Cluster) -> None:
    (cluster.tmp / "ledger.txt").unlink(missing_ok=True)


def test_follow_pause_and_resume_across_three_processes(cluster: Cluster) -> None:
    run_id, seen = start_run(cluster, "a")
    last = seen[-1][0]
    followed: list[tuple[int, str, dict[str, Any]]] = []

    def follow() -> None:
        with (
            cluster.client("b") as client,
            client.stream(
                "GET",
                f"/api/runs/{run_id}/events",
                headers={"Accept": "text/event-stream", "Last-Event-ID": str(last)},
            ) as response,
        ):
            followed.extend(sse(response))

    reader = threading.Thread(target=follow)
    reader.start()
    with cluster.client("c") as c:
        paused = c.post(f"/api/runs/{run_id}/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    time.sleep(0.5)
    with cluster.client("b") as b:
        assert b.get(f"/api/runs/{run_id}").json()["status"] == "paused"
        resumed = b.post(f"/api/runs/{run_id}/resume")
    assert resumed.status_code == 200, resumed.text
    reader.join(30)
    assert not reader.is_alive()
    with cluster.client("c") as c:
        run = c.get(f"/api/runs/{run_id}").json()
        stored = c.get(f"/api/runs/{run_id}/events").json()["events"]
    assert run["status"] == "completed", cluster.log("a") + cluster.log("b")
    assert run["response_content"] == ANSWER
    seqs = [e["seq"] for e in stored]
    assert seqs == list(range(1, len(seqs) + 1))
    # B's stream had exactly what came after `last`: nothing missed, nothing twice
    assert [(m[0], m[1], m[2]) for m in followed] == [
        (e["seq"], e["type"], e["data"]) for e in stored if e["seq"] > last
    ]
    types = [m[1] for m in followed]
    assert "run_paused" in types
    assert "run_resumed" in types
    assert types[-1] == "run_completed"
    assert (cluster.tmp / "ledger.txt").read_text() == "paid\n"


def test_a_cancel_sent_to_b_stops_a_run_on_a_within_a_second(cluster: Cluster) -> None:
    run_id, _ = start_run(cluster, "a")
    with cluster.client("b") as b:
        started = time.monotonic()
        cancelled = b.post(f"/api/runs/{run_id}/cancel")
        elapsed = time.monotonic() - started
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert elapsed < 1.0, elapsed
        events = b.get(f"/api/runs/{run_id}/events").json()["events"]
    assert events[-1]["type"] == "run_cancelled"


# last in the module: it kills a process of the shared cluster
def test_killing_the_owner_hands_the_run_to_another_process(cluster: Cluster) -> None:
    run_id, seen = start_run(cluster, "a")
    assert any(m[1] == "tool_call_completed" for m in seen)
    killed_at = time.monotonic()
    os.killpg(cluster.processes["a"].pid, signal.SIGKILL)
    cluster.processes["a"].wait(10)
    last = seen[-1][0]
    with (
        cluster.client("b") as b,
        b.stream(
            "GET",
            f"/api/runs/{run_id}/events",
            headers={"Accept": "text/event-stream", "Last-Event-ID": str(last)},
        ) as response,
    ):
        rest = list(sse(response))
    finished_in = time.monotonic() - killed_at
    with cluster.client("c") as c:
        run = c.get(f"/api/runs/{run_id}").json()
        stored = c.get(f"/api/runs/{run_id}/events").json()["events"]
    assert run["status"] == "completed", cluster.log("b") + cluster.log("c")
    assert run["recovery_count"] == 1
    assert finished_in < 2 * 2 + 10  # the lease (2 s), a check period, and the rest of the run
    seqs = [e["seq"] for e in stored]
    assert seqs == list(range(1, len(seqs) + 1))  # no event lost or duplicated
    assert [m[0] for m in rest] == [s for s in seqs if s > last]
    assert (cluster.tmp / "ledger.txt").read_text() == "paid\n"  # the tool ran once
    text = "".join(e["data"]["content"] for e in stored if e["type"] == "content_delta")
    assert text == ANSWER
    # one execution at a time: every step that counts was recorded once
    steps = run["steps"]
    numbers = [s["step_num"] for s in steps if not s.get("superseded")]
    assert len(numbers) == len(set(numbers)), steps
