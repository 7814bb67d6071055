"""A stateful test of one session (hypothesis): chat, approve, reject, pause, resume,
cancel and restart the server, in any order. Whatever the order:

- the session never has two runs in progress (a chat while one is in progress is a 409
  `SessionBusy`, under the default `reject` strategy);
- an approved call runs exactly once, with the arguments of its approval (each approval
  gives a note of its own), and a rejected call never runs (the model's own arguments
  never reach the tool: every approval edits them);
- every run's event log is gapless (seq 1, 2, 3, …).

The server is the real app in this process, on SQLite; a restart closes its lifespan
(runs in flight are handed back) and starts a new app on the same database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import start_client
from tests.runtime import sample_tools

pytestmark = pytest.mark.slow

COMPONENTS = [
    {
        "type": "model",
        "name": "machine_model",
        "provider": "scripted",
        "model": "s",
        "chunk_size": 4,
        "chunk_delay": 0.01,
        "responses": [
            {
                "content": "Recording.",
                "tool_calls": [{"name": "record", "arguments": {"note": "MODEL"}}],
            },
            {"content": "Recorded, and done."},
        ],
    },
    {
        "type": "tool",
        "name": "record",
        "kind": "python",
        "import_path": "tests.runtime.sample_tools:record",
    },
    {
        "type": "agent",
        "name": "machine_agent",
        "model": "machine_model",
        "tools": ["record"],
        "config": {"approval": {"tools": ["record"]}},
    },
]

UNFINISHED = {"pending", "running", "paused", "waiting_approval"}
TERMINAL = {"completed", "failed", "cancelled"}


class SessionMachine(RuleBasedStateMachine):
    folder: Path

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        sample_tools.LEDGER.clear()
        self.settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=self.folder / "data",
            configs_dir=self.folder / "configs",
            database_url=f"sqlite+aiosqlite:///{self.folder / 'machine.db'}",
            watch_configs=False,
            environment="test",
            log_level="ERROR",
            auth_disabled=True,
            rate_limit_chat="",
            rate_limit_write="",
            rate_limit_read="",
            max_active_runs_per_user=10_000,
            control_wait_seconds=5,
        )
        self.client: httpx.AsyncClient | None = None
        self.lifespan: Any = None
        self._start()
        self.session_id: str | None = None
        self.runs: list[str] = []
        #: unique note of each approval -> how many times the tool may have run it (1)
        self.approved: set[str] = set()
        self.rejected: set[str] = set()

    # ------------------------------------------------------------------ plumbing

    def _run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def _start(self) -> None:
        self.client, self.lifespan = self._run(start_client(create_app(self.settings)))

    def _stop(self) -> None:
        assert self.client is not None
        self._run(self.client.aclose())
        self._run(self.lifespan.__aexit__(None, None, None))

    def teardown(self) -> None:
        self._stop()
        self.loop.close()

    def _get(self, path: str) -> Any:
        assert self.client is not None
        response = self._run(self.client.get(path))
        assert response.status_code == 200, response.text
        return response.json()

    def _post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        assert self.client is not None
        return self._run(self.client.post(path, json=body or {}))  # type: ignore[no-any-return]

    def _settle(self) -> None:
        """Let running runs reach a point where they wait, pause or end."""
        for _ in range(200):
            statuses = [self._get(f"/api/runs/{r}")["status"] for r in self.runs]
            if not any(s in ("pending", "running") for s in statuses):
                return
            self._run(asyncio.sleep(0.02))

    def _current(self) -> tuple[str, str] | None:
        for run_id in reversed(self.runs):
            status = self._get(f"/api/runs/{run_id}")["status"]
            if status in UNFINISHED:
                return run_id, status
        return None

    def _pending_call(self) -> tuple[str, str] | None:
        current = self._current()
        if current is None or current[1] != "waiting_approval":
            return None
        items = self._get(f"/api/runs/{current[0]}/approvals")["items"]
        pending = [a for a in items if a["status"] == "pending"]
        return (current[0], pending[0]["call_id"]) if pending else None

    # ------------------------------------------------------------------ rules

    @rule()
    def chat(self) -> None:
        body: dict[str, Any] = {"agent_id": "machine_agent", "message": "go", "stream": False}
        if self.session_id:
            body["session_id"] = self.session_id
        busy = self._current()
        response = self._post("/api/chat", body)
        if busy is not None:
            assert response.status_code == 409, response.text
            assert response.json()["error"]["type"] == "SessionBusy"
            assert busy[0] in response.text  # names the run in progress
            return
        assert response.status_code == 200, response.text
        answer = response.json()
        self.session_id = answer["session_id"]
        self.runs.append(answer["run_id"])

    @rule(reason=st.sampled_from(["", "not now"]))
    def approve(self, reason: str) -> None:
        found = self._pending_call()
        if found is None:
            return
        run_id, call_id = found
        note = f"{run_id}:{call_id}"
        body: dict[str, Any] = {"decision": "approve", "arguments": {"note": note}}
        if reason:
            body["reason"] = reason
        response = self._post(f"/api/runs/{run_id}/approvals/{call_id}", body)
        assert response.status_code == 200, response.text
        self.approved.add(note)
        self._settle()

    @rule()
    def reject(self) -> None:
        found = self._pending_call()
        if found is None:
            return
        run_id, call_id = found
        response = self._post(f"/api/runs/{run_id}/approvals/{call_id}", {"decision": "reject"})
        assert response.status_code == 200, response.text
        self.rejected.add(f"{run_id}:{call_id}")
        again = self._post(f"/api/runs/{run_id}/approvals/{call_id}", {"decision": "approve"})
        assert again.status_code == 409, again.text
        self._settle()

    @rule()
    def pause(self) -> None:
        current = self._current()
        if current is None:
            return
        response = self._post(f"/api/runs/{current[0]}/pause")
        assert response.status_code in (200, 409), response.text

    @rule()
    def resume(self) -> None:
        current = self._current()
        if current is None or current[1] != "paused":
            return
        response = self._post(f"/api/runs/{current[0]}/resume")
        assert response.status_code in (200, 409), response.text
        self._settle()

    @rule()
    def cancel(self) -> None:
        current = self._current()
        if current is None:
            return
        response = self._post(f"/api/runs/{current[0]}/cancel")
        assert response.status_code in (200, 409), response.text

    @precondition(lambda self: bool(self.runs))
    @rule()
    def restart(self) -> None:
        self._stop()
        self._start()
        self._settle()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def one_run_at_a_time(self) -> None:
        if not self.runs:
            return
        statuses = [self._get(f"/api/runs/{r}")["status"] for r in self.runs]
        assert sum(s in UNFINISHED for s in statuses) <= 1, statuses

    @invariant()
    def approved_calls_run_at_most_once_rejected_never(self) -> None:
        ledger = sample_tools.LEDGER
        assert "MODEL" not in ledger  # nothing ran without an approval's own arguments
        assert len(ledger) == len(set(ledger)), ledger  # none twice
        assert set(ledger) <= self.approved, (ledger, self.approved)
        assert not set(ledger) & self.rejected

    @invariant()
    def event_logs_are_gapless(self) -> None:
        for run_id in self.runs:
            log = self._get(f"/api/runs/{run_id}/events?limit=1000")["events"]
            assert [e["seq"] for e in log] == list(range(1, len(log) + 1)), run_id

    def check_approved_ran_once_in_the_end(self) -> None:
        """At the end: every run settled, each approved call of a completed run ran."""
        for run_id in self.runs:
            run = self._get(f"/api/runs/{run_id}")
            if run["status"] != "completed":
                continue
            for approval in self._get(f"/api/runs/{run_id}/approvals")["items"]:
                note = f"{run_id}:{approval['call_id']}"
                if approval["status"] == "approved":
                    assert sample_tools.LEDGER.count(note) == 1, note


def test_one_session_under_any_sequence_of_requests(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "machine.yaml").write_text(yaml.safe_dump(COMPONENTS))

    class Machine(SessionMachine):
        folder = tmp_path

        def teardown(self) -> None:
            try:
                self._settle()
                self.check_approved_ran_once_in_the_end()
            finally:
                super().teardown()

    # each example starts from a new database file
    original_init = Machine.__init__

    def init(self: Machine) -> None:
        for leftover in tmp_path.glob("machine.db*"):
            leftover.unlink()
        original_init(self)

    Machine.__init__ = init  # type: ignore[method-assign]
    Machine.TestCase.settings = settings(
        max_examples=12,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Machine.TestCase().runTest()
