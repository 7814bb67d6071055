"""`/api/metrics`: what agents do and cost, computed from the stored runs.

Admins see every run; other roles see figures over their own runs only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from agio.api.auth import allow
from agio.api.deps import AgentKey, ContainerDep
from agio.api.schemas.common import error_responses
from agio.api.schemas.metrics import (
    AgentMetrics,
    AgentMetricsValues,
    DateTimeText,
    Granularity,
    ModelBreakdown,
    Period,
    SystemMetrics,
    TimeseriesPoint,
)
from agio.domain.buckets import bucket_count
from agio.domain.errors import ValidationFailed
from agio.domain.security import Permission, Principal

router = APIRouter(
    prefix="/api/metrics", tags=["metrics"], responses=error_responses(401, 403, 429)
)

Reader = Annotated[Principal, allow(Permission.READ_SYSTEM)]
DEFAULT_PERIOD = timedelta(hours=24)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bad(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message, details=[{"loc": ["query", field], "msg": message, "type": "value_error"}]
    )


@router.get(
    "/agents/{agent_id}",
    response_model=AgentMetrics,
    summary="An agent's runs, tokens, durations and errors over a period, with a timeseries",
    responses=error_responses(404),
)
async def agent_metrics(
    agent_id: AgentKey,
    container: ContainerDep,
    who: Reader,
    start_time: Annotated[
        DateTimeText | None,
        Query(description="Default: end_time minus 24 hours. No zone: UTC."),
    ] = None,
    end_time: Annotated[
        DateTimeText | None, Query(description="Default: now. No zone: UTC.")
    ] = None,
    granularity: Granularity = "hour",
) -> AgentMetrics:
    try:  # near the ends of the calendar, moving a time by a zone or a period overflows
        end = _utc(end_time) if end_time else datetime.now(UTC)
        start = _utc(start_time) if start_time else end - DEFAULT_PERIOD
        if end <= start:
            raise _bad("end_time", "end_time must be after start_time")
        buckets = bucket_count(start, end, granularity)
    except (OverflowError, ValueError) as exc:
        raise _bad("start_time", "the period is out of range") from exc
    limit = container.settings.metrics_max_buckets
    if buckets > limit:
        raise _bad(
            "granularity",
            f"the period has {buckets} {granularity} buckets; at most {limit} are served "
            "(AGIO_METRICS_MAX_BUCKETS): choose a coarser granularity or a shorter period",
        )
    agent = await container.components.get_runnable(agent_id)  # a workflow's too
    report = await container.metrics_repo.agent_report(
        agent.id, start, end, granularity, user_id=None if who.is_admin else who.user_id
    )
    t = report.totals
    finished = t.completed_runs + t.failed_runs + t.cancelled_runs
    return AgentMetrics(
        agent_id=agent.id,
        agent_name=agent.name,
        period=Period(start=start, end=end, granularity=granularity),
        metrics=AgentMetricsValues(
            total_runs=t.total_runs,
            completed_runs=t.completed_runs,
            failed_runs=t.failed_runs,
            cancelled_runs=t.cancelled_runs,
            success_rate=t.completed_runs / finished if finished else None,
            avg_duration=t.avg_duration,
            p50_duration=t.p50_duration,
            p95_duration=t.p95_duration,
            total_tokens=t.total_tokens,
            prompt_tokens=t.prompt_tokens,
            completion_tokens=t.completion_tokens,
            avg_tokens_per_run=t.total_tokens / t.total_runs if t.total_runs else None,
            tool_calls=t.tool_calls,
        ),
        by_model=[
            ModelBreakdown(
                model=m.model,
                runs=m.runs,
                total_tokens=m.total_tokens,
                prompt_tokens=m.prompt_tokens,
                completion_tokens=m.completion_tokens,
            )
            for m in report.by_model
        ],
        timeseries=[
            TimeseriesPoint(
                timestamp=b.start,
                runs=b.runs,
                tokens=b.tokens,
                errors=b.errors,
                prompt_tokens=b.prompt_tokens,
                completion_tokens=b.completion_tokens,
                avg_duration=b.avg_duration,
                p50_duration=b.p50_duration,
                p95_duration=b.p95_duration,
            )
            for b in report.buckets
        ],
    )


@router.get("/system", response_model=SystemMetrics, summary="Totals over the whole server")
async def system_metrics(container: ContainerDep, who: Reader) -> SystemMetrics:
    report = await container.metrics_repo.system_report(
        datetime.now(UTC), user_id=None if who.is_admin else who.user_id
    )
    return SystemMetrics(
        total_agents=report.total_agents,
        total_runs=report.total_runs,
        active_runs=report.active_runs,
        paused_runs=report.paused_runs,
        runs_today=report.runs_today,
        failed_runs_today=report.failed_runs_today,
        total_tokens_today=report.total_tokens_today,
        avg_response_time=report.avg_response_time,
    )
