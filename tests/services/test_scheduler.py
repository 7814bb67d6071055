"""The scheduler (SPEC §15): next firings in a time zone across daylight-saving changes
(pure, fixed datetimes), and firing on SQLite and PostgreSQL with the scheduler's clock
set by the test: a due schedule starts one run tagged with its id; two schedulers on one
database start exactly one run per firing; missed firings are skipped or run once; a
disabled schedule never fires; a refused run is the schedule's `last_error`. No test
waits for the wall clock to reach a cron minute."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agio.api.app import create_app
from agio.api.auth import LOCAL_PRINCIPAL
from agio.api.container import Container
from agio.config.settings import Settings
from agio.domain import cron
from agio.services.scheduler import Scheduler
from tests.conftest import add_user, start_client

# --------------------------------------------------------------------- pure: cron and DST


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def firings(expression: str, zone: str, after: datetime, count: int) -> list[datetime]:
    out = []
    for _ in range(count):
        after = cron.next_firing(expression, zone, after)
        out.append(after)
    return out


def test_a_daily_firing_keeps_its_local_time_across_daylight_saving_changes() -> None:
    # Europe/Berlin: CET (UTC+1) until 2026-03-29 02:00, then CEST (UTC+2)
    assert firings("0 9 * * *", "Europe/Berlin", utc(2026, 3, 27, 12), 3) == [
        utc(2026, 3, 28, 8),  # 09:00 CET
        utc(2026, 3, 29, 7),  # 09:00 CEST, the day the clocks went forward
        utc(2026, 3, 30, 7),
    ]
    # America/New_York: EDT (UTC-4) until 2026-11-01 02:00, then EST (UTC-5); weekdays only
    assert firings("0 9 * * 1-5", "America/New_York", utc(2026, 10, 29, 20), 3) == [
        utc(2026, 10, 30, 13),  # Friday 09:00 EDT
        utc(2026, 11, 2, 14),  # Monday 09:00 EST (the weekend is skipped)
        utc(2026, 11, 3, 14),
    ]
    # the same expression in UTC does not move
    assert firings("0 9 * * *", "UTC", utc(2026, 3, 27, 12), 2) == [
        utc(2026, 3, 28, 9),
        utc(2026, 3, 29, 9),
    ]


def test_a_firing_in_the_skipped_hour_runs_once_just_after_the_gap() -> None:
    # 2026-03-29 in Berlin has no 02:00-02:59: the 02:30 firing happens at 03:00 CEST
    assert firings("30 2 * * *", "Europe/Berlin", utc(2026, 3, 27, 12), 3) == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 0),  # 03:00 CEST
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]
    # hourly: no firing at all in the missing hour
    assert firings("0 * * * *", "Europe/Berlin", utc(2026, 3, 28, 23, 30), 3) == [
        utc(2026, 3, 29, 0),  # 01:00 CET
        utc(2026, 3, 29, 1),  # 03:00 CEST
        utc(2026, 3, 29, 2),  # 04:00 CEST
    ]


def test_a_firing_in_the_repeated_hour_runs_twice() -> None:
    # 2026-10-25 in Berlin has 02:00-02:59 twice (CEST, then CET): 02:30 fires at each
    assert firings("30 2 * * *", "Europe/Berlin", utc(2026, 10, 23, 12), 4) == [
        utc(2026, 10, 24, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 1, 30),  # 02:30 CET, an hour later
        utc(2026, 10, 26, 1, 30),
    ]


def test_next_firing_is_strictly_after_the_given_time() -> None:
    assert cron.next_firing("0 9 * * *", "UTC", utc(2026, 5, 4, 9)) == utc(2026, 5, 5, 9)
    assert cron.next_firing("@hourly", "UTC", utc(2026, 5, 4, 9, 0, 1)) == utc(2026, 5, 4, 10)


@pytest.mark.parametrize(
    "expression",
    ["", "bad", "0 9 * *", "0 9 * * * *", "61 * * * *", "*/0 * * * *", "@reboot", "0 0 30 2 *"],
)
def test_what_is_not_a_five_field_cron_expression_is_refused(expression: str) -> None:
    with pytest.raises(cron.CronError):
        cron.normalise(expression)


def test_expressions_are_stored_with_single_spaces_and_macros_in_lower_case() -> None:
    assert cron.normalise("  0  9 * *   mon-fri ") == "0 9 * * mon-fri"
    assert cron.normalise("@Daily") == "@daily"


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "utc "])
def test_unknown_time_zones_are_refused(name: str) -> None:
    with pytest.raises(cron.UnknownTimeZone):
        cron.zone(name)


# --------------------------------------------------------------------- firing


class Clock:
    """The scheduler's clock, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.value = now

    def __call__(self) -> datetime:
        return self.value


