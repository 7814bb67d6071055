"""Agent and system metrics."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

Granularity = Literal["hour", "day", "week"]

_DATE_AND_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _date_and_time(value: Any) -> Any:
    """What the schema's `date-time` admits: a date and a time. pydantic alone would also
    read a number as seconds since 1970 and a bare date as its midnight."""
    if isinstance(value, str) and not _DATE_AND_TIME.match(value):
        raise ValueError("should be a date and time, e.g. 2025-01-31T12:00:00Z")
    return value


# a date-time in a query (an ISO 8601 date and time; no zone: UTC)
DateTimeText = Annotated[datetime, BeforeValidator(_date_and_time)]


class Period(BaseModel):
    start: datetime
    end: datetime
    granularity: Granularity


class AgentMetricsValues(BaseModel):
    total_runs: int
    completed_runs: int
    failed_runs: int = Field(description="Runs that ended in `failed`: the error count.")
    cancelled_runs: int
    success_rate: float | None = Field(
        description="Completed runs / finished runs; null when none finished in the period."
    )
    avg_duration: float | None = Field(description="Seconds, over runs with a duration.")
    p50_duration: float | None = Field(description="Nearest-rank median, seconds.")
    p95_duration: float | None = Field(description="Nearest-rank 95th percentile, seconds.")
    total_tokens: int
    prompt_tokens: int
    completion_tokens: int
    avg_tokens_per_run: float | None
    tool_calls: int


class TimeseriesPoint(BaseModel):
    timestamp: datetime = Field(description="The start of the bucket.")
    runs: int
    tokens: int
    errors: int = Field(description="Failed runs.")
    prompt_tokens: int
    completion_tokens: int
    avg_duration: float | None = Field(
        description="Seconds, over the bucket's runs with a duration; null when none has one."
    )
    p50_duration: float | None = Field(description="The bucket's nearest-rank median, seconds.")
    p95_duration: float | None = Field(
        description="The bucket's nearest-rank 95th percentile, seconds."
    )


class ModelBreakdown(BaseModel):
    model: str | None
    runs: int
    total_tokens: int
    prompt_tokens: int
    completion_tokens: int


class AgentMetrics(BaseModel):
    agent_id: str
    agent_name: str
    period: Period
    metrics: AgentMetricsValues
    by_model: list[ModelBreakdown]
    timeseries: list[TimeseriesPoint] = Field(
        description="One point per bucket that overlaps the period, empty ones included."
    )


class SystemMetrics(BaseModel):
    total_agents: int
    total_runs: int
    active_runs: int = Field(description="Pending and running runs.")
    paused_runs: int
    runs_today: int = Field(description="Runs created since 00:00 UTC.")
    failed_runs_today: int
    total_tokens_today: int
    avg_response_time: float | None = Field(
        description="Mean duration (seconds) of runs completed in the last 24 hours."
    )
