"""`/api/webhooks` (SPEC §14) on SQLite and PostgreSQL: subscriptions, their secret shown
once, ownership, validation (unknown events, refused addresses, bad secrets), and, with a
receiver on 127.0.0.1, signed deliveries of run events that `standardwebhooks` verifies,
retries recorded attempt by attempt, a chat's own `webhook`, and who gets which run's
events."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import add_user, start_client
from tests.fakes.webhook_receiver import WebhookReceiver

FAST = {
    "webhook_allow_private": True,
    "webhook_retry_schedule": [0.05],
    "webhook_poll_seconds": 0.1,
    "webhook_timeout_seconds": 5,
    "webhook_lease_seconds": 10,
}


@pytest.fixture
async def hooks(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """An admin client of an app that may send webhooks to 127.0.0.1, retrying at once."""
    app = create_app(settings.model_copy(update=FAST))
    client, lifespan = await start_client(app)
    try:
        yield client, app
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 20) -> Any:
    """The first truthy result of `check`, polled; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        await asyncio.sleep(0.05)


async def chat(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **extra: Any
) -> str:
    body = {"agent_id": "customer_support", "message": "hello", "stream": False, **extra}
    response = await client.post("/api/chat", json=body, headers=headers)
    assert response.status_code == 200, response.text
    run_id: str = response.json()["run_id"]
    return run_id


async def settled(
    client: httpx.AsyncClient, webhook_id: str, count: int = 1
) -> list[dict[str, Any]]:
    """The webhook's deliveries once `count` of them are delivered or failed."""

    async def check() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (
            await client.get(f"/api/webhooks/{webhook_id}/deliveries")
        ).json()["items"]
        done = [d for d in items if d["status"] != "pending"]
        return items if len(done) >= count else None

    result: list[dict[str, Any]] = await until(check)
    return result


# ------------------------------------------------------------------ subscriptions


async def test_create_shows_the_secret_once_and_never_again(
    hooks: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    client, _ = hooks
    with WebhookReceiver() as receiver:
        created = await client.post(
            "/api/webhooks",
            json={"url": receiver.url, "events": ["run.completed", "run.failed", "run.completed"]},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        secret = body["secret"]
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
        assert body["events"] == ["run.completed", "run.failed"]  # repeats dropped
        assert body["id"].startswith("whk_")
        assert body["scope"] == "all_runs"  # an admin's
        assert body["agent_id"] is None
        one = await client.get(f"/api/webhooks/{body['id']}")
        listed = await client.get("/api/webhooks")
        assert one.status_code == 200
        assert {k: v for k, v in body.items() if k != "secret"} == one.json()
        assert listed.json()["total"] == 1
        for response in (one, listed):
            assert secret not in response.text
            assert "secret" not in response.text
        # a secret of the caller's own is kept as given
        mine = "whsec_" + base64.b64encode(b"k" * 24).decode()
        given = await client.post(
            "/api/webhooks",
            json={"url": receiver.url, "events": ["run.cancelled"], "secret": mine},
        )
        assert given.status_code == 201, given.text
        assert given.json()["secret"] == mine
        deleted = await client.delete(f"/api/webhooks/{body['id']}")
        assert deleted.status_code == 204
        assert (await client.get(f"/api/webhooks/{body['id']}")).status_code == 404
        assert (await client.delete(f"/api/webhooks/{body['id']}")).status_code == 404
        gone = (await client.get(f"/api/webhooks/{body['id']}")).json()["error"]
        assert gone["type"] == "WebhookNotFound"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"events": ["run.exploded"]}, "events"),
        ({"events": []}, "events"),
        ({"events": ["run.completed"], "url": "ftp://example.com/x"}, "url"),
        ({"events": ["run.completed"], "secret": "whsec_c2hvcnQ="}, "secret"),  # 5 bytes
        ({"events": ["run.completed"], "secret": "not-a-secret"}, "secret"),
        ({"events": ["run.completed"], "owner": "someone"}, "owner"),
    ],
)
async def test_invalid_subscriptions_are_422(
    hooks: tuple[httpx.AsyncClient, FastAPI], body: dict[str, Any], where: str
) -> None:
    client, _ = hooks
    response = await client.post("/api/webhooks", json={"url": "http://127.0.0.1:9/hook", **body})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "ValidationError"
    assert any(where in [str(p) for p in d["loc"]] for d in error["details"]), error
    assert (await client.get("/api/webhooks")).json()["total"] == 0