def container_of(app: FastAPI) -> Container:
    container: Container = app.state.agio
    return container


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    client, lifespan = await start_client(app)
    try:
        yield client
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
def quiet_settings(settings: Settings) -> Settings:
    """The test's settings with no scheduler task: the test drives `tick()` itself."""
    return settings.model_copy(update={"scheduler_enabled": False})


async def create(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"agent_id": "assistant", "message": "What is 2+2?", "cron": "0 9 * * *", **fields}
    response = await client.post("/api/schedules", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def wait_for_run(container: Container, run_id: str) -> None:
    await container.run_manager.wait(run_id)


async def test_a_due_schedule_starts_one_run_tagged_with_its_id(quiet_settings: Settings) -> None:
    app = create_app(quiet_settings)
    async with running(app) as client:
        alice_id, alice = await add_user(client, "user")
        schedule = await create(client, alice, cron="0 9 * * 1-5", timezone="Europe/Berlin")
        due = at(schedule["next_run_at"])
        scheduler = container_of(app).scheduler
        clock = Clock(due - timedelta(seconds=1))
        scheduler.now = clock
        assert await scheduler.tick() == []  # not yet
        clock.value = due + timedelta(seconds=2)
        started = await scheduler.tick()
        assert len(started) == 1
        assert await scheduler.tick() == []  # the firing is taken: once only
        await wait_for_run(container_of(app), started[0])

        after = (await client.get(f"/api/schedules/{schedule['id']}", headers=alice)).json()
        assert after["last_run_id"] == started[0]
        assert at(after["last_run_at"]) == due
        assert after["last_error"] is None
        assert at(after["next_run_at"]) == cron.next_firing(
            "0 9 * * 1-5", "Europe/Berlin", clock.value
        )
        runs = await client.get("/api/runs", params={"schedule_id": schedule["id"]}, headers=alice)
        assert runs.status_code == 200
        assert [r["id"] for r in runs.json()["items"]] == started
        assert runs.json()["items"][0]["schedule_id"] == schedule["id"]
        run = (await client.get(f"/api/runs/{started[0]}", headers=alice)).json()
        assert run["schedule_id"] == schedule["id"]
        assert run["user_id"] == alice_id  # the schedule's creator
        assert run["input_query"] == "What is 2+2?"
        assert run["status"] == "completed"
        # other runs are not the schedule's
        await client.post(
            "/api/chat",
            json={"agent_id": "assistant", "message": "hi", "stream": False},
            headers=alice,
        )
        again = await client.get("/api/runs", params={"schedule_id": schedule["id"]}, headers=alice)
        assert again.json()["total"] == 1
        assert (await client.get("/api/runs", headers=alice)).json()["total"] == 2


async def test_firings_into_a_session_continue_it(quiet_settings: Settings) -> None:
    app = create_app(quiet_settings)
    async with running(app) as client:
        _, alice = await add_user(client, "user")
        chat = await client.post(
            "/api/chat",
            json={"agent_id": "assistant", "message": "hello", "stream": False},
            headers=alice,
        )
        session_id = chat.json()["session_id"]
        schedule = await create(client, alice, session_id=session_id, cron="*/5 * * * *")
        scheduler = container_of(app).scheduler
        scheduler.now = Clock(at(schedule["next_run_at"]))
        (run_id,) = await scheduler.tick()
        await wait_for_run(container_of(app), run_id)
        run = (await client.get(f"/api/runs/{run_id}", headers=alice)).json()
        assert run["session_id"] == session_id


async def test_two_schedulers_on_one_database_start_exactly_one_run_per_firing(
    quiet_settings: Settings,
) -> None:
    """Two apps (two containers, two engines) on one SQLite file or PostgreSQL database."""
    first, second = create_app(quiet_settings), create_app(quiet_settings)
    async with running(first) as client, running(second) as other_client:
        _, alice = await add_user(client, "user")
        schedules = [await create(client, alice, message=f"Task {n}") for n in range(6)]
        (due,) = {at(s["next_run_at"]) for s in schedules}  # all at 09:00 UTC
        clock = Clock(due + timedelta(seconds=1))
        one, two = container_of(first).scheduler, container_of(second).scheduler
        one.now = two.now = clock
        started_one, started_two = await asyncio.gather(one.tick(), two.tick())
        started = started_one + started_two
        assert len(started) == len(set(started)) == len(schedules)
        for run_id in started_one:
            await wait_for_run(container_of(first), run_id)
        for run_id in started_two:
            await wait_for_run(container_of(second), run_id)
        # and again, both at once: nothing is due any more
        assert await asyncio.gather(one.tick(), two.tick()) == [[], []]
        for schedule in schedules:
            runs = await other_client.get(
                "/api/runs", params={"schedule_id": schedule["id"]}, headers=alice
            )
            assert runs.json()["total"] == 1, schedule


async def test_missed_firings_are_skipped_or_run_once(quiet_settings: Settings) -> None:
    app = create_app(quiet_settings.model_copy(update={"scheduler_missed_grace_seconds": 60}))
    async with running(app) as client:
        _, alice = await add_user(client, "user")
        skip = await create(client, alice, cron="0 * * * *")  # hourly, `missed` defaults to skip
        assert skip["missed"] == "skip"
        once = await create(client, alice, cron="0 * * * *", missed="run_once")
        first_due = at(skip["next_run_at"])
        assert at(once["next_run_at"]) == first_due
        # the server was "down" for three hours and a half: four firings went by
        clock = Clock(first_due + timedelta(hours=3, minutes=30))
        scheduler = container_of(app).scheduler
        scheduler.now = clock
        started = await scheduler.tick()
        assert len(started) == 1  # one run for all of run_once's missed firings, none for skip
        await wait_for_run(container_of(app), started[0])
        following = first_due + timedelta(hours=4)
        skipped = (await client.get(f"/api/schedules/{skip['id']}", headers=alice)).json()
        assert skipped["last_run_id"] is None
        assert skipped["last_run_at"] is None
        assert at(skipped["next_run_at"]) == following
        ran = (await client.get(f"/api/schedules/{once['id']}", headers=alice)).json()
        assert ran["last_run_id"] == started[0]
        assert at(ran["last_run_at"]) == clock.value  # it ran late, now
        assert at(ran["next_run_at"]) == following
        runs = await client.get("/api/runs", params={"schedule_id": skip["id"]}, headers=alice)
        assert runs.json()["total"] == 0
        # a firing seen within the grace is not missed: both run
        clock.value = following + timedelta(seconds=59)
        assert len(await scheduler.tick()) == 2


async def test_a_disabled_schedule_never_fires(quiet_settings: Settings) -> None:
    app = create_app(quiet_settings)
    async with running(app) as client:
        _, alice = await add_user(client, "user")
        off = await create(client, alice, enabled=False)
        assert off["next_run_at"] is None
        later = await create(client, alice, cron="*/10 * * * *")
        patched = await client.patch(
            f"/api/schedules/{later['id']}", json={"enabled": False}, headers=alice
        )
        assert patched.json()["next_run_at"] is None
        scheduler = container_of(app).scheduler
        clock = Clock(at(later["next_run_at"]) + timedelta(seconds=1))
        scheduler.now = clock
        for days in (0, 1, 40):
            clock.value += timedelta(days=days)
            assert await scheduler.tick() == []
        for schedule in (off, later):
            runs = await client.get(
                "/api/runs", params={"schedule_id": schedule["id"]}, headers=alice
            )
            assert runs.json()["total"] == 0
        # enabled again: it fires from now on, not for what it skipped while disabled
        scheduler.now = container_of(app).schedules.now = clock
        enabled = await client.patch(
            f"/api/schedules/{later['id']}", json={"enabled": True}, headers=alice
        )
        assert at(enabled.json()["next_run_at"]) == cron.next_firing(
            "*/10 * * * *", "UTC", clock.value
        )
        clock.value = at(enabled.json()["next_run_at"])
        assert len(await scheduler.tick()) == 1


async def test_a_refused_run_is_the_schedule_s_last_error_and_is_not_retried(
    quiet_settings: Settings,
) -> None:
    app = create_app(quiet_settings.model_copy(update={"max_tokens_per_user_per_day": 1}))
    async with running(app) as client:
        alice_id, alice = await add_user(client, "user")
        schedule = await create(client, alice, cron="*/5 * * * *")
        # alice uses her day's tokens
        chat = await client.post(
            "/api/chat",
            json={"agent_id": "assistant", "message": "hi", "stream": False},
            headers=alice,
        )
        assert chat.status_code == 200
        scheduler = container_of(app).scheduler
        due = at(schedule["next_run_at"])
        clock = Clock(due + timedelta(seconds=1))
        scheduler.now = clock
        assert await scheduler.tick() == []
        refused = (await client.get(f"/api/schedules/{schedule['id']}", headers=alice)).json()
        assert refused["last_error"]["type"] == "RateLimited"
        assert refused["last_run_id"] is None
        assert at(refused["last_run_at"]) == due
        assert at(refused["next_run_at"]) == due + timedelta(minutes=5)
        assert await scheduler.tick() == []  # not retried before its next firing
        runs = await client.get("/api/runs", params={"schedule_id": schedule["id"]}, headers=alice)
        assert runs.json()["total"] == 0

        # a disabled creator's schedule fires no run either
        other = await create(client, alice, cron="*/5 * * * *")
        disabled = await client.patch(f"/api/users/{alice_id}", json={"disabled": True})
        assert disabled.status_code == 200, disabled.text
        clock.value = at(other["next_run_at"]) + timedelta(seconds=1)
        assert await scheduler.tick() == []
        state = (await client.get(f"/api/schedules/{other['id']}")).json()  # the admin
        assert state["last_error"]["type"] == "Forbidden"


async def test_a_schedule_of_a_deleted_agent_records_the_error(quiet_settings: Settings) -> None:
    app = create_app(quiet_settings)
    async with running(app) as client:
        agent = await client.post("/api/agents", json={"name": "doomed", "model": "demo"})
        assert agent.status_code == 201, agent.text
        schedule = await create(client, agent_id="doomed")
        assert (await client.delete("/api/agents/doomed")).status_code == 204
        scheduler = container_of(app).scheduler
        scheduler.now = Clock(at(schedule["next_run_at"]))
        assert await scheduler.tick() == []
        state = (await client.get(f"/api/schedules/{schedule['id']}")).json()
        assert state["last_error"]["type"] == "AgentNotFound"


async def test_the_server_s_own_scheduler_fires_due_schedules(settings: Settings) -> None:
    """The scheduler task of the lifespan (AGIO_SCHEDULER_ENABLED, the default) wakes by
    itself; its clock is moved to the firing, not the other way round."""
    app = create_app(settings.model_copy(update={"scheduler_poll_seconds": 0.05}))
    async with running(app) as client:
        _, alice = await add_user(client, "user")
        scheduler = container_of(app).scheduler
        scheduler.now = Clock(datetime.now(UTC))
        schedule = await create(client, alice, cron="0 3 1 1 *")  # next 1 January, 03:00
        assert scheduler.now() < at(schedule["next_run_at"])
        scheduler.now = Clock(at(schedule["next_run_at"]))
        runs: dict[str, Any] = {"total": 0}
        for _ in range(400):  # the scheduler wakes within its poll interval
            response = await client.get(
                "/api/runs", params={"schedule_id": schedule["id"]}, headers=alice
            )
            runs = response.json()
            if runs["total"]:
                break
            await asyncio.sleep(0.025)
        assert runs["total"] == 1
        await wait_for_run(container_of(app), runs["items"][0]["id"])


async def test_with_authentication_off_the_local_admin_s_schedules_fire(
    quiet_settings: Settings,
) -> None:
    app = create_app(quiet_settings.model_copy(update={"auth_disabled": True}))
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 5000)),
            base_url="http://127.0.0.1",
        ) as client:
            schedule = await create(client)
            assert schedule["created_by"] == LOCAL_PRINCIPAL.user_id
            scheduler: Scheduler = container_of(app).scheduler
            scheduler.now = Clock(at(schedule["next_run_at"]))
            (run_id,) = await scheduler.tick()
            await wait_for_run(container_of(app), run_id)
            run = (await client.get(f"/api/runs/{run_id}")).json()
            assert run["user_id"] == LOCAL_PRINCIPAL.user_id
            assert run["status"] == "completed"
    finally:
        await lifespan.__aexit__(None, None, None)
