"""`RunService`: every read of runs and the rules about them, for the API.

Reads: runs (listed with filters and pagination, one with its steps), a run's event log (a
page and its size, or followed live: `follow`), checkpoints, sessions with their messages
and runs. Each read on behalf of a principal answers "not found" for what the principal may
not see (someone else's run, checkpoint or session: a 404 like a missing one, so that ids
cannot be probed).

Rules: the run quotas (active runs per user, tokens per user per UTC day; 429 with
`Retry-After`), the length of a chat message and the `max_steps` ceiling of a fork (422).
The routers call these; they never read storage themselves.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from agio.bus.base import EventBus, Subscription
from agio.domain.errors import (
    CheckpointNotFound,
    Conflict,
    RateLimited,
    RunNotFound,
    SessionNotFound,
    ValidationFailed,
)
from agio.domain.events import Event
from agio.domain.model_calls import ModelCall
from agio.domain.runs import ACTIVE_STATUSES, Checkpoint, Run, RunStatus, Session
from agio.domain.security import Principal
from agio.runtime.follow import SharedRunLookup, follow
from agio.storage.checkpoints import CheckpointRepository
from agio.storage.components import Page
from agio.storage.events import EventRepository
from agio.storage.model_calls import ModelCallRepository
from agio.storage.runs import RunFilter, RunReadRepository
from agio.storage.sessions import SessionRepository

_ACTIVE = frozenset(status.value for status in ACTIVE_STATUSES)


@dataclass(frozen=True)
class RunLimits:
    """The limits on runs (from `AGIO_*`, see `agio.api.container`)."""

    max_message_chars: int = 32_000
    max_steps_ceiling: int = 50
    max_active_runs_per_user: int = 8
    max_tokens_per_user_per_day: int | None = None


@dataclass(frozen=True)
class SessionHistory:
    """A session with what it holds: its stored messages, its summary of older turns and
    its runs (id and status, oldest first)."""

    session: Session
    messages: list[dict[str, Any]]
    summary: str | None
    runs: list[tuple[str, RunStatus]]


def start_of_day(now: datetime) -> datetime:
    """Midnight (UTC) of `now`'s day: where a daily token budget starts again."""
    return datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)


