"""Sending webhook deliveries: the retry schedule, two app instances on one database
(SQLite file and PostgreSQL) sending each attempt exactly once, the SSRF guard checked
again at send time, and a stopping process giving its attempts back to the others."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from agio.api.app import create_app
from agio.config.settings import Settings
from agio.services.webhook_delivery import RetryPolicy
from agio.storage.webhooks import INTERRUPTED
from tests.api.test_webhooks import FAST, chat, settled, until
from tests.conftest import start_client
from tests.fakes.webhook_receiver import WebhookReceiver

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_the_default_schedule_retries_for_more_than_a_day() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    policy = RetryPolicy(
        tuple(settings.webhook_retry_schedule), settings.webhook_retry_horizon_seconds, jitter=0
    )
    rng = random.Random(1)
    now, attempts, delays = T0, 1, []
    while (at := policy.next_attempt(attempts, T0, now, rng)) is not None:
        delays.append((at - now).total_seconds())
        now, attempts = at, attempts + 1
    assert delays[:7] == [5, 30, 120, 600, 1800, 3600, 7200]
    assert set(delays[7:]) == {7200}  # then every two hours
    assert timedelta(hours=24) < now - T0 <= timedelta(hours=26)
    assert attempts == 19


def test_jitter_stretches_each_delay_by_at_most_a_fifth() -> None:
    policy = RetryPolicy((10.0, 100.0), horizon_seconds=10_000)
    rng = random.Random(7)
    firsts = [(policy.next_attempt(1, T0, T0, rng) - T0).total_seconds() for _ in range(200)]  # type: ignore[operator]
    later = [(policy.next_attempt(9, T0, T0, rng) - T0).total_seconds() for _ in range(200)]  # type: ignore[operator]
    assert min(firsts) >= 10
    assert max(firsts) <= 12
    assert min(later) >= 100  # the last delay repeats
    assert max(later) <= 120
    assert len(set(firsts)) > 100  # spread out, not one value
    assert policy.next_attempt(1, T0, T0 + timedelta(seconds=9_995), rng) is None


async def open_app(settings: Settings, **overrides: Any) -> tuple[httpx.AsyncClient, Any]:
    return await start_client(create_app(settings.model_copy(update={**FAST, **overrides})))


async def close_app(client: httpx.AsyncClient, lifespan: Any) -> None:
    await client.aclose()
    await lifespan.__aexit__(None, None, None)


async def test_two_instances_send_each_attempt_once(settings: Settings) -> None:
    """Two app instances on one database, both sending: every delivery's first attempt
    fails (500) and its second succeeds, and the receiver sees each delivery exactly
    twice, never a third time (no attempt is sent by both)."""
    first, first_life = await open_app(settings, webhook_poll_seconds=0.02)
    second, second_life = await open_app(settings, webhook_poll_seconds=0.02)
    try:
        with WebhookReceiver(statuses=[500, 200], per_delivery=True) as receiver:
            body = {"url": receiver.url, "events": ["run.completed"]}
            hooks = [(await first.post("/api/webhooks", json=body)).json() for _ in range(2)]
            runs = await asyncio.gather(*(chat(c) for c in [first, second] * 4))
            for hook in hooks:
                await settled(first, hook["id"], count=len(runs))
            got = await receiver.arrived(2 * 2 * len(runs))
            await asyncio.sleep(0.3)  # nothing more comes
        per_delivery = Counter(r.webhook_id for r in got)
        assert len(per_delivery) == 2 * len(runs)
        assert set(per_delivery.values()) == {2}
        assert len(receiver.received) == 4 * len(runs)
        for hook in hooks:
            items = (await second.get(f"/api/webhooks/{hook['id']}/deliveries")).json()["items"]
            assert sorted(d["run_id"] for d in items) == sorted(runs)
            assert {(d["status"], d["attempts"]) for d in items} == {("delivered", 2)}
    finally:
        await close_app(second, second_life)
        await close_app(first, first_life)


async def test_the_address_is_checked_again_at_send_time(settings: Settings) -> None:
    """A webhook accepted where private addresses were allowed, sent by a process where
    they are not: refused at the attempt (DNS may have changed; the rule may have), and
    nothing reaches the receiver."""
    api, api_life = await open_app(settings, webhook_sender=False)
    sender, sender_life = await open_app(settings, webhook_allow_private=False)
    try:
        with WebhookReceiver() as receiver:
            body = {"url": receiver.url, "events": ["run.completed"]}
            hook = (await api.post("/api/webhooks", json=body)).json()
            await chat(api)

            async def refused() -> dict[str, Any] | None:
                items = (await api.get(f"/api/webhooks/{hook['id']}/deliveries")).json()["items"]
                return (
                    items[0]
                    if items and items[0]["attempts"] >= 1 and items[0]["last_error"]
                    else None
                )

            delivery = await until(refused)
        assert receiver.received == []
        assert "refused" in delivery["last_error"]
        assert "loopback" in delivery["last_error"]
        assert delivery["last_response_code"] is None
        assert delivery["status"] == "pending"  # retried: the rule may change back
    finally:
        await close_app(sender, sender_life)
        await close_app(api, api_life)


async def test_a_stopping_process_gives_its_attempts_back(settings: Settings) -> None:
    """An attempt in flight when its process stops is marked interrupted and due at once:
    another process sends it (at least once), without waiting for the lease."""
    first, first_life = await open_app(settings, webhook_lease_seconds=3600)
    stopped = False
    try:
        with WebhookReceiver() as receiver:
            receiver.hold()  # the first request hangs
            hook = (
                await first.post(
                    "/api/webhooks", json={"url": receiver.url, "events": ["run.completed"]}
                )
            ).json()
            await chat(first)
            while not receiver.waiting.is_set():
                await asyncio.sleep(0.02)
            await close_app(first, first_life)
            stopped = True
            receiver.release()
            second, second_life = await open_app(settings)
            try:
                [delivery] = await settled(second, hook["id"])
                detail = (
                    await second.get(f"/api/webhooks/{hook['id']}/deliveries/{delivery['id']}")
                ).json()
            finally:
                await close_app(second, second_life)
        assert delivery["status"] == "delivered"
        assert delivery["attempts"] == 2
        assert [a["error"] for a in detail["attempt_log"]] == [INTERRUPTED, None]
        assert len({r.webhook_id for r in receiver.received}) == 1
    finally:
        if not stopped:
            await close_app(first, first_life)