async def test_unknown_agent_is_404(hooks: tuple[httpx.AsyncClient, FastAPI]) -> None:
    client, _ = hooks
    response = await client.post(
        "/api/webhooks",
        json={"url": "http://127.0.0.1:9/", "events": ["run.completed"], "agent_id": "nobody"},
    )
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "AgentNotFound"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://2130706433/hook",  # 127.0.0.1 in its decimal form
    ],
)
async def test_private_loopback_and_metadata_addresses_are_refused(
    client: httpx.AsyncClient, url: str
) -> None:
    """Without AGIO_WEBHOOK_ALLOW_PRIVATE: a 422 at creation, and for a chat's `webhook`."""
    response = await client.post("/api/webhooks", json={"url": url, "events": ["run.completed"]})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["loc"] == ["body", "url"]
    assert "refused" in response.json()["error"]["message"]
    chat_response = await client.post(
        "/api/chat",
        json={"agent_id": "customer_support", "message": "hi", "stream": False, "webhook": url},
    )
    assert chat_response.status_code == 422, chat_response.text
    assert chat_response.json()["error"]["details"][0]["loc"] == ["body", "webhook"]
    assert (await client.get("/api/runs")).json()["total"] == 0  # no run started
    assert (await client.get("/api/webhooks")).json()["total"] == 0


