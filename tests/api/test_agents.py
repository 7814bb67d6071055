"""`/api/agents` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agio.api.schemas.agents import AgentPatch, AgentRunConfigPatch
from agio.config.components import AgentRunConfig, AgentSpec
from tests.conftest import add_user

NEW_AGENT: dict[str, Any] = {
    "name": "my_agent",
    "description": "A test agent",
    "model": "demo",
    "tools": ["calculator"],
    "memory": "conversation",
    "system_prompt": "Be brief.",
    "config": {"max_steps": 3, "temperature": 0.5},
    "tags": ["test", "brief"],
}


async def test_bundled_agents_are_listed(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/agents")
    assert response.status_code == 200
    body = response.json()
    assert {i["name"] for i in body["items"]} == {"assistant", "customer_support", "researcher"}
    assert body["total"] == 3
    assert body["limit"] == 20
    assert body["offset"] == 0
    assert body["has_more"] is False


async def test_crud_round_trip(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/agents", json=NEW_AGENT)
    assert created.status_code == 201, created.text
    agent = created.json()
    assert agent["id"].startswith("agt_")
    for key, value in NEW_AGENT.items():
        if key == "config":
            assert agent["config"]["max_steps"] == 3
            assert agent["config"]["temperature"] == 0.5
        else:
            assert agent[key] == value, key
    assert agent["created_at"].endswith("Z")
    assert agent["updated_at"].endswith("Z")
    assert agent["revision"] == 1

    by_id = await client.get(f"/api/agents/{agent['id']}")
    by_name = await client.get("/api/agents/my_agent")
    assert by_id.status_code == by_name.status_code == 200
    assert by_id.json() == by_name.json() == agent

    changed = {**NEW_AGENT, "system_prompt": "Be verbose.", "tools": [], "tags": ["x"]}
    replaced = await client.put("/api/agents/my_agent", json=changed)
    assert replaced.status_code == 200, replaced.text
    after = replaced.json()
    assert after["id"] == agent["id"]
    assert after["system_prompt"] == "Be verbose."
    assert after["tools"] == []
    assert after["tags"] == ["x"]
    assert after["revision"] == 2
    assert after["updated_at"] >= agent["updated_at"]
    assert (await client.get(f"/api/agents/{agent['id']}")).json() == after

    deleted = await client.delete(f"/api/agents/{agent['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    missing = await client.get("/api/agents/my_agent")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "AgentNotFound"
    assert (await client.delete("/api/agents/my_agent")).status_code == 404


async def test_changes_through_agents_api_are_in_the_history(client: httpx.AsyncClient) -> None:
    await client.post("/api/agents", json=NEW_AGENT)
    await client.put("/api/agents/my_agent", json={**NEW_AGENT, "description": "v2"})
    await client.delete("/api/agents/my_agent")
    history = (await client.get("/api/config/my_agent/history")).json()["history"]
    assert [h["change_type"] for h in history] == ["created", "updated", "deleted"]
    assert history[1]["old_config"]["description"] == "A test agent"
    assert history[1]["new_config"]["description"] == "v2"


async def test_duplicate_name_is_409(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/agents", json=NEW_AGENT)).status_code == 201
    again = await client.post("/api/agents", json=NEW_AGENT)
    assert again.status_code == 409
    assert again.json()["error"]["type"] == "Conflict"
    clash = await client.post("/api/agents", json={**NEW_AGENT, "name": "demo"})  # a model's name
    assert clash.status_code == 409
    assert "demo" in clash.json()["error"]["message"]


async def test_unknown_agent_is_404_with_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/agents/agt_doesnotexist")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "AgentNotFound"
    assert error["message"] == "Agent 'agt_doesnotexist' not found"
    assert error["path"] == "/api/agents/agt_doesnotexist"
    assert error["request_id"] == response.headers["x-request-id"]
    put = await client.put("/api/agents/nobody", json={**NEW_AGENT, "name": "nobody"})
    assert put.status_code == 404


async def test_a_model_is_not_an_agent(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/agents/demo")).status_code == 404
    assert (await client.delete("/api/agents/demo")).status_code == 404
    assert (await client.get("/api/config/demo")).status_code == 200


async def test_missing_references_are_422_naming_them(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/agents", json={**NEW_AGENT, "model": "gpt-9"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "ValidationError"
    assert "gpt-9" in error["message"]
    assert error["details"][0]["loc"] == ["body", "model"]

    response = await client.post(
        "/api/agents", json={**NEW_AGENT, "tools": ["calculator", "teleport"]}
    )
    assert response.status_code == 422
    assert "teleport" in response.json()["error"]["message"]
    assert response.json()["error"]["details"][0]["loc"] == ["body", "tools", "1"]

    wrong_type = await client.post("/api/agents", json={**NEW_AGENT, "model": "calculator"})
    assert wrong_type.status_code == 422
    assert "'calculator' is a tool component" in wrong_type.json()["error"]["message"]

    for field, value in (("memory", "amnesia"), ("knowledge", "library")):
        response = await client.post("/api/agents", json={**NEW_AGENT, field: value})
        assert response.status_code == 422
        assert value in response.json()["error"]["message"]
    assert (await client.get("/api/agents/my_agent")).status_code == 404
    assert (await client.get("/api/config/my_agent/history")).status_code == 404

    await client.post("/api/agents", json=NEW_AGENT)
    bad_update = await client.put("/api/agents/my_agent", json={**NEW_AGENT, "model": "nope"})
    assert bad_update.status_code == 422
    assert (await client.get("/api/agents/my_agent")).json()["model"] == "demo"


async def test_unknown_and_invalid_fields_are_422(client: httpx.AsyncClient) -> None:
    for body in (
        {**NEW_AGENT, "owner": "mallory"},
        {**NEW_AGENT, "config": {"max_steps": 3, "unknown_setting": True}},
        {**NEW_AGENT, "name": "Not A Slug"},
        {**NEW_AGENT, "name": "x" * 65},
        {**NEW_AGENT, "config": {"max_steps": 0}},
        {k: v for k, v in NEW_AGENT.items() if k != "model"},
    ):
        response = await client.post("/api/agents", json=body)
        assert response.status_code == 422, body
        error = response.json()["error"]
        assert error["type"] == "ValidationError"
        assert error["details"], body
    assert (await client.get("/api/agents")).json()["total"] == 3


async def test_name_cannot_change_on_replace(client: httpx.AsyncClient) -> None:
    await client.post("/api/agents", json=NEW_AGENT)
    response = await client.put("/api/agents/my_agent", json={**NEW_AGENT, "name": "renamed"})
    assert response.status_code == 422
    assert "cannot change" in response.json()["error"]["message"]


async def test_tag_filter_and_pagination(client: httpx.AsyncClient) -> None:
    for i in range(5):
        body = {**NEW_AGENT, "name": f"agent_{i}", "tags": ["even" if i % 2 == 0 else "odd"]}
        assert (await client.post("/api/agents", json=body)).status_code == 201
    page = (await client.get("/api/agents", params={"limit": 3, "offset": 1})).json()
    assert page["total"] == 8
    assert len(page["items"]) == 3
    assert page["has_more"] is True
    last = (await client.get("/api/agents", params={"limit": 3, "offset": 6})).json()
    assert len(last["items"]) == 2
    assert last["has_more"] is False
    even = (await client.get("/api/agents", params={"tag": "even"})).json()
    assert [a["name"] for a in even["items"]] == ["agent_0", "agent_2", "agent_4"]
    assert (await client.get("/api/agents", params={"tag": "demo"})).json()["total"] == 3
    assert (await client.get("/api/agents", params={"limit": 101})).status_code == 422
    assert (await client.get("/api/agents", params={"offset": -1})).status_code == 422


# ---------------------------------------------------------------- PATCH (JSON merge patch)

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


async def _patch(
    client: httpx.AsyncClient, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.patch(
        "/api/agents/my_agent", content=json.dumps(body), headers={**MERGE_PATCH, **(headers or {})}
    )


async def test_patch_changes_only_the_fields_given(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/agents", json={**NEW_AGENT, "knowledge": "product_docs"})
    assert created.status_code == 201, created.text
    before = created.json()

    response = await _patch(client, {"model": "openai"})
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["model"] == "openai"
    assert after["revision"] == before["revision"] + 1
    unchanged = ("system_prompt", "memory", "knowledge", "tools", "config", "tags", "description")
    for field in unchanged:
        assert after[field] == before[field], field
    assert after["knowledge"] == "product_docs"
    assert (await client.get("/api/agents/my_agent")).json() == after


async def test_patch_merges_config_and_replaces_lists(client: httpx.AsyncClient) -> None:
    await client.post("/api/agents", json=NEW_AGENT)
    # plain application/json is accepted too
    response = await client.patch(
        f"/api/agents/{(await client.get('/api/agents/my_agent')).json()['id']}",
        json={"config": {"temperature": 0.9}, "tools": ["current_time"]},
    )
    assert response.status_code == 200, response.text
    agent = response.json()
    assert agent["config"]["temperature"] == 0.9
    assert agent["config"]["max_steps"] == 3  # the rest of `config` is kept
    assert agent["tools"] == ["current_time"]  # a list is replaced, not merged
    assert agent["system_prompt"] == "Be brief."


async def test_patch_null_resets_a_field_and_required_ones_cannot_go(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/api/agents", json=NEW_AGENT)
    response = await _patch(client, {"memory": None, "tags": None, "config": {"temperature": None}})
    assert response.status_code == 200, response.text
    agent = response.json()
    assert agent["memory"] is None
    assert agent["tags"] == []
    assert agent["config"]["temperature"] is None
    assert agent["config"]["max_steps"] == 3
    reset = await _patch(client, {"config": None})
    assert reset.status_code == 200, reset.text
    assert reset.json()["config"]["max_steps"] == 10  # the default

    for field in ("model", "name"):
        refused = await _patch(client, {field: None})
        assert refused.status_code == 422, field
        error = refused.json()["error"]
        assert error["type"] == "ValidationError"
        assert error["details"][0]["loc"] == ["body", field]
    assert (await client.get("/api/agents/my_agent")).json()["model"] == "demo"


async def test_patch_unknown_or_invalid_fields_are_422(client: httpx.AsyncClient) -> None:
    await client.post("/api/agents", json=NEW_AGENT)
    for body in (
        {"owner": "mallory"},
        {"type": "model"},
        {"id": "agt_other"},
        {"config": {"unknown_setting": True}},
        {"config": {"max_steps": 0}},
        {"config": 5},
        {"tools": "calculator"},
        {"name": "Not A Slug"},
        {"system_prompt": "evil\u0000"},
        [{"op": "replace", "path": "/model", "value": "openai"}],  # a JSON Patch is not one
    ):
        response = await _patch(client, body)
        assert response.status_code == 422, body
        error = response.json()["error"]
        assert error["type"] == "ValidationError"
        assert error["details"], body
    assert (await client.get("/api/agents/my_agent")).json()["revision"] == 1


async def test_patch_follows_put_on_renames_and_limits(client: httpx.AsyncClient) -> None:
    await client.post("/api/agents", json=NEW_AGENT)
    renamed = await _patch(client, {"name": "renamed"})
    assert renamed.status_code == 422
    assert "cannot change" in renamed.json()["error"]["message"]
    same = await _patch(client, {"name": "my_agent", "description": "same name"})
    assert same.status_code == 200, same.text
    too_many = await _patch(client, {"config": {"max_steps": 100}})  # ceiling: 50
    assert too_many.status_code == 422
    assert too_many.json()["error"]["details"][0]["loc"] == ["body", "config", "max_steps"]


async def test_patch_bad_reference_is_422_naming_it(client: httpx.AsyncClient) -> None:
    await client.post("/api/agents", json=NEW_AGENT)
    response = await _patch(client, {"model": "gpt-9"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "ValidationError"
    assert "gpt-9" in error["message"]
    assert error["details"][0]["loc"] == ["body", "model"]
    tools = await _patch(client, {"tools": ["calculator", "teleport"]})
    assert tools.status_code == 422
    assert "teleport" in tools.json()["error"]["message"]
    assert tools.json()["error"]["details"][0]["loc"] == ["body", "tools", "1"]
    wrong_type = await _patch(client, {"memory": "calculator"})
    assert wrong_type.status_code == 422
    assert "'calculator' is a tool component" in wrong_type.json()["error"]["message"]
    assert (await client.get("/api/agents/my_agent")).json()["revision"] == 1


async def test_patch_unknown_agent_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch(
        "/api/agents/agt_doesnotexist", json={"model": "demo"}, headers=MERGE_PATCH
    )
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "AgentNotFound"
    model = await client.patch("/api/agents/demo", json={"model": "demo"})  # a model
    assert model.status_code == 404


async def test_patch_needs_write_agent_like_put(client: httpx.AsyncClient) -> None:
    await client.post("/api/agents", json=NEW_AGENT)
    for role in ("viewer", "user"):
        _, headers = await add_user(client, role)
        refused = await _patch(client, {"model": "openai"}, headers=headers)
        assert refused.status_code == 403, role
        assert refused.json()["error"]["type"] == "Forbidden"
        assert "write:agent" in refused.json()["error"]["message"]
        put = await client.put("/api/agents/my_agent", json=NEW_AGENT, headers=headers)
        assert put.status_code == 403, role
    assert (await client.get("/api/agents/my_agent")).json()["revision"] == 1


async def test_patch_is_an_update_in_the_history(client: httpx.AsyncClient) -> None:
    await client.post("/api/agents", json=NEW_AGENT)
    assert (await _patch(client, {"model": "openai"})).status_code == 200
    history = (await client.get("/api/config/my_agent/history")).json()["history"]
    assert [h["change_type"] for h in history] == ["created", "updated"]
    entry = history[1]
    assert entry["revision"] == 2
    assert entry["old_config"]["model"] == "demo"
    assert entry["new_config"]["model"] == "openai"
    assert entry["new_config"]["system_prompt"] == "Be brief."
    assert entry["new_config"]["memory"] == "conversation"
    assert entry["actor"] == history[0]["actor"]


async def test_patch_that_lost_a_race_is_409(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PATCH reads the agent, merges and writes on the condition that nobody changed
    it in between: here a PUT lands between the read and the write."""
    await client.post("/api/agents", json=NEW_AGENT)
    components = app.state.agio.components
    stale = await components.get_agent("my_agent")
    put = await client.put("/api/agents/my_agent", json={**NEW_AGENT, "description": "put"})
    assert put.status_code == 200

    async def read_before_the_put(key: str) -> Any:
        return stale

    monkeypatch.setattr(components, "get_agent", read_before_the_put)
    response = await _patch(client, {"model": "openai"})
    assert response.status_code == 409
    assert response.json()["error"]["type"] == "Conflict"
    monkeypatch.undo()
    agent = (await client.get("/api/agents/my_agent")).json()
    assert agent["description"] == "put"
    assert agent["model"] == "demo"
    assert agent["revision"] == 2


def test_the_patch_body_lists_every_agent_field() -> None:
    """`AgentPatch` documents the body; `AgentSpec` decides: they must not drift apart."""
    assert AgentPatch.model_fields.keys() == AgentSpec.model_fields.keys()
    assert AgentRunConfigPatch.model_fields.keys() == AgentRunConfig.model_fields.keys()
