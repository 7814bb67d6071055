"""Structured logs: JSON lines in which every request's lines carry `request_id` and every
run's lines carry `run_id`, `agent_id` and `user_id`; no secret on any line."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
import structlog

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import admin_key, start_client

MODEL_KEY = "sk-test-model-key-0123456789abcdef"


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def test_a_chat_logs_request_and_run_ids_and_no_secret(
    settings: Settings, configs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", MODEL_KEY)  # read by the bundled `openai` model
    app = create_app(settings.model_copy(update={"log_format": "json", "log_level": "INFO"}))
    buffer = io.StringIO()
    handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler)
        and isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    ]
    assert handlers
    for handler in handlers:
        handler.setStream(buffer)  # type: ignore[type-var]
    client, lifespan = await start_client(app)
    try:
        key = admin_key(settings)
        answer = await client.post(
            "/api/chat",
            json={"agent_id": "customer_support", "message": "What is 6 * 7?", "stream": False},
            headers={"X-Request-ID": "req-log-test"},
        )
        assert answer.status_code == 200
        run_id = answer.json()["run_id"]
        me = (await client.get("/api/auth/me")).json()
        refused = await client.get("/api/agents", headers={"X-API-Key": key + "x"})
        assert refused.status_code == 401
        model = await client.get("/api/config/openai")
        assert MODEL_KEY not in model.text
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
    text = buffer.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    requests = [line for line in lines if line.get("event") == "http_request"]
    assert len(requests) >= 4
    assert all(line.get("request_id") for line in requests)
    chat = [line for line in requests if line["path"] == "/api/chat"]
    assert chat[0]["request_id"] == "req-log-test"
    assert chat[0]["route"] == "/api/chat"
    run_lines = [line for line in lines if line.get("run_id") == run_id]
    events = {line["event"] for line in run_lines}
    assert {"run_created", "run_completed"} <= events, events
    for line in run_lines:
        assert line.get("agent_id"), line
        assert line.get("user_id") == me["user_id"], line
    for secret in (key, MODEL_KEY):
        assert secret not in text
