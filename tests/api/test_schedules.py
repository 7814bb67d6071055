"""`/api/schedules` (SPEC §15): create, list, get, merge-patch and delete, on SQLite and
PostgreSQL; 422s that name the field (cron, time zone, message), 404s (agent, session,
someone else's schedule), 409s; each user their own schedules, an admin everyone's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agio.api.container import Container
from agio.domain import cron
from agio.domain.errors import Conflict
from agio.domain.schedules import ScheduleSpec
from agio.domain.security import Principal, Role
from tests.conftest import add_user


def at(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


BODY = {"agent_id": "assistant", "message": "Summarise the news.", "cron": "0 9 * * 1-5"}


async def create(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    response = await client.post("/api/schedules", json={**BODY, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_create_get_list_patch_and_delete(client: httpx.AsyncClient) -> None:
    alice_id, alice = await add_user(client, "user")
    created = await create(client, alice, timezone="Europe/Berlin", cron=" 0  9 * * 1-5 ")
    assert created["id"].startswith("sch_")
    assert created["agent_id"].startswith("agt_")  # the name is resolved to the agent's id
    assert created["agent_name"] == "assistant"
    assert created["cron"] == "0 9 * * 1-5"  # stored with single spaces
    assert created["timezone"] == "Europe/Berlin"
    assert created["enabled"] is True
    assert created["missed"] == "skip"
    assert created["session_id"] is None
    assert created["created_by"] == alice_id
    assert created["last_run_at"] is None
    assert created["last_run_id"] is None
    assert created["last_error"] is None
    # the next firing: 09:00 Berlin time on the next weekday, given in UTC
    next_run = at(created["next_run_at"])
    assert next_run == cron.next_firing("0 9 * * 1-5", "Europe/Berlin", at(created["created_at"]))
    assert next_run.astimezone(cron.zone("Europe/Berlin")).hour == 9

    got = await client.get(f"/api/schedules/{created['id']}", headers=alice)
    assert got.status_code == 200
    assert got.json() == created

    listed = (await client.get("/api/schedules", headers=alice)).json()
    assert listed["total"] == 1
    assert listed["items"] == [created]
    assert listed["has_more"] is False
    for params, total in [
        ({"agent_id": "assistant"}, 1),
        ({"agent_id": created["agent_id"]}, 1),
        ({"agent_id": "customer_support"}, 0),
        ({"enabled": "true"}, 1),
        ({"enabled": "false"}, 0),
    ]:
        page = await client.get("/api/schedules", params=params, headers=alice)
        assert page.json()["total"] == total, params

    # a changed cron expression moves the next firing
    patched = await client.patch(
        f"/api/schedules/{created['id']}", json={"cron": "30 7 * * *"}, headers=alice
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["cron"] == "30 7 * * *"
    assert at(body["next_run_at"]) == cron.next_firing(
        "30 7 * * *", "Europe/Berlin", at(body["updated_at"])
    )
    # so does the time zone
    moved = await client.patch(
        f"/api/schedules/{created['id']}", json={"timezone": "Asia/Tokyo"}, headers=alice
    )
    assert at(moved.json()["next_run_at"]) == cron.next_firing(
        "30 7 * * *", "Asia/Tokyo", at(moved.json()["updated_at"])
    )
    # other fields keep it
    renamed = await client.patch(
        f"/api/schedules/{created['id']}",
        json={"message": "Something else", "missed": "run_once"},
        headers={**alice, "Content-Type": "application/merge-patch+json"},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["message"] == "Something else"
    assert renamed.json()["missed"] == "run_once"
    assert renamed.json()["next_run_at"] == moved.json()["next_run_at"]
    # disabling clears it; enabling computes it again
    off = await client.patch(
        f"/api/schedules/{created['id']}", json={"enabled": False}, headers=alice
    )
    assert off.json()["enabled"] is False
    assert off.json()["next_run_at"] is None
    assert (await client.get("/api/schedules", params={"enabled": "false"}, headers=alice)).json()[
        "total"
    ] == 1
    on = await client.patch(
        f"/api/schedules/{created['id']}", json={"enabled": True}, headers=alice
    )
    assert on.json()["next_run_at"] is not None
    # null resets a field to its default
    reset = await client.patch(
        f"/api/schedules/{created['id']}", json={"timezone": None, "missed": None}, headers=alice
    )
    assert reset.json()["timezone"] == "UTC"
    assert reset.json()["missed"] == "skip"

    deleted = await client.delete(f"/api/schedules/{created['id']}", headers=alice)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/schedules/{created['id']}", headers=alice)
    assert gone.status_code == 404
    assert gone.json()["error"]["type"] == "ScheduleNotFound"
    assert (
        await client.delete(f"/api/schedules/{created['id']}", headers=alice)
    ).status_code == 404
    assert (await client.get("/api/schedules", headers=alice)).json()["total"] == 0


async def test_a_schedule_can_continue_a_session_and_be_disabled_from_the_start(
    client: httpx.AsyncClient,
) -> None:
    _, alice = await add_user(client, "user")
    chat = await client.post(
        "/api/chat",
        json={"agent_id": "assistant", "message": "hello", "stream": False},
        headers=alice,
    )
    session_id = chat.json()["session_id"]
    created = await create(client, alice, session_id=session_id, enabled=False, cron="@daily")
    assert created["session_id"] == session_id
    assert created["cron"] == "@daily"
    assert created["next_run_at"] is None
    dropped = await client.patch(
        f"/api/schedules/{created['id']}", json={"session_id": None}, headers=alice
    )
    assert dropped.json()["session_id"] is None


@pytest.mark.parametrize(
    "expression", ["bad", "0 9 * *", "0 9 * * * *", "61 * * * *", "@reboot", "0 0 30 2 *"]
)
async def test_an_invalid_cron_expression_is_a_422_naming_cron(
    client: httpx.AsyncClient, expression: str
) -> None:
    response = await client.post("/api/schedules", json={**BODY, "cron": expression})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "ValidationError"
    assert [d["loc"] for d in error["details"]] == [["body", "cron"]]
    assert "cron" in error["message"]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "Europe", "utc"])
async def test_an_unknown_time_zone_is_a_422_naming_timezone(
    client: httpx.AsyncClient, zone: str
) -> None:
    response = await client.post("/api/schedules", json={**BODY, "timezone": zone})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert [d["loc"] for d in error["details"]] == [["body", "timezone"]]


async def test_other_bad_bodies_are_422s(client: httpx.AsyncClient) -> None:
    for body, field in [
        ({k: v for k, v in BODY.items() if k != "cron"}, "cron"),
        ({**BODY, "message": ""}, "message"),
        ({**BODY, "message": "x" * 32_001}, "message"),  # over AGIO_MAX_MESSAGE_CHARS
        ({**BODY, "missed": "sometimes"}, "missed"),
        ({**BODY, "enabled": 1}, "enabled"),
        ({**BODY, "created_by": "usr_x"}, "created_by"),  # not settable
    ]:
        response = await client.post("/api/schedules", json=body)
        assert response.status_code == 422, (field, response.text)
        locs = [d["loc"] for d in response.json()["error"]["details"]]
        assert ["body", field] in locs, (field, locs)
    created = await create(client)
    for patch, field in [
        ({"cron": "nope"}, "cron"),
        ({"cron": None}, "cron"),  # cannot be removed
        ({"message": None}, "message"),
        ({"agent_id": None}, "agent_id"),
        ({"timezone": "Nowhere/City"}, "timezone"),
        ({"next_run_at": "2030-01-01T00:00:00Z"}, "next_run_at"),
    ]:
        response = await client.patch(f"/api/schedules/{created['id']}", json=patch)
        assert response.status_code == 422, (patch, response.text)
        locs = [d["loc"] for d in response.json()["error"]["details"]]
        assert ["body", field] in locs, (patch, locs)
    unchanged = await client.get(f"/api/schedules/{created['id']}")
    assert unchanged.json() == created


async def test_unknown_agents_and_sessions_are_404s(client: httpx.AsyncClient) -> None:
    _, alice = await add_user(client, "user")
    _, bob = await add_user(client, "user")
    missing = await client.post("/api/schedules", json={**BODY, "agent_id": "nobody"})
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "AgentNotFound"
    no_session = await client.post("/api/schedules", json={**BODY, "session_id": "ses_none"})
    assert no_session.status_code == 404
    assert no_session.json()["error"]["type"] == "SessionNotFound"
    chat = await client.post(
        "/api/chat",
        json={"agent_id": "assistant", "message": "hello", "stream": False},
        headers=bob,
    )
    bobs_session = chat.json()["session_id"]
    not_hers = await client.post(
        "/api/schedules", json={**BODY, "session_id": bobs_session}, headers=alice
    )
    assert not_hers.status_code == 404
    other_agent = await client.post(
        "/api/schedules",
        json={**BODY, "agent_id": "customer_support", "session_id": bobs_session},
        headers=bob,
    )
    assert other_agent.status_code == 409
    created = await create(client, alice)
    moved = await client.patch(
        f"/api/schedules/{created['id']}", json={"agent_id": "nobody"}, headers=alice
    )
    assert moved.status_code == 404
    assert moved.json()["error"]["type"] == "AgentNotFound"
    to_bobs = await client.patch(
        f"/api/schedules/{created['id']}", json={"session_id": bobs_session}, headers=alice
    )
    assert to_bobs.status_code == 404
    assert (await client.get("/api/schedules/sch_none")).status_code == 404
    assert (await client.patch("/api/schedules/sch_none", json={})).status_code == 404


async def test_each_user_sees_their_own_schedules_and_an_admin_all(
    client: httpx.AsyncClient,
) -> None:
    _, alice = await add_user(client, "user")
    _, bob = await add_user(client, "user")
    _, viewer = await add_user(client, "viewer")
    hers = await create(client, alice)
    his = await create(client, bob)
    mine = await create(client)  # the admin's
    assert (await client.get("/api/schedules", headers=alice)).json()["items"] == [hers]
    assert (await client.get("/api/schedules", headers=bob)).json()["items"] == [his]
    everyone = (await client.get("/api/schedules")).json()
    assert [s["id"] for s in everyone["items"]] == [mine["id"], his["id"], hers["id"]]
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method,
            f"/api/schedules/{hers['id']}",
            json={} if method == "PATCH" else None,
            headers=bob,
        )
        assert response.status_code == 404, method
    admin_patch = await client.patch(f"/api/schedules/{hers['id']}", json={"enabled": False})
    assert admin_patch.status_code == 200
    assert admin_patch.json()["created_by"] == hers["created_by"]  # still hers
    # a viewer may not run agents, so has no schedules
    assert (await client.get("/api/schedules", headers=viewer)).status_code == 403
    assert (await client.post("/api/schedules", json=BODY, headers=viewer)).status_code == 403
    bad_key = {"X-API-Key": "agio_not_a_key"}
    assert (await client.get("/api/schedules", headers=bad_key)).status_code == 401


async def test_runs_show_their_schedule_id(client: httpx.AsyncClient) -> None:
    chat = await client.post(
        "/api/chat", json={"agent_id": "assistant", "message": "hello", "stream": False}
    )
    run = (await client.get(f"/api/runs/{chat.json()['run_id']}")).json()
    assert run["schedule_id"] is None
    none = await client.get("/api/runs", params={"schedule_id": "sch_none"})
    assert none.status_code == 200
    assert none.json()["total"] == 0
    assert (await client.get("/api/runs", params={"schedule_id": "bad id!"})).status_code == 422


async def test_a_change_made_meanwhile_is_a_409(app: FastAPI, client: httpx.AsyncClient) -> None:
    created = await create(client)
    container: Container = app.state.agio
    admin = Principal("usr_x", "x", Role.ADMIN, via="api_key")
    stale = await container.schedules.get(admin, created["id"])
    spec = ScheduleSpec(agent_id="assistant", message="first", cron="0 9 * * *")
    await container.schedules.replace(admin, stale, spec)
    with pytest.raises(Conflict):
        await container.schedules.replace(admin, stale, spec)
    assert (await client.get(f"/api/schedules/{created['id']}")).json()["message"] == "first"


async def test_a_repeated_create_with_an_idempotency_key_makes_one_schedule(
    client: httpx.AsyncClient,
) -> None:
    body = {"agent_id": "assistant", "message": "report", "cron": "0 9 * * 1-5"}
    headers = {"Idempotency-Key": "nightly-report-1"}
    first = await client.post("/api/schedules", json=body, headers=headers)
    again = await client.post("/api/schedules", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    listed = (await client.get("/api/schedules")).json()
    assert [s["id"] for s in listed["items"]].count(first.json()["id"]) == 1
    assert listed["total"] == 1
    other = await client.post(
        "/api/schedules", json={**body, "cron": "0 10 * * *"}, headers=headers
    )
    assert other.status_code == 422
    assert other.json()["error"]["type"] == "IdempotencyKeyReused"
