"""Text a database cannot store (NUL, unpaired surrogates) is a 422 on every input, the
same on SQLite and PostgreSQL, and nothing is lost: not the caller's data, nor anyone's."""

from __future__ import annotations

import json
from typing import Any

import httpx

NUL = "evil\u0000"
SURROGATE = "half \ud800 a character"


def assert_refused(response: httpx.Response, loc: list[Any] | None = None) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    if response.url.path.startswith("/v1/"):  # the OpenAI-compatible API's error shape
        assert (error["type"], error["code"]) == ("invalid_request_error", "validation_error")
        assert "a database cannot store" in error["message"]
        if loc is not None:
            assert error["param"] == ".".join(str(part) for part in loc[1:])
        return
    assert error["type"] == "ValidationError"
    assert error["details"][0]["type"] == "unstorable_text"
    if loc is not None:
        assert error["details"][0]["loc"] == loc


def raw_json(value: Any) -> bytes:
    """JSON as a client writes it: `\\u0000` and lone surrogates as escapes."""
    return json.dumps(value).encode()


async def post_json(client: httpx.AsyncClient, url: str, value: Any) -> httpx.Response:
    return await client.post(
        url, content=raw_json(value), headers={"Content-Type": "application/json"}
    )


async def test_the_inputs_found_by_the_attacker_are_refused(client: httpx.AsyncClient) -> None:
    chat = {"agent_id": "customer_support", "stream": False}
    assert_refused(
        await post_json(client, "/api/chat", {**chat, "message": NUL}), ["body", "message"]
    )
    assert_refused(await post_json(client, "/api/chat", {**chat, "message": SURROGATE}))
    # public, form-encoded and multipart
    token = await client.post(
        "/api/auth/token",
        content=b"username=ad%00min&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_refused(token, ["body", "username"])
    multipart = await client.post(
        "/api/auth/token", files={"username": (None, "ad\x00min"), "password": (None, "x")}
    )
    assert_refused(multipart, ["body", "username"])
    added = await post_json(
        client, "/api/knowledge/product_docs/documents", {"name": "x.md", "content": NUL}
    )
    assert_refused(added)
    # a real run with checkpoints, then every text of the checkpoint routes
    done = (await client.post("/api/chat", json={**chat, "message": "What is 6*7?"})).json()
    run_id = done["run_id"]
    checkpoints = (await client.get(f"/api/runs/{run_id}/checkpoints")).json()["checkpoints"]
    ckpt = checkpoints[0]["id"]
    for body in ({"description": NUL}, {"description": "ok", "tags": ["a", NUL]}):
        assert_refused(await post_json(client, f"/api/runs/{run_id}/checkpoints", body))
    for body in (
        {"description": NUL},
        {"modifications": {"system_prompt": NUL}},
        {"modifications": {"modified_query": NUL}},
    ):
        assert_refused(await post_json(client, f"/api/checkpoints/{ckpt}/fork", body))
    restore = {"create_new_run": True, "modifications": {"modified_query": NUL}}
    assert_refused(await post_json(client, f"/api/checkpoints/{ckpt}/restore", restore))
    # the query string, the path
    assert_refused(await client.get("/api/runs", params={"agent_id": NUL}), ["query", "agent_id"])
    assert_refused(await client.get("/api/agents/cust%00omer"), ["path"])
    # nothing was written by any of them, and the server is fine
    runs = (await client.get("/api/runs", params={"limit": 100})).json()
    assert runs["total"] == 1
    again = await client.post("/api/chat", json={**chat, "message": "And 2+2?"})
    assert again.json()["status"] == "completed"


async def test_text_that_only_looks_like_it_is_accepted(client: httpx.AsyncClient) -> None:
    chat = {"agent_id": "customer_support", "stream": False}
    for message in ("a backslash and u0000: \\u0000", "an emoji: \U0001f600 (two escapes)"):
        response = await post_json(client, "/api/chat", {**chat, "message": message})
        assert response.status_code == 200, response.text
        run = (await client.get(f"/api/runs/{response.json()['run_id']}")).json()
        assert run["input_query"] == message


async def test_every_route_with_a_body_refuses_it_before_anything_else(
    client: httpx.AsyncClient,
) -> None:
    """One rule at the edge: whatever the route, its body's schema and its resources."""
    schema = (await client.get("/openapi.json")).json()
    checked = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            url = path.replace("{", "x").replace("}", "")
            if any(t.endswith("json") for t in content):
                response = await client.request(
                    method,
                    url,
                    content=raw_json({"anything": [NUL]}),
                    headers={"Content-Type": "application/json"},
                )
                assert_refused(response, ["body", "anything", 0])
                checked += 1
            if "application/x-www-form-urlencoded" in content:
                response = await client.request(
                    method,
                    url,
                    content=b"anything=%00",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                assert_refused(response, ["body", "anything"])
                checked += 1
    assert checked >= 10


async def test_json_in_utf16_and_deep_nesting_are_no_way_around(
    client: httpx.AsyncClient,
) -> None:
    body = {"agent_id": "customer_support", "message": NUL, "stream": False}
    for encoding in ("utf-16", "utf-32"):
        response = await client.post(
            "/api/chat",
            content=json.dumps(body).encode(encoding),
            headers={"Content-Type": "application/json"},
        )
        assert_refused(response, ["body", "message"])
    deep = b"[" * 5000 + b'"\\u0000"' + b"]" * 5000
    response = await client.post(
        "/api/chat", content=deep, headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    assert (await client.get("/api/runs")).json()["total"] == 0
