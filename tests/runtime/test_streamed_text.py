"""Randomized control (pause, resume, cancel at random moments) never makes the streamed
text and the stored answer disagree, on SQLite and PostgreSQL:

- each model call's `content_delta`s, joined, are exactly that call's text (nothing is
  streamed twice, nothing is missing), so a completed run's last call streamed exactly
  its `response_content`;
- a cancelled run's `response_content` is everything that was streamed (one line per
  model call);
- checkpoints never hold less streamed text than was streamed when they were taken.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.live import control_app, serve

pytestmark = pytest.mark.slow

ONE_STEP = ["Streaming at a steady pace, one chunk at a time."]
WITH_TOOL = ["First I look it up.", "The answer is forty-two, as computed."]


def _model(name: str, texts: list[str], tool: bool) -> dict[str, Any]:
    responses: list[dict[str, Any]] = [{"content": t} for t in texts]
    if tool:
        responses[0]["tool_calls"] = [{"name": "calculator", "arguments": {"expression": "6*7"}}]
    return {
        "type": "model",
        "name": name,
        "provider": "scripted",
        "model": "s",
        "chunk_size": 3,
        "chunk_delay": 0.015,
        "responses": responses,
    }


COMPONENTS = [
    _model("steady", ONE_STEP, tool=False),
    _model("stepwise", WITH_TOOL, tool=True),
    {"type": "tool", "name": "calculator", "kind": "builtin", "builtin": "calculator"},
    {"type": "agent", "name": "one_step", "model": "steady"},
    {"type": "agent", "name": "with_tool", "model": "stepwise", "tools": ["calculator"]},
]
SCRIPTS = {"one_step": ONE_STEP, "with_tool": WITH_TOOL}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[str]:
    database: dict[str, Any] = {}
    if request.param == "postgresql":
        database["database_url"] = request.getfixturevalue("module_database_url")
    app = control_app(tmp_path_factory.mktemp("streamed"), COMPONENTS, **database)
    with serve(app) as url:
        yield url


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["pause", "resume", "pause", "resume", "cancel"]),
        st.floats(min_value=0.0, max_value=0.12),
    ),
    min_size=1,
    max_size=7,
)


def settle(client: httpx.Client, run_id: str) -> dict[str, Any]:
    """Resume a paused run until it ends; its detail."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = client.get(f"/api/runs/{run_id}").json()
        if run["status"] in ("completed", "failed", "cancelled"):
            return run  # type: ignore[no-any-return]
        if run["status"] == "paused":
            client.post(f"/api/runs/{run_id}/resume")
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} did not end")


def streamed_per_call(events: list[dict[str, Any]]) -> list[str]:
    """The text streamed during each model call, in order."""
    texts: list[str] = []
    for event in events:
        if event["type"] == "step_started" and event["data"]["type"] == "llm_call":
            texts.append("")
        elif event["type"] == "content_delta":
            texts[-1] += event["data"]["content"]
    return texts


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(agent=st.sampled_from(sorted(SCRIPTS)), actions=ACTIONS)
# found by hand: a pause soon after a resume, while the model repeats what was streamed
# before the first pause (text streamed twice, checkpoints losing streamed text), and a
# cancel in that window (the answer shorter than what was streamed)
@example(agent="one_step", actions=[("pause", 0.1), ("resume", 0.05), ("pause", 0.03)])
@example(agent="one_step", actions=[("pause", 0.1), ("resume", 0.05), ("cancel", 0.03)])
def test_streamed_text_is_the_answer_whatever_the_control(
    server: str, agent: str, actions: list[tuple[str, float]]
) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        with client.stream(
            "POST", "/api/chat", json={"agent_id": agent, "message": "go"}
        ) as response:
            assert response.status_code == 200
            run_id = response.headers["x-run-id"]
        for action, delay in actions:
            time.sleep(delay)
            answer = client.post(f"/api/runs/{run_id}/{action}")
            assert answer.status_code in (200, 409), answer.text
        run = settle(client, run_id)
        events = client.get(f"/api/runs/{run_id}/events", params={"limit": 1000}).json()["events"]
        checkpoints = client.get(f"/api/runs/{run_id}/checkpoints").json()["checkpoints"]
        partial = [client.get(f"/api/checkpoints/{c['id']}").json() for c in checkpoints]
    script = SCRIPTS[agent]
    texts = streamed_per_call(events)
    assert "StreamRestarted" not in str(events)
    # each call streams its script's text once, in order; a call cut short, a prefix of it
    for index, text in enumerate(texts):
        expected = script[min(index, len(script) - 1)]
        assert expected.startswith(text), (index, text)
    finished = [
        s["model_response"]["content"] or ""
        for s in run["steps"]
        if s["type"] == "llm_call" and not s.get("superseded")
    ]
    assert texts[: len(finished)] == finished
    if run["status"] == "completed":
        assert len(texts) == len(finished)
        assert texts[-1] == run["response_content"] == script[-1]
        if agent == "one_step":
            deltas = "".join(e["data"]["content"] for e in events if e["type"] == "content_delta")
            assert deltas == run["response_content"]
    elif run["status"] == "cancelled":
        streamed = "\n".join(t for t in texts if t)
        assert (run["response_content"] or "") == streamed
    else:
        raise AssertionError(f"unexpected end: {run['status']} {run.get('error')}")
    # a checkpoint taken in the middle of a call holds all that call had streamed by then
    by_seq = {e["seq"]: e for e in events}
    for checkpoint in partial:
        state_partial = checkpoint["partial_content"]
        if state_partial is None:
            continue
        seq = checkpoint["seq"]
        upto = streamed_per_call([by_seq[s] for s in sorted(by_seq) if s <= seq])
        assert state_partial == upto[-1]
