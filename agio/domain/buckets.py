"""Time buckets of the metrics: hours, days and (Monday-first) weeks, in UTC."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


def bucket_floor(moment: datetime, granularity: str) -> datetime:
    """The start of the hour, day or (Monday-first) week that `moment` falls in, UTC."""
    floor = moment.replace(minute=0, second=0, microsecond=0)
    if granularity == "hour":
        return floor
    floor = floor.replace(hour=0)
    if granularity == "day":
        return floor
    return floor - timedelta(days=floor.weekday())


def bucket_count(start: datetime, end: datetime, granularity: str) -> int:
    """How many buckets overlap [start, end) (computed, not listed: a period may be huge)."""
    first = bucket_floor(start, granularity)
    return max(1, math.ceil((end - first) / STEP[granularity]))


def bucket_starts(start: datetime, end: datetime, granularity: str) -> list[datetime]:
    """Every bucket that overlaps [start, end), in order."""
    step = STEP[granularity]
    first = bucket_floor(start, granularity)
    return [first + i * step for i in range(bucket_count(start, end, granularity))]
