"""The error envelope, request ids, process time, CORS and the OpenAPI documents."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import start_client


@pytest.fixture
def backend() -> str:  # these tests are about HTTP, not storage
    return "sqlite"


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    made = await client.get("/api/agents")
    assert len(made.headers["x-request-id"]) == 32
    assert float(made.headers["x-process-time"]) >= 0
    echoed = await client.get("/api/agents", headers={"X-Request-ID": "client-req-42"})
    assert echoed.headers["x-request-id"] == "client-req-42"
    unsafe = await client.get("/api/agents", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"
    error = await client.get("/api/agents/nobody", headers={"X-Request-ID": "trace-1"})
    assert error.json()["error"]["request_id"] == "trace-1"


async def test_unknown_route_and_method_use_the_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "NotFound"
    assert response.json()["error"]["path"] == "/api/nothing-here"
    response = await client.patch("/api/agents")
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "MethodNotAllowed"


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/agents", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["type"] == "ValidationError"
    assert body["details"]


async def test_validation_errors_do_not_echo_input(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/agents",
        json={"name": "x", "model": "demo", "api_key": "sk-should-not-come-back"},
    )
    assert response.status_code == 422
    assert "sk-should-not-come-back" not in response.text


async def test_nul_characters_are_refused_not_crashing(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/agents", json={"name": "nul", "model": "demo", "system_prompt": "a\x00b"}
    )
    assert response.status_code == 422
    assert (await client.get("/api/agents/a%00b")).status_code == 422


async def test_unhandled_error_is_500_without_internals(
    make_settings: Callable[..., Settings], configs_dir: Path, tmp_path: Path
) -> None:
    app = create_app(
        make_settings(configs_dir=configs_dir, database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    )

    @app.get("/api/boom")
    async def boom() -> None:
        raise RuntimeError("SELECT secret FROM users -- password=hunter2")

    client, lifespan = await start_client(app)
    try:
        response = await client.get("/api/boom", headers={"X-Request-ID": "boom-1"})
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "boom-1"
    error = response.json()["error"]
    assert error["type"] == "InternalServerError"
    assert error["request_id"] == "boom-1"
    assert "SELECT" not in response.text
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text


async def test_cors_from_settings(
    make_settings: Callable[..., Settings], configs_dir: Path, tmp_path: Path
) -> None:
    app = create_app(
        make_settings(
            configs_dir=configs_dir,
            database_url=f"sqlite+aiosqlite:///{tmp_path}/c.db",
            cors_origins=["https://ui.example.com"],
        )
    )
    client, lifespan = await start_client(app)
    try:
        allowed = await client.options(
            "/api/agents",
            headers={"Origin": "https://ui.example.com", "Access-Control-Request-Method": "GET"},
        )
        other = await client.get("/api/agents", headers={"Origin": "https://evil.example.com"})
        simple = await client.get("/api/agents", headers={"Origin": "https://ui.example.com"})
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
    assert allowed.headers["access-control-allow-origin"] == "https://ui.example.com"
    assert "access-control-allow-origin" not in other.headers
    assert simple.headers["access-control-allow-origin"] == "https://ui.example.com"


def test_wildcard_cors_with_credentials_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="list the allowed origins"):
        Settings(_env_file=None, cors_origins=["*"], cors_allow_credentials=True)  # type: ignore[call-arg]


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGIO_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("AGIO_LOG_LEVEL", "debug")
    monkeypatch.setenv("AGIO_DATA_DIR", "/tmp/agio-x")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.log_level == "DEBUG"
    assert settings.resolved_database_url == "sqlite+aiosqlite:////tmp/agio-x/agio.db"
    assert settings.rate_limit_chat == "10/minute"


async def test_docs_and_schema(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/redoc")).status_code == 200
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    for path in (
        "/api/agents",
        "/api/agents/{agent_id}",
        "/api/config",
        "/api/config/{component_name}",
        "/api/config/{component_name}/history",
        "/api/health",
    ):
        assert path in paths
    # errors are documented with the envelope, not FastAPI's default
    post = paths["/api/agents"]["post"]["responses"]
    assert post["422"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorEnvelope")
    assert "HTTPValidationError" not in schema["components"]["schemas"]
