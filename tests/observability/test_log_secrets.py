"""No log format prints local variables or request bodies: a 500 in the middle of an
authenticated request (by a key, or by a browser session's cookie) and a failed login
leave neither the key, the password, the session's cookie nor its CSRF token in any log
line."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from agio.api.app import create_app
from agio.config.settings import Settings
from agio.services.components import ComponentService
from agio.storage.users import UserRepository
from tests.conftest import PASSWORD, add_user, admin_key, start_client

WRONG_PASSWORD = "not the password but a secret all the same"


class Boom(RuntimeError):
    """What a bug deep in a request looks like."""


@pytest.mark.parametrize("log_format", ["console", "json"])
async def test_a_500_and_a_failed_login_log_no_secret(
    log_format: str,
    make_settings: Callable[..., Settings],
    configs_dir: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(configs_dir=configs_dir, log_format=log_format, log_level="INFO")
    app = create_app(settings)
    client, lifespan = await start_client(app)
    # the bootstrap banner shows the admin key once, on purpose, on the terminal: it is
    # not a log line, and the test reads what is written after it
    assert admin_key(settings) in capsys.readouterr().err
    try:
        caplog.set_level(logging.DEBUG)
        key = admin_key(settings)
        _, headers = await add_user(client, "user", "leaky")
        user_key = headers["X-API-Key"]

        async def broken_list(self: ComponentService, **kwargs: Any) -> Any:
            secret_in_a_local = user_key  # a frame that holds the secret, as real ones do
            raise Boom(f"failed after {len(secret_in_a_local)} characters")

        # a browser signed in, by password and by key, its cookie and CSRF token in use
        web = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        signed_in = await web.post(
            "/api/auth/session", json={"username": "leaky", "password": PASSWORD}
        )
        assert signed_in.status_code == 200
        by_key = await web.post("/api/auth/session", json={"api_key": user_key})
        assert by_key.status_code == 200
        cookie = web.cookies["agio_session"]
        csrf = {"X-CSRF-Token": by_key.json()["csrf_token"]}
        session_secrets = [cookie, signed_in.json()["csrf_token"], csrf["X-CSRF-Token"]]
        refused = await web.post("/api/auth/session", json={"api_key": user_key + "x"})
        assert refused.status_code == 401
        wrong_csrf = await web.post("/api/chat", json={}, headers={"X-CSRF-Token": cookie})
        assert wrong_csrf.status_code == 403

        monkeypatch.setattr(ComponentService, "list_agents", broken_list)
        failed = await client.get("/api/agents", headers=headers)
        assert failed.status_code == 500
        assert (await web.get("/api/agents", headers=csrf)).status_code == 500
        wrong_session = await web.post(
            "/api/auth/session", json={"username": "leaky", "password": WRONG_PASSWORD}
        )
        assert wrong_session.status_code == 401
        assert (await web.delete("/api/auth/session", headers=csrf)).status_code == 204
        await web.aclose()
        wrong = await client.post(
            "/api/auth/token", data={"username": "leaky", "password": WRONG_PASSWORD}
        )
        assert wrong.status_code == 401

        async def broken_lookup(self: UserRepository, username: str) -> Any:
            raise Boom("the user table is gone")

        monkeypatch.setattr(UserRepository, "by_username", broken_lookup)
        crashed = await client.post(
            "/api/auth/token", data={"username": "leaky", "password": PASSWORD}
        )
        assert crashed.status_code == 500
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
    logged = capsys.readouterr().err
    # the failures were logged, with their tracebacks, in the chosen format
    assert logged.count("unhandled_error") >= 3
    assert "Boom" in logged
    assert "Traceback" in logged
    assert "browser_session_opened" in logged  # the sign-ins were logged, with no secret
    for secret in (key, user_key, PASSWORD, WRONG_PASSWORD, *session_secrets):
        for line in logged.splitlines() + caplog.text.splitlines():
            assert secret not in line
            assert secret[:24] not in line
