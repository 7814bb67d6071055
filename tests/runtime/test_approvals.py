"""Approvals of tool calls (SPEC §11) through the API, on SQLite and PostgreSQL: a call
that needs a decision waits (the run holds no process), runs once when approved (with
edited arguments if given), never when rejected or expired; one decision only; pause and
cancel work while it waits."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy import update

from agio.domain.time import utcnow
from agio.storage.tables import RunRow
from agio.storage.tables_approvals import ApprovalRow
from tests.conftest import add_user
from tests.runtime import sample_tools
from tests.runtime.test_control import events, put_config, wait_status

SCRIPT = {
    "type": "model",
    "provider": "scripted",
    "model": "s",
    "responses": [
        {
            "content": "Recording it.",
            "tool_calls": [
                {"name": "record", "arguments": {"note": "A"}},
                {"name": "calculator", "arguments": {"expression": "6*7"}},
            ],
        },
        {"content": "Done."},
    ],
}


@pytest.fixture
def configs_dir(configs_dir: Path) -> Path:
    """A python tool that itself requires approval (python tools come from the folder)."""
    careful = {
        "type": "tool",
        "name": "careful_record",
        "kind": "python",
        "import_path": "tests.runtime.sample_tools:record",
        "requires_approval": True,
    }
    (configs_dir / "careful.yaml").write_text(yaml.safe_dump([careful]))
    return configs_dir


@pytest.fixture
async def gated(client: httpx.AsyncClient) -> str:
    """An agent whose `record` calls wait for approval (its calculator calls do not)."""
    await put_config(client, "gated_model", SCRIPT)
    await put_config(
        client,
        "gated_agent",
        {
            "type": "agent",
            "model": "gated_model",
            "tools": ["record", "calculator"],
            "config": {"approval": {"tools": ["record"]}},
        },
    )
    sample_tools.LEDGER.clear()
    return "gated_agent"


async def chat(client: httpx.AsyncClient, agent: str, headers: dict[str, str] | None = None) -> Any:
    response = await client.post(
        "/api/chat",
        json={"agent_id": agent, "message": "go", "stream": False},
        headers=headers or {},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def waiting(client: httpx.AsyncClient, agent: str) -> tuple[str, str]:
    """A run of `agent` waiting for the decision on its `record` call: (run id, call id)."""
    answer = await chat(client, agent)
    assert answer["status"] == "waiting_approval", answer
    run_id = answer["run_id"]
    pending = (await client.get("/api/approvals", params={"run_id": run_id})).json()["items"]
    assert [(a["tool"], a["status"], a["args"]) for a in pending] == [
        ("record", "pending", {"note": "A"})
    ]
    return run_id, pending[0]["call_id"]


def types(log: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in log]


async def test_an_approved_call_runs_once_and_the_run_completes(
    client: httpx.AsyncClient, gated: str
) -> None:
    run_id, call_id = await waiting(client, gated)
    assert sample_tools.LEDGER == []  # not called before the decision
    log = await events(client, run_id)
    requested = [e for e in log if e["type"] == "approval_requested"]
    assert [e["data"]["call_id"] for e in requested] == [call_id]
    assert requested[0]["data"]["tool"] == "record"
    assert requested[0]["data"]["expires_at"]
    # the calculator, which needs no approval, ran meanwhile
    done = [e["data"]["tool"] for e in log if e["type"] == "tool_call_completed"]
    assert done == ["calculator"]

    decided = await client.post(
        f"/api/runs/{run_id}/approvals/{call_id}", json={"decision": "approve", "reason": "ok"}
    )
    assert decided.status_code == 200, decided.text
    record = decided.json()
    assert record["status"] == "approved"
    assert record["decided_by"] == "admin"
    assert record["reason"] == "ok"
    assert record["decided_at"]
    run = await wait_status(client, run_id, "completed", "failed")
    assert run["status"] == "completed", run
    assert sample_tools.LEDGER == ["A"]  # exactly once
    log = await events(client, run_id)
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))  # gapless
    kinds = types(log)
    assert kinds.index("approval_requested") < kinds.index("run_resumed")
    assert kinds.index("run_resumed") < kinds.index("approval_resolved")
    resolved = next(e for e in log if e["type"] == "approval_resolved")["data"]
    assert resolved["decision"] == "approve"
    assert resolved["decided_by"] == "admin"
    # at most one decision
    again = await client.post(
        f"/api/runs/{run_id}/approvals/{call_id}", json={"decision": "reject"}
    )
    assert again.status_code == 409, again.text
    assert (await client.get("/api/approvals")).json()["items"] == []


async def test_a_rejected_call_never_runs_and_the_model_hears_why(
    client: httpx.AsyncClient, gated: str
) -> None:
    run_id, call_id = await waiting(client, gated)
    decided = await client.post(
        f"/api/runs/{run_id}/approvals/{call_id}",
        json={"decision": "reject", "reason": "not today"},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "rejected"
    assert (await wait_status(client, run_id, "completed", "failed"))["status"] == "completed"
    assert sample_tools.LEDGER == []
    log = await events(client, run_id)
    result = next(
        e["data"]
        for e in log
        if e["type"] == "tool_call_completed" and e["data"]["call_id"] == call_id
    )
    assert result["error"] == "rejected by admin: not today"
    steps = (await client.get(f"/api/runs/{run_id}")).json()["steps"]
    tool_messages = [m["content"] for s in steps if s["type"] == "tool_call" for m in s["messages"]]
    assert any("rejected by admin: not today" in m for m in tool_messages)


async def test_approved_with_edited_arguments_checked_against_the_schema(
    client: httpx.AsyncClient, gated: str
) -> None:
    run_id, call_id = await waiting(client, gated)
    url = f"/api/runs/{run_id}/approvals/{call_id}"
    wrong = await client.post(url, json={"decision": "approve", "arguments": {"note": 5}})
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["error"]["details"][0]["loc"] == ["body", "arguments", "note"]
    missing = await client.post(url, json={"decision": "approve", "arguments": {}})
    assert missing.status_code == 422, missing.text
    with_reject = await client.post(url, json={"decision": "reject", "arguments": {"note": "B"}})
    assert with_reject.status_code == 422, with_reject.text
    ok = await client.post(url, json={"decision": "approve", "arguments": {"note": "B"}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["arguments"] == {"note": "B"}
    assert ok.json()["args"] == {"note": "A"}
    assert (await wait_status(client, run_id, "completed", "failed"))["status"] == "completed"
    assert sample_tools.LEDGER == ["B"]


async def test_an_expired_approval_is_rejected_by_the_sweep(
    client: httpx.AsyncClient, app: FastAPI, gated: str
) -> None:
    run_id, call_id = await waiting(client, gated)
    manager = app.state.agio.run_manager
    async with app.state.agio.db.write_sessions() as s, s.begin():
        await s.execute(
            update(ApprovalRow)
            .where(ApprovalRow.run_id == run_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await manager.approvals.sweep() == 1  # rejected, and the run continued here
    assert (await wait_status(client, run_id, "completed", "failed"))["status"] == "completed"
    assert sample_tools.LEDGER == []
    approvals = (await client.get(f"/api/runs/{run_id}/approvals")).json()["items"]
    assert [(a["status"], a["decided_by"], a["reason"]) for a in approvals] == [
        ("expired", "system", "expired")
    ]
    late = await client.post(
        f"/api/runs/{run_id}/approvals/{call_id}", json={"decision": "approve"}
    )
    assert late.status_code == 409


async def test_pause_resume_and_cancel_while_waiting(client: httpx.AsyncClient, gated: str) -> None:
    run_id, call_id = await waiting(client, gated)
    assert (await client.post(f"/api/runs/{run_id}/pause")).status_code == 200
    assert (await client.get(f"/api/runs/{run_id}")).json()["status"] == "paused"
    assert (await client.post(f"/api/runs/{run_id}/resume")).status_code == 200
    # still undecided: it waits again, without asking twice
    await wait_status(client, run_id, "waiting_approval")
    log = await events(client, run_id)
    assert types(log).count("approval_requested") == 1
    cancelled = await client.post(f"/api/runs/{run_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert (await client.get(f"/api/runs/{run_id}")).json()["status"] == "cancelled"
    late = await client.post(
        f"/api/runs/{run_id}/approvals/{call_id}", json={"decision": "approve"}
    )
    assert late.status_code == 409, late.text
    assert sample_tools.LEDGER == []


async def test_who_may_decide(client: httpx.AsyncClient, gated: str) -> None:
    _, viewer = await add_user(client, "viewer")
    _, stranger = await add_user(client, "user")
    owner_id, owner = await add_user(client, "user")
    answer = await chat(client, gated, owner)
    run_id = answer["run_id"]
    call_id = (await client.get(f"/api/runs/{run_id}/approvals")).json()["items"][0]["call_id"]
    url = f"/api/runs/{run_id}/approvals/{call_id}"
    assert (await client.post(url, json={"decision": "approve"}, headers=viewer)).status_code == 403
    assert (await client.get("/api/approvals", headers=viewer)).status_code == 403
    assert (
        await client.post(url, json={"decision": "approve"}, headers=stranger)
    ).status_code == 404
    assert (await client.get("/api/approvals", headers=stranger)).json()["items"] == []
    mine = (await client.get("/api/approvals", headers=owner)).json()["items"]
    assert [a["run_id"] for a in mine] == [run_id]
    unknown = await client.post(
        f"/api/runs/{run_id}/approvals/nope", json={"decision": "approve"}, headers=owner
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "ApprovalNotFound"
    ok = await client.post(url, json={"decision": "approve"}, headers=owner)
    assert ok.status_code == 200, ok.text
    assert ok.json()["decided_by"].startswith("user_")
    await wait_status(client, run_id, "completed")
    assert owner_id


async def test_a_tool_that_requires_approval_and_concurrent_decisions(
    client: httpx.AsyncClient,
) -> None:
    script = {
        **SCRIPT,
        "responses": [
            {"tool_calls": [{"name": "careful_record", "arguments": {"note": "C"}}]},
            {"content": "Done."},
        ],
    }
    await put_config(client, "careful_model", script)
    await put_config(
        client,
        "careful_agent",
        {"type": "agent", "model": "careful_model", "tools": ["careful_record", "calculator"]},
    )
    sample_tools.LEDGER.clear()
    answer = await chat(client, "careful_agent")
    assert answer["status"] == "waiting_approval"
    run_id = answer["run_id"]
    call_id = (await client.get(f"/api/runs/{run_id}/approvals")).json()["items"][0]["call_id"]
    url = f"/api/runs/{run_id}/approvals/{call_id}"
    answers = await asyncio.gather(
        *(client.post(url, json={"decision": "approve"}) for _ in range(8))
    )
    assert sorted(a.status_code for a in answers) == [200] + [409] * 7
    assert (await wait_status(client, run_id, "completed", "failed"))["status"] == "completed"
    assert sample_tools.LEDGER == ["C"]


async def test_approval_config_must_name_the_agents_tools(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/api/config/bad_gate",
        json={
            "config": {
                "type": "agent",
                "model": "spec_script",
                "tools": ["calculator"],
                "config": {"approval": {"tools": ["record"]}},
            }
        },
    )
    assert response.status_code == 422, response.text
    assert "record" in response.text


@pytest.mark.parametrize(("action", "ends"), [("cancel", "cancelled"), ("pause", "paused")])
async def test_a_control_sent_while_another_process_hands_the_run_back_is_applied(
    client: httpx.AsyncClient, app: FastAPI, gated: str, action: str, ends: str
) -> None:
    """The run executes elsewhere (as far as this process knows) and hands itself back to
    wait for approvals before it sees the durable flag, which the hand-back clears: the
    request applies itself to the run handed back instead of timing out."""
    run_id, _ = await waiting(client, gated)
    db = app.state.agio.db

    async def set_row(**values: Any) -> None:
        async with db.write_sessions() as s, s.begin():
            await s.execute(update(RunRow).where(RunRow.id == run_id).values(**values))

    await set_row(status="running", owner_id="proc_elsewhere")
    request = asyncio.create_task(client.post(f"/api/runs/{run_id}/{action}"))
    for _ in range(400):  # the flag is set: the request now waits for the owner
        async with db.sessions() as s:
            control = (await s.get(RunRow, run_id)).control  # type: ignore[union-attr]
        if control is not None:
            break
        await asyncio.sleep(0.01)
    assert control in ("cancel", "pause")
    await set_row(status="waiting_approval", owner_id=None, control=None)  # the hand-back
    response = await request
    assert response.status_code == 200, response.text
    assert response.json()["status"] == ends
    assert (await client.get(f"/api/runs/{run_id}")).json()["status"] == ends
