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


class AuthStatus(BaseModel):
    status: Literal["enabled", "disabled"] = Field(
        description="`disabled`: AGIO_AUTH_DISABLED is set (development, loopback only)."
    )
    detail: str | None = None


class Health(BaseModel):
    """Anybody may read it (load balancers do). Probe details (`detail`, `problems`) are
    shown only to an authenticated caller."""

    status: Literal["ok", "degraded", "unhealthy"]
    version: str
    timestamp: datetime
    components: HealthComponents
    auth: AuthStatus
