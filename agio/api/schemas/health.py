"""Health report."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ProbeStatus = Literal["ok", "degraded", "unhealthy", "disabled", "not_configured"]


class ProbeResult(BaseModel):
    status: ProbeStatus
    latency_ms: float | None = None
    detail: str | None = None


class LlmProbe(ProbeResult):
    models: dict[str, str] = Field(
        default_factory=dict, description="Each model component and what its probe found."
    )


class ConfigProblemOut(BaseModel):
    path: str
    field: str | None
    message: str


class ConfigsProbe(ProbeResult):
    problems: list[ConfigProblemOut] = Field(
        default_factory=list, description="Files in the configs dir that could not be loaded."
    )


class HealthComponents(BaseModel):
    database: ProbeResult
    cache: ProbeResult
    llm: LlmProbe
    configs: ConfigsProbe


class Health(BaseModel):
    status: Literal["ok", "degraded", "unhealthy"]
    version: str
    timestamp: datetime
    components: HealthComponents
