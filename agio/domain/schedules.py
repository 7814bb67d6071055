"""Schedules: an agent, a message and a cron expression in a time zone; each firing starts
one run of the agent with the message, as the schedule's creator (SPEC §15)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class MissedPolicy(StrEnum):
    """What a schedule does with the firings that fell due while no scheduler ran (the
    server was down): `skip` them, or `run_once` for all of them, then go on as usual."""

    SKIP = "skip"
    RUN_ONCE = "run_once"


@dataclass(frozen=True)
class ScheduleSpec:
    """What a user says about a schedule (the body of a create, or a patched schedule)."""

    agent_id: str  # an agent's id or name, as given
    message: str
    cron: str
    timezone: str = "UTC"
    session_id: str | None = None
    enabled: bool = True
    missed: MissedPolicy = MissedPolicy.SKIP


@dataclass(frozen=True)
class Schedule:
    """A stored schedule. `next_run_at` is None while it is disabled; `revision` counts
    its changes, so that a firing claimed for what was read is not started after a change
    of the message or the session."""

    id: str
    agent_id: str
    agent_name: str
    message: str
    cron: str
    timezone: str
    session_id: str | None
    enabled: bool
    missed: MissedPolicy
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_run_id: str | None
    #: why the last firing started no run (`type`, `message`); None when it started one
    last_error: dict[str, Any] | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    revision: int

    def spec(self) -> dict[str, Any]:
        """The fields a user sets, as JSON: what a merge patch applies to."""
        return {
            "agent_id": self.agent_id,
            "message": self.message,
            "cron": self.cron,
            "timezone": self.timezone,
            "session_id": self.session_id,
            "enabled": self.enabled,
            "missed": self.missed.value,
        }