class RunService:
    def __init__(
        self,
        runs: RunReadRepository,
        events: EventRepository,
        checkpoints: CheckpointRepository,
        sessions: SessionRepository,
        bus: EventBus,
        limits: RunLimits,
        *,
        owner_id: str | None = None,
        model_calls: ModelCallRepository | None = None,
    ) -> None:
        self._runs = runs
        self._model_calls = model_calls
        self._events = events
        self._checkpoints = checkpoints
        self._sessions = sessions
        self._bus = bus
        self.limits = limits
        self._owner_id = owner_id  # this process's, as the owner of the runs it executes
        self._quiet_checks = SharedRunLookup(runs)  # one read per run for many streams

    # ------------------------------------------------------------------ runs

    async def get_run(self, run_id: str) -> Run | None:
        return await self._runs.get_run(run_id)

    async def owned_run(
        self, principal: Principal, run_id: str, *, with_steps: bool = False
    ) -> Run:
        """The run (with its steps if asked), if this principal may see it."""
        run = await self._runs.get_run(run_id, with_steps=with_steps)
        if run is None or not principal.owns(run.user_id):
            raise RunNotFound(run_id)
        return run

    async def child_runs(self, run_id: str) -> list[Run]:
        """The runs `run_id` started (SPEC §20), oldest first: the caller's, as it is."""
        return await self._runs.child_runs(run_id)

    async def list_runs(
        self,
        principal: Principal,
        *,
        agent: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        status: RunStatus | None = None,
        schedule_id: str | None = None,
        limit: int,
        offset: int,
    ) -> Page[Run]:
        """Runs matching the filters (`agent`: an id or a name), newest first. A user sees
        only their own runs: asking for someone else's finds none."""
        if not principal.is_admin:
            if user_id is not None and user_id != principal.user_id:
                return Page(total=0, items=[])
            user_id = principal.user_id
        filters = RunFilter(
            agent=agent,
            user_id=user_id,
            session_id=session_id,
            status=status.value if status else None,
            schedule_id=schedule_id,
        )
        return await self._runs.list_runs(filters, limit=limit, offset=offset)

    async def unfinished_by_status(self) -> dict[str, int]:
        """How many runs are pending, running and paused (each status present)."""
        return await self._runs.unfinished_by_status()

    # ------------------------------------------------------------------ events

    async def events_page(self, run_id: str, *, offset: int, limit: int) -> tuple[int, list[Event]]:
        """How many events the run has stored, and a page of them in `seq` order."""
        events = await self._events.events(run_id, offset=offset, limit=limit)
        return await self._events.count_events(run_id), events

    async def model_calls_page(
        self, run_id: str, *, offset: int, limit: int
    ) -> tuple[int, list[ModelCall]]:
        """How many model calls the run has logged, and a page of them in order."""
        if self._model_calls is None:
            raise RuntimeError("this RunService was built without the model-call log")
        return await self._model_calls.page(run_id, offset=offset, limit=limit)

    @staticmethod
    def nothing_after(run: Run, after_seq: int) -> bool:
        """Has the run ended with no event after `after_seq` (a reader has seen it all)?"""
        return run.status.terminal and after_seq >= run.last_seq

    def follow(
        self, run_id: str, after_seq: int, *, subscription: Subscription | None = None
    ) -> AsyncGenerator[list[Event], None]:
        """The run's events after `after_seq`, stored then live, each once and in order,
        until the run's terminal event (`agio.runtime.follow`). With a `subscription` made
        (`subscribe`) before the run published anything, nothing is read at first."""
        events = follow(
            self._events,
            self._quiet_checks,
            self._bus,
            run_id,
            after_seq,
            local_owner=self._owner_id,
            subscription=subscription,
        )
        if subscription is not None:
            # a stream dropped before it was first read never runs its own `finally`
            weakref.finalize(events, subscription.close)
        return events

    def subscribe(self, run_id: str) -> Subscription:
        """The run's live events from now on (for `follow`)."""
        return self._bus.subscribe(run_id)

    # ------------------------------------------------------------------ checkpoints

    async def list_checkpoints(self, run_id: str) -> list[Checkpoint]:
        """The run's checkpoints, oldest first (ownership: `owned_run` first)."""
        return await self._checkpoints.list_checkpoints(run_id)

    async def owned_checkpoint(self, principal: Principal, checkpoint_id: str) -> Checkpoint:
        """The checkpoint, if this principal may see its run."""
        checkpoint = await self._checkpoints.get_checkpoint(checkpoint_id)
        if checkpoint is None:
            raise CheckpointNotFound(checkpoint_id)
        if not principal.is_admin:
            run = await self._runs.get_run(checkpoint.run_id)
            if run is None or not principal.owns(run.user_id):
                raise CheckpointNotFound(checkpoint_id)
        return checkpoint

    # ------------------------------------------------------------------ sessions

    async def owned_session(self, principal: Principal, session_id: str) -> Session:
        session = await self._sessions.get_session(session_id)
        if session is None or not principal.owns(session.user_id):
            raise SessionNotFound(session_id)
        return session

    async def list_sessions(
        self, principal: Principal, *, agent_id: str | None, limit: int, offset: int
    ) -> Page[tuple[Session, int]]:
        """The principal's sessions (an admin's: everyone's), most recently active first,
        each with its number of runs."""
        return await self._sessions.list_sessions(
            user_id=None if principal.is_admin else principal.user_id,
            agent_id=agent_id,
            limit=limit,
            offset=offset,
        )

    async def session_history(self, principal: Principal, session_id: str) -> SessionHistory:
        session = await self.owned_session(principal, session_id)
        messages = await self._sessions.session_messages(session_id)
        summary, _ = await self._sessions.session_summary(session_id)
        runs = await self._sessions.session_run_ids(session_id)
        return SessionHistory(
            session=session,
            messages=messages,
            summary=summary,
            runs=[(run_id, RunStatus(status)) for run_id, status in runs],
        )

    async def delete_session(self, principal: Principal, session_id: str) -> None:
        """Delete the session with its messages and runs; refused (409) while one of its
        runs is pending or running. (The caller then forgets the session's memory.)"""
        await self.owned_session(principal, session_id)
        runs = await self._sessions.session_run_ids(session_id)
        busy = [run_id for run_id, status in runs if status in _ACTIVE]
        if busy:
            raise Conflict(
                f"Session '{session_id}' has runs in progress ({', '.join(busy)}); "
                "cancel them first"
            )
        await self._sessions.delete_session(session_id)

    # ------------------------------------------------------------------ rules

    def check_message(self, message: str) -> None:
        """A chat message is at most `max_message_chars` characters long (422)."""
        limit = self.limits.max_message_chars
        if len(message) > limit:
            raise ValidationFailed(
                f"The message is {len(message)} characters long; at most {limit} are "
                "accepted (AGIO_MAX_MESSAGE_CHARS)",
                details=[
                    {
                        "loc": ["body", "message"],
                        "msg": f"at most {limit} characters",
                        "type": "string_too_long",
                    }
                ],
            )

    def check_max_steps(self, max_steps: int | None) -> None:
        """A fork may not set `max_steps` above the server's ceiling (422)."""
        ceiling = self.limits.max_steps_ceiling
        if max_steps is not None and max_steps > ceiling:
            raise ValidationFailed(
                f"max_steps may be at most {ceiling} on this server (AGIO_MAX_STEPS_CEILING)",
                details=[
                    {
                        "loc": ["body", "modifications", "max_steps"],
                        "msg": f"at most {ceiling}",
                        "type": "less_than_equal",
                    }
                ],
            )

    async def check_run_quota(self, user_id: str, *, now: datetime | None = None) -> None:
        """Refuse (429) a new run for a user with too many active runs, or whose runs used
        the daily token budget."""
        limits = self.limits
        active = await self._runs.active_runs_of(user_id)
        if active >= limits.max_active_runs_per_user:
            raise RateLimited(
                f"{active} runs of this user are pending or running, the most allowed "
                f"(AGIO_MAX_ACTIVE_RUNS_PER_USER={limits.max_active_runs_per_user}); "
                "retry when one ends",
                headers={"Retry-After": "1"},
            )
        budget = limits.max_tokens_per_user_per_day
        if budget is None:
            return
        now = now or datetime.now(UTC)
        day = start_of_day(now)
        tokens = await self._runs.tokens_of(user_id, day)
        if tokens >= budget:
            wait = int((day + timedelta(days=1) - now).total_seconds()) + 1
            raise RateLimited(
                f"This user's runs used {tokens} tokens today (UTC), the daily budget "
                f"(AGIO_MAX_TOKENS_PER_USER_PER_DAY={budget})",
                headers={"Retry-After": str(wait)},
            )
