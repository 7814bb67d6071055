"""`/api/config` on SQLite and PostgreSQL: CRUD, validation, history, secrets."""

from __future__ import annotations

from typing import Any

import httpx

from agio.config.components import MASK

SCRIPTED: dict[str, Any] = {
    "type": "model",
    "provider": "scripted",
    "model": "scripted",
    "responses": [{"content": "Hello there."}],
    "chunk_size": 4,
}


async def put(
    client: httpx.AsyncClient, name: str, config: dict[str, Any], **kw: Any
) -> httpx.Response:
    return await client.put(f"/api/config/{name}", json={"config": config, **kw})


async def test_list_and_type_filter(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/config")).json()
    names = {c["name"]: c["type"] for c in body["configs"]}
    assert names == {
        "demo": "model",
        "openai": "model",
        "calculator": "tool",
        "current_time": "tool",
        "conversation": "memory",
        "redis_memory": "memory",
        "product_docs": "knowledge",
        "customer_support": "agent",
        "assistant": "agent",
        "researcher": "agent",
        "triage": "workflow",
    }
    assert body["total"] == 11
    for entry in body["configs"]:
        assert set(entry) >= {"name", "type", "description", "enabled", "tags"}
        assert entry["source"].startswith("file:")
    models = (await client.get("/api/config", params={"type": "model"})).json()
    assert models["total"] == 2
    assert {c["name"] for c in models["configs"]} == {"demo", "openai"}
    assert (await client.get("/api/config", params={"type": "gizmo"})).status_code == 422


async def test_get_returns_the_full_component(client: httpx.AsyncClient) -> None:
    model = (await client.get("/api/config/openai")).json()
    assert model["provider"] == "openai"
    assert model["type"] == "model"
    assert {"model", "base_url", "api_key", "temperature", "max_tokens", "timeout"} <= set(model)
    assert model["id"].startswith("mdl_")
    agent = (await client.get("/api/config/customer_support")).json()
    assert agent["type"] == "agent"
    assert agent["model"] == "demo"
    assert agent["id"].startswith("agt_")
    missing = await client.get("/api/config/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "ComponentNotFound"


async def test_put_creates_then_three_updates_make_four_history_entries(
    client: httpx.AsyncClient,
) -> None:
    created = await put(client, "script", SCRIPTED)
    assert created.status_code == 201, created.text
    assert created.json()["success"] is True
    assert created.json()["created"] is True
    for i in range(1, 4):
        updated = await put(client, "script", {**SCRIPTED, "chunk_size": 4 + i})
        assert updated.status_code == 200, updated.text
        assert updated.json()["created"] is False
        assert updated.json()["revision"] == i + 1
    history = (await client.get("/api/config/script/history")).json()
    assert history["component_name"] == "script"
    entries = history["history"]
    assert [e["change_type"] for e in entries] == ["created", "updated", "updated", "updated"]
    assert entries[0]["old_config"] is None
    assert entries[0]["new_config"]["chunk_size"] == 4
    for i in range(1, 4):
        assert entries[i]["old_config"]["chunk_size"] == 4 + i - 1
        assert entries[i]["new_config"]["chunk_size"] == 4 + i
        assert entries[i]["actor"] == "user:admin"
        assert entries[i]["timestamp"].endswith("Z")
    assert (await client.get("/api/config/script")).json()["chunk_size"] == 7


async def test_validate_only_changes_nothing(client: httpx.AsyncClient) -> None:
    checked = await put(client, "script", SCRIPTED, validate_only=True)
    assert checked.status_code == 200
    assert checked.json()["validate_only"] is True
    assert checked.json()["revision"] is None
    assert (await client.get("/api/config/script")).status_code == 404
    assert (await client.get("/api/config/script/history")).status_code == 404

    await put(client, "script", SCRIPTED)
    before = (await client.get("/api/config/script")).json()
    history_before = (await client.get("/api/config/script/history")).json()
    checked = await put(client, "script", {**SCRIPTED, "chunk_size": 99}, validate_only=True)
    assert checked.status_code == 200
    assert checked.json()["revision"] == 1
    assert (await client.get("/api/config/script")).json() == before
    assert (await client.get("/api/config/script/history")).json() == history_before
    invalid = await put(client, "script", {**SCRIPTED, "chunk_size": 0}, validate_only=True)
    assert invalid.status_code == 422


async def test_invalid_config_is_rejected_with_reasons_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await put(client, "script", SCRIPTED)
    before = (await client.get("/api/config/script")).json()
    cases = [
        ({**SCRIPTED, "temperature": 7}, "temperature"),
        ({**SCRIPTED, "responses": []}, "responses"),
        ({**SCRIPTED, "provider": "skynet"}, "provider"),
        ({**SCRIPTED, "surprise": 1}, "surprise"),
        ({"provider": "demo", "model": "x"}, "type"),
        ({**SCRIPTED, "type": "gizmo"}, "type"),
    ]
    for config, field in cases:
        response = await put(client, "script", config)
        assert response.status_code == 422, config
        error = response.json()["error"]
        assert error["type"] == "InvalidConfig"
        assert field in error["message"], (field, error["message"])
        assert any(
            field in ".".join(map(str, d["loc"])) or field in d["msg"] for d in error["details"]
        ), error["details"]
    assert (await client.get("/api/config/script")).json() == before
    assert len((await client.get("/api/config/script/history")).json()["history"]) == 1


async def test_agent_references_are_checked(client: httpx.AsyncClient) -> None:
    agent = {"type": "agent", "model": "nope", "tools": ["calculator"]}
    response = await put(client, "bot", agent)
    assert response.status_code == 422
    assert "nope" in response.json()["error"]["message"]
    response = await put(client, "bot", {**agent, "model": "demo"})
    assert response.status_code == 201
    assert (await client.get("/api/agents/bot")).json()["model"] == "demo"


async def test_name_in_body_must_match_path(client: httpx.AsyncClient) -> None:
    response = await put(client, "script", {**SCRIPTED, "name": "other"})
    assert response.status_code == 422
    assert (await put(client, "script", {**SCRIPTED, "name": "script"})).status_code == 201


async def test_type_cannot_change(client: httpx.AsyncClient) -> None:
    response = await put(client, "demo", {"type": "memory", "max_messages": 5})
    assert response.status_code == 409
    assert "delete it" in response.json()["error"]["message"]


async def test_delete_is_409_while_referenced_and_recorded(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/config/calculator")
    assert response.status_code == 409
    message = response.json()["error"]["message"]
    assert "assistant" in message
    assert "customer_support" in message
    # the bundled researcher and triage name both agents: they go first
    assert (await client.delete("/api/agents/assistant")).status_code == 409
    assert (await client.delete("/api/config/triage")).status_code == 204
    assert (await client.delete("/api/agents/researcher")).status_code == 204
    await client.delete("/api/agents/assistant")
    await client.delete("/api/agents/customer_support")
    assert (await client.delete("/api/config/calculator")).status_code == 204
    assert (await client.get("/api/config/calculator")).status_code == 404
    history = (await client.get("/api/config/calculator/history")).json()["history"]
    assert [h["change_type"] for h in history] == ["created", "deleted"]
    assert history[0]["actor"].startswith("file:")
    assert history[1]["new_config"] is None
    assert history[1]["old_config"]["builtin"] == "calculator"
    assert (await client.delete("/api/config/calculator")).status_code == 404


async def test_secrets_are_masked_everywhere_and_kept_on_mask(client: httpx.AsyncClient) -> None:
    secret = "sk-test-abcdefghijklmnop1234"
    model = {
        "type": "model",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key": secret,
    }
    assert (await put(client, "paid", model)).status_code == 201
    tool = {
        "type": "tool",
        "kind": "http",
        "url": "http://127.0.0.1:9/hook",
        "headers": {"Authorization": "Bearer hdr-secret-987"},
    }
    assert (await put(client, "hook", tool)).status_code == 201

    got = (await client.get("/api/config/paid")).json()
    assert got["api_key"] == MASK
    assert (await client.get("/api/config/hook")).json()["headers"] == {"Authorization": MASK}

    # send back what was read: the secret stays
    echo = {
        k: v
        for k, v in got.items()
        if k not in ("id", "revision", "source", "created_at", "updated_at")
    }
    echo["temperature"] = 0.3
    assert (await put(client, "paid", echo)).status_code == 200
    # a new secret replaces it
    assert (
        await put(client, "paid", {**model, "api_key": "sk-other-secret-0000"})
    ).status_code == 200
    # the mask with nothing stored is refused
    refused = await put(client, "fresh", {**model, "api_key": MASK})
    assert refused.status_code == 422

    texts = [
        (await client.get("/api/config/paid")).text,
        (await client.get("/api/config/paid/history")).text,
        (await client.get("/api/config/hook")).text,
        (await client.get("/api/config/hook/history")).text,
        (await client.get("/api/config")).text,
    ]
    for text in texts:
        for leaked in (secret, "sk-other-secret-0000", "hdr-secret-987"):
            assert leaked not in text


async def test_secret_survives_mask_round_trip_in_storage(
    client: httpx.AsyncClient, app: Any
) -> None:
    secret = "sk-live-keep-me-1234567890"
    model = {"type": "model", "provider": "openai", "model": "m", "api_key": secret}
    await put(client, "paid", model)
    await put(client, "paid", {**model, "api_key": MASK, "temperature": 1.0})
    stored = await app.state.agio.components.get("paid")
    assert stored.config["api_key"] == secret
    assert stored.config["temperature"] == 1.0


async def test_python_tools_through_the_api_need_an_allowed_module(
    client: httpx.AsyncClient,
) -> None:
    tool = {"type": "tool", "kind": "python", "import_path": "os:system"}
    response = await put(client, "shell", tool)
    assert response.status_code == 422
    assert "AGIO_ALLOWED_PYTHON_TOOL_MODULES" in response.json()["error"]["message"]
    assert (await client.get("/api/config/shell")).status_code == 404


async def test_scripted_model_from_the_spec_is_accepted(client: httpx.AsyncClient) -> None:
    spec_example = {
        "type": "model",
        "name": "slow_script",
        "provider": "scripted",
        "model": "scripted",
        "responses": [
            {
                "content": "Let me look that up.",
                "tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}],
            },
            {"content": "The answer is 42."},
        ],
        "chunk_size": 8,
        "chunk_delay": 0.12,
    }
    assert (await put(client, "slow_script", spec_example)).status_code == 201
    got = (await client.get("/api/config/slow_script")).json()
    assert got["responses"][0]["tool_calls"][0]["arguments"] == {"expression": "6*7"}
    assert got["chunk_delay"] == 0.12
