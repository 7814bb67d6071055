"""The run service: following a run (replay, then live, each event once; back to the log on
a gap, a lag or a quiet spell; the end), and the rules the routers enforce through it."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from agio.bus.memory import InProcessBus
from agio.domain.errors import RateLimited, RunNotFound, ValidationFailed
from agio.domain.events import Event
from agio.domain.runs import Run, RunStatus
from agio.domain.security import Principal, Role
from agio.runtime.follow import SharedRunLookup, _next_wait, follow
from agio.runtime.run_service import RunLimits, RunService

RUN = "run_1"
NOW = datetime(2024, 5, 1, 23, 0, tzinfo=UTC)


def _event(seq: int, type_: str = "content_delta") -> Event:
    return Event(RUN, seq, type_, NOW, {"n": seq})


def _run(status: RunStatus, last_seq: int, user_id: str = "usr_a") -> Run:
    return Run(
        id=RUN,
        agent_id="agt_1",
        agent_name="a",
        session_id="ses_1",
        user_id=user_id,
        status=status,
        input_query="hi",
        response_content=None,
        error=None,
        metrics={},
        agent_config={},
        created_at=NOW,
        started_at=None,
        ended_at=None,
        last_seq=last_seq,
    )


class FakeLog:
    """An event log and run store in memory; `on_read` runs before each read answers
    (what happens while the log is being read)."""

    def __init__(self, stored: list[Event], run: Run | None = None) -> None:
        self.stored = stored
        self.run = run
        self.on_read: Callable[[], Any] | None = None
        self.reads: list[int] = []

    async def events_after(self, run_id: str, after_seq: int, limit: int = 1000) -> list[Event]:
        self.reads.append(after_seq)
        answer = [e for e in self.stored if e.run_id == run_id and e.seq > after_seq][:limit]
        if self.on_read is not None:
            hook, self.on_read = self.on_read, None
            await hook()
        return answer

    async def get_run(self, run_id: str, *, with_steps: bool = False) -> Run | None:
        return self.run

    async def active_runs_of(self, user_id: str) -> int:
        return self.active

    async def tokens_of(self, user_id: str, since: datetime) -> int:
        self.since = since
        return self.tokens

    active = 0
    tokens = 0
    since: datetime | None = None


def _service(log: FakeLog, bus: InProcessBus, **limits: Any) -> RunService:
    return RunService(log, log, log, log, bus, RunLimits(**limits))  # type: ignore[arg-type]


def _seqs(chunk: list[Event]) -> list[int]:
    return [e.seq for e in chunk]


async def test_follow_replays_then_goes_live_without_gaps_or_duplicates() -> None:
    bus = InProcessBus()
    log = FakeLog([_event(1), _event(2), _event(3)])

    async def stored_and_published_during_replay() -> None:
        # 2 and 3 are in the log and on the bus; 4 is published while the log is read
        await bus.publish(RUN, [_event(2), _event(3), _event(4)])

    log.on_read = stored_and_published_during_replay
    stream = _service(log, bus).follow(RUN, 0)
    assert _seqs(await anext(stream)) == [1, 2, 3]
    assert _seqs(await anext(stream)) == [4]  # 2 and 3 again on the bus: skipped
    await bus.publish(RUN, [_event(4), _event(5), _event(6, "run_completed")])
    assert _seqs(await anext(stream)) == [5, 6]
    with pytest.raises(StopAsyncIteration):  # ends at the terminal event
        await anext(stream)
    assert bus.subscriber_count(RUN) == 0
    assert log.reads == [0]  # the live events needed no second read of the log


async def test_follow_subscribes_before_replaying() -> None:
    bus = InProcessBus()
    log = FakeLog([_event(1)])

    async def published_while_reading() -> None:
        assert bus.subscriber_count(RUN) == 1
        await bus.publish(RUN, [_event(2, "run_failed")])

    log.on_read = published_while_reading
    chunks = [_seqs(c) async for c in _service(log, bus).follow(RUN, 0)]
    assert chunks == [[1], [2]]


async def test_follow_goes_back_to_the_log_on_a_gap() -> None:
    bus = InProcessBus()
    log = FakeLog([_event(1)])
    stream = _service(log, bus).follow(RUN, 0)
    assert _seqs(await anext(stream)) == [1]
    log.stored += [_event(2), _event(3)]
    await bus.publish(RUN, [_event(3)])  # 2 never reached the bus
    assert _seqs(await anext(stream)) == [2, 3]
    assert log.reads == [0, 1]
    log.stored.append(_event(4, "run_cancelled"))
    await bus.publish(RUN, [_event(4, "run_cancelled")])
    assert _seqs(await anext(stream)) == [4]
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_follow_reads_the_log_when_the_subscription_lagged() -> None:
    bus = InProcessBus(queue_size=1)
    log = FakeLog([_event(1)])
    stream = _service(log, bus).follow(RUN, 0)
    assert _seqs(await anext(stream)) == [1]
    log.stored += [_event(2), _event(3), _event(4, "run_completed")]
    await bus.publish(RUN, log.stored[1:])  # a queue of one: 3 and 4 are dropped
    assert _seqs(await anext(stream)) == [2, 3, 4]
    assert log.reads == [0, 1]
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert bus.subscriber_count(RUN) == 0


async def test_follow_ends_when_an_ended_run_has_nothing_more() -> None:
    bus = InProcessBus()
    log = FakeLog([_event(1), _event(2, "run_completed")], _run(RunStatus.COMPLETED, 2))
    chunks = [_seqs(c) async for c in follow(log, log, bus, RUN, 2, poll_seconds=0.01)]
    assert chunks == []
    assert bus.subscriber_count(RUN) == 0


async def test_follow_reads_pages_of_the_log() -> None:
    bus = InProcessBus()
    log = FakeLog([_event(1), _event(2), _event(3), _event(4), _event(5, "run_completed")])
    chunks = [_seqs(c) async for c in follow(log, log, bus, RUN, 0, page=2)]
    assert chunks == [[1, 2], [3, 4], [5]]


async def test_follow_closes_its_subscription_when_the_reader_leaves() -> None:
    bus = InProcessBus()
    stream = _service(FakeLog([_event(1)]), bus).follow(RUN, 0)
    await anext(stream)
    await stream.aclose()
    assert bus.subscriber_count(RUN) == 0


async def test_follow_with_an_early_subscription_reads_no_log() -> None:
    bus = InProcessBus()
    log = FakeLog([])
    service = _service(log, bus)
    subscription = service.subscribe(RUN)  # before the run published anything
    await bus.publish(RUN, [_event(1), _event(2)])
    stream = service.follow(RUN, 0, subscription=subscription)
    assert _seqs(await anext(stream)) == [1, 2]
    await bus.publish(RUN, [_event(3, "run_completed")])
    assert _seqs(await anext(stream)) == [3]
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert log.reads == []
    assert bus.subscriber_count(RUN) == 0


async def test_follow_with_a_late_subscription_still_misses_nothing() -> None:
    # subscribed after 1 and 2 were stored and published: the gap sends it to the log
    bus = InProcessBus()
    log = FakeLog([_event(1), _event(2), _event(3)])
    service = _service(log, bus)
    subscription = service.subscribe(RUN)
    await bus.publish(RUN, [_event(3)])
    stream = service.follow(RUN, 0, subscription=subscription)
    assert _seqs(await anext(stream)) == [1, 2, 3]
    assert log.reads == [0]
    log.stored.append(_event(4, "run_completed"))
    await bus.publish(RUN, [_event(4, "run_completed")])
    assert _seqs(await anext(stream)) == [4]
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_follow_with_a_late_subscription_that_missed_the_end() -> None:
    # everything, the terminal event included, was published before it subscribed: the
    # quiet spell sends it to the log
    bus = InProcessBus()
    log = FakeLog([_event(1), _event(2, "run_completed")], _run(RunStatus.COMPLETED, 2))
    subscription = bus.subscribe(RUN)
    stream = follow(log, log, bus, RUN, 0, poll_seconds=0.01, subscription=subscription)
    assert [_seqs(c) async for c in stream] == [[1, 2]]
    assert bus.subscriber_count(RUN) == 0


async def test_an_early_subscription_is_closed_when_its_stream_is_never_read() -> None:
    bus = InProcessBus()
    service = _service(FakeLog([]), bus)
    stream = service.follow(RUN, 0, subscription=service.subscribe(RUN))
    assert bus.subscriber_count(RUN) == 1
    del stream  # dropped before it was started (a client that went away at once)
    gc.collect()
    assert bus.subscriber_count(RUN) == 0


async def test_follow_in_a_quiet_spell_reads_the_run_and_the_log_only_if_more_is_stored() -> None:
    # a run paused for a while: each quiet spell reads its row; the log only once the row
    # says something was stored that the bus did not bring (another process, no Redis)
    bus = InProcessBus()
    log = FakeLog([_event(1)], _run(RunStatus.PAUSED, 1))
    row_reads = 0
    read_row = log.get_run

    async def counted(run_id: str, *, with_steps: bool = False) -> Run | None:
        nonlocal row_reads
        row_reads += 1
        if row_reads == 3:  # meanwhile resumed and finished elsewhere
            log.stored.append(_event(2, "run_completed"))
            log.run = _run(RunStatus.COMPLETED, 2)
        return await read_row(run_id)

    log.get_run = counted  # type: ignore[method-assign]
    stream = follow(log, log, bus, RUN, 0, poll_seconds=0.01, quiet_max_seconds=0.02)
    assert [_seqs(c) async for c in stream] == [[1], [2]]
    assert row_reads == 3
    assert log.reads == [0, 1]  # the log: at first, and once the row said 2 was stored


def test_quiet_spells_grow_unless_the_run_executes_in_another_process() -> None:
    here, other = "own_a", "own_b"
    running_elsewhere = _run(RunStatus.RUNNING, 3)
    running_elsewhere.owner_id = other
    running_here = _run(RunStatus.RUNNING, 3)
    running_here.owner_id = here
    paused = _run(RunStatus.PAUSED, 3)
    assert _next_wait(4.0, running_elsewhere, here, 1.0, 30.0) == 1.0
    assert _next_wait(4.0, running_elsewhere, None, 1.0, 30.0) == 1.0
    assert _next_wait(4.0, running_here, here, 1.0, 30.0) == 8.0
    assert _next_wait(1.0, paused, here, 1.0, 30.0) == 2.0
    assert _next_wait(16.0, paused, None, 1.0, 30.0) == 30.0  # at most the longest spell


async def test_quiet_checks_of_many_streams_read_each_run_once() -> None:
    log = FakeLog([], _run(RunStatus.PAUSED, 3))
    reads = 0
    read_row = log.get_run

    async def counted(run_id: str, *, with_steps: bool = False) -> Run | None:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.01)  # in flight while the others ask
        return await read_row(run_id)

    log.get_run = counted  # type: ignore[method-assign]
    shared = SharedRunLookup(log, max_age=60)
    rows = await asyncio.gather(*(shared.get_run(RUN) for _ in range(100)))
    assert reads == 1
    assert all(row is log.run for row in rows)
    assert await shared.get_run(RUN) is log.run  # still fresh: no read
    assert reads == 1
    await shared.get_run(RUN, with_steps=True)  # steps are never shared
    assert reads == 2
    expired = SharedRunLookup(log, max_age=0)
    await expired.get_run(RUN)
    await expired.get_run(RUN)
    assert reads == 4


# ---------------------------------------------------------------------- rules


async def test_active_runs_quota() -> None:
    log = FakeLog([])
    service = _service(log, InProcessBus(), max_active_runs_per_user=2)
    log.active = 1
    await service.check_run_quota("usr_a")
    log.active = 2
    with pytest.raises(RateLimited) as refused:
        await service.check_run_quota("usr_a")
    assert "AGIO_MAX_ACTIVE_RUNS_PER_USER=2" in refused.value.message
    assert refused.value.headers == {"Retry-After": "1"}


async def test_daily_token_budget_until_utc_midnight() -> None:
    log = FakeLog([])
    service = _service(log, InProcessBus(), max_tokens_per_user_per_day=100)
    log.tokens = 99
    await service.check_run_quota("usr_a", now=NOW)
    assert log.since == datetime(2024, 5, 1, tzinfo=UTC)
    log.tokens = 100
    with pytest.raises(RateLimited) as refused:
        await service.check_run_quota("usr_a", now=NOW)
    assert "used 100 tokens today" in refused.value.message
    assert refused.value.headers == {"Retry-After": "3601"}  # an hour to midnight, and 1 s


async def test_no_token_budget_reads_no_tokens() -> None:
    log = FakeLog([])
    log.tokens = 10**9
    await _service(log, InProcessBus()).check_run_quota("usr_a", now=NOW)
    assert log.since is None


def test_message_length_and_max_steps_rules() -> None:
    service = _service(FakeLog([]), InProcessBus(), max_message_chars=3, max_steps_ceiling=5)
    service.check_message("abc")
    with pytest.raises(ValidationFailed) as long_message:
        service.check_message("abcd")
    assert long_message.value.details == [
        {"loc": ["body", "message"], "msg": "at most 3 characters", "type": "string_too_long"}
    ]
    service.check_max_steps(None)
    service.check_max_steps(5)
    with pytest.raises(ValidationFailed) as too_many:
        service.check_max_steps(6)
    assert too_many.value.details == [
        {
            "loc": ["body", "modifications", "max_steps"],
            "msg": "at most 5",
            "type": "less_than_equal",
        }
    ]


async def test_a_user_listing_someone_elses_runs_finds_none() -> None:
    user = Principal("usr_a", "a", Role.USER, "jwt")
    service = _service(FakeLog([]), InProcessBus())
    page = await service.list_runs(user, user_id="usr_b", limit=10, offset=0)
    assert (page.total, page.items) == (0, [])


async def test_someone_elses_run_is_not_found() -> None:
    log = FakeLog([], _run(RunStatus.RUNNING, 0, user_id="usr_b"))
    service = _service(log, InProcessBus())
    admin = Principal("usr_x", "x", Role.ADMIN, "jwt")
    assert (await service.owned_run(admin, RUN)).user_id == "usr_b"
    with pytest.raises(RunNotFound):
        await service.owned_run(Principal("usr_a", "a", Role.USER, "jwt"), RUN)
