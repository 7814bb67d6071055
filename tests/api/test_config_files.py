"""The configs folder meets storage: restarts, file changes, API edits, watching."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import start_client


async def restart(settings: Settings) -> tuple[httpx.AsyncClient, object]:
    return await start_client(create_app(settings))


async def stop(client: httpx.AsyncClient, lifespan: object) -> None:
    await client.aclose()
    await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def test_restart_keeps_api_edits_and_applies_changed_files(
    settings: Settings, configs_dir: Path
) -> None:
    client, lifespan = await restart(settings)
    try:
        # an API edit of a file-defined component
        got = (await client.get("/api/config/conversation")).json()
        assert got["max_messages"] == 20
        edited = await client.put(
            "/api/config/conversation", json={"config": {"type": "memory", "max_messages": 7}}
        )
        assert edited.status_code == 200
    finally:
        await stop(client, lifespan)

    client, lifespan = await restart(settings)  # files unchanged: the API edit survives
    try:
        assert (await client.get("/api/config/conversation")).json()["max_messages"] == 7
        history = (await client.get("/api/config/conversation/history")).json()["history"]
        assert [h["change_type"] for h in history] == ["created", "updated"]
    finally:
        await stop(client, lifespan)

    (configs_dir / "memory" / "conversation.yaml").write_text(
        "type: memory\nname: conversation\nmax_messages: 12\n"
    )
    client, lifespan = await restart(settings)  # the file changed: it wins
    try:
        got = (await client.get("/api/config/conversation")).json()
        assert got["max_messages"] == 12
        assert got["source"] == f"file:{configs_dir / 'memory' / 'conversation.yaml'}"
        history = (await client.get("/api/config/conversation/history")).json()["history"]
        assert [h["change_type"] for h in history] == ["created", "updated", "updated"]
        assert history[-1]["actor"].startswith("file:")
        assert history[-1]["old_config"]["max_messages"] == 7
    finally:
        await stop(client, lifespan)


async def test_environment_change_is_a_file_change(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, lifespan = await restart(settings)
    await stop(client, lifespan)
    monkeypatch.setenv("OPENAI_MODEL", "gpt-other")
    client, lifespan = await restart(settings)
    try:
        assert (await client.get("/api/config/openai")).json()["model"] == "gpt-other"
    finally:
        await stop(client, lifespan)


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def test_watched_files_are_reloaded(
    make_settings: Callable[..., Settings], configs_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(
        configs_dir=configs_dir,
        watch_configs=True,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/w.db",
    )
    client, lifespan = await restart(settings)
    try:
        await asyncio.sleep(0.3)  # let the watcher start
        (configs_dir / "tools" / "calculator.yaml").write_text(
            "type: tool\nname: calculator\nkind: builtin\nbuiltin: calculator\ntimeout: 9\n"
        )
        (configs_dir / "models" / "extra.yaml").write_text(
            "type: model\nname: extra\nprovider: demo\nmodel: demo\n"
        )
        (configs_dir / "models" / "broken.yaml").write_text("type: model\nname: broken\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            calc = (await client.get("/api/config/calculator")).json()
            extra = await client.get("/api/config/extra")
            if calc["timeout"] == 9 and extra.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert calc["timeout"] == 9
        assert extra.status_code == 200
        problems = (await client.get("/api/health")).json()["components"]["configs"]["problems"]
        assert [p["path"] for p in problems] == [str(configs_dir / "models" / "broken.yaml")] * 2
    finally:
        await stop(client, lifespan)


async def test_secrets_are_not_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "sk-never-in-logs-123456"
    await client.put(
        "/api/config/paid",
        json={"config": {"type": "model", "provider": "openai", "model": "m", "api_key": secret}},
    )
    await client.put(
        "/api/config/paid",
        json={
            "config": {
                "type": "model",
                "provider": "openai",
                "model": "m",
                "api_key": secret,
                "bogus": 1,
            }
        },
    )
    await client.get("/api/config/paid")
    text = "\n".join(str(r.msg) + str(r.args) for r in caplog.records)
    assert "paid" in text  # the changes were logged ...
    assert secret not in text  # ... without the key
    assert any("request_id" in str(r.msg) for r in caplog.records)
