"""The bundled composition demo works offline on the `demo` model (SPEC §20): the
`triage` workflow routes a question to `customer_support` or `assistant`, and the
`researcher` agent asks both of them in parallel."""

from __future__ import annotations

import httpx

from tests.runtime.test_control import events


async def chat(client: httpx.AsyncClient, agent: str, message: str) -> dict[str, object]:
    response = await client.post(
        "/api/chat", json={"agent_id": agent, "message": message, "stream": False}
    )
    assert response.status_code == 200, response.text
    run = (await client.get(f"/api/runs/{response.json()['run_id']}")).json()
    assert run["status"] == "completed", run
    return run  # type: ignore[no-any-return]


async def test_triage_routes_by_the_question(client: httpx.AsyncClient) -> None:
    support = await chat(client, "triage", "How do I reset my account password?")
    assert [c["agent_name"] for c in support["children"]] == ["customer_support"]  # type: ignore[index]
    general = await chat(client, "triage", "What is 6*7?")
    assert [c["agent_name"] for c in general["children"]] == ["assistant"]  # type: ignore[index]
    assert "6*7 = 42" in str(general["response_content"])


async def test_the_researcher_asks_two_agents_in_parallel(client: httpx.AsyncClient) -> None:
    run = await chat(client, "researcher", "What is 12*12?")
    children = run["children"]
    assert sorted(c["agent_name"] for c in children) == ["assistant", "customer_support"]  # type: ignore[union-attr]
    assert all(c["status"] == "completed" for c in children)  # type: ignore[union-attr]
    answer = str(run["response_content"])
    assert "assistant answered" in answer
    assert "customer_support answered" in answer
    assert "144" in answer
    log = await events(client, str(run["id"]))
    # both children ran inside one round of tool calls: both started before either ended
    types = [(e["type"], e["data"].get("tool")) for e in log]
    starts = [i for i, (t, tool) in enumerate(types) if t == "tool_call_started"]
    ends = [i for i, (t, tool) in enumerate(types) if t == "tool_call_completed"]
    assert len(starts) == 2
    assert max(starts) < min(ends)
