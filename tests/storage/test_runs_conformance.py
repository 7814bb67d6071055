"""Run repositories' conformance, on SQLite and PostgreSQL alike: sessions, run reads and
quotas, the event log, checkpoints, and the one row builder of each (leases and control
flags: test_leases_conformance.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, timedelta

import pytest
from sqlalchemy import inspect

from agio.domain import events as ev
from agio.domain.events import Event
from agio.domain.messages import Message
from agio.domain.runs import TERMINAL_STATUSES, UNFINISHED_STATUSES, RunStatus, Step
from agio.runtime.state import RunState
from agio.storage import tables
from agio.storage.checkpoints import checkpoint_row
from agio.storage.database import Database
from agio.storage.events import event_row
from agio.storage.runs import RunFilter
from agio.storage.tables import CheckpointRow, RunEventRow
from tests.storage.seed import NOW, Seed, event, seeded


@pytest.fixture
async def seed(db: Database) -> AsyncIterator[Seed]:
    async with seeded(db) as seed:
        yield seed


def _state(step_num: int = 1) -> RunState:
    state = RunState(messages=[Message.user("hi"), Message.assistant("hello")], new_from=0)
    state.step_num = step_num
    state.metrics = {"prompt_tokens": 3, "completion_tokens": 4}
    return state


# --------------------------------------------------------------------- one source


def test_terminal_statuses_have_one_source() -> None:
    assert set(TERMINAL_STATUSES) == {s for s in RunStatus if s.terminal}
    assert set(UNFINISHED_STATUSES) | set(TERMINAL_STATUSES) == set(RunStatus)
    assert set(ev.ENDED_AS.values()) == set(TERMINAL_STATUSES)
    assert set(ev.ENDED_AS) == ev.TERMINAL_EVENTS
    assert tuple(s.value for s in UNFINISHED_STATUSES) == tables.UNFINISHED_STATUSES
    # the partial indexes' predicate as migration 0009 wrote it (0007 before
    # `waiting_approval`)
    assert tables.UNFINISHED_SQL == (
        "status IN ('pending', 'running', 'paused', 'waiting_approval')"
    )


def test_row_builders_fill_every_column() -> None:
    e = Event("run_1", 3, ev.RUN_PAUSED, NOW, {"run_id": "run_1"})
    assert set(event_row(e)) == {c.key for c in inspect(RunEventRow).columns}
    row = checkpoint_row(
        "run_1", _state(2), {"agent_id": "a"}, kind="step", seq=7, status=RunStatus.RUNNING
    )
    assert set(row) == {c.key for c in inspect(CheckpointRow).columns}
    assert row["id"].startswith("ckpt_")
    assert (row["step_num"], row["seq"], row["run_status"]) == (2, 7, "running")
    assert (row["message_count"], row["total_tokens"], row["tags"]) == (2, 7, [])


# --------------------------------------------------------------------- sessions


async def test_sessions_are_listed_by_activity_with_their_run_counts(seed: Seed) -> None:
    await seed.run("run_1", "ses_a", minutes=0)
    await seed.run("run_2", "ses_b", minutes=1)
    await seed.run("run_3", "ses_a", minutes=2)  # touches ses_a: most recent now
    await seed.run("run_4", "ses_c", user_id="u2", agent_id="agt_2", minutes=3)
    repo = seed.repo

    page = await repo.list_sessions(user_id="u1", agent_id=None, limit=10, offset=0)
    assert page.total == 2
    assert [(s.id, n) for s, n in page.items] == [("ses_a", 2), ("ses_b", 1)]
    everyone = await repo.list_sessions(user_id=None, agent_id=None, limit=1, offset=1)
    assert everyone.total == 3
    assert [s.id for s, _ in everyone.items] == ["ses_a"]
    by_agent = await repo.list_sessions(user_id=None, agent_id="agt_2", limit=10, offset=0)
    assert [(s.id, s.user_id) for s, _ in by_agent.items] == [("ses_c", "u2")]

    session = await repo.get_session("ses_a")
    assert session is not None
    assert (session.agent_id, session.user_id) == ("agt_1", "u1")
    assert session.created_at == NOW
    assert session.updated_at == NOW + timedelta(minutes=2)
    assert session.updated_at.utcoffset() == UTC.utcoffset(None)
    assert await repo.get_session("ses_missing") is None
    assert await repo.session_run_ids("ses_a") == [("run_1", "pending"), ("run_3", "pending")]


async def test_session_messages_and_summary(seed: Seed) -> None:
    await seed.run("run_1", "ses_a")
    repo = seed.repo
    assert await repo.session_messages("ses_a") == []
    assert await repo.session_summary("ses_a") == (None, 0)
    assert await repo.session_summary("ses_missing") == (None, 0)
    seed.writer.add_session_messages(
        [
            {"session_id": "ses_a", "run_id": "run_1", "message": {"n": n}, "created_at": NOW}
            for n in range(3)
        ]
    )
    await seed.writer.flush()
    assert await repo.session_messages("ses_a") == [{"n": 0}, {"n": 1}, {"n": 2}]
    await repo.save_summary("ses_a", "they said hi", 2)
    assert await repo.session_summary("ses_a") == ("they said hi", 2)


async def test_deleting_a_session_takes_its_runs_and_all_they_hold(seed: Seed) -> None:
    await seed.run("run_1", "ses_a")
    await seed.run("run_2", "ses_b")
    for run_id in ("run_1", "run_2"):
        await seed.events(run_id, 2)
        seed.writer.save_step(Step(run_id=run_id, step_num=1, type="llm_call"))
        seed.writer.save_checkpoint(
            checkpoint_row(run_id, _state(), {}, kind="step", seq=2, status=RunStatus.RUNNING)
        )
    await seed.writer.flush()
    repo = seed.repo

    await repo.delete_session("ses_a")

    assert await repo.get_session("ses_a") is None
    assert await repo.get_run("run_1") is None
    assert await repo.count_events("run_1") == 0
    assert await repo.list_checkpoints("run_1") == []
    kept = await repo.get_run("run_2", with_steps=True)
    assert kept is not None
    assert len(kept.steps) == 1
    assert await repo.count_events("run_2") == 2
    assert len(await repo.list_checkpoints("run_2")) == 1


# --------------------------------------------------------------------- runs


async def test_get_run_with_its_steps_in_order(seed: Seed) -> None:
    await seed.run("run_1", "ses_a")
    for num, type_ in ((2, "tool_call"), (1, "llm_call")):
        seed.writer.save_step(
            Step(run_id="run_1", step_num=num, type=type_, metrics={"n": num}, started_at=NOW)
        )
    await seed.writer.flush()
    seed.writer.supersede_steps("run_1", 1)  # the steps stored before it, after step 1
    await seed.writer.flush()
    repo = seed.repo

    run = await repo.get_run("run_1", with_steps=True)
    assert run is not None
    assert [(s.step_num, s.type, s.superseded) for s in run.steps] == [
        (1, "llm_call", False),
        (2, "tool_call", True),
    ]
    assert run.steps[0].metrics == {"n": 1}
    assert run.steps[0].started_at == NOW
    bare = await repo.get_run("run_1")
    assert bare is not None
    assert bare.steps == []
    assert (bare.status, bare.owner_id, bare.input_query) == (
        RunStatus.PENDING,
        "me",
        "question of run_1",
    )
    assert await repo.get_run("run_missing") is None


async def test_list_runs_filters_and_pages_newest_first(seed: Seed) -> None:
    await seed.run("run_1", "ses_a", minutes=0)
    await seed.run("run_2", "ses_a", minutes=1)
    await seed.run("run_3", "ses_b", user_id="u2", agent_id="agt_2", agent_name="other", minutes=2)
    await seed.set("run_2", status="completed")
    repo = seed.repo

    async def ids(**filters: str) -> list[str]:
        page = await repo.list_runs(RunFilter(**filters), limit=10, offset=0)
        assert page.total == len(page.items)
        return [r.id for r in page.items]

    assert await ids() == ["run_3", "run_2", "run_1"]
    assert await ids(agent="agt_2") == ["run_3"]
    assert await ids(agent="other") == ["run_3"]  # by name too
    assert await ids(user_id="u1") == ["run_2", "run_1"]
    assert await ids(session_id="ses_a", status="pending") == ["run_1"]
    assert await ids(status="completed") == ["run_2"]
    assert await ids(agent="nobody") == []
    page = await repo.list_runs(RunFilter(), limit=1, offset=1)
    assert (page.total, [r.id for r in page.items]) == (3, ["run_2"])


async def test_quota_counts(seed: Seed) -> None:
    statuses = (
        "pending",
        "running",
        "paused",
        "completed",
        "failed",
        "cancelled",
        "waiting_approval",
    )
    for i, status in enumerate(statuses):
        await seed.run(f"run_{i}", "ses_a", minutes=i)
        await seed.set(f"run_{i}", status=status, total_tokens=10 * (i + 1))
    await seed.run("run_u2", "ses_b", user_id="u2")
    repo = seed.repo

    assert await repo.active_runs_of("u1") == 2  # pending and running only
    assert await repo.active_runs_of("u2") == 1
    assert await repo.active_runs_of("nobody") == 0
    assert await repo.unfinished_by_status() == {
        "pending": 2,
        "running": 1,
        "paused": 1,
        "waiting_approval": 1,
    }
    await seed.set("run_u2", status="completed")
    await seed.set("run_2", status="cancelled")
    assert await repo.unfinished_by_status() == {
        "pending": 1,
        "running": 1,
        "paused": 0,
        "waiting_approval": 1,
    }
    assert await repo.tokens_of("u1", NOW) == 280
    assert await repo.tokens_of("u1", NOW + timedelta(minutes=4)) == 50 + 60 + 70
    assert await repo.tokens_of("u2", NOW + timedelta(days=1)) == 0


# --------------------------------------------------------------------- events


async def test_event_log_reads(seed: Seed) -> None:
    await seed.run("run_1", "ses_a")
    await seed.run("run_2", "ses_a")
    stored = await seed.events("run_1", 5)
    await seed.events("run_2", 1)
    repo = seed.repo

    assert await repo.events("run_1") == stored
    assert [e.seq for e in await repo.events("run_1", offset=1, limit=2)] == [2, 3]
    assert [e.seq for e in await repo.events_after("run_1", 3)] == [4, 5]
    assert [e.seq for e in await repo.events_after("run_1", 0, limit=2)] == [1, 2]
    assert await repo.events_after("run_1", 5) == []
    assert (await repo.count_events("run_1"), await repo.max_seq("run_1")) == (5, 5)
    assert (await repo.count_events("run_3"), await repo.max_seq("run_3")) == (0, 0)
    first = (await repo.events("run_1"))[0]
    assert first.timestamp.utcoffset() == UTC.utcoffset(None)
    assert first.data == {"n": 1}
    run = await seed.get("run_1")
    assert run.last_seq == 5  # the writer keeps the run's last_seq with its events


# --------------------------------------------------------------------- checkpoints


async def test_checkpoints_saved_listed_latest_and_got(seed: Seed) -> None:
    await seed.run("run_1", "ses_a")
    repo = seed.repo
    assert await repo.latest_checkpoint("run_1") is None
    rows = [
        checkpoint_row(
            "run_1",
            _state(step),
            {"agent_id": "agt_1"},
            kind=kind,
            seq=seq,
            status=RunStatus.RUNNING,
            description=f"at {seq}",
            tags=["t"],
        )
        for step, kind, seq in ((0, "start", 0), (2, "step", 9), (1, "step", 4))
    ]
    for row in rows:
        seed.writer.save_checkpoint(row)
    await seed.writer.flush()

    listed = await repo.list_checkpoints("run_1")
    assert [c.seq for c in listed] == [0, 4, 9]
    latest = await repo.latest_checkpoint("run_1")
    assert latest is not None
    assert latest.id == rows[1]["id"]
    got = await repo.get_checkpoint(rows[2]["id"])
    assert got is not None
    assert (got.run_id, got.step_num, got.kind, got.description, got.tags) == (
        "run_1",
        1,
        "step",
        "at 4",
        ["t"],
    )
    assert (got.run_status, got.message_count, got.total_tokens) == ("running", 2, 7)
    assert RunState.from_json(got.state) == _state(1)
    assert got.agent_config == {"agent_id": "agt_1"}
    assert got.created_at.utcoffset() == UTC.utcoffset(None)
    assert await repo.get_checkpoint("ckpt_missing") is None
    assert await repo.list_checkpoints("run_missing") == []


async def test_add_checkpoint_when_the_run_is_as_read(seed: Seed) -> None:
    await seed.run("run_1", "ses_a")
    await seed.events("run_1", 2)
    run = await seed.set("run_1", status="paused", owner_id=None)
    row = checkpoint_row("run_1", _state(), {}, kind="manual", seq=3, status=RunStatus.PAUSED)
    created = event(run, ev.CHECKPOINT_CREATED)

    assert await seed.repo.add_checkpoint(row, run, created) is True

    assert [c.id for c in await seed.repo.list_checkpoints("run_1")] == [row["id"]]
    assert (await seed.repo.events("run_1"))[-1] == created
    assert (await seed.get("run_1")).last_seq == 3


async def test_add_checkpoint_refused_when_the_run_moved_on(seed: Seed) -> None:
    await seed.run("run_1", "ses_a")
    await seed.events("run_1", 2)
    run = await seed.set("run_1", status="paused", owner_id=None)
    await seed.events("run_1", 1, first=3)  # written since it was read
    row = checkpoint_row("run_1", _state(), {}, kind="manual", seq=3, status=RunStatus.PAUSED)

    assert await seed.repo.add_checkpoint(row, run, event(run, ev.CHECKPOINT_CREATED)) is False

    assert await seed.repo.list_checkpoints("run_1") == []
    assert [e.type for e in await seed.repo.events("run_1")] == ["content_delta"] * 3
    assert (await seed.get("run_1")).last_seq == 3
