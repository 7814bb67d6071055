"""Cron expressions in a time zone: checking them and finding the next firing.

A schedule's expression is read in its own IANA time zone (`zoneinfo`) and its firings
are stored and compared in UTC. The arithmetic is `croniter`'s, on wall-clock time in
that zone, which decides what happens around daylight-saving changes:

- a firing in the hour that is skipped (spring forward: 02:30 in Europe/Berlin on the
  last Sunday of March) happens once, at the first wall-clock time after the gap
  (03:00); an hourly expression has no firing in that hour;
- a firing in the hour that is repeated (fall back: 02:30 on the last Sunday of
  October) happens twice, once at each 02:30 (first in summer time, then in winter time).

`tests/services/test_scheduler.py` pins both down; docs/schedules.md says it to users.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, available_timezones

from croniter import CroniterBadDateError, CroniterError, croniter

#: the `@` shorthands accepted, besides five fields (minute hour day-of-month month
#: day-of-week); `@reboot` means nothing to a server
MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


class CronError(ValueError):
    """An expression that is not a cron expression this server accepts."""


class UnknownTimeZone(ValueError):
    """A name that is not an IANA time zone known to this server."""


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (`Europe/Berlin`, `UTC`). Only the names of the time zone
    database are looked up, never a path."""
    if name not in _zone_names():
        raise UnknownTimeZone("not a known IANA time zone name (e.g. 'Europe/Berlin', 'UTC')")
    return ZoneInfo(name)


def normalise(expression: str) -> str:
    """The expression with its fields separated by one space; a `CronError` unless it is
    five valid fields or one of `MACROS` that fires at least once. (Messages do not repeat
    the expression: error messages never echo input.)"""
    text = " ".join(expression.split())
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise CronError(f"the shorthands are {', '.join(sorted(MACROS))}")
        text = text.lower()
    elif len(text.split()) != 5:
        raise CronError(
            "a cron expression has five fields: minute hour day-of-month month day-of-week "
            f"(e.g. '0 9 * * 1-5'), not {len(text.split())}"
        )
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError as exc:
        raise CronError("the expression never fires (no such date)") from exc
    except (CroniterError, ValueError, KeyError, IndexError) as exc:
        raise CronError(
            "not a valid cron expression: minute 0-59, hour 0-23, day-of-month 1-31, "
            "month 1-12 or jan-dec, day-of-week 0-6 or sun-sat; each a value, a range "
            "(1-5), a list (1,3), a step (*/15) or *"
        ) from exc
    return text


def next_firing(expression: str, timezone: str, after: datetime) -> datetime:
    """The first firing of `expression` in `timezone` strictly after `after` (aware), in
    UTC. The expression and the zone are taken as checked (`normalise`, `zone`)."""
    local = after.astimezone(zone(timezone))
    found = croniter(expression, local).get_next(datetime)
    return found.astimezone(UTC)