async def test_metadata_addresses_stay_refused_when_private_ones_are_allowed(
    hooks: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    client, _ = hooks
    refused = await client.post(
        "/api/webhooks", json={"url": "http://169.254.169.254/", "events": ["run.completed"]}
    )
    assert refused.status_code == 422
    assert "metadata" in refused.json()["error"]["message"]
    allowed = await client.post(
        "/api/webhooks", json={"url": "http://10.1.2.3/hook", "events": ["run.completed"]}
    )
    assert allowed.status_code == 201


async def test_users_see_their_own_webhooks_and_admins_all(
    hooks: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    client, _ = hooks
    _, alice = await add_user(client, "user", "alice")
    _, bob = await add_user(client, "user", "bob")
    _, viewer = await add_user(client, "viewer", "vera")
    body = {"url": "http://127.0.0.1:9/hook", "events": ["run.completed"]}
    created = await client.post("/api/webhooks", json=body, headers=alice)
    assert created.status_code == 201
    assert created.json()["scope"] == "own_runs"
    hook_id = created.json()["id"]
    assert (await client.get("/api/webhooks", headers=bob)).json()["total"] == 0
    for path in (f"/api/webhooks/{hook_id}", f"/api/webhooks/{hook_id}/deliveries"):
        assert (await client.get(path, headers=bob)).status_code == 404
    assert (await client.delete(f"/api/webhooks/{hook_id}", headers=bob)).status_code == 404
    assert (await client.get("/api/webhooks", headers=alice)).json()["total"] == 1
    assert (await client.get("/api/webhooks")).json()["total"] == 1  # the admin
    assert (await client.get(f"/api/webhooks/{hook_id}")).status_code == 200
    # viewers have no webhooks
    assert (await client.get("/api/webhooks", headers=viewer)).status_code == 403
    assert (await client.post("/api/webhooks", json=body, headers=viewer)).status_code == 403
    # the admin may delete anyone's
    assert (await client.delete(f"/api/webhooks/{hook_id}")).status_code == 204
    assert (await client.get("/api/webhooks", headers=alice)).json()["total"] == 0


# ------------------------------------------------------------------ deliveries


def verify(received: Any, secret: str) -> Any:
    """The body, verified as a Standard Webhooks receiver does it."""
    return Webhook(secret).verify(received.body, received.headers)


async def test_a_completed_run_is_delivered_signed(
    hooks: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    client, _ = hooks
    with WebhookReceiver() as receiver:
        created = (
            await client.post(
                "/api/webhooks",
                json={
                    "url": receiver.url,
                    "events": ["run.completed"],
                    "agent_id": "customer_support",
                },
            )
        ).json()
        run_id = await chat(client)
        [delivery] = await settled(client, created["id"])
        [got] = await receiver.arrived(1)
        body = verify(got, created["secret"])
        with pytest.raises(WebhookVerificationError):  # another secret does not verify
            Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(got.body, got.headers)
        tampered = got.body.replace(b"completed", b"failed")
        with pytest.raises(WebhookVerificationError):
            Webhook(created["secret"]).verify(tampered, got.headers)
    assert got.headers["webhook-id"] == delivery["id"]
    assert got.headers["content-type"] == "application/json"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 300
    assert body["type"] == "run.completed"
    assert body["timestamp"].endswith("Z")
    run = (await client.get(f"/api/runs/{run_id}")).json()
    assert body["data"]["run_id"] == run_id
    assert body["data"]["agent_id"] == run["agent_id"]
    assert body["data"]["session_id"] == run["session_id"]
    assert body["data"]["status"] == "completed"
    assert body["data"]["response"] == run["response_content"]
    assert body["data"]["metrics"]["total_steps"] >= 1
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 1
    assert delivery["last_response_code"] == 200
    assert delivery["last_error"] is None
    assert delivery["next_retry_at"] is None
    assert delivery["run_id"] == run_id
    assert delivery["event_type"] == "run.completed"
    assert delivery["webhook_id"] == created["id"]
    assert delivery["delivered_at"] is not None
    detail = (await client.get(f"/api/webhooks/{created['id']}/deliveries/{delivery['id']}")).json()
    assert detail["payload"] == body
    assert [a["response_code"] for a in detail["attempt_log"]] == [200]
    own = (await client.get(f"/api/runs/{run_id}/webhook_deliveries")).json()
    assert [d["id"] for d in own["items"]] == [delivery["id"]]


async def test_a_failing_receiver_is_retried_until_it_answers(
    hooks: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    client, _ = hooks
    with WebhookReceiver(statuses=[500, 500, 200]) as receiver:
        body = {"url": receiver.url, "events": ["run.completed"]}
        created = (await client.post("/api/webhooks", json=body)).json()
        await chat(client)
        [delivery] = await settled(client, created["id"])
        got = await receiver.arrived(3)
    assert len(got) == 3
    assert len({r.webhook_id for r in got}) == 1  # one delivery, three attempts
    assert [verify(r, created["secret"]) for r in got] == [got[0].json] * 3
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 3
    assert delivery["last_response_code"] == 200
    detail = (await client.get(f"/api/webhooks/{created['id']}/deliveries/{delivery['id']}")).json()
    log = detail["attempt_log"]
    assert [a["attempt"] for a in log] == [1, 2, 3]
    assert [a["response_code"] for a in log] == [500, 500, 200]
    assert [a["error"] for a in log] == ["HTTP 500", "HTTP 500", None]
    assert all(a["finished_at"] is not None for a in log)
    pending = await client.get(f"/api/webhooks/{created['id']}/deliveries?status=pending")
    assert pending.json()["total"] == 0


async def test_a_delivery_that_never_succeeds_fails_after_its_horizon(
    settings: Settings,
) -> None:
    app = create_app(settings.model_copy(update={**FAST, "webhook_retry_horizon_seconds": 1.0}))
    client, lifespan = await start_client(app)
    try:
        with WebhookReceiver(statuses=[503]) as receiver:
            created = (
                await client.post(
                    "/api/webhooks", json={"url": receiver.url, "events": ["run.completed"]}
                )
            ).json()
            await chat(client)
            [delivery] = await settled(client, created["id"])
        assert delivery["status"] == "failed"
        assert delivery["last_response_code"] == 503
        assert delivery["last_error"] == "HTTP 503"
        assert delivery["next_retry_at"] is None
        # as many as fit in the horizon (retries themselves: the test above)
        assert delivery["attempts"] == len(receiver.received) >= 1
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_a_chats_own_webhook_gets_its_end(settings: Settings) -> None:
    """`webhook` in the chat body: that run's terminal event, signed with
    AGIO_WEBHOOK_SECRET; no other run's, and no subscription needed."""
    server_secret = "whsec_" + base64.b64encode(b"s" * 32).decode()
    app = create_app(settings.model_copy(update={**FAST, "webhook_secret": server_secret}))
    client, lifespan = await start_client(app)
    try:
        with WebhookReceiver() as receiver:
            run_id = await chat(client, webhook=receiver.url)
            other = await chat(client)
            streamed = await client.post(
                "/api/chat",
                json={"agent_id": "customer_support", "message": "hi", "webhook": receiver.url},
            )
            assert streamed.status_code == 200
            streamed_id = streamed.headers["x-run-id"]
            got = await receiver.arrived(2, timeout=5)
            await asyncio.sleep(0.3)  # nothing more comes
            assert len(receiver.received) == 2
        bodies = [verify(r, server_secret) for r in got]
        assert sorted(b["data"]["run_id"] for b in bodies) == sorted([run_id, streamed_id])
        assert other not in {b["data"]["run_id"] for b in bodies}
        assert {b["type"] for b in bodies} == {"run.completed"}
        own = (await client.get(f"/api/runs/{run_id}/webhook_deliveries")).json()["items"]
        assert [(d["webhook_id"], d["status"]) for d in own] == [(None, "delivered")]
        assert (await client.get(f"/api/runs/{other}/webhook_deliveries")).json()["total"] == 0
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_a_chats_own_webhook_is_unsigned_without_a_server_secret(
    hooks: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    client, _ = hooks
    with WebhookReceiver() as receiver:
        run_id = await chat(client, webhook=receiver.url)
        [got] = await receiver.arrived(1)
    assert got.json["data"]["run_id"] == run_id
    assert "webhook-signature" not in got.headers
    assert got.headers["webhook-id"].startswith("whd_")
    assert got.headers["webhook-timestamp"].isdigit()


async def test_who_gets_which_runs_events(hooks: tuple[httpx.AsyncClient, FastAPI]) -> None:
    """A user's webhook: that user's runs only; an admin's: everyone's; `agent_id`: that
    agent's runs only; an event type nobody asked for: nothing."""
    client, _ = hooks
    _, alice = await add_user(client, "user", "alice")
    _, bob = await add_user(client, "user", "bob")
    with WebhookReceiver() as receiver:

        async def subscribe(path: str, headers: dict[str, str] | None, **extra: Any) -> str:
            created = await client.post(
                "/api/webhooks",
                json={"url": receiver.url + path, "events": ["run.completed"], **extra},
                headers=headers,
            )
            assert created.status_code == 201, created.text
            hook_id: str = created.json()["id"]
            return hook_id

        alices = await subscribe("/alice", alice)
        await subscribe("/admin", None)
        await subscribe("/assistant", None, agent_id="assistant")
        failures = {"url": receiver.url + "/f", "events": ["run.failed"]}
        failures_only = (await client.post("/api/webhooks", json=failures)).json()["id"]
        alice_run = await chat(client, alice)
        bob_run = await chat(client, bob)
        assistant_run = await chat(client, bob, agent_id="assistant")
        await receiver.arrived(5)
        await asyncio.sleep(0.3)  # nothing more comes
        by_path: dict[str, set[str]] = {}
        for r in receiver.received:
            by_path.setdefault(r.path, set()).add(r.json["data"]["run_id"])
    assert by_path == {
        "/hook/alice": {alice_run},
        "/hook/admin": {alice_run, bob_run, assistant_run},
        "/hook/assistant": {assistant_run},
    }
    assert (await client.get(f"/api/webhooks/{failures_only}/deliveries")).json()["total"] == 0
    # each sees a run's deliveries of their own webhooks only (admins: all)
    seen = (await client.get(f"/api/runs/{alice_run}/webhook_deliveries", headers=alice)).json()
    assert {d["webhook_id"] for d in seen["items"]} == {alices}
    assert (await client.get(f"/api/runs/{alice_run}/webhook_deliveries")).json()["total"] == 2
    assert (
        await client.get(f"/api/runs/{alice_run}/webhook_deliveries", headers=bob)
    ).status_code == 404


SLOW = [
    {
        "type": "model",
        "name": "slow_script",
        "provider": "scripted",
        "model": "scripted",
        "chunk_size": 2,
        "chunk_delay": 0.05,
        "responses": [{"content": "A long and slow answer. " * 20}],
    },
    {"type": "agent", "name": "slow_agent", "model": "slow_script"},
]


async def test_cancelled_runs_are_delivered(
    settings: Settings, add_components: Callable[..., None]
) -> None:
    """`run.cancelled` of a run cancelled while it runs (its end stored by the run
    writer) and of one cancelled while paused (stored by the lease repository's
    transition, outside the writer)."""
    add_components("slow.yaml", SLOW)
    app = create_app(settings.model_copy(update=FAST))
    client, lifespan = await start_client(app)
    try:
        with WebhookReceiver() as receiver:
            body = {"url": receiver.url, "events": ["run.cancelled"]}
            created = (await client.post("/api/webhooks", json=body)).json()
            ids = []
            for pause_first in (False, True):
                waiting = asyncio.create_task(
                    client.post(
                        "/api/chat",
                        json={"agent_id": "slow_agent", "message": "go", "stream": False},
                    )
                )

                async def started(known: list[str] = ids) -> str | None:
                    runs = (await client.get("/api/runs", params={"status": "running"})).json()
                    fresh = [r["id"] for r in runs["items"] if r["id"] not in known]
                    return fresh[0] if fresh else None

                run_id = await until(started)
                ids.append(run_id)
                if pause_first:
                    paused = await client.post(f"/api/runs/{run_id}/pause")
                    assert paused.status_code == 200, paused.text
                cancelled = await client.post(f"/api/runs/{run_id}/cancel")
                assert cancelled.status_code == 200, cancelled.text
                assert (await waiting).json()["status"] in ("cancelled", "paused")
            got = await receiver.arrived(2)
        assert sorted(r.json["data"]["run_id"] for r in got) == sorted(ids)
        assert {r.json["type"] for r in got} == {"run.cancelled"}
        assert {r.json["data"]["status"] for r in got} == {"cancelled"}
        deliveries = (await client.get(f"/api/webhooks/{created['id']}/deliveries")).json()
        assert deliveries["total"] == 2
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
