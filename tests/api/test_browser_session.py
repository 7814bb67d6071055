"""Browser sign-in, through the app on SQLite and PostgreSQL: the cookie flow (a password or
an API key, the cookie's attributes, the session, API routes and an SSE stream on the
cookie alone), CSRF, which credential wins, sign-out and revocation, requests from another
site, expiry, the cache, the `auth` rate limit, two processes, and `agio serve`'s warning."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from agio.api.app import create_app
from agio.config.settings import Settings
from agio.domain.time import utcnow
from tests.conftest import PASSWORD, add_user, redis_settings, start_client

LOCAL = ("127.0.0.1", 50123)
REMOTE = ("203.0.113.7", 50123)
SESSION_COOKIE = "agio_session"  # plain HTTP from loopback
CHAT = {"agent_id": "customer_support", "message": "What is 17 * 23?", "stream": False}


def browser(
    app: FastAPI, *, client: tuple[str, int] = LOCAL, base_url: str = "http://testserver"
) -> httpx.AsyncClient:
    """A client that sends what a browser would: cookies, and no key or token."""
    transport = httpx.ASGITransport(app=app, client=client)
    return httpx.AsyncClient(transport=transport, base_url=base_url)


@pytest.fixture
async def web(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as web:
        yield web


async def sign_in(web: httpx.AsyncClient, **credentials: str) -> dict[str, Any]:
    response = await web.post("/api/auth/session", json=credentials)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def csrf(session: dict[str, Any]) -> dict[str, str]:
    return {"X-CSRF-Token": session["csrf_token"]}


async def new_user(client: httpx.AsyncClient, role: str = "user") -> tuple[str, str, str]:
    """(user id, username, an API key of theirs)"""
    user_id, headers = await add_user(client, role)
    username = (await client.get(f"/api/users/{user_id}")).json()["username"]
    return user_id, username, headers["X-API-Key"]


# ---------------------------------------------------------------------- the cookie flow


async def test_a_password_sign_in_sets_the_cookie_that_authenticates_the_api(
    client: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    user_id, username, _ = await new_user(client)
    response = await web.post(
        "/api/auth/session", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"]
    token = web.cookies[SESSION_COOKIE]
    assert cookie.startswith(f"{SESSION_COOKIE}={token};")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert "secure" not in attributes  # plain HTTP from a loopback address
    max_age = next(int(a.split("=")[1]) for a in attributes if a.startswith("max-age="))
    assert 24 * 3600 - 60 <= max_age <= 24 * 3600
    body = response.json()
    assert body["user_id"] == user_id
    assert body["username"] == username
    assert body["role"] == "user"
    assert body["authenticated_by"] == "session"
    assert body["key_id"] is None
    assert "execute:agent" in body["permissions"]
    assert body["idle_timeout_seconds"] == 120 * 60
    assert token not in response.text
    assert len(body["csrf_token"]) >= 43
    assert body["csrf_token"] != token
    # the session, as the cookie alone says
    current = await web.get("/api/auth/session")
    assert current.status_code == 200
    assert current.json() == body
    assert current.headers["cache-control"] == "no-store"
    me = (await web.get("/api/auth/me")).json()
    assert (me["user_id"], me["authenticated_by"]) == (user_id, "session")
    assert (await web.get("/api/runs")).status_code == 200
    assert (await web.get("/api/users")).status_code == 403  # what the role allows, only


async def test_an_api_key_sign_in_is_bounded_by_the_key(
    client: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    user_id, _ = await add_user(client, "viewer")
    key = (
        await client.post(
            "/api/keys", json={"name": "1d", "user_id": user_id, "expires_in_days": 1}
        )
    ).json()
    session = await sign_in(web, api_key=key["key"])
    assert (session["user_id"], session["role"], session["key_id"]) == (
        user_id,
        "viewer",
        key["id"],
    )
    # the session ends with its key (24 hours from now, but the key's end comes first)
    assert datetime.fromisoformat(session["expires_at"]) == datetime.fromisoformat(
        key["expires_at"]
    )
    assert (await web.get("/api/auth/me")).json()["key_id"] == key["id"]


async def test_the_cookie_runs_a_chat_and_follows_its_stream(
    client: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    _, username, _ = await new_user(client)
    session = await sign_in(web, username=username, password=PASSWORD)
    chat = await web.post("/api/chat", json=CHAT, headers=csrf(session))
    assert chat.status_code == 200, chat.text
    run_id = chat.json()["run_id"]
    stream = await web.get(f"/api/runs/{run_id}/events", headers={"Accept": "text/event-stream"})
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert "event: run_completed" in stream.text
    assert "391" in stream.text


async def test_the_cookie_reads_the_full_health_report(
    client: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    # /api/health reads credentials by hand (it is public): the console's cookie counts
    assert "version" not in (await web.get("/api/health")).json()
    _, username, _ = await new_user(client, "viewer")
    await sign_in(web, username=username, password=PASSWORD)
    report = (await web.get("/api/health")).json()
    assert report["version"]
    assert report["components"]["database"]["latency_ms"] > 0


async def test_sign_in_refusals(client: httpx.AsyncClient, web: httpx.AsyncClient) -> None:
    _, username, key = await new_user(client)
    cases: list[tuple[dict[str, Any], int]] = [
        ({"username": username, "password": "not the password at all"}, 401),
        ({"username": "nobody_here", "password": PASSWORD}, 401),
        ({"api_key": key + "x"}, 401),
        ({"api_key": "agio_000000000000_" + "a" * 43}, 401),
        ({}, 422),
        ({"username": username}, 422),
        ({"username": username, "password": PASSWORD, "api_key": key}, 422),
    ]
    for body, status in cases:
        response = await web.post("/api/auth/session", json=body)
        assert response.status_code == status, (body, response.text)
        assert "set-cookie" not in response.headers
    assert (await web.get("/api/auth/session")).status_code == 401
    assert web.cookies == {}


# ---------------------------------------------------------------------- CSRF and precedence


async def test_a_change_by_the_cookie_needs_the_csrf_token(
    client: httpx.AsyncClient, web: httpx.AsyncClient, app: FastAPI
) -> None:
    _, username, _ = await new_user(client)
    session = await sign_in(web, username=username, password=PASSWORD)
    async with browser(app) as elsewhere:  # another session of the same user
        other = await sign_in(elsewhere, username=username, password=PASSWORD)
    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "wrong"}, csrf(other)):
        refused = await web.post("/api/chat", json=CHAT, headers=headers)
        assert refused.status_code == 403, headers
        assert refused.json()["error"]["type"] == "Forbidden"
        assert "X-CSRF-Token" in refused.json()["error"]["message"]
        out = await web.delete("/api/auth/session", headers=headers)
        assert out.status_code == 403
    assert (await web.get("/api/auth/session")).status_code == 200  # still signed in
    assert (await web.post("/api/chat", json=CHAT, headers=csrf(session))).status_code == 200


async def test_a_key_or_token_sent_wins_over_the_cookie_and_needs_no_csrf(
    client: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    _, username, _ = await new_user(client)
    other_id, _, other_key = await new_user(client, "viewer")
    await sign_in(web, username=username, password=PASSWORD)
    with_key = await web.get("/api/auth/me", headers={"X-API-Key": other_key})
    assert (with_key.json()["user_id"], with_key.json()["authenticated_by"]) == (
        other_id,
        "api_key",
    )
    token = (
        await web.post("/api/auth/token", data={"username": username, "password": PASSWORD})
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await web.get("/api/auth/me", headers=bearer)).json()["authenticated_by"] == "jwt"
    assert (await web.post("/api/chat", json=CHAT, headers=bearer)).status_code == 200
    # a credential that fails is refused, not replaced by the cookie
    assert (
        await web.get("/api/auth/me", headers={"X-API-Key": other_key + "x"})
    ).status_code == 401
    broken = {"Authorization": "Bearer not.a.token"}
    assert (await web.get("/api/auth/me", headers=broken)).status_code == 401


# ---------------------------------------------------------------------- sign-out, revocation


async def test_sign_out_revokes_the_session_and_clears_the_cookie(
    client: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    _, username, _ = await new_user(client)
    session = await sign_in(web, username=username, password=PASSWORD)
    token = web.cookies[SESSION_COOKIE]
    out = await web.delete("/api/auth/session", headers=csrf(session))
    assert out.status_code == 204
    cleared = out.headers["set-cookie"].lower()
    assert cleared.startswith(f"{SESSION_COOKIE}=")
    assert "max-age=0" in cleared
    assert web.cookies.get(SESSION_COOKIE) is None
    # the old cookie, sent again, is refused everywhere, and told to go
    old = {"Cookie": f"{SESSION_COOKIE}={token}"}
    for path in ("/api/auth/session", "/api/auth/me", "/api/runs"):
        response = await web.get(path, headers=old)
        assert response.status_code == 401, path
        assert response.json()["error"]["type"] == "Unauthorized"
    stale = await web.get("/api/auth/session", headers=old)
    assert "max-age=0" in stale.headers["set-cookie"].lower()
    assert (
        await web.delete("/api/auth/session", headers={**old, **csrf(session)})
    ).status_code == 401


async def test_changes_of_the_user_or_the_key_end_its_sessions(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user_id, username, key = await new_user(client)
    key_id = (await client.get("/api/auth/me", headers={"X-API-Key": key})).json()["key_id"]

    async def signed_in(how: dict[str, str]) -> httpx.AsyncClient:
        web = browser(app)
        await sign_in(web, **how)
        assert (await web.get("/api/auth/me")).status_code == 200  # remembered from here on
        return web

    password = {"username": username, "password": PASSWORD}
    by_password, by_key = await signed_in(password), await signed_in({"api_key": key})

    async def status(web: httpx.AsyncClient) -> int:
        return (await web.get("/api/auth/me")).status_code

    # the key revoked: the sessions opened with it end, the others stay
    assert (await client.delete(f"/api/keys/{key_id}")).status_code == 204
    assert (await status(by_key), await status(by_password)) == (401, 200)
    # a new role, a new password, disabling: every session of the user ends
    new_password = {"username": username, "password": "another long password"}
    changes: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({"role": "viewer"}, password),
        ({"password": new_password["password"]}, new_password),
        ({"disabled": True}, new_password),
    ]
    for change, next_sign_in in changes:
        assert (await client.patch(f"/api/users/{user_id}", json=change)).status_code == 200
        assert await status(by_password) == 401, change
        if change.get("disabled"):
            refused = await browser(app).post("/api/auth/session", json=next_sign_in)
            assert refused.status_code == 401
            assert (
                await client.patch(f"/api/users/{user_id}", json={"disabled": False})
            ).status_code == 200
        by_password = await signed_in(next_sign_in)
    # what does not change the user's access keeps the session
    assert (await client.patch(f"/api/users/{user_id}", json={"role": "viewer"})).status_code == 200
    assert (
        await client.patch(f"/api/users/{user_id}", json={"disabled": False})
    ).status_code == 200
    assert await status(by_password) == 200
    assert (await client.delete(f"/api/users/{user_id}")).status_code == 204
    assert await status(by_password) == 401


# ---------------------------------------------------------------------- other sites


async def test_no_cookie_authenticates_a_request_from_another_site(
    client: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    _, username, _ = await new_user(client)
    session = await sign_in(web, username=username, password=PASSWORD)
    foreign: list[dict[str, str]] = [
        {"Origin": "https://evil.example"},
        {"Origin": "http://testserver:8080"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"},
    ]
    for headers in foreign:
        for method, path in (("GET", "/api/auth/me"), ("GET", "/api/auth/session")):
            response = await web.request(method, path, headers=headers)
            assert response.status_code == 401, (headers, path)
        with_csrf = {**headers, **csrf(session)}
        chat = await web.post("/api/chat", json=CHAT, headers=with_csrf)
        assert chat.status_code == 401, headers
        assert (await web.delete("/api/auth/session", headers=with_csrf)).status_code == 401
        refused = await web.post(
            "/api/auth/session",
            json={"username": username, "password": PASSWORD},
            headers=headers,
        )
        assert refused.status_code == 403, headers
        assert "set-cookie" not in refused.headers
    same: list[dict[str, str]] = [
        {"Origin": "http://testserver"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
        {"Origin": "http://testserver:80", "Sec-Fetch-Site": "same-origin"},
    ]
    for headers in same:
        assert (await web.get("/api/auth/me", headers=headers)).status_code == 200, headers
        chat = await web.post("/api/chat", json=CHAT, headers={**headers, **csrf(session)})
        assert chat.status_code == 200, headers


async def test_with_authentication_off_another_site_is_not_the_local_admin(
    settings: Settings,
) -> None:
    app = create_app(settings.model_copy(update={"auth_disabled": True}))
    admin, lifespan = await start_client(app)
    try:
        async with browser(app, base_url="http://127.0.0.1") as web:
            assert (await web.get("/api/auth/me")).json()["authenticated_by"] == "local"
            for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
                assert (await web.get("/api/auth/me", headers=headers)).status_code == 401
    finally:
        await admin.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_over_https_the_cookie_is_secure_and_plain_http_from_elsewhere_is_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, username, _ = await new_user(client)
    password = {"username": username, "password": PASSWORD}
    async with browser(app, client=REMOTE, base_url="https://agio.example") as web:
        response = await web.post("/api/auth/session", json=password)
        assert response.status_code == 200, response.text
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("__Host-agio_session=")
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite=strict", "path=/"} <= attributes
        assert not any(a.startswith("domain=") for a in attributes)
        assert (await web.get("/api/auth/me")).json()["authenticated_by"] == "session"
        # the plain-HTTP name is not read over HTTPS (no other host can have set it)
        token = web.cookies["__Host-agio_session"]
        web.cookies.clear()
        tossed = {"Cookie": f"{SESSION_COOKIE}={token}"}
        assert (await web.get("/api/auth/me", headers=tossed)).status_code == 401
        # over HTTPS, a page on plain HTTP is another origin
        insecure = {"Origin": "http://agio.example", "Cookie": f"__Host-agio_session={token}"}
        assert (await web.get("/api/auth/me", headers=insecure)).status_code == 401
    async with browser(app, client=REMOTE, base_url="http://agio.example") as web:
        refused = await web.post("/api/auth/session", json=password)
        assert refused.status_code == 403
        assert "HTTPS" in refused.json()["error"]["message"]
        assert "set-cookie" not in refused.headers


# ---------------------------------------------------------------------- expiry


@pytest.fixture
def shift(app: FastAPI, client: httpx.AsyncClient) -> Callable[[timedelta], None]:
    """Move the sessions' clock (this process's) forward by the given time from now."""
    sessions = app.state.agio.auth.sessions
    offset = [timedelta(0)]
    sessions.clock = lambda: utcnow() + offset[0]

    def move(by: timedelta) -> None:
        offset[0] = by

    return move


async def test_a_session_ends_when_idle(
    client: httpx.AsyncClient, web: httpx.AsyncClient, shift: Callable[[timedelta], None]
) -> None:
    _, username, _ = await new_user(client)
    await sign_in(web, username=username, password=PASSWORD)
    idle = timedelta(minutes=120)
    shift(idle - timedelta(seconds=5))
    assert (await web.get("/api/auth/me")).status_code == 200  # used: idle from here
    shift(2 * idle - timedelta(seconds=10))
    assert (await web.get("/api/auth/me")).status_code == 200
    shift(3 * idle)
    assert (await web.get("/api/auth/me")).status_code == 401
    assert (await web.get("/api/auth/session")).status_code == 401


async def test_a_session_ends_at_its_maximum_age_however_much_it_is_used(
    client: httpx.AsyncClient, web: httpx.AsyncClient, shift: Callable[[timedelta], None]
) -> None:
    _, username, _ = await new_user(client)
    await sign_in(web, username=username, password=PASSWORD)
    step = timedelta(minutes=100)
    elapsed = step
    while elapsed < timedelta(hours=24):
        shift(elapsed)
        assert (await web.get("/api/auth/me")).status_code == 200, elapsed
        elapsed += step
    shift(timedelta(hours=24, seconds=1))
    assert (await web.get("/api/auth/me")).status_code == 401


# ---------------------------------------------------------------------- cache, rate limit


@pytest.fixture
def session_statements(app: FastAPI, client: httpx.AsyncClient) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        statement = args[2].lower()
        if any(table in statement for table in ("browser_sessions", "users", "api_keys")):
            seen.append(statement)

    engine = app.state.agio.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_a_repeated_request_with_the_cookie_reads_no_session(
    client: httpx.AsyncClient, web: httpx.AsyncClient, session_statements: list[str]
) -> None:
    _, username, _ = await new_user(client)
    await sign_in(web, username=username, password=PASSWORD)
    assert (await web.get("/api/auth/me")).status_code == 200
    session_statements.clear()
    for path in ("/api/auth/me", "/api/auth/session", "/api/runs", "/api/auth/me"):
        assert (await web.get(path)).status_code == 200
    assert session_statements == []


async def test_sign_ins_count_against_the_auth_rate_limit(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"rate_limit_auth": "3/minute"}))
    admin, lifespan = await start_client(app)
    try:
        _, username, _ = await new_user(admin)
        async with browser(app) as web:
            good = {"username": username, "password": PASSWORD}
            assert (await web.post("/api/auth/session", json=good)).status_code == 200
            bad = {"username": username, "password": "not the password at all"}
            assert (await web.post("/api/auth/session", json=bad)).status_code == 401
            assert (await web.post("/api/auth/session", json=good)).status_code == 200
            limited = await web.post("/api/auth/session", json=good)
            assert limited.status_code == 429
            assert "Retry-After" in limited.headers
    finally:
        await admin.aclose()
        await lifespan.__aexit__(None, None, None)


# ---------------------------------------------------------------------- two processes


Pair = tuple[FastAPI, FastAPI, httpx.AsyncClient]


@pytest.fixture
async def pair_of(
    make_settings: Callable[..., Settings], configs_dir: Any
) -> AsyncIterator[Callable[..., Awaitable[Pair]]]:
    """Two apps on one database (and bus, if any), each remembering for an hour, and the
    first one's admin client."""
    opened: list[tuple[httpx.AsyncClient, Any]] = []

    async def start(**overrides: Any) -> Pair:
        settings = make_settings(configs_dir=configs_dir, auth_cache_seconds=3600, **overrides)
        one, two = create_app(settings), create_app(settings)
        for app in (one, two):
            opened.append(await start_client(app))
        return one, two, opened[0][0]

    yield start
    for client, lifespan in reversed(opened):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def _signed_out_on_one_refused_on_the_other(pair: Pair) -> None:
    one, two, admin = pair
    _, username, _ = await new_user(admin)
    async with browser(one) as here, browser(two) as there:
        session = await sign_in(here, username=username, password=PASSWORD)
        there.cookies.update(here.cookies)
        assert (await there.get("/api/auth/me")).status_code == 200  # remembered there
        assert (await here.delete("/api/auth/session", headers=csrf(session))).status_code == 204
        async with asyncio.timeout(10):
            while (await there.get("/api/auth/me")).status_code != 401:
                await asyncio.sleep(0.02)


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
async def test_apps_sharing_postgresql_and_redis_hear_of_a_sign_out(
    pair_of: Callable[..., Awaitable[Pair]], database_url: str, redis_url: str
) -> None:
    pair = await pair_of(database_url=database_url, **redis_settings(redis_url))
    await _signed_out_on_one_refused_on_the_other(pair)


async def test_apps_sharing_a_sqlite_file_see_a_sign_out_without_a_bus(
    pair_of: Callable[..., Awaitable[Pair]],
) -> None:
    await _signed_out_on_one_refused_on_the_other(await pair_of())


# ---------------------------------------------------------------------- agio serve


@pytest.mark.parametrize(
    ("host", "proxies", "warned"),
    [("0.0.0.0", "", True), ("127.0.0.1", "", False), ("0.0.0.0", "10.0.0.1", False)],
)
def test_agio_serve_warns_that_plain_http_elsewhere_has_no_browser_sign_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, host: str, proxies: str, warned: bool
) -> None:
    import uvicorn
    from click.testing import CliRunner

    from agio.cli import main

    served: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: served.append(kwargs))
    monkeypatch.setenv("AGIO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AGIO_TRUSTED_PROXIES", proxies)
    result = CliRunner().invoke(main, ["serve", "--host", host, "--port", "0"])
    assert result.exit_code == 0, result.output
    assert [call["host"] for call in served] == [host]
    assert ("cannot sign in to the console" in result.output) is warned
