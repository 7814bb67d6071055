"""A run whose output the database cannot store fails on its own: runs sharing the
writer's batches with it lose nothing and wait for nothing (PostgreSQL refuses NUL)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

BYSTANDERS = 6
POISONED = 6

COMPONENTS: list[dict[str, Any]] = [
    {
        "type": "model",
        "name": "chatty",
        "provider": "scripted",
        "model": "s",
        "chunk_size": 2,
        "chunk_delay": 0.01,
        "responses": [{"content": "a steady stream of words that goes on for a while."}],
    },
    {"type": "agent", "name": "bystander", "model": "chatty"},
    {
        "type": "model",
        "name": "poisoner",
        "provider": "scripted",
        "model": "s",
        "chunk_size": 4,
        "chunk_delay": 0.01,
        "responses": [
            {"content": "calling", "tool_calls": [{"name": "unstorable", "arguments": {}}]},
            {"content": "never said"},
        ],
    },
    {
        "type": "tool",
        "name": "unstorable",
        "kind": "python",
        "import_path": "tests.runtime.sample_tools:unstorable",
    },
    {"type": "agent", "name": "poisoned", "model": "poisoner", "tools": ["unstorable"]},
]


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def configs_dir(configs_dir: Path) -> Path:
    (configs_dir / "unstorable.yaml").write_text(yaml.safe_dump(COMPONENTS))
    return configs_dir


def sse_events(body: str) -> list[dict[str, Any]]:
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
        )
        if "event" in fields:
            events.append(
                {
                    "seq": int(fields["id"]),
                    "type": fields["event"],
                    "data": json.loads(fields["data"]),
                }
            )
    return events


async def log_of(client: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/runs/{run_id}/events", params={"limit": 1000})
    return response.json()["events"]  # type: ignore[no-any-return]


@pytest.mark.postgres
async def test_bystanders_keep_every_event_while_poisoned_writes_fail(
    client: httpx.AsyncClient,
) -> None:
    async def bystander() -> list[dict[str, Any]]:
        response = await client.post(
            "/api/chat", json={"agent_id": "bystander", "message": "talk"}, timeout=60
        )
        assert response.status_code == 200
        return sse_events(response.text)

    async def poisoned() -> dict[str, Any]:
        response = await client.post(
            "/api/chat",
            json={"agent_id": "poisoned", "message": "go", "stream": False},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    streams, answers = await asyncio.gather(
        asyncio.gather(*(bystander() for _ in range(BYSTANDERS))),
        asyncio.gather(*(poisoned() for _ in range(POISONED))),
    )
    for streamed in streams:
        run_id = streamed[0]["data"]["run_id"]
        stored = await log_of(client, run_id)
        run = (await client.get(f"/api/runs/{run_id}")).json()
        assert [e["seq"] for e in stored] == list(range(1, len(stored) + 1))  # gapless
        assert [(e["seq"], e["type"]) for e in streamed] == [(e["seq"], e["type"]) for e in stored]
        assert stored[-1]["type"] == "run_completed"
        assert run["status"] == "completed"
        assert run["last_seq"] == len(stored)
        deltas = "".join(e["data"]["content"] for e in stored if e["type"] == "content_delta")
        assert deltas == run["response_content"] == COMPONENTS[0]["responses"][0]["content"]
    for answer in answers:
        assert answer["status"] == "failed"
        run = (await client.get(f"/api/runs/{answer['run_id']}")).json()
        stored = await log_of(client, answer["run_id"])
        assert run["status"] == "failed"
        assert run["error"]["type"] == "StorageFailed"
        assert [e["seq"] for e in stored] == list(range(1, len(stored) + 1))
        assert stored[-1]["type"] == "run_failed"
        assert stored[-1]["data"]["error"]["type"] == "StorageFailed"
        # what came before the refused write is kept; the tool result that held the NUL
        # and everything after it is not
        assert "tool_call_started" in [e["type"] for e in stored]
        assert "tool_call_completed" not in [e["type"] for e in stored]
        assert "never said" not in json.dumps(stored)
