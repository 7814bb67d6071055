"""The OpenAPI document says what the server does: the methods a 405 names, the errors
every operation can give, the limits the settings set, the shape of streamed events, and
the values path, query and body fields admit."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema_rs
import pytest
from fastapi import FastAPI
from httpx_sse import EventSource
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter

from agio.api.app import create_app
from agio.api.routers import (
    agents,
    agui,
    auth,
    chat,
    config,
    control,
    keys,
    knowledge,
    metrics,
    runs,
    sessions,
    users,
)
from agio.api.schemas.common import json_integer, json_number
from agio.config.components import is_slug
from agio.config.settings import Settings
from agio.domain.events import EVENT_TYPES
from tests.conftest import BUNDLED_CONFIGS, start_client

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


@pytest.fixture
def backend() -> str:  # these tests are about HTTP, not storage
    return "sqlite"


@pytest.fixture
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


# --------------------------------------------------------------------- 405 and Allow


async def test_a_405_allows_every_method_the_path_serves(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    cases = {
        "/api/agents": "/api/agents",
        "/api/agents/{agent_id}": "/api/agents/customer_support",
        "/api/config/{component_name}": "/api/config/demo",
        "/api/users/{user_id}": "/api/users/usr_x",
        "/api/keys/{key_id}": "/api/keys/key_x",
        "/api/health": "/api/health",
    }
    for template, path in cases.items():
        served = {method.upper() for method in document["paths"][template]}
        for method in {"OPTIONS", "TRACE", "PATCH", "PUT", "POST", "DELETE"} - served:
            response = await client.request(method, path)
            assert response.status_code == 405, (method, path)
            allowed = {m.strip() for m in response.headers["allow"].split(",")}
            assert allowed == served, (method, path)
            error = response.json()["error"]
            assert error["type"] == "MethodNotAllowed"
            assert all(m in error["message"] for m in served)


# --------------------------------------------------------------------- 400 and 413


def test_every_operation_documents_413_and_every_body_400(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        # the OpenAI-compatible API's errors have OpenAI's shape
        name = "OpenAIErrorEnvelope" if path.startswith("/v1/") else "ErrorEnvelope"
        envelope = {"$ref": f"#/components/schemas/{name}"}
        responses = operation["responses"]
        assert responses["413"]["content"]["application/json"]["schema"] == envelope, (
            method,
            path,
        )
        if "requestBody" in operation:
            assert responses["400"]["content"]["application/json"]["schema"] == envelope, (
                method,
                path,
            )


async def test_an_unparsable_body_is_a_400_and_an_oversized_one_a_413(
    make_settings: Callable[..., Settings],
) -> None:
    client, lifespan = await start_client(create_app(make_settings(max_body_bytes=2000)))
    try:
        garbled = await client.post(
            "/api/agents", content=b"\xff\xfe\x00", headers={"Content-Type": "application/json"}
        )
        assert garbled.status_code == 400
        assert garbled.json()["error"]["type"] == "BadRequest"
        big = await client.post("/api/agents", json={"description": "x" * 3000})
        assert big.status_code == 413
        assert big.json()["error"]["type"] == "PayloadTooLarge"
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


# --------------------------------------------------------------------- component names


def _component_name_patterns(document: dict[str, Any]) -> set[str]:
    return {
        parameter["schema"]["pattern"]
        for _, _, operation in operations(document)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path" and parameter["name"] == "component_name"
    }


def test_component_name_paths_admit_only_names_a_component_can_have(
    document: dict[str, Any],
) -> None:
    patterns = _component_name_patterns(document)
    assert patterns  # /api/config/{component_name}, /api/knowledge/{component_name}/…
    for pattern in patterns:

        @given(st.from_regex(pattern, fullmatch=True))
        @settings(max_examples=300, deadline=None, database=None)
        def admitted_names_are_valid(name: str) -> None:
            assert is_slug(name), name

        admitted_names_are_valid()


async def test_a_name_no_component_can_have_is_refused_in_the_path(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/api/config/0", "/api/config/Demo", "/api/knowledge/-x/documents"):
        response = await client.get(path)
        assert response.status_code == 422, path
        assert response.json()["error"]["details"][0]["loc"] == ["path", "component_name"]
    put = await client.put("/api/config/0", json={"config": {"type": "model"}})
    assert put.status_code == 422
    assert put.json()["error"]["details"][0]["loc"] == ["path", "component_name"]


# --------------------------------------------------------------------- strict booleans

ROUTER_MODULES = (agents, auth, chat, config, control, keys, knowledge, metrics, runs)
ROUTER_MODULES += (sessions, users, agui)


def _lax_booleans(node: Any, where: str) -> list[str]:
    """Paths in a pydantic core schema to `bool` validators that take 0, 1, "yes", …, and
    to `int`/`float` validators that take `true` or "5" (schemathesis sent
    `"expires_in_days": true` and got a key for a day)."""
    found: list[str] = []
    if isinstance(node, dict):
        function = node.get("function", {})
        if node.get("type") == "function-before" and function.get("function") in (
            json_integer,
            json_number,
        ):
            return found  # the number is checked to be a JSON number before the lax int
        if node.get("type") in ("bool", "int", "float") and node.get("strict") is not True:
            found.append(where)
        for key, value in node.items():
            found += _lax_booleans(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _lax_booleans(value, f"{where}[{index}]")
    return found


def test_every_request_body_takes_only_json_booleans_for_booleans() -> None:
    bodies = 0
    for module in ROUTER_MODULES:
        for route in module.router.routes:
            for param in getattr(getattr(route, "dependant", None), "body_params", []):
                annotation = param.field_info.annotation
                bodies += 1
                schema = (
                    annotation.__pydantic_core_schema__
                    if isinstance(annotation, type) and issubclass(annotation, BaseModel)
                    else TypeAdapter(annotation).core_schema
                )
                assert _lax_booleans(schema, route.path) == [], route.path
    assert bodies >= 10


async def test_a_number_is_not_a_boolean(client: httpx.AsyncClient) -> None:
    users = (await client.get("/api/users")).json()["items"]
    admin = next(u for u in users if u["username"] == "admin")
    for method, path, body in [
        ("PATCH", f"/api/users/{admin['id']}", {"disabled": 0}),
        ("POST", "/api/chat", {"agent_id": "customer_support", "message": "hi", "stream": 0}),
        ("PUT", "/api/config/x", {"config": {"type": "model"}, "validate_only": 1}),
        ("POST", "/api/agents", {"name": "a", "model": "demo", "enabled": 0}),
        ("PATCH", "/api/agents/customer_support", {"enabled": "false"}),
        ("POST", "/api/keys", {"name": "k", "expires_in_days": True}),
        ("POST", "/api/keys", {"name": "k", "expires_in_days": "5"}),
        ("POST", "/api/agents", {"name": "b", "model": "demo", "config": {"max_steps": True}}),
        ("PATCH", "/api/agents/customer_support", {"config": {"temperature": True}}),
    ]:
        media_type = "merge-patch+json" if method == "PATCH" and "agents" in path else "json"
        headers = {"Content-Type": f"application/{media_type}"}
        response = await client.request(method, path, content=json.dumps(body), headers=headers)
        assert response.status_code == 422, (method, path, response.text)
        assert response.json()["error"]["details"][0]["type"] in (
            "bool_type",
            "int_type",
            "float_type",
        )
    still = (await client.get(f"/api/users/{admin['id']}")).json()
    assert still["disabled"] is False


# --------------------------------------------------------------------- query date-times


async def test_a_query_date_time_must_be_a_date_and_a_time(client: httpx.AsyncClient) -> None:
    path = "/api/metrics/agents/customer_support"
    for value in ("0.5", "1700000000", "2025-01-31"):
        response = await client.get(path, params={"end_time": value})
        assert response.status_code == 422, value
    ok = await client.get(path, params={"end_time": "2025-01-31T12:00:00Z"})
    assert ok.status_code == 200, ok.text


# --------------------------------------------------------------------- SSE


def _event_stream_schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    content = document["paths"][path][method]["responses"]["200"]["content"]
    schema: dict[str, Any] = content["text/event-stream"]["schema"]
    return schema


def test_sse_responses_describe_each_message(document: dict[str, Any]) -> None:
    for method, path in (("post", "/api/chat"), ("get", "/api/runs/{run_id}/events")):
        schema = _event_stream_schema(document, method, path)
        assert schema["type"] == "object", path
        assert schema["properties"]["event"]["enum"] == list(EVENT_TYPES)
        assert set(schema["required"]) == {"event", "id", "data"}


async def test_streamed_events_match_the_documented_schema(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    validator = jsonschema_rs.validator_for(_event_stream_schema(document, "post", "/api/chat"))
    async with client.stream(
        "POST", "/api/chat", json={"agent_id": "customer_support", "message": "What is 2+2?"}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        messages = [sse async for sse in EventSource(response).aiter_sse() if sse.data]
    assert messages[-1].event == "run_completed"
    run_id = json.loads(messages[0].data)["run_id"]
    for sse in messages:
        message: dict[str, Any] = {"event": sse.event, "id": sse.id, "data": sse.data}
        if sse.retry is not None:
            message["retry"] = sse.retry
        validator.validate(message)
        assert isinstance(json.loads(sse.data), dict)
    replay = jsonschema_rs.validator_for(
        _event_stream_schema(document, "get", "/api/runs/{run_id}/events")
    )
    async with client.stream(
        "GET", f"/api/runs/{run_id}/events", headers={"Accept": "text/event-stream"}
    ) as response:
        replayed = [sse async for sse in EventSource(response).aiter_sse() if sse.data]
    assert [s.id for s in replayed] == [s.id for s in messages]
    for sse in replayed:
        replay.validate({"event": sse.event, "id": sse.id, "data": sse.data})


# --------------------------------------------------------------------- the message limit


@pytest.mark.parametrize("limit", [50, 200_000])
async def test_the_documented_message_limit_is_the_enforced_one(
    make_settings: Callable[..., Settings], limit: int
) -> None:
    app = create_app(
        make_settings(
            configs_dir=BUNDLED_CONFIGS, max_message_chars=limit, max_body_bytes=4_000_000
        )
    )
    message = app.openapi()["components"]["schemas"]["ChatRequest"]["properties"]["message"]
    assert message["maxLength"] == limit
    assert not any(key.startswith("x-") for key in message)
    client, lifespan = await start_client(app)
    try:
        body = {"agent_id": "customer_support", "stream": False}
        longest = await client.post("/api/chat", json={**body, "message": "7" * limit})
        assert longest.status_code == 200, longest.text
        too_long = await client.post("/api/chat", json={**body, "message": "7" * (limit + 1)})
        assert too_long.status_code == 422
        assert too_long.json()["error"]["details"][0]["loc"] == ["body", "message"]
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_a_whole_number_written_as_a_float_is_an_integer(client: httpx.AsyncClient) -> None:
    """JSON Schema's `integer` admits `5.0`; so does the API (schemathesis checks it)."""
    created = await client.post("/api/keys", json={"name": "k", "expires_in_days": 5.0})
    assert created.status_code == 201, created.text
    fraction = await client.post("/api/keys", json={"name": "k", "expires_in_days": 5.5})
    assert fraction.status_code == 422
