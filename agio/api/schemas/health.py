"""Health report: a summary (status and states) for anybody, the full report for a caller
allowed to read the system (`read:system`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ProbeStatus = Literal["ok", "degraded", "unhealthy", "disabled", "not_configured"]
OverallStatus = Literal["ok", "degraded", "unhealthy"]
STATUS_RULE = (
    "`unhealthy` (HTTP 503) when the database is; else `degraded` when any component is "
    "`degraded` or `unhealthy`; else `ok`."
)


class ComponentState(BaseModel):
    status: ProbeStatus


class ProbeResult(ComponentState):
    latency_ms: float | None = None
    detail: str | None = Field(
        default=None, description="What the probe found; always set when the state is bad."
    )


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


class ComponentStates(BaseModel):
    database: ComponentState
    cache: ComponentState
    llm: ComponentState
    configs: ComponentState


class HealthComponents(BaseModel):
    database: ProbeResult
    cache: ProbeResult
    llm: LlmProbe
    configs: ConfigsProbe


class AuthState(BaseModel):
    status: Literal["enabled", "disabled"] = Field(
        description="`disabled`: AGIO_AUTH_DISABLED is set (development, loopback only)."
    )


class AuthStatus(AuthState):
    detail: str | None = None


class HealthSummary(BaseModel):
    """What a caller without credentials (a load balancer) is shown: the overall status and
    each component's state, nothing that names or describes what was probed."""

    status: OverallStatus = Field(description=STATUS_RULE)
    timestamp: datetime
    components: ComponentStates
    auth: AuthState


class Health(BaseModel):
    """The full report, for a caller allowed to read the system (`read:system`: every
    role)."""

    status: OverallStatus = Field(description=STATUS_RULE)
    reasons: list[str] = Field(
        description="Why the status is not `ok`: `component: detail` for each component in "
        "a bad state (empty when `ok`)."
    )
    version: str
    timestamp: datetime
    components: HealthComponents
    auth: AuthStatus
