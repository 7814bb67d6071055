"""`/api/sessions`: list, read and delete conversations, each user their own."""

from __future__ import annotations

import httpx

from tests.conftest import add_user


async def _chat(
    client: httpx.AsyncClient, headers: dict[str, str], message: str, **extra: str
) -> dict:
    body = {"agent_id": "assistant", "message": message, "stream": False, **extra}
    response = await client.post("/api/chat", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_sessions_list_detail_and_delete(client: httpx.AsyncClient) -> None:
    _, alice = await add_user(client, "user")
    _, bob = await add_user(client, "user")
    first = await _chat(client, alice, "What is 2+2?")
    session = first["session_id"]
    second = await _chat(client, alice, "And 3+3?", session_id=session)
    other = await _chat(client, alice, "hello")
    bobs = await _chat(client, bob, "hi")

    listed = (await client.get("/api/sessions", headers=alice)).json()
    assert listed["total"] == 2
    assert [s["id"] for s in listed["items"]] == [other["session_id"], session]  # newest first
    assert listed["items"][1]["run_count"] == 2
    assert bobs["session_id"] not in str(listed)
    by_agent = await client.get(
        "/api/sessions", params={"agent_id": "customer_support"}, headers=alice
    )
    assert by_agent.json()["total"] == 0

    detail = (await client.get(f"/api/sessions/{session}", headers=alice)).json()
    assert [r["id"] for r in detail["runs"]] == [first["run_id"], second["run_id"]]
    roles = [m["role"] for m in detail["messages"]]
    assert roles[0] == "user"
    assert detail["messages"][0]["content"] == "What is 2+2?"
    assert any(m["role"] == "user" and m["content"] == "And 3+3?" for m in detail["messages"])
    assert (await client.get(f"/api/sessions/{session}", headers=bob)).status_code == 404
    assert (await client.get(f"/api/sessions/{session}")).status_code == 200  # the admin

    _, viewer = await add_user(client, "viewer")
    assert (await client.delete(f"/api/sessions/{session}", headers=viewer)).status_code == 403
    assert (await client.delete(f"/api/sessions/{session}", headers=bob)).status_code == 404
    deleted = await client.delete(f"/api/sessions/{session}", headers=alice)
    assert deleted.status_code == 204
    assert (await client.get(f"/api/sessions/{session}", headers=alice)).status_code == 404
    assert (await client.get(f"/api/runs/{first['run_id']}", headers=alice)).status_code == 404
    assert (await client.get("/api/sessions", headers=alice)).json()["total"] == 1
    gone = await client.post(
        "/api/chat",
        json={"agent_id": "assistant", "message": "again", "session_id": session},
        headers=alice,
    )
    assert gone.status_code == 404
    assert gone.json()["error"]["type"] == "SessionNotFound"
