"""The README's run command starts a working server (as a user would run it)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", text, re.S)
    assert first_block, "the README starts with a code block holding the set-up commands"
    return [
        line.strip()
        for line in first_block.group(1).splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


def wait_for_health(
    port: int, process: subprocess.Popen[bytes], log: Path, deadline_s: float
) -> httpx.Response:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"no answer on port {port} within {deadline_s}s:\n{log.read_text()}")


def server_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AGIO_", "OPENAI_")) or k.startswith("AGIO_TEST_")
    }
    env["AGIO_DATA_DIR"] = str(tmp_path / "data")
    env["AGIO_WATCH_CONFIGS"] = "false"
    return env


def test_readme_has_exactly_the_two_commands_and_ci_runs_the_test_one() -> None:
    commands = readme_commands()
    assert commands == ["./scripts/serve", "./scripts/test"]
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_readme_run_command_serves_health_and_docs(tmp_path: Path) -> None:
    port = free_port()
    command = [*shlex.split(readme_commands()[0]), "--port", str(port)]
    started = time.monotonic()
    log = tmp_path / "server.log"
    with running(command, server_env(tmp_path), log) as process:
        health = wait_for_health(port, process, log, 10)
        docs = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=5)
        elapsed = time.monotonic() - started
        # the first start made an admin and wrote its key where the README says
        key_file = tmp_path / "data" / "admin.key"
        key = key_file.read_text().strip()
        auth = {"X-API-Key": key}
        unauthenticated = httpx.get(f"http://127.0.0.1:{port}/api/agents", timeout=5)
        agents = httpx.get(f"http://127.0.0.1:{port}/api/agents", headers=auth, timeout=5).json()
        # the demo agent answers with no model API key, over HTTP and through `agio chat`
        # (which finds the admin key in the data dir by itself)
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/chat",
            json={"agent_id": "customer_support", "message": "What is 6 * 7?", "stream": False},
            headers=auth,
            timeout=30,
        ).json()
        cli = subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "agio"),
                "chat",
                "customer_support",
                "What is (2 + 3) * 4?",
                "--url",
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=server_env(tmp_path),
            check=False,
        )
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"
    assert unauthenticated.status_code == 401
    assert key.startswith("agio_")
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key in log.read_text()  # printed once at the first start
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert elapsed < 10, f"took {elapsed:.1f}s"
    assert "customer_support" in {a["name"] for a in agents["items"]}
    assert answer["status"] == "completed"
    assert "42" in answer["response"]
    assert cli.returncode == 0, cli.stderr
    assert "→ calculator" in cli.stdout
    assert "20" in cli.stdout
    assert "tokens" in cli.stdout
    assert (tmp_path / "data" / "agio.db").exists()  # SQLite in the data folder


def test_server_starts_beside_a_broken_yaml_file(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", configs)
    (configs / "broken.yaml").write_text(
        "type: tool\nname: broken_tool\nkind: builtin\nbuiltin: calculator\ntimeout: -5\n"
    )
    (configs / "garbled.yaml").write_text("type: model\nname: [oops\n")
    port = free_port()
    command = [
        str(ROOT / ".venv" / "bin" / "agio"),
        "serve",
        "--port",
        str(port),
        "--configs-dir",
        str(configs),
    ]
    log = tmp_path / "server.log"
    with running(command, server_env(tmp_path), log) as process:
        wait_for_health(port, process, log, 10)
        auth = {"X-API-Key": (tmp_path / "data" / "admin.key").read_text().strip()}
        health = httpx.get(f"http://127.0.0.1:{port}/api/health", headers=auth, timeout=5).json()
        listed = httpx.get(f"http://127.0.0.1:{port}/api/config", headers=auth, timeout=5)
        names = {c["name"] for c in listed.json()["configs"]}
    problems = health["components"]["configs"]["problems"]
    assert {
        "path": str(configs / "broken.yaml"),
        "field": "timeout",
        "message": "Input should be greater than 0",
    } in problems
    assert any(
        p["path"] == str(configs / "garbled.yaml") and "(line 3, column 1)" in p["message"]
        for p in problems
    )
    assert health["status"] == "degraded"
    assert {"demo", "openai", "calculator", "customer_support"} <= names
    assert "broken_tool" not in names
    output = log.read_text()
    assert "broken.yaml" in output
    assert "timeout" in output
