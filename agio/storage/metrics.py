"""Run metrics computed by the database: aggregates, nearest-rank percentiles and time
buckets, in SQL that SQLite and PostgreSQL both run (no run is loaded into Python)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, case, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from agio.domain.buckets import STEP as STEP
from agio.domain.buckets import bucket_count as bucket_count
from agio.domain.buckets import bucket_floor as bucket_floor
from agio.domain.buckets import bucket_starts as bucket_starts
from agio.domain.runs import ACTIVE_STATUSES, RunStatus
from agio.storage.database import Database
from agio.storage.tables import ComponentRow, RunRow

ACTIVE = tuple(status.value for status in ACTIVE_STATUSES)


class epoch_seconds(FunctionElement[int]):  # SQL function style
    """Whole seconds since 1970 of a UTC timestamp column, as an integer."""

    type = BigInteger()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; strftime rounds a fraction of a second
    # (05:59:59.9999 would become 06:00:00), so the fraction is cut off first
    column = compiler.process(element.clauses, **kw)
    return f"CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    return f"CAST(floor(extract(epoch FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


@dataclass(frozen=True)
class Totals:
    total_runs: int = 0
    completed_runs: int = 0
    failed_runs: int = 0
    cancelled_runs: int = 0
    total_tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: int = 0
    avg_duration: float | None = None
    p50_duration: float | None = None
    p95_duration: float | None = None


@dataclass(frozen=True)
class Bucket:
    start: datetime
    runs: int = 0
    tokens: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    avg_duration: float | None = None
    p50_duration: float | None = None
    p95_duration: float | None = None


@dataclass(frozen=True)
class ModelUsage:
    model: str | None
    runs: int
    total_tokens: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class AgentReport:
    totals: Totals
    buckets: list[Bucket] = field(default_factory=list)
    by_model: list[ModelUsage] = field(default_factory=list)


@dataclass(frozen=True)
class SystemReport:
    total_agents: int
    total_runs: int
    active_runs: int
    paused_runs: int
    runs_today: int
    failed_runs_today: int
    total_tokens_today: int
    avg_response_time: float | None


PERCENTILES = (50, 95)


async def _bucket_percentiles(
    s: Any, index: ColumnElement[int], where: list[ColumnElement[bool]]
) -> list[tuple[int, int, float]]:
    """(bucket, percentile, duration) for each bucket's nearest-rank percentiles, in one
    query: each timed run numbered by duration within its bucket, and the runs whose number
    is ceil(p/100 * count) kept. Window functions: SQLite 3.25+ and PostgreSQL."""
    ranked = (
        select(
            index.label("bucket"),
            RunRow.duration.label("duration"),
            func.row_number()
            .over(partition_by=index, order_by=(RunRow.duration, RunRow.id))
            .label("rank"),
            func.count().over(partition_by=index).label("timed"),
        )
        .where(*where, RunRow.duration.is_not(None))
        .subquery()
    )

    def nearest(pct: int) -> ColumnElement[int]:  # ceil(pct * n / 100) in integers
        return (ranked.c.timed * pct + 99) // 100

    rows = await s.execute(
        select(ranked.c.bucket, ranked.c.rank, ranked.c.timed, ranked.c.duration).where(
            or_(*(ranked.c.rank == nearest(pct) for pct in PERCENTILES))
        )
    )
    found = []
    for bucket, rank, timed, duration in rows:
        for pct in PERCENTILES:  # one run can be both (a bucket of one run)
            if rank == math.ceil(pct * timed / 100):
                found.append((int(bucket), pct, float(duration)))
    return found


class MetricsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def agent_report(
        self,
        agent_id: str,
        start: datetime,
        end: datetime,
        granularity: str,
        *,
        user_id: str | None = None,
    ) -> AgentReport:
        """Runs of `agent_id` created in [start, end) (and of `user_id` only, if given)."""
        where: list[ColumnElement[bool]] = [
            RunRow.agent_id == agent_id,
            RunRow.created_at >= start,
            RunRow.created_at < end,
        ]
        if user_id is not None:
            where.append(RunRow.user_id == user_id)
        starts = bucket_starts(start, end, granularity)
        origin = int(starts[0].timestamp())
        size = int(STEP[granularity].total_seconds())
        index = (epoch_seconds(RunRow.created_at) - origin) // size  # floor division
        async with self._db.sessions() as s:
            row = (
                await s.execute(
                    select(
                        func.count(),
                        func.sum(case((RunRow.status == RunStatus.COMPLETED.value, 1), else_=0)),
                        func.sum(case((RunRow.status == RunStatus.FAILED.value, 1), else_=0)),
                        func.sum(case((RunRow.status == RunStatus.CANCELLED.value, 1), else_=0)),
                        func.coalesce(func.sum(RunRow.total_tokens), 0),
                        func.coalesce(func.sum(RunRow.prompt_tokens), 0),
                        func.coalesce(func.sum(RunRow.completion_tokens), 0),
                        func.coalesce(func.sum(RunRow.tool_calls), 0),
                        func.avg(RunRow.duration),
                        func.count(RunRow.duration),
                    ).where(*where)
                )
            ).one()
            timed = int(row[9] or 0)
            percentiles = {}
            for pct in (50, 95):
                percentiles[pct] = (
                    await s.scalar(
                        select(RunRow.duration)
                        .where(*where, RunRow.duration.is_not(None))
                        .order_by(RunRow.duration)
                        .limit(1)
                        .offset(math.ceil(pct / 100 * timed) - 1)
                    )
                    if timed
                    else None
                )
            bucket_rows = await s.execute(
                select(
                    index.label("bucket"),
                    func.count(),
                    func.coalesce(func.sum(RunRow.total_tokens), 0),
                    func.sum(case((RunRow.status == RunStatus.FAILED.value, 1), else_=0)),
                    func.coalesce(func.sum(RunRow.prompt_tokens), 0),
                    func.coalesce(func.sum(RunRow.completion_tokens), 0),
                    func.avg(RunRow.duration),
                )
                .where(*where)
                .group_by("bucket")
            )
            counted: dict[int, dict[str, Any]] = {
                int(b): {
                    "runs": int(n),
                    "tokens": int(t),
                    "errors": int(e or 0),
                    "prompt_tokens": int(p),
                    "completion_tokens": int(c),
                    "avg_duration": float(a) if a is not None else None,
                }
                for b, n, t, e, p, c, a in bucket_rows
            }
            for b, pct, value in await _bucket_percentiles(s, index, where):
                counted.setdefault(b, {})[f"p{pct}_duration"] = value
            model_rows = await s.execute(
                select(
                    RunRow.model_name,
                    func.count(),
                    func.coalesce(func.sum(RunRow.total_tokens), 0),
                    func.coalesce(func.sum(RunRow.prompt_tokens), 0),
                    func.coalesce(func.sum(RunRow.completion_tokens), 0),
                )
                .where(*where)
                .group_by(RunRow.model_name)
                .order_by(func.count().desc(), RunRow.model_name)
            )
            by_model = [
                ModelUsage(m, int(n), int(t), int(p), int(c)) for m, n, t, p, c in model_rows
            ]
        totals = Totals(
            total_runs=int(row[0] or 0),
            completed_runs=int(row[1] or 0),
            failed_runs=int(row[2] or 0),
            cancelled_runs=int(row[3] or 0),
            total_tokens=int(row[4]),
            prompt_tokens=int(row[5]),
            completion_tokens=int(row[6]),
            tool_calls=int(row[7]),
            avg_duration=float(row[8]) if row[8] is not None else None,
            p50_duration=percentiles[50],
            p95_duration=percentiles[95],
        )
        buckets = [Bucket(when, **counted.get(i, {})) for i, when in enumerate(starts)]
        return AgentReport(totals=totals, buckets=buckets, by_model=by_model)

    async def system_report(self, now: datetime, *, user_id: str | None = None) -> SystemReport:
        """Totals over all runs (of `user_id` only, if given); "today" is the UTC day of
        `now`; the average response time is over runs completed in the last 24 hours."""
        mine: list[ColumnElement[bool]] = [] if user_id is None else [RunRow.user_id == user_id]
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        since = now - timedelta(hours=24)
        async with self._db.sessions() as s:
            agents = await s.scalar(
                select(func.count()).select_from(ComponentRow).where(ComponentRow.type == "agent")
            )
            row = (
                await s.execute(
                    select(
                        func.count(),
                        func.sum(case((RunRow.status.in_(ACTIVE), 1), else_=0)),
                        func.sum(case((RunRow.status == RunStatus.PAUSED.value, 1), else_=0)),
                        func.sum(case((RunRow.created_at >= day, 1), else_=0)),
                        func.sum(
                            case(
                                (
                                    (RunRow.created_at >= day)
                                    & (RunRow.status == RunStatus.FAILED.value),
                                    1,
                                ),
                                else_=0,
                            )
                        ),
                        func.sum(case((RunRow.created_at >= day, RunRow.total_tokens), else_=0)),
                        func.avg(
                            case(
                                (
                                    (RunRow.ended_at >= since)
                                    & (RunRow.status == RunStatus.COMPLETED.value),
                                    RunRow.duration,
                                ),
                                else_=None,
                            )
                        ),
                    ).where(*mine)
                )
            ).one()
        return SystemReport(
            total_agents=int(agents or 0),
            total_runs=int(row[0] or 0),
            active_runs=int(row[1] or 0),
            paused_runs=int(row[2] or 0),
            runs_today=int(row[3] or 0),
            failed_runs_today=int(row[4] or 0),
            total_tokens_today=int(row[5] or 0),
            avg_response_time=float(row[6]) if row[6] is not None else None,
        )
