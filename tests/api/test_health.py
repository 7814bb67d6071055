"""`/api/health` probes each dependency for real."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from agio.api.app import create_app
from agio.config.loader import ConfigProblem
from agio.config.settings import Settings
from agio.services.health import BAD, Probe, Status
from tests.conftest import add_user, admin_headers, start_client


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
    assert agents["total"] == 3  # assistant, customer_support, researcher


# ---------------------------------------------------------------- who is shown what

DEAD_MODEL = {
    "type": "model",
    "name": "dead_llm",
    "provider": "openai",
    "model": "m",
    "base_url": "http://127.0.0.1:9/v1",  # nothing listens on the discard port
    "api_key": "sk-dead",
}


async def test_anonymous_callers_see_only_the_status_and_the_states(
    app: FastAPI, settings: Settings, add_components: Callable[[str, list[dict[str, Any]]], None]
) -> None:
    add_components("dead.yaml", [DEAD_MODEL])
    (settings.configs_dir / "broken.yaml").write_text("type: model\nname: broken\nprovider: demo\n")
    client, lifespan = await start_client(app, as_admin=False)
    try:
        anonymous = await client.get("/api/health")
        wrong_key = await client.get("/api/health", headers={"X-API-Key": "agio_nope_nope"})
        _, viewer = await add_user(_admin(client, app), "viewer")
        full = await client.get("/api/health", headers=viewer)
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
    for response in (anonymous, wrong_key):
        assert response.status_code == 200
        assert response.json() == {
            "status": "degraded",
            "timestamp": response.json()["timestamp"],
            "components": {
                "database": {"status": "ok"},
                "cache": {"status": "ok"},
                "llm": {"status": "degraded"},
                "configs": {"status": "degraded"},
            },
            "auth": {"status": "enabled"},
        }
        for hidden in ("dead_llm", "demo", "broken.yaml", "sqlite", "unreachable", "version"):
            assert hidden not in response.text
    # a caller with read:system (a viewer has it) is told everything, and why
    body = full.json()
    assert body["status"] == "degraded"
    assert body["version"]
    assert body["components"]["llm"]["models"]["dead_llm"].startswith("unreachable")
    assert body["components"]["configs"]["problems"][0]["path"].endswith("broken.yaml")
    assert body["reasons"] == [
        "llm: not answering: dead_llm",
        f"configs: 1 problem(s) in {settings.configs_dir}",
    ]


def _admin(client: httpx.AsyncClient, app: FastAPI) -> httpx.AsyncClient:
    client.headers.update(admin_headers(app))
    return client


async def test_a_local_caller_with_auth_off_gets_the_full_report(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"auth_disabled": True}))
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        local = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=local, base_url="http://127.0.0.1") as client:
            body = (await client.get("/api/health")).json()
        remote = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
        async with httpx.AsyncClient(transport=remote, base_url="http://127.0.0.1") as client:
            summary = (await client.get("/api/health")).json()
    finally:
        await lifespan.__aexit__(None, None, None)
    assert body["reasons"] == []
    assert body["components"]["llm"]["models"] == {"demo": "ok", "openai": "not_configured"}
    assert body["auth"]["status"] == "disabled"
    assert set(summary) == {"status", "timestamp", "components", "auth"}


STATES: list[Status] = ["ok", "degraded", "unhealthy", "disabled", "not_configured"]


def _probe(status: Status) -> Probe:
    return Probe(status, detail=f"because {status}" if status in BAD else None)


async def test_the_status_always_agrees_with_the_states_and_says_why(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every combination of component states: the overall status follows from them, both
    views list the same states, and each bad one is a reason in the full report."""
    client, lifespan = await start_client(app, as_admin=False)
    checker = app.state.agio.health
    config_files = app.state.agio.config_files
    try:
        for database, cache, llm in itertools.product(STATES, repeat=3):
            for problems in ([], [ConfigProblem("x.yaml", None, "bad")]):
                monkeypatch.setattr(checker, "database", _returning(_probe(database)))
                monkeypatch.setattr(checker, "cache", _returning(_probe(cache)))
                monkeypatch.setattr(checker, "llm", _returning(_probe(llm)))
                monkeypatch.setattr(config_files, "problems", problems)
                states = {
                    "database": database,
                    "cache": cache,
                    "llm": llm,
                    "configs": "degraded" if problems else "ok",
                }
                bad = [name for name, state in states.items() if state in BAD]
                expected = "unhealthy" if database == "unhealthy" else "degraded" if bad else "ok"
                summary = await client.get("/api/health")
                full = await client.get("/api/health", headers=admin_headers(app))
                where = f"{states}"
                for response in (summary, full):
                    assert response.status_code == (503 if expected == "unhealthy" else 200)
                    body = response.json()
                    assert body["status"] == expected, where
                    listed = {n: c["status"] for n, c in body["components"].items()}
                    assert listed == states, where
                reasons = full.json()["reasons"]
                assert [r.split(":")[0] for r in reasons] == bad, where
                assert all(r.split(": ", 1)[1] for r in reasons), where
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


def _returning(probe: Probe) -> Callable[[], Awaitable[Probe]]:
    async def probe_() -> Probe:
        return probe

    return probe_


@pytest.mark.parametrize("status", sorted(BAD))
def test_a_bad_probe_cannot_be_made_without_a_reason(status: Status) -> None:
    with pytest.raises(ValueError, match="needs a detail"):
        Probe(status)
    with pytest.raises(ValueError, match="needs a detail"):
        Probe(status, detail="")
    assert Probe(status, detail="refused").detail == "refused"
