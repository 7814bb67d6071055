"""Schedule resources."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from agio.api.schemas.common import max_length_from_setting
from agio.api.schemas.runs import ID_PATTERN, RunError
from agio.domain import cron
from agio.domain.errors import ValidationFailed
from agio.domain.schedules import MissedPolicy, Schedule, ScheduleSpec

CRON_DOC = (
    "Five fields, `minute hour day-of-month month day-of-week` (`0 9 * * 1-5`: 09:00 on "
    "weekdays), read in `timezone`; or `@hourly`, `@daily`, `@weekly`, `@monthly`, "
    "`@yearly`."
)
TIMEZONE_DOC = "An IANA time zone name (`Europe/Berlin`, `America/New_York`, `UTC`)."
MISSED_DOC = (
    "Firings that fell due while the server was down: `skip` them, or `run_once` for all "
    "of them, then go on."
)


def _check_cron(value: str) -> str:
    """The expression normalised; else a 422 naming `cron` (with our message only)."""
    try:
        return cron.normalise(value)
    except cron.CronError as exc:
        raise PydanticCustomError("cron_expression", str(exc)) from exc


def _check_zone(value: str) -> str:
    try:
        cron.zone(value)
    except cron.UnknownTimeZone as exc:
        raise PydanticCustomError("time_zone", str(exc)) from exc
    return value


def _no_default(schema: dict[str, Any]) -> None:
    """Absent is not `null` for a field that cannot be removed: document no default."""
    schema.pop("default", None)


def _message_in_patch(schema: dict[str, Any]) -> None:
    _no_default(schema)
    schema.update(max_length_from_setting("max_message_chars"))


class ScheduleCreate(BaseModel):
    """The body of `POST /api/schedules`."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(
        pattern=ID_PATTERN, description="The agent's id or name.", examples=["assistant"]
    )
    message: str = Field(
        min_length=1,
        description="What each firing says to the agent.",
        examples=["Summarise yesterday's tickets."],
        json_schema_extra=max_length_from_setting("max_message_chars"),
    )
    cron: str = Field(min_length=1, max_length=128, description=CRON_DOC, examples=["0 9 * * 1-5"])
    timezone: str = Field(default="UTC", min_length=1, max_length=64, description=TIMEZONE_DOC)
    session_id: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        description="Every firing continues this conversation (one of yours, with this "
        "agent); absent: each firing starts a new one.",
    )
    enabled: StrictBool = Field(default=True, description="A disabled schedule never fires.")
    missed: MissedPolicy = Field(default=MissedPolicy.SKIP, description=MISSED_DOC)

    _cron = field_validator("cron")(_check_cron)
    _timezone = field_validator("timezone")(_check_zone)

    def to_spec(self) -> ScheduleSpec:
        return ScheduleSpec(
            agent_id=self.agent_id,
            message=self.message,
            cron=self.cron,
            timezone=self.timezone,
            session_id=self.session_id,
            enabled=self.enabled,
            missed=self.missed,
        )

    @classmethod
    def merged(cls, merged: dict[str, Any]) -> ScheduleCreate:
        """A schedule patched by a merge patch, validated like a create body (422)."""
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            details = [
                {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
                for err in exc.errors(include_input=False, include_url=False)
            ]
            summary = "; ".join(
                ".".join(str(p) for p in d["loc"]) + f": {d['msg']}" for d in details
            )
            raise ValidationFailed(
                f"Invalid schedule after the patch: {summary}", details=details
            ) from exc


class SchedulePatch(BaseModel):
    """The body of `PATCH /api/schedules/{schedule_id}`: a JSON merge patch (RFC 7386) of
    the schedule. Only the fields given change; `null` resets one to its default
    (`session_id`: none, a new conversation each firing); `agent_id`, `message` and `cron`
    cannot be removed. A changed `cron` or `timezone`, or enabling, computes
    `next_run_at` again; disabling clears it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"enabled": False}, {"cron": "30 8 * * *"}]},
    )

    agent_id: str = Field(  # type: ignore[assignment]
        default=None,
        pattern=ID_PATTERN,
        description="The agent's id or name.",
        json_schema_extra=_no_default,
    )
    message: str = Field(  # type: ignore[assignment]
        default=None,
        min_length=1,
        json_schema_extra=_message_in_patch,
    )
    cron: str = Field(  # type: ignore[assignment]
        default=None,
        min_length=1,
        max_length=128,
        description=CRON_DOC,
        json_schema_extra=_no_default,
    )
    timezone: str | None = Field(
        default=None, min_length=1, max_length=64, description=TIMEZONE_DOC
    )
    session_id: str | None = Field(default=None, pattern=ID_PATTERN)
    enabled: StrictBool | None = None
    missed: MissedPolicy | None = Field(default=None, description=MISSED_DOC)

    _cron = field_validator("cron")(_check_cron)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else _check_zone(value)


class ScheduleOut(BaseModel):
    id: str
    agent_id: str
    agent_name: str
    message: str
    cron: str = Field(description="As stored: fields separated by one space.")
    timezone: str
    session_id: str | None
    enabled: bool
    missed: MissedPolicy
    next_run_at: datetime | None = Field(
        description="The next firing, in UTC; null while the schedule is disabled."
    )
    last_run_at: datetime | None = Field(
        description="The last firing: its scheduled time (for missed firings run late by "
        "`run_once`: when it ran)."
    )
    last_run_id: str | None = Field(description="The run the last firing started.")
    last_error: RunError | None = Field(
        description="Why the last firing started no run (a quota, a deleted agent, …)."
    )
    created_by: str = Field(description="The user the runs belong to.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, schedule: Schedule) -> ScheduleOut:
        return cls(
            id=schedule.id,
            agent_id=schedule.agent_id,
            agent_name=schedule.agent_name,
            message=schedule.message,
            cron=schedule.cron,
            timezone=schedule.timezone,
            session_id=schedule.session_id,
            enabled=schedule.enabled,
            missed=schedule.missed,
            next_run_at=schedule.next_run_at,
            last_run_at=schedule.last_run_at,
            last_run_id=schedule.last_run_id,
            last_error=RunError(**schedule.last_error) if schedule.last_error else None,
            created_by=schedule.created_by,
            created_at=schedule.created_at,
            updated_at=schedule.updated_at,
        )
