"""Configuration history, diff and rollback (SPEC §16), on SQLite and PostgreSQL: history
entries carry their revision; a diff lists exactly the fields that changed, secrets
masked; a rollback makes an earlier configuration current again as a new `rolled_back`
revision, validated like any update, with the current secrets; 404, 409 and 422 where
they belong."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agio.services.components import ComponentService
from tests.conftest import add_user
from tests.fakes.fixtures import fake_openai  # noqa: F401
from tests.fakes.openai_server import FakeOpenAIServer, StreamText


async def put(client: httpx.AsyncClient, name: str, config: dict[str, Any]) -> int:
    response = await client.put(f"/api/config/{name}", json={"config": config})
    assert response.status_code in (200, 201), response.text
    return int(response.json()["revision"])


async def history(client: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/config/{name}/history")
    assert response.status_code == 200, response.text
    return response.json()["history"]  # type: ignore[no-any-return]


async def diff(client: httpx.AsyncClient, name: str, a: int, b: int) -> list[dict[str, Any]]:
    response = await client.get(f"/api/config/{name}/diff", params={"from": a, "to": b})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["component_name"] == name
    assert (body["from_revision"], body["to_revision"]) == (a, b)
    return body["changes"]  # type: ignore[no-any-return]


def editable(detail: dict[str, Any]) -> dict[str, Any]:
    meta = ("id", "revision", "source", "created_at", "updated_at")
    return {k: v for k, v in detail.items() if k not in meta}


AGENT_V1 = {
    "type": "agent",
    "model": "demo",
    "tools": ["calculator"],
    "system_prompt": "Be brief.",
    "config": {"max_steps": 4, "temperature": 0.2},
    "tags": ["a"],
}
AGENT_V2 = {
    "type": "agent",
    "model": "demo",
    "tools": ["calculator", "current_time"],
    "system_prompt": "Be brief.",
    "description": "Now with a clock.",
    "config": {"max_steps": 4, "temperature": 0.7, "max_tokens": 300},
    "tags": ["a"],
}


# --------------------------------------------------------------------- history and diff


async def test_history_entries_carry_their_revision(client: httpx.AsyncClient) -> None:
    assert await put(client, "helper", AGENT_V1) == 1
    assert await put(client, "helper", AGENT_V2) == 2
    entries = await history(client, "helper")
    assert [(e["revision"], e["change_type"], e["rolled_back_from"]) for e in entries] == [
        (1, "created", None),
        (2, "updated", None),
    ]


async def test_the_diff_lists_exactly_the_fields_that_changed(client: httpx.AsyncClient) -> None:
    await put(client, "helper", AGENT_V1)
    await put(client, "helper", AGENT_V2)
    assert await diff(client, "helper", 1, 2) == [
        {"path": ["config", "max_tokens"], "from": None, "to": 300},
        {"path": ["config", "temperature"], "from": 0.2, "to": 0.7},
        {"path": ["description"], "from": "", "to": "Now with a clock."},
        {"path": ["tools"], "from": ["calculator"], "to": ["calculator", "current_time"]},
    ]
    # the other way round, the sides swap; a revision against itself has no change
    assert await diff(client, "helper", 2, 1) == [
        {"path": ["config", "max_tokens"], "from": 300, "to": None},
        {"path": ["config", "temperature"], "from": 0.7, "to": 0.2},
        {"path": ["description"], "from": "Now with a clock.", "to": ""},
        {"path": ["tools"], "from": ["calculator", "current_time"], "to": ["calculator"]},
    ]
    assert await diff(client, "helper", 2, 2) == []


async def test_a_deletion_has_no_configuration_and_revisions_go_on_after_it(
    client: httpx.AsyncClient,
) -> None:
    model = {"type": "model", "provider": "demo", "model": "demo", "temperature": 0.5}
    await put(client, "short_lived", model)
    assert (await client.delete("/api/config/short_lived")).status_code == 204
    # made again, the name's revisions go on: each number names one history entry
    assert await put(client, "short_lived", {**model, "temperature": 0.9}) == 3
    entries = await history(client, "short_lived")
    assert [(e["revision"], e["change_type"]) for e in entries] == [
        (1, "created"),
        (2, "deleted"),
        (3, "created"),
    ]
    removed = await diff(client, "short_lived", 1, 2)
    assert {"path": ["temperature"], "from": 0.5, "to": None} in removed
    assert {"path": ["provider"], "from": "demo", "to": None} in removed
    assert all(change["to"] is None for change in removed)
    assert await diff(client, "short_lived", 1, 3) == [
        {"path": ["temperature"], "from": 0.5, "to": 0.9}
    ]


async def test_secrets_stay_masked_in_the_diff(client: httpx.AsyncClient) -> None:
    model = {"type": "model", "provider": "openai", "model": "gpt-x", "api_key": "sk-one-1111"}
    await put(client, "keyed", model)
    await put(client, "keyed", {**model, "api_key": "sk-two-2222", "temperature": 0.3})
    await put(client, "keyed", {**model, "api_key": None, "temperature": 0.3})
    response = await client.get("/api/config/keyed/diff", params={"from": 1, "to": 3})
    assert "sk-" not in response.text
    # a secret changed is not seen (history keeps none); one removed is, masked
    assert await diff(client, "keyed", 1, 2) == [{"path": ["temperature"], "from": None, "to": 0.3}]
    assert await diff(client, "keyed", 2, 3) == [
        {"path": ["api_key"], "from": "********", "to": None}
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"from": 1},
        {"to": 1},
        {"from": 0, "to": 1},
        {"from": 1, "to": -2},
        {"from": "one", "to": 1},
        {"from": 1.5, "to": 1},
    ],
)
async def test_a_bad_diff_query_is_a_422(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    await put(client, "helper", AGENT_V1)
    response = await client.get("/api/config/helper/diff", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["type"] == "ValidationError"


async def test_unknown_components_and_revisions_are_404(client: httpx.AsyncClient) -> None:
    await put(client, "helper", AGENT_V1)
    cases = [
        ("/api/config/nobody/diff?from=1&to=1", "ComponentNotFound"),
        ("/api/config/helper/diff?from=1&to=9", "RevisionNotFound"),
        ("/api/config/helper/diff?from=9&to=1", "RevisionNotFound"),
    ]
    for url, error_type in cases:
        response = await client.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["type"] == error_type
    for name, revision, error_type in (
        ("nobody", 1, "ComponentNotFound"),
        ("helper", 9, "RevisionNotFound"),
    ):
        response = await client.post(f"/api/config/{name}/rollback", json={"revision": revision})
        assert response.status_code == 404, response.text
        assert response.json()["error"]["type"] == error_type
    # a deleted component has its history, but nothing to roll back
    await put(client, "gone", {"type": "model", "provider": "demo", "model": "demo"})
    assert (await client.delete("/api/config/gone")).status_code == 204
    assert len(await diff(client, "gone", 1, 2)) > 0
    response = await client.post("/api/config/gone/rollback", json={"revision": 1})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "ComponentNotFound"


# --------------------------------------------------------------------- rollback


async def test_a_rollback_makes_the_revision_current_as_a_new_revision(
    client: httpx.AsyncClient,
) -> None:
    await put(client, "helper", AGENT_V1)
    await put(client, "helper", AGENT_V2)
    first = (await client.get("/api/config/helper")).json()
    response = await client.post("/api/config/helper/rollback", json={"revision": 1})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "success": True,
        "message": "Component 'helper' rolled back to revision 1: now revision 3",
        "revision": 3,
        "rolled_back_from": 1,
    }
    now = (await client.get("/api/config/helper")).json()
    assert now["revision"] == 3
    entries = await history(client, "helper")
    assert editable(now) == entries[0]["new_config"]
    assert editable(now) != editable(first)
    assert [(e["revision"], e["change_type"], e["rolled_back_from"]) for e in entries] == [
        (1, "created", None),
        (2, "updated", None),
        (3, "rolled_back", 1),
    ]
    assert entries[2]["old_config"] == entries[1]["new_config"]
    assert entries[2]["new_config"] == entries[0]["new_config"]
    assert entries[2]["actor"] == "user:admin"
    assert await diff(client, "helper", 1, 3) == []
    # the agent's own view agrees, and its runs use it
    agent = (await client.get("/api/agents/helper")).json()
    assert agent["tools"] == ["calculator"]
    assert agent["config"]["temperature"] == 0.2
    # and a rollback of the rollback goes forward again
    again = await client.post("/api/config/helper/rollback", json={"revision": 2})
    assert again.json()["revision"] == 4
    assert await diff(client, "helper", 2, 4) == []


async def test_a_rollback_keeps_the_current_secrets(
    app: FastAPI,
    client: httpx.AsyncClient,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    model = {
        "type": "model",
        "provider": "openai",
        "model": "fake-model",
        "base_url": fake_openai.base_url,
        "api_key": "sk-first-1111",
        "max_retries": 0,
        "temperature": 0.1,
    }
    await put(client, "remote", model)
    await put(client, "remote", {**model, "api_key": "sk-second-2222", "temperature": 0.9})
    await put(client, "remote_agent", {"type": "agent", "model": "remote"})
    response = await client.post("/api/config/remote/rollback", json={"revision": 1})
    assert response.status_code == 200, response.text
    assert "sk-" not in response.text
    components: ComponentService = app.state.agio.components
    stored = await components.repo.get("remote")
    assert stored is not None
    assert stored.revision == 3
    assert stored.config["temperature"] == 0.1  # revision 1's
    assert stored.config["api_key"] == "sk-second-2222"  # the current secret, not a mask
    shown = (await client.get("/api/config/remote")).json()
    assert shown["api_key"] == "********"
    # the model a run uses has revision 1's settings and the current key
    fake_openai.enqueue(StreamText(["Hi."]))
    chat = await client.post(
        "/api/chat", json={"agent_id": "remote_agent", "message": "hello", "stream": False}
    )
    assert chat.status_code == 200, chat.text
    assert chat.json()["response"] == "Hi."
    sent = fake_openai.completions[-1]
    assert sent.headers["authorization"] == "Bearer sk-second-2222"
    assert sent.body["temperature"] == 0.1


async def test_a_rollback_to_a_secret_the_component_no_longer_has_is_a_422(
    client: httpx.AsyncClient,
) -> None:
    model = {"type": "model", "provider": "openai", "model": "gpt-x", "api_key": "sk-old-1111"}
    await put(client, "keyed", model)
    await put(client, "keyed", {**model, "api_key": None})
    response = await client.post("/api/config/keyed/rollback", json={"revision": 1})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "InvalidConfig"
    assert "api_key" in error["message"]
    assert error["details"][0]["loc"] == ["body", "revision", "api_key"]
    assert [e["change_type"] for e in await history(client, "keyed")] == ["created", "updated"]
    # given again, the rollback goes through and keeps it
    await put(client, "keyed", {**model, "api_key": "sk-new-2222", "temperature": 1.0})
    response = await client.post("/api/config/keyed/rollback", json={"revision": 1})
    assert response.status_code == 200, response.text


async def test_a_rollback_to_a_configuration_that_no_longer_validates_is_a_422(
    client: httpx.AsyncClient,
) -> None:
    await put(client, "passing_model", {"type": "model", "provider": "demo", "model": "demo"})
    await put(client, "helper", {**AGENT_V1, "model": "passing_model"})
    await put(client, "helper", AGENT_V1)
    assert (await client.delete("/api/config/passing_model")).status_code == 204
    response = await client.post("/api/config/helper/rollback", json={"revision": 1})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "InvalidConfig"
    assert "passing_model" in error["message"]
    assert (await client.get("/api/config/helper")).json()["revision"] == 2


async def test_a_rollback_to_the_deletion_is_a_422(client: httpx.AsyncClient) -> None:
    model = {"type": "model", "provider": "demo", "model": "demo"}
    await put(client, "phoenix", model)
    assert (await client.delete("/api/config/phoenix")).status_code == 204
    await put(client, "phoenix", model)
    response = await client.post("/api/config/phoenix/rollback", json={"revision": 2})
    assert response.status_code == 422, response.text
    assert "deletion" in response.json()["error"]["message"]
    # the first life's configuration is fine
    response = await client.post("/api/config/phoenix/rollback", json={"revision": 1})
    assert response.status_code == 200, response.text
    assert response.json()["revision"] == 4


async def test_a_rollback_to_another_type_of_component_is_a_422(
    client: httpx.AsyncClient,
) -> None:
    await put(client, "shifty", {"type": "model", "provider": "demo", "model": "demo"})
    assert (await client.delete("/api/config/shifty")).status_code == 204
    await put(client, "shifty", {"type": "memory", "strategy": "buffer"})
    response = await client.post("/api/config/shifty/rollback", json={"revision": 1})
    assert response.status_code == 422, response.text
    assert "model" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [{}, {"revision": 0}, {"revision": "1"}, {"revision": True}, {"revision": 1, "x": 1}],
)
async def test_a_bad_rollback_body_is_a_422(client: httpx.AsyncClient, body: Any) -> None:
    await put(client, "helper", AGENT_V1)
    response = await client.post("/api/config/helper/rollback", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["type"] == "ValidationError"


async def test_a_concurrent_change_makes_the_rollback_a_409(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    await put(client, "helper", AGENT_V1)
    await put(client, "helper", AGENT_V2)
    components: ComponentService = app.state.agio.components
    read = ComponentService.get

    async def read_then_someone_else_writes(self: ComponentService, name: str) -> Any:
        stale = await read(self, name)
        monkeypatch.setattr(ComponentService, "get", read)
        body = {**AGENT_V2, "name": name, "system_prompt": "Changed meanwhile."}
        await components.put(name, body, validate_only=False, actor="user:other")
        return stale

    monkeypatch.setattr(ComponentService, "get", read_then_someone_else_writes)
    response = await client.post("/api/config/helper/rollback", json={"revision": 1})
    assert response.status_code == 409, response.text
    assert response.json()["error"]["type"] == "Conflict"
    now = (await client.get("/api/config/helper")).json()
    assert now["system_prompt"] == "Changed meanwhile."
    assert [e["change_type"] for e in await history(client, "helper")] == [
        "created",
        "updated",
        "updated",
    ]


async def test_rolling_back_needs_the_permission_to_change_components(
    client: httpx.AsyncClient,
) -> None:
    await put(client, "helper", AGENT_V1)
    await put(client, "helper", AGENT_V2)
    for role in ("user", "viewer"):
        _, headers = await add_user(client, role)
        refused = await client.post(
            "/api/config/helper/rollback", json={"revision": 1}, headers=headers
        )
        assert refused.status_code == 403, refused.text
        # reading the diff is reading configuration
        seen = await client.get("/api/config/helper/diff?from=1&to=2", headers=headers)
        assert seen.status_code == 200, seen.text
    assert (await client.get("/api/config/helper")).json()["revision"] == 2
