"""Authentication: the bootstrap admin, passwords and JWTs (with a negative suite), API
keys (created, listed, revoked), the development switch, and secrets kept out of logs."""

from __future__ import annotations

import base64
import json
import logging
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from agio.api.app import create_app
from agio.config.settings import Settings
from agio.services.auth import AUDIENCE, ISSUER, JWT_SECRET_FILE, WeakSecret
from tests.conftest import PASSWORD, add_user, admin_key, start_client

SECRET = "an-agio-test-secret-that-is-long-enough-for-hs512-0123456789abcdef"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"jwt_secret": SECRET})


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/auth/token",
        data={"username": username, "password": password, "grant_type": "password"},
        headers={"X-API-Key": ""},
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-API-Key": ""}


# ---------------------------------------------------------------------- bootstrap


async def test_first_start_creates_admin_and_an_owner_only_key_file(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    path = settings.data_dir / "admin.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = admin_key(settings)
    assert key.startswith("agio_")
    me = await client.get("/api/auth/me", headers={"X-API-Key": key})
    assert me.status_code == 200
    assert me.json()["username"] == "admin"
    assert me.json()["role"] == "admin"
    assert me.json()["authenticated_by"] == "api_key"
    users = (await client.get("/api/users")).json()
    assert users["total"] == 1


async def test_a_second_start_creates_no_second_admin(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    key = admin_key(settings)
    (settings.data_dir / "admin.key").unlink()
    again, lifespan = await start_client(create_app(settings), as_admin=False)
    try:
        assert not (settings.data_dir / "admin.key").exists()
        listed = await again.get("/api/users", headers={"X-API-Key": key})
        assert listed.json()["total"] == 1
    finally:
        await again.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_requests_without_credentials_are_401_in_the_envelope(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/agents", headers={"X-API-Key": ""})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "Unauthorized"
    assert "Bearer" in response.headers["www-authenticate"]
    health = await client.get("/api/health", headers={"X-API-Key": ""})
    assert health.status_code == 200  # public, for load balancers
    assert health.json()["auth"]["status"] == "enabled"


# ---------------------------------------------------------------------- passwords, JWT


async def test_login_me_and_wrong_passwords(client: httpx.AsyncClient) -> None:
    user_id, _ = await add_user(client, "viewer", "vera")
    response = await login(client, "vera", PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    me = await client.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["user_id"] == user_id
    assert me.json()["authenticated_by"] == "jwt"
    assert "read:run" in me.json()["permissions"]
    assert "execute:agent" not in me.json()["permissions"]
    for username, password in [("vera", "wrong password!!"), ("nobody", PASSWORD)]:
        failed = await login(client, username, password)
        assert failed.status_code == 401
        assert failed.json()["error"]["message"] == "Incorrect username or password"
    admin_has_no_password = await login(client, "admin", "")
    assert admin_has_no_password.status_code == 422


async def test_token_claims(client: httpx.AsyncClient) -> None:
    await add_user(client, "user", "ulla")
    token = (await login(client, "ulla", PASSWORD)).json()["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    assert {"exp", "iat", "iss", "aud", "sub"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 3600


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(user_id: str, **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": user_id,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def _negative_tokens(user_id: str, good: str) -> dict[str, str]:
    header, payload, signature = good.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered = _b64({**decoded, "sub": "usr_someoneelse"})
    now = datetime.now(UTC)
    return {
        "alg none": _b64({"alg": "none", "typ": "JWT"}) + "." + payload + ".",
        "alg none, no signature part": _b64({"alg": "none"}) + "." + payload,
        "wrong signature": jwt.encode(_claims(user_id), "another-secret" * 4, algorithm="HS256"),
        "signed with another allowed algorithm": jwt.encode(
            _claims(user_id), SECRET, algorithm="HS512"
        ),
        "expired": jwt.encode(
            _claims(user_id, iat=now - timedelta(hours=2), exp=now - timedelta(hours=1)),
            SECRET,
            algorithm="HS256",
        ),
        "no exp": jwt.encode(_claims(user_id, exp=None), SECRET, algorithm="HS256"),
        "no iat": jwt.encode(_claims(user_id, iat=None), SECRET, algorithm="HS256"),
        "wrong aud": jwt.encode(_claims(user_id, aud="someone-else"), SECRET, algorithm="HS256"),
        "no aud": jwt.encode(_claims(user_id, aud=None), SECRET, algorithm="HS256"),
        "wrong iss": jwt.encode(_claims(user_id, iss="evil"), SECRET, algorithm="HS256"),
        "no iss": jwt.encode(_claims(user_id, iss=None), SECRET, algorithm="HS256"),
        "unknown subject": jwt.encode(
            _claims("usr_0000000000000000000000000"), SECRET, algorithm="HS256"
        ),
        "tampered payload": f"{header}.{tampered}.{signature}",
        "garbage": "not.a.token",
    }


async def test_jwt_negative_suite(client: httpx.AsyncClient) -> None:
    user_id, _ = await add_user(client, "user", "nina")
    good = (await login(client, "nina", PASSWORD)).json()["access_token"]
    assert (await client.get("/api/auth/me", headers=bearer(good))).status_code == 200
    # the reference token made here is accepted, so each rejection is about its one flaw
    reference = jwt.encode(_claims(user_id), SECRET, algorithm="HS256")
    assert (await client.get("/api/auth/me", headers=bearer(reference))).status_code == 200
    for name, token in _negative_tokens(user_id, good).items():
        response = await client.get("/api/runs", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.json()["error"]["type"] == "Unauthorized", name


async def test_a_disabled_user_is_refused_at_once(client: httpx.AsyncClient) -> None:
    user_id, headers = await add_user(client, "user", "dora")
    token = (await login(client, "dora", PASSWORD)).json()["access_token"]
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 200
    changed = await client.patch(f"/api/users/{user_id}", json={"disabled": True})
    assert changed.status_code == 200
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 401
    assert (await client.get("/api/auth/me", headers=bearer(token))).status_code == 401
    assert (await login(client, "dora", PASSWORD)).status_code == 401


async def test_the_last_admin_cannot_be_removed_or_demoted(client: httpx.AsyncClient) -> None:
    me = (await client.get("/api/auth/me")).json()
    for change in ({"role": "user"}, {"disabled": True}):
        response = await client.patch(f"/api/users/{me['user_id']}", json=change)
        assert response.status_code == 409, change
    assert (await client.delete(f"/api/users/{me['user_id']}")).status_code == 409
    second, _ = await add_user(client, "admin", "ada")
    assert (await client.patch(f"/api/users/{second}", json={"role": "user"})).status_code == 200


async def test_user_management_errors(client: httpx.AsyncClient) -> None:
    await add_user(client, "user", "dup")
    again = await client.post(
        "/api/users", json={"username": "dup", "password": PASSWORD, "role": "user"}
    )
    assert again.status_code == 409
    short = await client.post("/api/users", json={"username": "x", "password": "tiny-pw"})
    assert short.status_code == 422
    assert "tiny-pw" not in short.text  # the password is never echoed
    missing = await client.get("/api/users/usr_nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "UserNotFound"
    listed = (await client.get("/api/users")).json()
    assert "password_hash" not in json.dumps(listed)
    assert "argon2" not in json.dumps(listed)


# ---------------------------------------------------------------------- API keys


async def test_key_lifecycle_shown_once_listed_by_prefix_revoked_at_once(
    client: httpx.AsyncClient,
) -> None:
    user_id, headers = await add_user(client, "user", "kim")
    created = await client.post("/api/keys", json={"name": "laptop"}, headers=headers)
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith("agio_")
    assert key.startswith(body["prefix"])
    assert body["user_id"] == user_id
    assert body["active"] is True
    listed = (await client.get("/api/keys", headers=headers)).json()
    assert listed["total"] == 2  # the test key and this one
    assert key not in json.dumps(listed)
    assert all(item["user_id"] == user_id for item in listed["items"])
    single = await client.get(f"/api/keys/{body['id']}", headers=headers)
    assert key not in single.text
    own = {"X-API-Key": key}
    assert (await client.get("/api/auth/me", headers=own)).json()["key_id"] == body["id"]
    revoked = await client.delete(f"/api/keys/{body['id']}", headers=headers)
    assert revoked.status_code == 204
    after = await client.get("/api/auth/me", headers=own)
    assert after.status_code == 401
    assert "revoked" in after.json()["error"]["message"]
    shown = (await client.get(f"/api/keys/{body['id']}", headers=headers)).json()
    assert shown["active"] is False
    assert shown["revoked_at"] is not None


async def test_malformed_and_unknown_keys_are_401(client: httpx.AsyncClient) -> None:
    real = (await client.post("/api/keys", json={"name": "x"})).json()["key"]
    almost = real[:-1] + ("A" if real[-1] != "A" else "B")
    for key in ["nope", "agio_", "agio_zzzzzzzzzzzz_" + "a" * 43, almost, real + "x"]:
        response = await client.get("/api/agents", headers={"X-API-Key": key})
        assert response.status_code == 401, key


async def test_expired_key_is_refused(client: httpx.AsyncClient, app: FastAPI) -> None:
    created = (await client.post("/api/keys", json={"name": "short", "expires_in_days": 1})).json()
    auth = app.state.agio.auth
    principal = await auth.from_key(created["key"])
    assert principal.key_id == created["id"]
    with pytest.raises(Exception, match="expired"):
        await auth.from_key(created["key"], now=datetime.now(UTC) + timedelta(days=2))


async def test_only_admins_make_keys_for_others(client: httpx.AsyncClient) -> None:
    other, _ = await add_user(client, "user", "olga")
    _, headers = await add_user(client, "user", "pete")
    refused = await client.post("/api/keys", json={"name": "x", "user_id": other}, headers=headers)
    assert refused.status_code == 403


# ---------------------------------------------------------------------- JWT secret


def test_production_refuses_a_missing_or_known_secret(
    make_settings: Callable[..., Settings],
) -> None:
    from agio.services.auth import resolve_jwt_secret

    for secret in [None, "secret", "changeme", "short-but-random-9f8e"]:
        with pytest.raises(WeakSecret):
            resolve_jwt_secret(make_settings(environment="production", jwt_secret=secret))
    good = "k" * 8 + "9f8e7d6c5b4a3928171605f4e3d2c1b0a"
    assert resolve_jwt_secret(make_settings(environment="production", jwt_secret=good)) == good
    # outside development a known default is refused in any environment
    with pytest.raises(WeakSecret):
        resolve_jwt_secret(make_settings(environment="test", jwt_secret="changeme"))
    assert resolve_jwt_secret(make_settings(environment="development", jwt_secret="dev"))


def test_development_keeps_a_generated_secret(make_settings: Callable[..., Settings]) -> None:
    from agio.services.auth import resolve_jwt_secret

    settings = make_settings(environment="development")
    first = resolve_jwt_secret(settings)
    assert len(first) >= 32
    assert resolve_jwt_secret(settings) == first
    path = settings.data_dir / JWT_SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_cors_wildcard_with_credentials_is_refused(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ValueError, match="CORS"):
        make_settings(cors_origins="*", cors_allow_credentials=True)


# ---------------------------------------------------------------------- development switch


@pytest.fixture
def auth_off(settings: Settings) -> FastAPI:
    return create_app(settings.model_copy(update={"auth_disabled": True}))


async def test_auth_off_applies_only_to_loopback_connections(auth_off: FastAPI) -> None:
    lifespan = auth_off.router.lifespan_context(auth_off)
    await lifespan.__aenter__()
    try:
        local = httpx.ASGITransport(app=auth_off, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=local, base_url="http://127.0.0.1") as client:
            me = await client.get("/api/auth/me")
            assert me.status_code == 200
            assert me.json()["authenticated_by"] == "local"
            health = (await client.get("/api/health")).json()
            assert health["auth"]["status"] == "disabled"
        remote_client = httpx.ASGITransport(app=auth_off, client=("203.0.113.9", 5000))
        async with httpx.AsyncClient(
            transport=remote_client, base_url="http://127.0.0.1"
        ) as client:
            assert (await client.get("/api/auth/me")).status_code == 401
        # a server reached on a public address (its scope names that address)
        async with httpx.AsyncClient(transport=local, base_url="http://agio.example.com") as client:
            assert (await client.get("/api/auth/me")).status_code == 401
    finally:
        await lifespan.__aexit__(None, None, None)


def test_agio_serve_refuses_auth_off_on_a_public_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from click.testing import CliRunner

    from agio.cli import main

    monkeypatch.setenv("AGIO_AUTH_DISABLED", "true")
    monkeypatch.setenv("AGIO_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "loopback" in result.output


# ---------------------------------------------------------------------- no secret in logs


async def test_no_secret_reaches_a_response_or_a_log_line(
    client: httpx.AsyncClient,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    key = admin_key(settings)
    _, headers = await add_user(client, "user", "sam")
    user_key = headers["X-API-Key"]
    token = (await login(client, "sam", PASSWORD)).json()["access_token"]
    responses = [
        await client.get("/api/auth/me", headers=bearer(token)),
        await client.get("/api/keys"),
        await client.get("/api/users"),
        await login(client, "sam", "a wrong password that is long"),
        await client.get("/api/agents", headers={"X-API-Key": user_key + "tampered"}),
        await client.post(
            "/api/chat",
            json={"agent_id": "customer_support", "message": "What is 2+2?", "stream": False},
            headers=headers,
        ),
        await client.get("/api/health"),
    ]
    logged = caplog.text + capsys.readouterr().err
    assert "http_request" in logged  # the capture holds the request logs
    for secret in [key, user_key, token, PASSWORD, SECRET, "a wrong password that is long"]:
        assert secret not in logged
        for response in responses:
            assert secret not in response.text
