"""Rate limits (per caller and route group; shared through Redis) and resource limits (body
size, message length, max_steps, active runs, token budgets)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import add_user, redis_settings, start_client

CHAT: dict[str, Any] = {"agent_id": "customer_support", "message": "What is 2+2?", "stream": False}


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def make_client(
    settings: Settings,
) -> Callable[..., Any]:
    """An app with some settings changed, behind a client (as the bootstrap admin)."""
    opened: list[tuple[httpx.AsyncClient, Any]] = []

    async def make(**changes: Any) -> httpx.AsyncClient:
        client, lifespan = await start_client(create_app(settings.model_copy(update=changes)))
        opened.append((client, lifespan))
        return client

    make.opened = opened  # type: ignore[attr-defined]
    return make


@pytest.fixture
async def limited(make_client: Callable[..., Any]) -> AsyncIterator[Callable[..., Any]]:
    yield make_client
    for client, lifespan in make_client.opened:  # type: ignore[attr-defined]
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


# ---------------------------------------------------------------------- rate limits


async def test_request_n_plus_one_is_429_with_an_honest_retry_after(
    limited: Callable[..., Any],
) -> None:
    client = await limited(rate_limit_chat="3 per 3 seconds")
    _, headers = await add_user(client, "user")
    first_hit = time.time()
    for remaining in (2, 1, 0):
        ok = await client.post("/api/chat", json=CHAT, headers=headers)
        assert ok.status_code == 200, ok.text
        assert ok.headers["ratelimit-limit"] == "3"
        assert ok.headers["ratelimit-remaining"] == str(remaining)
    refused = await client.post("/api/chat", json=CHAT, headers=headers)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "RateLimited"
    retry_after = int(refused.headers["retry-after"])
    assert refused.headers["ratelimit-remaining"] == "0"
    # the window frees its first slot 3 s after the first hit: Retry-After is not shorter
    real_wait = first_hit + 3 - time.time()
    assert retry_after >= math.floor(real_wait)
    assert retry_after <= 4
    # ...and waiting that long is enough
    await asyncio.sleep(retry_after + 0.05)
    again = await client.post("/api/chat", json=CHAT, headers=headers)
    assert again.status_code == 200, again.text


async def test_limits_are_per_caller_and_per_group(limited: Callable[..., Any]) -> None:
    client = await limited(rate_limit_chat="1/minute", rate_limit_read="5/minute")
    _, alice = await add_user(client, "user")
    _, bob = await add_user(client, "user")
    assert (await client.post("/api/chat", json=CHAT, headers=alice)).status_code == 200
    assert (await client.post("/api/chat", json=CHAT, headers=alice)).status_code == 429
    assert (await client.post("/api/chat", json=CHAT, headers=bob)).status_code == 200
    # reads are another group, with their own count
    for _ in range(5):
        assert (await client.get("/api/agents", headers=alice)).status_code == 200
    assert (await client.get("/api/agents", headers=alice)).status_code == 429


async def test_failed_authentication_is_limited_by_client_address(
    limited: Callable[..., Any],
) -> None:
    client = await limited(rate_limit_auth="3/minute")
    bad = {"X-API-Key": "agio_000000000000_" + "x" * 43}
    for _ in range(3):
        assert (await client.get("/api/agents", headers=bad)).status_code == 401
    blocked = await client.get("/api/agents", headers=bad)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    form = {"username": "admin", "password": "guess-guess-guess"}
    no_key = {"X-API-Key": ""}
    assert (await client.post("/api/auth/token", data=form, headers=no_key)).status_code == 429
    # a valid key still works: the limit counts failures, not the caller's real traffic
    assert (await client.get("/api/agents")).status_code == 200


async def test_forwarded_for_is_believed_from_trusted_proxies_only(
    settings: Settings,
) -> None:
    async def tries(trusted: list[str]) -> list[int]:
        app = create_app(
            settings.model_copy(update={"rate_limit_auth": "1/minute", "trusted_proxies": trusted})
        )
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        transport = httpx.ASGITransport(app=app, client=("10.0.0.2", 4000))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                statuses = []
                for forwarded in ("198.51.100.1", "198.51.100.2"):
                    response = await client.post(
                        "/api/auth/token",
                        data={"username": "x", "password": "y"},
                        headers={"X-Forwarded-For": forwarded},
                    )
                    statuses.append(response.status_code)
                return statuses
        finally:
            await lifespan.__aexit__(None, None, None)

    # behind a trusted proxy, two clients: each has its own allowance
    assert await tries(["10.0.0.0/8"]) == [401, 401]
    # from anyone else the header is ignored: both count against the proxy's address
    assert await tries([]) == [401, 429]


async def test_two_processes_share_one_limit_through_redis(
    settings: Settings, redis_url: str
) -> None:
    shared = settings.model_copy(
        update={"rate_limit_chat": "3/minute", **redis_settings(redis_url)}
    )
    a, lifespan_a = await start_client(create_app(shared))
    b, lifespan_b = await start_client(create_app(shared))
    try:
        statuses = [
            (await client.post("/api/chat", json=CHAT)).status_code for client in (a, b, a, b)
        ]
        assert statuses == [200, 200, 200, 429]
        # a process with another prefix (another deployment) has its own counters
        other = settings.model_copy(
            update={
                "rate_limit_chat": "3/minute",
                **redis_settings(redis_url + "_other"),
            }
        )
        c, lifespan_c = await start_client(create_app(other))
        try:
            assert (await c.post("/api/chat", json=CHAT)).status_code == 200
        finally:
            await c.aclose()
            await lifespan_c.__aexit__(None, None, None)
    finally:
        for client, lifespan in ((a, lifespan_a), (b, lifespan_b)):
            await client.aclose()
            await lifespan.__aexit__(None, None, None)


async def test_a_failing_limiter_lets_requests_through(
    limited: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await limited(rate_limit_chat="1/minute")
    app = client._transport.app  # type: ignore[attr-defined]
    limiter = app.state.agio.rate_limits._limiter

    async def down(*args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("the limiter's storage is unreachable")

    monkeypatch.setattr(limiter, "hit", down)
    for _ in range(2):
        assert (await client.post("/api/chat", json=CHAT)).status_code == 200


# ---------------------------------------------------------------------- resource limits


async def test_request_body_size_is_limited(limited: Callable[..., Any]) -> None:
    client = await limited(max_body_bytes=4096)
    big = {**CHAT, "message": "x" * 5000}
    response = await client.post("/api/chat", json=big)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "PayloadTooLarge"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"agent_id": "customer_support", "message": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    streamed = await client.post(
        "/api/chat", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert streamed.json()["error"]["type"] == "PayloadTooLarge"
    assert (await client.get("/api/runs")).json()["total"] == 0  # nothing was started


async def test_message_length_is_limited(limited: Callable[..., Any]) -> None:
    client = await limited(max_message_chars=100)
    response = await client.post("/api/chat", json={**CHAT, "message": "x" * 101})
    assert response.status_code == 422
    assert "AGIO_MAX_MESSAGE_CHARS" in response.json()["error"]["message"]
    assert (await client.post("/api/chat", json={**CHAT, "message": "x" * 100})).status_code == 200


async def test_max_steps_has_a_ceiling(limited: Callable[..., Any]) -> None:
    client = await limited(max_steps_ceiling=5)
    agent = {"name": "greedy", "model": "demo", "config": {"max_steps": 6}}
    refused = await client.post("/api/agents", json=agent)
    assert refused.status_code == 422
    assert "AGIO_MAX_STEPS_CEILING" in refused.json()["error"]["message"]
    as_config = await client.put("/api/config/greedy", json={"config": {"type": "agent", **agent}})
    assert as_config.status_code == 422
    agent["config"] = {"max_steps": 5}
    assert (await client.post("/api/agents", json=agent)).status_code == 201
    run = (await client.post("/api/chat", json=CHAT)).json()
    checkpoint = (await client.get(f"/api/runs/{run['run_id']}/checkpoints")).json()
    fork = await client.post(
        f"/api/checkpoints/{checkpoint['checkpoints'][0]['id']}/fork",
        json={"modifications": {"max_steps": 6}},
    )
    assert fork.status_code == 422


async def test_active_runs_per_user_are_limited(
    limited: Callable[..., Any], add_components: Callable[[str, list[dict[str, Any]]], None]
) -> None:
    add_components(
        "slow.yaml",
        [
            {
                "type": "model",
                "name": "slow_model",
                "provider": "scripted",
                "model": "scripted",
                "chunk_size": 1,
                "chunk_delay": 0.2,
                "responses": [{"content": "slow answer"}],
            },
            {"type": "agent", "name": "slow_one", "model": "slow_model"},
        ],
    )
    client = await limited(max_active_runs_per_user=2)
    _, user = await add_user(client, "user")
    _, other = await add_user(client, "user")
    slow = {"agent_id": "slow_one", "message": "go", "stream": False}
    running = [
        asyncio.create_task(client.post("/api/chat", json=slow, headers=user)) for _ in range(2)
    ]
    deadline = time.monotonic() + 10
    while (await client.get("/api/runs", params={"status": "running"})).json()["total"] < 2:
        assert time.monotonic() < deadline, [(await t).text for t in running if t.done()]
        await asyncio.sleep(0.05)
    third = await client.post("/api/chat", json=slow, headers=user)
    assert third.status_code == 429
    assert "AGIO_MAX_ACTIVE_RUNS_PER_USER" in third.json()["error"]["message"]
    assert third.headers["retry-after"] == "1"
    assert (await client.post("/api/chat", json=CHAT, headers=other)).status_code == 200
    for task in running:
        assert (await task).status_code == 200
    assert (await client.post("/api/chat", json=CHAT, headers=user)).status_code == 200


async def test_token_budgets(limited: Callable[..., Any]) -> None:
    # the demo model reports its usage; a run with a tool call needs two model calls
    client = await limited(max_tokens_per_run=1, max_tokens_per_user_per_day=None)
    response = await client.post("/api/chat", json={**CHAT, "message": "What is 6 * 7?"})
    body = response.json()
    assert body["status"] == "failed"
    assert body["error"]["type"] == "TokenBudgetExceeded"
    used = body["metrics"]["total_tokens"]
    assert used >= 1

    daily = await limited(max_tokens_per_user_per_day=used + 1)
    _, user = await add_user(daily, "user")
    first = await daily.post("/api/chat", json=CHAT, headers=user)
    assert first.json()["status"] == "completed"
    second = await daily.post("/api/chat", json=CHAT, headers=user)
    if first.json()["metrics"]["total_tokens"] < used + 1:
        second = await daily.post("/api/chat", json=CHAT, headers=user)
    assert second.status_code == 429
    assert "AGIO_MAX_TOKENS_PER_USER_PER_DAY" in second.json()["error"]["message"]
    assert 0 < int(second.headers["retry-after"]) <= 86_401
    _, fresh = await add_user(daily, "user")
    assert (await daily.post("/api/chat", json=CHAT, headers=fresh)).status_code == 200


def test_bad_rate_limit_settings_fail_at_start(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ValueError, match="not a rate limit"):
        make_settings(rate_limit_chat="ten a minute")
    with pytest.raises(ValueError, match="not an IP address"):
        make_settings(trusted_proxies="proxy.local")
