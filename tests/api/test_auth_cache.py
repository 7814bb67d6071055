"""Authentication from the cache, through the app: a repeated request with a key or a
token reads neither users nor keys (SQLite and PostgreSQL); two apps sharing PostgreSQL
and Redis, or one SQLite file without Redis, refuse a key revoked, or a user disabled, on
the other one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import PASSWORD, add_user, redis_settings, start_client

SECRET = "an-agio-test-secret-that-is-long-enough-for-hs512-0123456789abcdef"

Pair = tuple[httpx.AsyncClient, httpx.AsyncClient]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"jwt_secret": SECRET})


@pytest.fixture
def auth_statements(app: FastAPI, client: httpx.AsyncClient) -> Iterator[list[str]]:
    """The SQL statements that read or write users or keys, once the app has started."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        statement = args[2].lower()
        if "api_keys" in statement or "users" in statement:
            seen.append(statement)

    engine = app.state.agio.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _token(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await client.post(
        "/api/auth/token",
        data={"username": username, "password": PASSWORD},
        headers={"X-API-Key": ""},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}", "X-API-Key": ""}


async def test_a_repeated_request_reads_no_user_or_key(
    client: httpx.AsyncClient, auth_statements: list[str]
) -> None:
    _, with_key = await add_user(client, "user", "kim")
    with_token = await _token(client, "kim")
    for headers in (with_key, with_token):
        assert (await client.get("/api/auth/me", headers=headers)).status_code == 200
    assert auth_statements  # the first ones read them
    auth_statements.clear()
    for _ in range(3):
        for headers in (with_key, with_token):
            assert (await client.get("/api/auth/me", headers=headers)).status_code == 200
    assert auth_statements == []


async def test_revoke_disable_and_role_change_act_on_the_next_request(
    client: httpx.AsyncClient,
) -> None:
    user_id, with_key = await add_user(client, "user", "kim")
    with_token = await _token(client, "kim")

    async def me(headers: dict[str, str]) -> tuple[int, str | None]:
        response = await client.get("/api/auth/me", headers=headers)
        return response.status_code, response.json().get("role")

    assert await me(with_key) == (200, "user")  # remembered from here on
    assert await me(with_token) == (200, "user")
    await client.patch(f"/api/users/{user_id}", json={"role": "viewer"})
    assert await me(with_key) == (200, "viewer")
    assert await me(with_token) == (200, "viewer")
    await client.patch(f"/api/users/{user_id}", json={"disabled": True})
    assert (await me(with_key))[0] == 401
    assert (await me(with_token))[0] == 401
    await client.patch(f"/api/users/{user_id}", json={"disabled": False})
    assert await me(with_key) == (200, "viewer")
    key_id = (await client.get("/api/auth/me", headers=with_key)).json()["key_id"]
    assert (await client.delete(f"/api/keys/{key_id}")).status_code == 204
    assert (await me(with_key))[0] == 401
    assert (await me(with_token))[0] == 200
    assert (await client.delete(f"/api/users/{user_id}")).status_code == 204
    assert (await me(with_token))[0] == 401


# ---------------------------------------------------------------------- two processes


@pytest.fixture
async def pair_of(
    make_settings: Callable[..., Settings], configs_dir: Any
) -> AsyncIterator[Callable[..., Awaitable[Pair]]]:
    """Two apps on the same database (and bus, if any), each remembering for an hour: only
    a notice or the change stamp can tell them of a change."""
    opened: list[tuple[httpx.AsyncClient, Any]] = []

    async def start(**overrides: Any) -> Pair:
        settings = make_settings(
            configs_dir=configs_dir, jwt_secret=SECRET, auth_cache_seconds=3600, **overrides
        )
        for _ in range(2):
            opened.append(await start_client(create_app(settings)))
        return opened[0][0], opened[1][0]

    yield start
    for client, lifespan in reversed(opened):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def _refused_within(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    """The status of /api/auth/me once it is no longer 200, polled for up to 10 s."""
    async with asyncio.timeout(10):
        while True:
            status = (await client.get("/api/auth/me", headers=headers)).status_code
            if status != 200:
                return status
            await asyncio.sleep(0.02)


async def _revoke_and_disable_on_one_refused_on_the_other(one: Any, two: Any) -> None:
    user_id, with_key = await add_user(one, "user", "kim")
    _, other_key = await add_user(one, "user", "lea")
    with_token = await _token(one, "kim")
    for headers in (with_key, other_key, with_token):
        assert (await two.get("/api/auth/me", headers=headers)).status_code == 200
    key_id = (await two.get("/api/auth/me", headers=other_key)).json()["key_id"]
    assert (await one.delete(f"/api/keys/{key_id}")).status_code == 204
    assert await _refused_within(two, other_key) == 401
    assert (await one.patch(f"/api/users/{user_id}", json={"disabled": True})).status_code == 200
    assert await _refused_within(two, with_key) == 401
    assert await _refused_within(two, with_token) == 401


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
async def test_apps_sharing_postgresql_and_redis_hear_each_other_s_changes(
    pair_of: Callable[..., Awaitable[Pair]], database_url: str, redis_url: str
) -> None:
    one, two = await pair_of(database_url=database_url, **redis_settings(redis_url))
    await _revoke_and_disable_on_one_refused_on_the_other(one, two)


async def test_apps_sharing_a_sqlite_file_see_each_other_s_changes_without_a_bus(
    pair_of: Callable[..., Awaitable[Pair]],
) -> None:
    one, two = await pair_of()
    await _revoke_and_disable_on_one_refused_on_the_other(one, two)
