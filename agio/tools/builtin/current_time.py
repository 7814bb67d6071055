"""The `current_time` tool: the current date and time, in UTC or an IANA time zone.

Models do not know what time it is; this tool tells them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from agio.domain.time import utcnow
from agio.tools.base import ToolError
from agio.tools.function import json_schema, parse_arguments

DEFAULT_DESCRIPTION = (
    "The current date and time as ISO 8601 and Unix seconds, in UTC or in the given "
    "IANA time zone (e.g. Europe/Paris)."
)


def resolve_timezone(name: str) -> tzinfo:
    """The zone called `name` (an IANA name such as `America/New_York`, or `UTC`)."""
    if name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ToolError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris' or 'UTC'"
        ) from None


class CurrentTimeArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: Annotated[
        str | None,
        Field(
            max_length=64,
            description="IANA time zone name, e.g. `Europe/Paris`; UTC when left out.",
        ),
    ] = None


class CurrentTimeTool:
    """Returns `{"timezone": ..., "iso": ..., "unix": ...}` for the current instant."""

    def __init__(
        self,
        *,
        name: str = "current_time",
        description: str | None = None,
        timeout: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.name = name
        self.description = description or DEFAULT_DESCRIPTION
        self.timeout = timeout
        self.parameters = json_schema(CurrentTimeArguments)
        self._clock = clock

    async def run(self, arguments: dict[str, Any]) -> dict[str, Any]:
        parsed = parse_arguments(CurrentTimeArguments, arguments, tool=self.name)
        name = parsed.timezone or "UTC"
        zone = resolve_timezone(name)
        now = self._clock().astimezone(zone).replace(microsecond=0)
        return {
            "timezone": "UTC" if zone is UTC else name,
            "iso": now.isoformat(),
            "unix": int(now.timestamp()),
        }
