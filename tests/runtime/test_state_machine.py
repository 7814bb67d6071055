"""Property-based test of execution control: random sequences of create / pause / resume /
cancel / checkpoint / fork / restore against a live server, checked against a model of the
run state machine."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
)

from agio.domain.runs import TRANSITIONS, RunStatus
from tests.live import control_app, serve

pytestmark = pytest.mark.slow

COMPONENTS = [
    {
        "type": "model",
        "name": "stepper",
        "provider": "scripted",
        "model": "s",
        "chunk_size": 3,
        "chunk_delay": 0.02,
        "responses": [
            {
                "content": "thinking hard",
                "tool_calls": [{"name": "calculator", "arguments": {"expression": "1+1"}}],
            },
            {"content": "the answer is two"},
        ],
    },
    {"type": "tool", "name": "calculator", "kind": "builtin", "builtin": "calculator"},
    {"type": "agent", "name": "stepper_agent", "model": "stepper", "tools": ["calculator"]},
]

# what a run may become without anyone asking (it runs on, it ends)
SPONTANEOUS = {
    RunStatus.PENDING: {
        RunStatus.PENDING,
        RunStatus.RUNNING,
        RunStatus.COMPLETED,
        RunStatus.FAILED,
    },
    RunStatus.RUNNING: {RunStatus.RUNNING, RunStatus.COMPLETED, RunStatus.FAILED},
    RunStatus.PAUSED: {RunStatus.PAUSED},
    RunStatus.COMPLETED: {RunStatus.COMPLETED},
    RunStatus.FAILED: {RunStatus.FAILED},
    RunStatus.CANCELLED: {RunStatus.CANCELLED},
}
TARGET = {"pause": RunStatus.PAUSED, "resume": RunStatus.RUNNING, "cancel": RunStatus.CANCELLED}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = control_app(tmp_path_factory.mktemp("states"), COMPONENTS)
    with serve(app) as url:
        yield url


def test_run_state_machine(server: str) -> None:
    client = httpx.Client(base_url=server, timeout=30)

    class RunControl(RuleBasedStateMachine):
        runs = Bundle("runs")

        def __init__(self) -> None:
            super().__init__()
            self.model: dict[str, RunStatus] = {}

        def observe(self, run_id: str) -> RunStatus:
            actual = RunStatus(client.get(f"/api/runs/{run_id}").json()["status"])
            expected = self.model[run_id]
            assert actual in SPONTANEOUS[expected], f"{run_id}: {expected} became {actual}"
            self.model[run_id] = actual
            return actual

        def track(self, run_id: str) -> str:
            self.model[run_id] = RunStatus.PENDING
            self.observe(run_id)
            return run_id

        @rule(target=runs)
        def create(self) -> str:
            with client.stream(
                "POST", "/api/chat", json={"agent_id": "stepper_agent", "message": "what is 1+1?"}
            ) as response:
                assert response.status_code == 200
                run_id = response.headers["x-run-id"]
            return self.track(run_id)  # the client went away; the run goes on

        @rule(run_id=runs, action=st.sampled_from(["pause", "resume", "cancel"]))
        def control(self, run_id: str, action: str) -> None:
            before = self.model[run_id]
            response = client.post(f"/api/runs/{run_id}/{action}")
            target = TARGET[action]
            if response.status_code == 200:
                reported = RunStatus(response.json()["status"])
                # legal from what we knew, possibly after spontaneous progress
                assert any(
                    reported == target and target in TRANSITIONS[s] for s in SPONTANEOUS[before]
                ), (before, action, reported)
                self.model[run_id] = reported
            else:
                assert response.status_code == 409, response.text
                assert response.json()["error"]["type"] == "InvalidStateTransition"
                actual = self.observe(run_id)
                assert target not in TRANSITIONS[actual] or action == "pause", (actual, action)
            self.observe(run_id)

        @rule(run_id=runs)
        def checkpoint(self, run_id: str) -> None:
            before = self.observe(run_id)
            response = client.post(
                f"/api/runs/{run_id}/checkpoints", json={"description": "property"}
            )
            assert response.status_code == 201, response.text
            assert response.json()["run_id"] == run_id
            after = self.observe(run_id)
            assert after in SPONTANEOUS[before]

        @rule(target=runs, run_id=runs, fork=st.booleans())
        def branch(self, run_id: str, fork: bool) -> object:
            checkpoints = client.get(f"/api/runs/{run_id}/checkpoints").json()["checkpoints"]
            checkpoint = checkpoints[-1]["id"]
            before = client.get(f"/api/runs/{run_id}/events").json()["total"]
            if fork:
                response = client.post(
                    f"/api/checkpoints/{checkpoint}/fork",
                    json={"modifications": {"temperature": 0.5}},
                )
            else:
                response = client.post(
                    f"/api/checkpoints/{checkpoint}/restore", json={"create_new_run": True}
                )
            assert response.status_code == 200, response.text
            new_id = response.json()["new_run_id"]
            assert new_id != run_id
            # branching never writes to the source run
            assert client.get(f"/api/runs/{run_id}/events").json()["total"] >= before
            return multiple(self.track(new_id))

        @rule(run_id=consumes(runs))
        def forget(self, run_id: str) -> None:
            self.observe(run_id)

        @invariant()
        def logs_are_gapless_and_states_legal(self) -> None:
            for run_id in list(self.model):
                self.observe(run_id)
                events = client.get(f"/api/runs/{run_id}/events").json()["events"]
                seqs = [e["seq"] for e in events]
                assert seqs == list(range(1, len(seqs) + 1)), (run_id, seqs)
                terminal = [
                    e
                    for e in events
                    if e["type"] in ("run_completed", "run_failed", "run_cancelled")
                ]
                assert len(terminal) <= 1
                if terminal:
                    assert events[-1] is terminal[0] or all(
                        e["type"] == "checkpoint_created"
                        for e in events[events.index(terminal[0]) + 1 :]
                    )

        def teardown(self) -> None:
            for run_id, state in self.model.items():
                if not state.terminal:
                    client.post(f"/api/runs/{run_id}/cancel")

    RunControl.TestCase.settings = settings(
        max_examples=15,
        stateful_step_count=10,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    try:
        RunControl.TestCase().runTest()
    finally:
        client.close()
