"""The webhook outbox on SQLite and PostgreSQL: a delivery row is written in the very
transaction that stores its event (the run writer's batches on both of its paths, and the
transactions that end runs nobody executes), for exactly the subscriptions that want it;
a batch that fails writes neither; and claiming a delivery for an attempt is exclusive."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from agio.bus.memory import InProcessBus
from agio.domain.events import Event
from agio.domain.runs import RunStatus
from agio.domain.time import utcnow
from agio.domain.webhooks import DeliveryStatus
from agio.storage.database import Database
from agio.storage.leases import LeaseRepository
from agio.storage.run_rows import to_run
from agio.storage.runs import new_run_rows
from agio.storage.tables import RunRow
from agio.storage.tables_webhooks import WebhookDeliveryRow
from agio.storage.webhooks import INTERRUPTED, Outcome, WebhookRepository
from agio.storage.writer import RunWriteFailed, RunWriter
from tests.storage.test_writer import NOW, UNSTORABLE, _run

URL = "http://127.0.0.1:9/"


def run_of(run_id: str, user_id: str, agent_id: str = "agt_1") -> Any:
    run = _run(run_id, "ses_" + run_id)
    return type(run)(**{**run.__dict__, "user_id": user_id, "agent_id": agent_id})


async def deliveries(db: Database) -> list[WebhookDeliveryRow]:
    async with db.sessions() as s:
        rows = await s.execute(
            select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.run_id, WebhookDeliveryRow.url)
        )
        return list(rows.scalars())


async def subscribe(repo: WebhookRepository, path: str, events: list[str], **kwargs: Any) -> str:
    values: dict[str, Any] = {"agent_id": None, "owner_id": "u_admin", "all_runs": True}
    values.update(kwargs)
    created = await repo.create(URL + path, events, secret="whsec_x", **values)
    return created.id


@pytest.mark.parametrize("fast_path", [True, False])
async def test_deliveries_are_written_with_their_events(db: Database, fast_path: bool) -> None:
    repo = WebhookRepository(db)
    everyone = await subscribe(repo, "all", ["run.completed"])
    alices = await subscribe(
        repo, "alice", ["run.completed", "run.failed"], owner_id="alice", all_runs=False
    )
    await subscribe(repo, "other-agent", ["run.completed"], agent_id="agt_other")
    await subscribe(repo, "cancelled", ["run.cancelled"])
    writer = RunWriter(db, InProcessBus(), sqlite_fast_path=fast_path)
    writer.start()
    try:
        for run in (run_of("run_a", "alice"), run_of("run_b", "bob")):
            writer.create_run(new_run_rows(run, new_session=True, owner_id="me"))
        writer.update_run("run_a", webhook_url=URL + "own")  # as a chat's `webhook` does
        await writer.flush()
        assert await deliveries(db) == []
        for run_id in ("run_a", "run_b"):
            writer.append(Event(run_id, 1, "run_started", NOW, {"run_id": run_id}))
            writer.append(Event(run_id, 2, "content_delta", NOW, {"content": "hi"}))
        await writer.flush()
        assert await deliveries(db) == []  # no webhook event yet
        done = NOW + timedelta(seconds=3)
        writer.update_run("run_a", status="completed", ended_at=done)
        writer.append(
            Event("run_a", 3, "run_completed", done, {"run_id": "run_a", "response": "ok"})
        )
        error = {"type": "Boom", "message": "no"}
        writer.update_run("run_b", status="failed", ended_at=done)
        writer.append(Event("run_b", 3, "run_failed", done, {"run_id": "run_b", "error": error}))
        await writer.flush()
    finally:
        await writer.close()
    rows = await deliveries(db)
    got = {(r.run_id, r.url.removeprefix(URL), r.event_type, r.seq) for r in rows}
    # run_b (bob's) failed: "all" wants only completions, "alice" only alice's runs
    assert got == {
        ("run_a", "all", "run.completed", 3),
        ("run_a", "alice", "run.completed", 3),
        ("run_a", "own", "run.completed", 3),  # the run's own webhook
    }
    by_url = {r.url.removeprefix(URL): r for r in rows}
    assert by_url["all"].subscription_id == everyone
    assert by_url["alice"].subscription_id == alices
    assert by_url["own"].subscription_id is None
    for row in rows:
        assert row.status == "pending"
        assert row.attempts == 0
        assert row.data == {"run_id": "run_a", "response": "ok"}
        assert row.created_at == done
        assert row.next_attempt_at == done  # due at once
        assert row.agent_id == "agt_1"
        assert row.session_id == "ses_run_a"
    assert len({r.id for r in rows}) == len(rows)


@pytest.mark.parametrize("fast_path", [True, False])
async def test_a_batch_that_fails_writes_neither_event_nor_delivery(
    db: Database, fast_path: bool
) -> None:
    """A run's `run_completed` that cannot be stored: neither it nor its delivery is; the
    run then ends `failed` (the writer's own transaction), and that event is delivered."""
    repo = WebhookRepository(db)
    await subscribe(repo, "both", ["run.completed", "run.failed"])
    writer = RunWriter(db, InProcessBus(), sqlite_fast_path=fast_path)
    writer.start()
    try:
        writer.create_run(new_run_rows(run_of("run_x", "alice"), new_session=True, owner_id="me"))
        writer.append(Event("run_x", 1, "run_started", NOW, {"run_id": "run_x"}))
        await writer.flush()
        # the run's end: its answer cannot be stored, and so neither can its event
        writer.update_run("run_x", status="completed", response_content=UNSTORABLE)
        writer.append(Event("run_x", 2, "run_completed", NOW, {"response": "fine"}))
        with pytest.raises(RunWriteFailed):
            await writer.flush("run_x")
    finally:
        await writer.close()
    rows = await deliveries(db)
    assert [(r.event_type, r.seq) for r in rows] == [("run.failed", 2)]
    assert rows[0].data["error"]["type"] == "StorageFailed"


async def test_runs_ended_outside_the_writer_have_their_deliveries(db: Database) -> None:
    """A paused run cancelled (`LeaseRepository.transition`) and an orphan failed
    (`fail_orphan`): their events and deliveries are stored together."""
    repo = WebhookRepository(db)
    await subscribe(repo, "ends", ["run.cancelled", "run.failed"])
    writer = RunWriter(db, InProcessBus())
    writer.start()
    try:
        for run_id in ("run_p", "run_o"):
            writer.create_run(
                new_run_rows(run_of(run_id, "alice"), new_session=True, owner_id="me")
            )
        writer.update_run("run_p", status="paused", owner_id=None)
        writer.update_run("run_o", status="running", heartbeat_at=NOW)
        await writer.flush()
    finally:
        await writer.close()
    leases = LeaseRepository(db)
    async with db.sessions() as s:
        runs = {r.id: to_run(r) for r in (await s.execute(select(RunRow))).scalars()}
    now = utcnow()
    cancel = Event("run_p", 1, "run_cancelled", now, {"run_id": "run_p"})
    assert await leases.transition(runs["run_p"], RunStatus.CANCELLED, cancel)
    error = {"type": "Orphaned", "message": "gone"}
    failed = Event("run_o", 1, "run_failed", now, {"run_id": "run_o", "error": error})
    assert await leases.fail_orphan(runs["run_o"], failed, error, now + timedelta(seconds=1))
    # a transition that does not happen (the run changed since) stores no delivery
    assert not await leases.transition(runs["run_p"], RunStatus.CANCELLED, cancel)
    rows = await deliveries(db)
    assert [(r.run_id, r.event_type) for r in rows] == [
        ("run_o", "run.failed"),
        ("run_p", "run.cancelled"),
    ]


async def test_a_claim_is_one_senders_until_its_lease_runs_out(db: Database) -> None:
    repo = WebhookRepository(db)
    await subscribe(repo, "a", ["run.completed"])
    await subscribe(repo, "b", ["run.completed"])
    writer = RunWriter(db, InProcessBus())
    writer.start()
    try:
        for n in range(3):
            run_id = f"run_{n}"
            writer.create_run(new_run_rows(run_of(run_id, "u"), new_session=True, owner_id="me"))
            writer.append(Event(run_id, 1, "run_completed", NOW, {"run_id": run_id}))
        await writer.flush()
    finally:
        await writer.close()
    # two senders (their own connections) claim at once: every delivery exactly once
    other = Database(db.url)
    try:
        lease = utcnow() + timedelta(seconds=60)
        first, second = await asyncio.gather(
            repo.claim(4, lease), WebhookRepository(other).claim(4, lease)
        )
    finally:
        await other.dispose()
    claimed = [c.delivery.id for c in first + second]
    assert len(claimed) == len(set(claimed)) == 6
    assert await repo.claim(10, lease) == []  # all leased
    assert {c.secret for c in first + second} == {"whsec_x"}
    assert {c.attempt for c in first + second} == {1}
    one = first[0] if first else second[0]
    # the lease runs out (its sender died): the next claim takes it again, as attempt 2,
    # and the attempt that was never recorded is marked interrupted
    async with db.write_sessions() as s, s.begin():
        await s.execute(
            update(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.id == one.delivery.id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
    [again] = await repo.claim(10, lease)
    assert again.delivery.id == one.delivery.id
    assert again.attempt == 2
    attempts = await repo.attempts(one.delivery.id)
    assert [(a.attempt, a.error) for a in attempts] == [(1, INTERRUPTED), (2, None)]
    # the late sender's outcome no longer decides; the current one's does
    late = Outcome(200, None, 5.0, DeliveryStatus.DELIVERED, None)
    assert not await repo.record(one, late)
    assert (await repo.delivery(one.delivery.id)).status is DeliveryStatus.PENDING  # type: ignore[union-attr]
    assert await repo.record(again, late)
    done = await repo.delivery(one.delivery.id)
    assert done is not None
    assert done.status is DeliveryStatus.DELIVERED
    assert done.next_attempt_at is None
    assert done.lease_token is None
    assert await repo.next_due() is not None  # the other five are still leased (due later)


async def test_approval_requests_go_to_subscriptions_only(db: Database) -> None:
    """`approval_requested` (the approvals' run event, by name) is `approval.requested`
    for the subscriptions that want it; a run's own webhook gets only its end."""
    repo = WebhookRepository(db)
    await subscribe(repo, "approvals", ["approval.requested"])
    await subscribe(repo, "ends", ["run.completed"])
    writer = RunWriter(db, InProcessBus())
    writer.start()
    try:
        writer.create_run(new_run_rows(run_of("run_q", "alice"), new_session=True, owner_id="me"))
        writer.update_run("run_q", webhook_url=URL + "own")
        asked = {"call_id": "call_1", "tool": "calculator", "args": {"expression": "1+1"}}
        writer.append(Event("run_q", 1, "approval_requested", NOW, asked))
        await writer.flush()
    finally:
        await writer.close()
    rows = await deliveries(db)
    assert [(r.url.removeprefix(URL), r.event_type, r.data) for r in rows] == [
        ("approvals", "approval.requested", asked)
    ]
