"""Workflows (SPEC §20): `agent`, `parallel` and `route` steps, their validation, their
events and checkpoints, the rule for a failing parallel branch, and restore and fork from
a workflow step. Both databases."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.runtime.test_composition import scripted
from tests.runtime.test_control import events, put_config


async def agent(client: httpx.AsyncClient, name: str, answer: str, **extra: Any) -> None:
    await put_config(client, f"{name}_model", scripted({"content": answer}))
    await put_config(client, name, {"type": "agent", "model": f"{name}_model", **extra})


async def chat(client: httpx.AsyncClient, name: str, message: str = "hello") -> dict[str, Any]:
    response = await client.post(
        "/api/chat", json={"agent_id": name, "message": message, "stream": False}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def put_workflow(client: httpx.AsyncClient, name: str, **config: Any) -> httpx.Response:
    return await client.put(f"/api/config/{name}", json={"config": {"type": "workflow", **config}})


PIPELINE = {
    "steps": [
        {"name": "draft", "kind": "agent", "agent": "writer"},
        {"name": "review", "kind": "agent", "agent": "reviewer"},
    ]
}


async def test_a_workflow_runs_its_steps_as_child_runs(client: httpx.AsyncClient) -> None:
    await agent(client, "writer", "A first draft.")
    await agent(client, "reviewer", "Reviewed: fine.")
    assert (await put_workflow(client, "pipeline", **PIPELINE)).status_code in (200, 201)
    answer = await chat(client, "pipeline", "write")
    assert answer["response"] == "Reviewed: fine."
    run = (await client.get(f"/api/runs/{answer['run_id']}")).json()
    assert run["agent_name"] == "pipeline"
    assert [c["agent_name"] for c in run["children"]] == ["writer", "reviewer"]
    writer, reviewer = run["children"]
    assert (await client.get(f"/api/runs/{writer['id']}")).json()["input_query"] == "write"
    # the second step gets the first one's output
    review = (await client.get(f"/api/runs/{reviewer['id']}")).json()
    assert review["input_query"] == "A first draft."
    log = await events(client, run["id"])
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    steps = [
        (e["type"], e["data"]["step"], e["data"]["name"])
        for e in log
        if e["type"].startswith("workflow_step")
    ]
    assert steps == [
        ("workflow_step_started", 1, "draft"),
        ("workflow_step_completed", 1, "draft"),
        ("workflow_step_started", 2, "review"),
        ("workflow_step_completed", 2, "review"),
    ]
    # each step's child events come between its start and its end
    types = [e["type"] for e in log]
    first_end = types.index("workflow_step_completed")
    second_start = [i for i, t in enumerate(types) if t == "workflow_step_started"][1]
    for e in log:
        if e["type"] == "child_event":
            owner = e["data"]["agent"]
            assert (e["seq"] - 1 < first_end) == (owner == "writer")
            assert (e["seq"] - 1 > second_start) == (owner == "reviewer")
    # a checkpoint as each step is planned and as it ends
    checkpoints = (await client.get(f"/api/runs/{run['id']}/checkpoints")).json()["checkpoints"]
    described = [c["description"] for c in checkpoints if c["description"]]
    assert described == [
        "workflow step 1: draft started",
        "workflow step 1: draft",
        "workflow step 2: review started",
        "workflow step 2: review",
    ]
    assert run["metrics"]["tree_tokens"] == sum(
        c["metrics"]["total_tokens"] for c in run["children"]
    )


async def test_routes_by_a_router_agent_and_by_a_condition(client: httpx.AsyncClient) -> None:
    await agent(client, "router", "Billing")
    await agent(client, "billing", "Your invoice is on its way.")
    await agent(client, "general", "Happy to help.")
    routed = await put_workflow(
        client,
        "desk",
        steps=[
            {
                "name": "triage",
                "kind": "route",
                "agent": "router",
                "routes": [
                    {"to": "invoice", "equals": "billing"},
                    {"to": "chat", "contains": "other"},
                ],
                "default": "chat",
            },
            {"name": "invoice", "kind": "agent", "agent": "billing", "next": "end"},
            {"name": "chat", "kind": "agent", "agent": "general"},
        ],
    )
    assert routed.status_code in (200, 201), routed.text
    answer = await chat(client, "desk", "where is my invoice?")
    assert answer["response"] == "Your invoice is on its way."
    run = (await client.get(f"/api/runs/{answer['run_id']}")).json()
    assert [c["agent_name"] for c in run["children"]] == ["router", "billing"]
    # the step after a route gets the text before it, not the router's answer
    invoice = (await client.get(f"/api/runs/{run['children'][1]['id']}")).json()
    assert invoice["input_query"] == "where is my invoice?"
    log = await events(client, run["id"])
    (route,) = [
        e["data"]
        for e in log
        if e["type"] == "workflow_step_completed" and e["data"]["name"] == "triage"
    ]
    assert route["route"] == "invoice"

    by_rule = await put_workflow(
        client,
        "echo_desk",
        steps=[
            {"name": "first", "kind": "agent", "agent": "general"},
            {
                "name": "check",
                "kind": "route",
                "routes": [{"to": "billing_step", "pattern": r"\bhelp\b"}],
            },
            {"name": "billing_step", "kind": "agent", "agent": "billing"},
        ],
    )
    assert by_rule.status_code in (200, 201), by_rule.text
    answer = await chat(client, "echo_desk")
    assert answer["response"] == "Your invoice is on its way."
    await put_config(
        client,
        "echo_desk",
        {
            "type": "workflow",
            "steps": [
                {"name": "first", "kind": "agent", "agent": "general"},
                {"name": "check", "kind": "route", "routes": [{"to": "end", "equals": "x"}]},
            ],
        },
    )
    unmatched = await chat(client, "echo_desk")
    assert unmatched["status"] == "failed"
    assert unmatched["error"]["type"] == "RouteNotMatched"


@pytest.mark.parametrize("on_error", ["fail", "continue"])
async def test_a_parallel_step_with_a_failing_branch(
    client: httpx.AsyncClient, on_error: str
) -> None:
    await agent(client, "fast", "Fast answer.")
    await agent(client, "slowpoke", "Slow answer.")
    # a branch that fails: its model keeps calling a tool, and it may call the model once
    await put_config(
        client,
        "looper_model",
        scripted({"tool_calls": [{"name": "calculator", "arguments": {"expression": "1+1"}}]}),
    )
    await put_config(
        client,
        "looper",
        {
            "type": "agent",
            "model": "looper_model",
            "tools": ["calculator"],
            "config": {"max_steps": 1},
        },
    )
    await agent(client, "summer", "Summed up.")
    assert (
        await put_workflow(
            client,
            "fanout",
            steps=[
                {
                    "name": "ask_all",
                    "kind": "parallel",
                    "agents": ["fast", "looper", "slowpoke"],
                    "on_error": on_error,
                },
                {"name": "sum", "kind": "agent", "agent": "summer"},
            ],
        )
    ).status_code in (200, 201)
    answer = await chat(client, "fanout", "everyone")
    run = (await client.get(f"/api/runs/{answer['run_id']}")).json()
    branches = {c["agent_name"]: c["status"] for c in run["children"]}
    # every branch ran to its end either way
    assert {k: branches[k] for k in ("fast", "looper", "slowpoke")} == {
        "fast": "completed",
        "looper": "failed",
        "slowpoke": "completed",
    }
    if on_error == "fail":
        assert answer["status"] == "failed"
        assert answer["error"]["type"] == "WorkflowStepFailed"
        assert "looper" in answer["error"]["message"]
        assert "summer" not in branches
        return
    assert answer["response"] == "Summed up."
    summed = next(c for c in run["children"] if c["agent_name"] == "summer")
    joined = (await client.get(f"/api/runs/{summed['id']}")).json()["input_query"]
    # outputs joined in the order of `agents`, the failed one saying so
    assert joined.index("[fast]\nFast answer.") < joined.index("[looper]\n(failed:")
    assert joined.index("[looper]") < joined.index("[slowpoke]\nSlow answer.")


async def test_validation_of_workflows(client: httpx.AsyncClient) -> None:
    await agent(client, "writer", "draft")

    async def refused(**config: Any) -> str:
        response = await put_workflow(client, "bad_flow", **config)
        assert response.status_code == 422, response.text
        return str(response.json()["error"]["message"])

    assert "nobody" in await refused(steps=[{"name": "a", "kind": "agent", "agent": "nobody"}])
    assert "reaches" in await refused(
        steps=[
            {"name": "a", "kind": "agent", "agent": "writer", "next": "end"},
            {"name": "orphan", "kind": "agent", "agent": "writer"},
        ]
    )
    loop = [
        {"name": "a", "kind": "agent", "agent": "writer"},
        {
            "name": "b",
            "kind": "route",
            "routes": [{"to": "a", "contains": "again"}],
            "default": "end",
        },
    ]
    assert "max_steps" in await refused(steps=loop)
    assert "no step" in await refused(
        steps=[{"name": "a", "kind": "agent", "agent": "writer", "next": "nowhere"}]
    )
    bounded = await put_workflow(client, "loop_flow", steps=loop, max_steps=5)
    assert bounded.status_code in (200, 201), bounded.text
    # an agent named by a workflow cannot be deleted from under it
    assert (await client.delete("/api/agents/writer")).status_code == 409
    listed = (await client.get("/api/config", params={"type": "workflow"})).json()
    names = {c["name"] for c in listed["configs"]}
    assert "loop_flow" in names
    assert "bad_flow" not in names  # every refused PUT changed nothing


async def test_fork_from_a_workflow_step_with_one_agents_prompt_changed(
    client: httpx.AsyncClient,
) -> None:
    await agent(client, "writer", "A first draft.")
    await agent(client, "reviewer", "Reviewed: fine.", system_prompt="Be kind.")
    await put_workflow(client, "pipeline", **PIPELINE)
    answer = await chat(client, "pipeline", "write")
    checkpoints = (await client.get(f"/api/runs/{answer['run_id']}/checkpoints")).json()[
        "checkpoints"
    ]
    after_draft = next(c for c in checkpoints if c["description"] == "workflow step 1: draft")
    forked = await client.post(
        f"/api/checkpoints/{after_draft['id']}/fork",
        json={"modifications": {"agent_system_prompts": {"reviewer": "Be harsh."}}},
    )
    assert forked.status_code == 200, forked.text
    new_id = forked.json()["new_run_id"]
    for _ in range(400):
        new = (await client.get(f"/api/runs/{new_id}")).json()
        if new["status"] not in ("pending", "running"):
            break
        import asyncio

        await asyncio.sleep(0.025)
    assert new["status"] == "completed", new
    assert new["response_content"] == "Reviewed: fine."
    # the draft is not written again; the review runs with the changed prompt
    assert [c["agent_name"] for c in new["children"]] == ["reviewer"]
    review = (await client.get(f"/api/runs/{new['children'][0]['id']}")).json()
    assert review["agent_config"]["agent"]["system_prompt"] == "Be harsh."
    assert review["input_query"] == "A first draft."
    # the source run and its reviewer are untouched
    source = (await client.get(f"/api/runs/{answer['run_id']}")).json()
    old_review = (await client.get(f"/api/runs/{source['children'][1]['id']}")).json()
    assert old_review["agent_config"]["agent"]["system_prompt"] == "Be kind."
    # a restore as a new run from the plan of step 2 runs that step again, anew
    planned = next(c for c in checkpoints if c["description"] == "workflow step 2: review started")
    restored = await client.post(
        f"/api/checkpoints/{planned['id']}/restore", json={"create_new_run": True}
    )
    assert restored.status_code == 200, restored.text
    again_id = restored.json()["new_run_id"]
    for _ in range(400):
        again = (await client.get(f"/api/runs/{again_id}")).json()
        if again["status"] not in ("pending", "running"):
            break
        import asyncio

        await asyncio.sleep(0.025)
    assert again["status"] == "completed", again
    assert [c["agent_name"] for c in again["children"]] == ["reviewer"]
    assert again["children"][0]["id"] not in {c["id"] for c in source["children"]}


async def test_pause_and_resume_a_workflow_mid_step(client: httpx.AsyncClient) -> None:
    from tests.runtime.test_composition import first_child, start, wait_status

    await put_config(
        client, "writer_model", scripted({"content": "A slow first draft. " * 6}, delay=0.05)
    )
    await put_config(client, "writer", {"type": "agent", "model": "writer_model"})
    await agent(client, "reviewer", "Reviewed: fine.")
    await put_workflow(client, "pipeline", **PIPELINE)
    task, run_id = await start(client, "pipeline")
    child_id = await first_child(client, run_id, streaming=True)
    assert (await client.post(f"/api/runs/{run_id}/pause")).status_code == 200
    await wait_status(client, run_id, "paused")
    assert (await client.get(f"/api/runs/{child_id}")).json()["status"] == "paused"
    assert (await client.post(f"/api/runs/{run_id}/resume")).status_code == 200
    await task
    done = await wait_status(client, run_id, "completed")
    assert done["response_content"] == "Reviewed: fine."
    assert [c["agent_name"] for c in done["children"]] == ["writer", "reviewer"]
    writer = (await client.get(f"/api/runs/{child_id}")).json()
    assert writer["response_content"] == "A slow first draft. " * 6
    log = await events(client, run_id)
    started = [e["data"]["name"] for e in log if e["type"] == "workflow_step_started"]
    assert started == ["draft", "review"]  # each step announced once


async def test_a_fork_with_a_modified_query_runs_the_workflow_on_the_new_question(
    client: httpx.AsyncClient,
) -> None:
    """From a step of the workflow with another question: the workflow starts over on
    that question (its first step gets it), not where the old question had got to."""
    import asyncio

    await agent(client, "writer", "A first draft.")
    await agent(client, "reviewer", "Reviewed: fine.")
    await put_workflow(client, "pipeline", **PIPELINE)
    answer = await chat(client, "pipeline", "write about cats")
    checkpoints = (await client.get(f"/api/runs/{answer['run_id']}/checkpoints")).json()[
        "checkpoints"
    ]
    planned = next(c for c in checkpoints if c["description"] == "workflow step 2: review started")
    forked = await client.post(
        f"/api/checkpoints/{planned['id']}/fork",
        json={"modifications": {"modified_query": "write about dogs"}},
    )
    assert forked.status_code == 200, forked.text
    new_id = forked.json()["new_run_id"]
    for _ in range(400):
        new = (await client.get(f"/api/runs/{new_id}")).json()
        if new["status"] not in ("pending", "running"):
            break
        await asyncio.sleep(0.025)
    assert new["status"] == "completed", new
    assert [c["agent_name"] for c in new["children"]] == ["writer", "reviewer"]
    draft = (await client.get(f"/api/runs/{new['children'][0]['id']}")).json()
    assert draft["input_query"] == "write about dogs"
