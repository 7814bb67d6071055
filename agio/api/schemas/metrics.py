"""Agent and system metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Granularity = Literal["hour", "day", "week"]


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
