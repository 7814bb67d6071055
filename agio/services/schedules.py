"""`ScheduleService`: creating, reading, changing and deleting schedules for the API.

A schedule belongs to its creator: a user sees and changes only their own (another
user's is "not found", like a run), an admin everyone's. The rules checked here are those
of the chat a firing will make: the agent exists (404), the session (if any) is the
caller's and the agent's, the message is within AGIO_MAX_MESSAGE_CHARS; and the schedule's
own: the cron expression and the time zone (422 naming the field). `next_run_at` is
computed here whenever what it depends on changes (cron, time zone, enabling); the
scheduler (`agio.services.scheduler`) moves it on from there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from agio.domain import cron
from agio.domain.errors import Conflict, ScheduleNotFound, ValidationFailed
from agio.domain.ids import new_id
from agio.domain.schedules import Schedule, ScheduleSpec
from agio.domain.security import Principal
from agio.domain.time import utcnow
from agio.runtime.run_service import RunService
from agio.services.components import ComponentService
from agio.storage.components import Page
from agio.storage.schedules import ScheduleRepository

log = structlog.get_logger(__name__)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field}: {message}",
        details=[{"loc": ["body", field], "msg": message, "type": "value_error"}],
    )


def checked_timing(spec: ScheduleSpec) -> tuple[str, str]:
    """The spec's cron expression (normalised) and time zone, or a 422 naming the field."""
    try:
        expression = cron.normalise(spec.cron)
    except cron.CronError as exc:
        raise _invalid("cron", str(exc)) from exc
    try:
        cron.zone(spec.timezone)
    except cron.UnknownTimeZone as exc:
        raise _invalid("timezone", str(exc)) from exc
    return expression, spec.timezone


class ScheduleService:
    def __init__(
        self,
        repo: ScheduleRepository,
        components: ComponentService,
        runs: RunService,
        *,
        now: Callable[[], datetime] = utcnow,
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        """`now`: the clock `next_run_at` is computed from; `changed()`: called after a
        schedule is stored or changed (the local scheduler looks again at once)."""
        self.repo = repo
        self._components = components
        self._runs = runs
        self.now = now
        self.changed = changed

    async def create(self, principal: Principal, spec: ScheduleSpec) -> Schedule:
        expression, timezone = checked_timing(spec)
        self._runs.check_message(spec.message)
        agent = await self._components.get_agent(spec.agent_id)
        if spec.session_id is not None:
            await self._check_session(principal, spec.session_id, agent.id)
        now = self.now()
        schedule = await self.repo.create(
            {
                "id": new_id("sch"),
                "agent_id": agent.id,
                "agent_name": agent.name,
                "message": spec.message,
                "cron": expression,
                "timezone": timezone,
                "session_id": spec.session_id,
                "enabled": spec.enabled,
                "missed": spec.missed.value,
                "next_run_at": cron.next_firing(expression, timezone, now)
                if spec.enabled
                else None,
                "last_run_at": None,
                "last_run_id": None,
                "last_error": None,
                "created_by": principal.user_id,
                "created_at": now,
                "updated_at": now,
            }
        )
        log.info(
            "schedule_created",
            schedule_id=schedule.id,
            agent_id=agent.id,
            cron=expression,
            timezone=timezone,
            user_id=principal.user_id,
        )
        self.changed()
        return schedule

    async def get(self, principal: Principal, schedule_id: str) -> Schedule:
        """The schedule, if this principal may see it (else "not found")."""
        schedule = await self.repo.get(schedule_id)
        if schedule is None or not principal.owns(schedule.created_by):
            raise ScheduleNotFound(schedule_id)
        return schedule

    async def list_page(
        self,
        principal: Principal,
        *,
        agent: str | None,
        enabled: bool | None,
        limit: int,
        offset: int,
    ) -> Page[Schedule]:
        """The principal's schedules (an admin's: everyone's), newest first."""
        return await self.repo.list_page(
            created_by=None if principal.is_admin else principal.user_id,
            agent=agent,
            enabled=enabled,
            limit=limit,
            offset=offset,
        )

    async def replace(
        self, principal: Principal, current: Schedule, spec: ScheduleSpec
    ) -> Schedule:
        """Store `spec` as the schedule `current` (read by `get`, patched by the caller).
        What changed is checked again (a new agent must exist, a new session be the
        caller's); `next_run_at` is computed again when the cron expression, the time zone
        or `enabled` changed, and kept otherwise. A change made meanwhile is a 409."""
        expression, timezone = checked_timing(spec)
        self._runs.check_message(spec.message)
        values: dict[str, Any] = {
            "message": spec.message,
            "cron": expression,
            "timezone": timezone,
            "session_id": spec.session_id,
            "enabled": spec.enabled,
            "missed": spec.missed.value,
        }
        agent_id = current.agent_id
        if spec.agent_id not in (current.agent_id, current.agent_name):
            agent = await self._components.get_agent(spec.agent_id)
            agent_id = values["agent_id"] = agent.id
            values["agent_name"] = agent.name
        if spec.session_id is not None and (
            spec.session_id != current.session_id or agent_id != current.agent_id
        ):
            await self._check_session(principal, spec.session_id, agent_id)
        now = self.now()
        if not spec.enabled:
            values["next_run_at"] = None
        elif (
            not current.enabled
            or current.next_run_at is None
            or (expression, timezone) != (current.cron, current.timezone)
        ):
            values["next_run_at"] = cron.next_firing(expression, timezone, now)
        updated = await self.repo.update(current.id, current.revision, values, now=now)
        if updated is None:
            if await self.repo.get(current.id) is None:
                raise ScheduleNotFound(current.id)
            raise Conflict(
                f"Schedule '{current.id}' was changed meanwhile; read it again and retry"
            )
        log.info("schedule_changed", schedule_id=current.id, user_id=principal.user_id)
        self.changed()
        return updated

    async def delete(self, principal: Principal, schedule_id: str) -> None:
        await self.get(principal, schedule_id)
        if not await self.repo.delete(schedule_id):
            raise ScheduleNotFound(schedule_id)
        log.info("schedule_deleted", schedule_id=schedule_id, user_id=principal.user_id)

    async def _check_session(self, principal: Principal, session_id: str, agent_id: str) -> None:
        """The session is the principal's (else 404) and the agent's (else 409), as a chat
        that continues it would require."""
        session = await self._runs.owned_session(principal, session_id)
        if session.agent_id != agent_id:
            raise Conflict(f"Session '{session_id}' belongs to another agent")
