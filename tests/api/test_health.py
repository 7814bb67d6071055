"""`/api/health` probes each dependency for real."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import start_client


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def test_healthy_on_bundled_configs(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["timestamp"].endswith("Z")
    components = body["components"]
    assert components["database"]["status"] == "ok"
    assert components["database"]["latency_ms"] > 0
    assert components["cache"]["status"] == "ok"
    assert components["llm"]["models"] == {"demo": "ok", "openai": "not_configured"}
    assert components["configs"] == {
        "status": "ok",
        "latency_ms": None,
        "detail": None,
        "problems": [],
    }


async def test_database_failure_makes_it_unhealthy(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_ping() -> None:
        raise ConnectionRefusedError("db at 10.0.0.5 refused; password=hunter2")

    monkeypatch.setattr(app.state.agio.db, "ping", broken_ping)
    response = await client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["components"]["database"]["status"] == "unhealthy"
    assert "hunter2" not in response.text
    assert "10.0.0.5" not in response.text


async def test_slow_database_times_out(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def slow_ping() -> None:
        await asyncio.sleep(5)

    monkeypatch.setattr(app.state.agio.db, "ping", slow_ping)
    monkeypatch.setattr(app.state.agio.health, "timeout", 0.05)
    body = (await client.get("/api/health")).json()
    assert body["components"]["database"] == {
        "status": "unhealthy",
        "latency_ms": None,
        "detail": "sqlite: timed out",
    }


@pytest.fixture
def fake_llm_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An OpenAI-compatible `/v1/models` on 127.0.0.1 that records who asked."""
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        seen.append({"path": scope["path"], "authorization": headers.get("authorization")})
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"object":"list","data":[]}'})

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    import threading

    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1", seen
    server.should_exit = True
    thread.join(5)


async def test_openai_models_are_probed_and_cached(
    client: httpx.AsyncClient, fake_llm_server: tuple[str, list[dict[str, Any]]]
) -> None:
    base_url, seen = fake_llm_server
    model = {
        "type": "model",
        "provider": "openai",
        "model": "m",
        "base_url": base_url,
        "api_key": "sk-probe",
    }
    assert (await client.put("/api/config/local", json={"config": model})).status_code == 201
    dead = {**model, "base_url": "http://127.0.0.1:9/v1"}
    assert (await client.put("/api/config/dead", json={"config": dead})).status_code == 201
    body = (await client.get("/api/health")).json()
    assert body["components"]["llm"]["models"]["local"] == "ok"
    assert body["components"]["llm"]["models"]["dead"].startswith("unreachable")
    assert body["components"]["llm"]["status"] == "degraded"
    assert body["status"] == "degraded"
    assert seen == [{"path": "/v1/models", "authorization": "Bearer sk-probe"}]
    await client.get("/api/health")
    assert len(seen) == 1  # cached for llm_probe_cache_seconds
    await client.put("/api/config/local", json={"config": {**model, "temperature": 0.1}})
    await client.get("/api/health")
    assert len(seen) == 2  # a new revision is probed afresh


async def test_config_problems_degrade_and_are_listed(
    make_settings: Callable[..., Settings], configs_dir: Path, tmp_path: Path
) -> None:
    (configs_dir / "broken.yaml").write_text("type: model\nname: broken\nprovider: demo\n")
    app = create_app(
        make_settings(configs_dir=configs_dir, database_url=f"sqlite+aiosqlite:///{tmp_path}/h.db")
    )
    client, lifespan = await start_client(app)
    try:
        body = (await client.get("/api/health")).json()
        agents = (await client.get("/api/agents")).json()
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
    assert body["status"] == "degraded"
    problems = body["components"]["configs"]["problems"]
    assert problems == [
        {"path": str(configs_dir / "broken.yaml"), "field": "model", "message": "Field required"}
    ]
    assert agents["total"] == 2
