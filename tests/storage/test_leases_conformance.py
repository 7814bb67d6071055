"""Leases, orphans, state changes of runs nobody executes and control flags, on SQLite and
PostgreSQL alike. Each conditional update has a test where its condition holds and one
for each way it does not, where nothing changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from agio.domain import events as ev
from agio.domain.runs import Run, RunStatus
from agio.domain.time import utcnow
from agio.storage.database import Database
from tests.storage.seed import NOW, Seed, event, seeded

LEASE = timedelta(seconds=30)
ERROR = {"type": "Orphaned", "message": "its process went away"}


@pytest.fixture
async def seed(db: Database) -> AsyncIterator[Seed]:
    async with seeded(db) as seed:
        yield seed


async def _unchanged(seed: Seed, before: Run) -> None:
    after = await seed.get(before.id)
    assert after == before
    assert await seed.repo.count_events(before.id) == before.last_seq


# --------------------------------------------------------------------- claim


async def test_claim_takes_a_run_nobody_owns_and_a_paused_one_runs(seed: Seed) -> None:
    await seed.run("run_1", "ses_a")
    run = await seed.set("run_1", status="paused", owner_id=None, heartbeat_at=None)

    assert await seed.repo.claim(run, "me", recovery=False) is True

    claimed = await seed.get("run_1")
    assert (claimed.owner_id, claimed.status, claimed.recovery_count) == (
        "me",
        RunStatus.RUNNING,
        0,
    )
    assert await seed.heartbeat_at("run_1") is not None
    # the same read again: now owned, so refused
    assert await seed.repo.claim(run, "other", recovery=False) is False
    assert (await seed.get("run_1")).owner_id == "me"


async def test_claim_refused_when_owned_or_changed_since_read(seed: Seed) -> None:
    await seed.run("run_1", "ses_a", owner_id="other")  # pending, owned
    await seed.run("run_2", "ses_a")
    owned = await seed.get("run_1")
    read = await seed.set("run_2", status="paused", owner_id=None)
    ended = await seed.set("run_2", status="cancelled")  # ended after it was read

    assert await seed.repo.claim(owned, "me", recovery=False) is False
    assert await seed.repo.claim(read, "me", recovery=False) is False

    await _unchanged(seed, owned)
    await _unchanged(seed, ended)


async def test_claim_refused_when_the_run_moved_on_since_read(seed: Seed) -> None:
    """Continued and handed back by someone else in between (same status, no owner, but
    later events): a claim with the older read would continue it from a stale state."""
    await seed.run("run_1", "ses_a")
    await seed.events("run_1", 5)
    read = await seed.set("run_1", status="waiting_approval", owner_id=None)
    await seed.events("run_1", 4, first=6)  # continued elsewhere, and waiting again
    moved = await seed.set("run_1", status="waiting_approval", owner_id=None)
    assert (read.last_seq, moved.last_seq) == (5, 9)

    assert await seed.repo.claim(read, "me", recovery=False) is False
    await _unchanged(seed, moved)
    assert await seed.repo.claim(moved, "me", recovery=False) is True


async def test_claim_clears_the_flag_it_read_and_refuses_one_set_since(seed: Seed) -> None:
    """A flag read with the run is the claimer's to apply (recovery does), and the claim
    clears it; one set after the read is not cleared unseen: the claim fails, and the
    next read sees it. One set after the claim stays for the new owner."""
    await seed.run("run_1", "ses_a")
    read = await seed.set("run_1", status="paused", owner_id=None, control="pause")
    flagged = await seed.set("run_1", control="cancel")  # asked for since it was read

    assert await seed.repo.claim(read, "me", recovery=False) is False
    await _unchanged(seed, flagged)
    assert await seed.repo.claim(flagged, "me", recovery=False) is True
    assert (await seed.get("run_1")).control is None
    await seed.set("run_1", control="cancel")  # by a request that read it as mine
    assert await seed.repo.controls_for("me") == {"run_1": "cancel"}


async def test_recovery_claims_a_run_whose_lease_ran_out(seed: Seed) -> None:
    await seed.run("run_1", "ses_a", owner_id="gone")
    await seed.run("run_2", "ses_a", owner_id="stopped")
    stale = await seed.set("run_1", status="running", heartbeat_at=utcnow() - 2 * LEASE)
    handed_back = await seed.set("run_2", status="running", owner_id=None, heartbeat_at=None)

    for run in (stale, handed_back):
        assert await seed.repo.claim(run, "me", recovery=True, stale_before=utcnow() - LEASE)
        claimed = await seed.get(run.id)
        assert (claimed.owner_id, claimed.status, claimed.recovery_count) == (
            "me",
            RunStatus.RUNNING,
            1,
        )
    # a second claimer with the same read loses: recovery_count moved on, lease renewed
    assert await seed.repo.claim(stale, "rival", recovery=True, stale_before=utcnow()) is False
    assert (await seed.get("run_1")).owner_id == "me"


async def test_recovery_claim_refused_while_the_lease_holds_or_the_run_ended(
    seed: Seed,
) -> None:
    await seed.run("run_1", "ses_a", owner_id="alive")
    await seed.run("run_2", "ses_a", owner_id="gone")
    alive = await seed.set("run_1", status="running", heartbeat_at=utcnow())
    read = await seed.set("run_2", status="running", heartbeat_at=utcnow() - 2 * LEASE)
    ended = await seed.set("run_2", status="failed", owner_id=None)

    stale_before = utcnow() - LEASE
    assert await seed.repo.claim(alive, "me", recovery=True, stale_before=stale_before) is False
    assert await seed.repo.claim(read, "me", recovery=True, stale_before=stale_before) is False

    await _unchanged(seed, alive)
    await _unchanged(seed, ended)


# --------------------------------------------------------------------- heartbeat, release


async def test_heartbeat_renews_only_the_runs_this_process_owns(seed: Seed) -> None:
    for run_id, owner in (("run_1", "me"), ("run_2", "me"), ("run_3", "other")):
        await seed.run(run_id, "ses_a", owner_id=owner)
        await seed.set(run_id, heartbeat_at=NOW)

    owned = await seed.repo.heartbeat("me", ["run_1", "run_2", "run_3", "run_missing"])

    assert owned == {"run_1", "run_2"}
    for run_id in ("run_1", "run_2"):
        renewed = await seed.heartbeat_at(run_id)
        assert renewed is not None
        assert renewed > NOW
    assert await seed.heartbeat_at("run_3") == NOW
    assert await seed.repo.heartbeat("me", []) == set()


async def test_release_hands_back_only_own_runs(seed: Seed) -> None:
    await seed.run("run_1", "ses_a", owner_id="me")
    await seed.run("run_2", "ses_a", owner_id="other")

    await seed.repo.release(["run_1", "run_2"], "me")

    assert (await seed.get("run_1")).owner_id is None
    assert await seed.heartbeat_at("run_1") is None
    assert (await seed.get("run_2")).owner_id == "other"
    assert await seed.heartbeat_at("run_2") is not None


# --------------------------------------------------------------------- orphans


async def test_orphans_are_unfinished_active_runs_without_a_live_lease(seed: Seed) -> None:
    old = utcnow() - 2 * LEASE
    cases: dict[str, dict[str, Any]] = {
        "run_stale_pending": {"status": "pending", "heartbeat_at": old},
        "run_stale_running": {"status": "running", "heartbeat_at": old},
        "run_handed_back": {"status": "running", "heartbeat_at": None, "owner_id": None},
        "run_alive": {"status": "running", "heartbeat_at": utcnow()},
        "run_paused": {"status": "paused", "heartbeat_at": None, "owner_id": None},
        "run_ended": {"status": "completed", "heartbeat_at": old},
    }
    for run_id, values in cases.items():
        await seed.run(run_id, "ses_a")
        await seed.set(run_id, **values)

    orphans = await seed.repo.orphaned_runs(utcnow() - LEASE)

    assert sorted(r.id for r in orphans) == [
        "run_handed_back",
        "run_stale_pending",
        "run_stale_running",
    ]


async def test_fail_orphan_ends_it_with_its_event(seed: Seed) -> None:
    await seed.run("run_1", "ses_a", owner_id="gone")
    await seed.events("run_1", 2)
    run = await seed.set("run_1", status="running", heartbeat_at=utcnow() - 2 * LEASE)
    failed = event(run, ev.RUN_FAILED)

    assert await seed.repo.fail_orphan(run, failed, ERROR, utcnow() - LEASE) is True

    ended = await seed.get("run_1")
    assert (ended.status, ended.error, ended.owner_id, ended.last_seq) == (
        RunStatus.FAILED,
        ERROR,
        None,
        3,
    )
    assert ended.ended_at == failed.timestamp
    assert (await seed.repo.events("run_1"))[-1] == failed


async def test_fail_orphan_refused_when_claimed_alive_or_moved_on(seed: Seed) -> None:
    stale = utcnow() - 2 * LEASE
    for run_id in ("run_claimed", "run_alive", "run_moved"):
        await seed.run(run_id, "ses_a", owner_id="gone")
        await seed.events(run_id, 1)
        await seed.set(run_id, status="running", heartbeat_at=stale)
    reads = {run_id: await seed.get(run_id) for run_id in ("run_claimed", "run_alive", "run_moved")}
    await seed.set("run_claimed", recovery_count=1, owner_id="rival")  # recovered meanwhile
    await seed.set("run_alive", heartbeat_at=utcnow())  # its owner came back
    await seed.events("run_moved", 1, first=2)  # wrote since it was read

    for run in reads.values():
        assert (
            await seed.repo.fail_orphan(run, event(run, ev.RUN_FAILED), ERROR, utcnow() - LEASE)
            is False
        )

    for run_id in reads:
        now = await seed.get(run_id)
        assert now.status is RunStatus.RUNNING
        assert [e.type for e in await seed.repo.events(run_id)] == ["content_delta"] * (
            now.last_seq
        )


# --------------------------------------------------------------------- transition


async def test_transition_changes_a_run_nobody_executes_with_its_event(seed: Seed) -> None:
    await seed.run("run_1", "ses_a")
    await seed.events("run_1", 2)
    run = await seed.set("run_1", status="paused", owner_id=None, control="cancel")
    cancelled = event(run, ev.RUN_CANCELLED)
    ended_at = NOW + timedelta(hours=1)

    assert await seed.repo.transition(
        run, RunStatus.CANCELLED, cancelled, ended_at=ended_at, response_content="so far"
    )

    after = await seed.get("run_1")
    assert (after.status, after.last_seq, after.control) == (RunStatus.CANCELLED, 3, None)
    assert (after.ended_at, after.response_content) == (ended_at, "so far")
    assert (await seed.repo.events("run_1"))[-1] == cancelled


@pytest.mark.parametrize("change", ["status", "last_seq", "owner"])
async def test_transition_refused_when_the_run_is_not_as_read(seed: Seed, change: str) -> None:
    await seed.run("run_1", "ses_a")
    await seed.events("run_1", 1)
    read = await seed.set("run_1", status="paused", owner_id=None)
    if change == "status":
        await seed.set("run_1", status="running")
    elif change == "last_seq":
        await seed.events("run_1", 1, first=2)
    else:
        await seed.set("run_1", owner_id="someone")  # claimed to continue elsewhere
    before = await seed.get("run_1")

    refused = not await seed.repo.transition(
        read, RunStatus.CANCELLED, event(read, ev.RUN_CANCELLED)
    )

    assert refused

    await _unchanged(seed, before)


# --------------------------------------------------------------------- control flags


async def test_control_flags_are_read_by_their_owner_until_cleared(seed: Seed) -> None:
    await seed.run("run_1", "ses_a", owner_id="me")
    await seed.run("run_2", "ses_a", owner_id="me")
    await seed.run("run_3", "ses_a", owner_id="other")
    assert await seed.repo.controls_for("me") == {}

    await seed.repo.set_control("run_1", "pause")
    await seed.repo.set_control("run_3", "cancel")

    assert await seed.repo.controls_for("me") == {"run_1": "pause"}
    assert await seed.repo.controls_for("other") == {"run_3": "cancel"}
    assert (await seed.get("run_1")).control == "pause"
    # cleared by the owner's run update (the writer), and an ended run has no owner
    seed.writer.update_run("run_1", status="paused", control=None, owner_id=None)
    seed.writer.update_run("run_3", status="cancelled", owner_id=None)
    await seed.writer.flush()
    assert await seed.repo.controls_for("me") == {}
    assert await seed.repo.controls_for("other") == {}


async def test_a_transition_clears_the_control_flag(seed: Seed) -> None:
    await seed.run("run_1", "ses_a")
    await seed.repo.set_control("run_1", "cancel")
    run = await seed.set("run_1", status="paused", owner_id=None)
    assert run.control == "cancel"

    assert await seed.repo.transition(run, RunStatus.CANCELLED, event(run, ev.RUN_CANCELLED))

    assert (await seed.get("run_1")).control is None
