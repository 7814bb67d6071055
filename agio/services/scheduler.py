"""The scheduler: fires due schedules, each firing exactly once across processes.

Every process that runs one (AGIO_SCHEDULER_ENABLED) wakes at the earliest `next_run_at`
of the enabled schedules, and at least every AGIO_SCHEDULER_POLL_SECONDS (so that
schedules created or changed by another process are seen), reads the due ones and claims
each in the database (`ScheduleRepository.claim`: a conditional UPDATE that moves
`next_run_at` on to the following firing; one process wins). The winner starts the run
through the run manager, as the schedule's creator, under the rules of a chat (the
creator may still run agents, the message length, the run quotas); a firing those refuse
is recorded as the schedule's `last_error` and not retried: the schedule waits for its
next firing.

Missed firings: a due firing more than AGIO_SCHEDULER_MISSED_GRACE_SECONDS old when a
scheduler first sees it (no scheduler ran when it fell due: the server was down) was
missed. `missed: skip` moves on to the next firing after now without a run;
`missed: run_once` starts one run for all the missed firings, then moves on. Firings that
fell due while a scheduler was merely late (within the grace) start a run, one for all of
them. A firing claimed by a process that dies before its run is stored is lost (at most
once, never twice).

The clock is injectable (`now`), and `tick()` is one pass, for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

import structlog

from agio.domain import cron
from agio.domain.errors import AgioError, PermissionDenied
from agio.domain.runs import Run
from agio.domain.schedules import MissedPolicy, Schedule
from agio.domain.security import ROLE_PERMISSIONS, Permission, Role
from agio.domain.time import utcnow
from agio.runtime.manager import RunManager
from agio.runtime.run_service import RunService
from agio.storage.schedules import ScheduleRepository
from agio.storage.users import UserRepository

log = structlog.get_logger(__name__)

#: the shortest wait between two passes, so that a firing that stays due (its claim lost
#: to a change made in between, say) is not read again in a hot loop
_MIN_WAIT = 0.05


class ScheduledRuns:
    """Starting the run of a firing, as a chat of the schedule's creator would."""

    def __init__(
        self,
        manager: RunManager,
        runs: RunService,
        users: UserRepository,
        *,
        local_user_id: str | None = None,
    ) -> None:
        """`local_user_id`: the local admin of AGIO_AUTH_DISABLED, which has no user row
        (None when authentication is on)."""
        self._manager = manager
        self._runs = runs
        self._users = users
        self._local_user_id = local_user_id

    async def start(self, schedule: Schedule) -> Run:
        """Start the run, or raise the `AgioError` that refused it."""
        user_id = schedule.created_by
        is_admin = user_id == self._local_user_id
        if not is_admin:
            user = await self._users.get(user_id)
            if user is None or user.disabled:
                raise PermissionDenied("The schedule's creator no longer exists or is disabled")
            if Permission.EXECUTE_AGENT not in ROLE_PERMISSIONS[user.role]:
                raise PermissionDenied(
                    f"The schedule's creator has the {user.role.value} role, which may not "
                    f"run agents (needs {Permission.EXECUTE_AGENT.value})"
                )
            is_admin = user.role is Role.ADMIN
        self._runs.check_message(schedule.message)
        await self._runs.check_run_quota(user_id)
        return await self._manager.start_chat(
            schedule.agent_id,
            schedule.message,
            session_id=schedule.session_id,
            user_id=user_id,
            session_visible_to=None if is_admin else user_id,
            schedule_id=schedule.id,
        )


class Scheduler:
    def __init__(
        self,
        repo: ScheduleRepository,
        runs: ScheduledRuns,
        *,
        poll_seconds: float = 5.0,
        missed_grace_seconds: float = 60.0,
        batch: int = 100,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repo = repo
        self.runs = runs
        self.poll_seconds = poll_seconds
        self.missed_grace_seconds = missed_grace_seconds
        self.batch = batch
        #: the clock: what "due" and "missed" are measured against
        self.now = now
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="agio-scheduler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Look at the schedules again now (one was created or changed here)."""
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick()
                wait = await self._wait()
            except Exception as exc:  # the database went away for a moment, say
                log.warning("scheduler_pass_failed", error_type=type(exc).__name__)
                wait = self.poll_seconds
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def _wait(self) -> float:
        """Seconds until the earliest next firing, at most the poll interval."""
        earliest = await self.repo.earliest()
        if earliest is None:
            return self.poll_seconds
        until = (earliest - self.now()).total_seconds()
        return min(self.poll_seconds, max(until, _MIN_WAIT))

    # ------------------------------------------------------------------ firing

    async def tick(self) -> list[str]:
        """One pass: claim every due firing this process wins and start its run. The ids
        of the runs started."""
        now = self.now()
        started: list[str] = []
        for schedule in await self.repo.due(now, limit=self.batch):
            run_id = await self._fire(schedule, now)
            if run_id is not None:
                started.append(run_id)
        return started

    async def _fire(self, schedule: Schedule, now: datetime) -> str | None:
        due_at = schedule.next_run_at
        assert due_at is not None  # `due` reads only schedules with a next firing
        try:
            following: datetime | None = cron.next_firing(schedule.cron, schedule.timezone, now)
            problem = None
        except (cron.CronError, cron.UnknownTimeZone, ValueError) as exc:
            # the time zone left this host's database, say: it cannot fire any more
            following, problem = None, {"type": "InvalidSchedule", "message": str(exc)}
        missed = (now - due_at).total_seconds() > self.missed_grace_seconds
        runs = problem is None and (not missed or schedule.missed is MissedPolicy.RUN_ONCE)
        fired_at = (now if missed else due_at) if runs else None
        if not await self.repo.claim(schedule, following, fired_at=fired_at):
            return None  # another process fired it, or it changed meanwhile
        if problem is not None:
            await self.repo.record(schedule.id, run_id=None, error=problem)
            log.warning("schedule_invalid", schedule_id=schedule.id, error=problem["message"])
            return None
        if not runs:
            log.info(
                "schedule_missed_skipped",
                schedule_id=schedule.id,
                missed_since=due_at.isoformat(),
                next_run_at=following.isoformat() if following else None,
            )
            return None
        try:
            run = await self.runs.start(schedule)
        except AgioError as exc:
            await self.repo.record(
                schedule.id, run_id=None, error={"type": exc.type, "message": exc.message}
            )
            log.warning(
                "schedule_run_refused",
                schedule_id=schedule.id,
                error_type=exc.type,
                error=exc.message,
            )
            return None
        except Exception as exc:
            # never the exception's text: it may hold anything (SQL, a path)
            await self.repo.record(
                schedule.id,
                run_id=None,
                error={"type": "InternalServerError", "message": "The run could not start"},
            )
            log.error("schedule_run_failed", schedule_id=schedule.id, error_type=type(exc).__name__)
            return None
        await self.repo.record(schedule.id, run_id=run.id, error=None)
        log.info(
            "schedule_fired",
            schedule_id=schedule.id,
            run_id=run.id,
            missed=missed,
            next_run_at=following.isoformat() if following else None,
        )
        return run.id
