"""Agent resources."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
)

from agio.api.schemas.common import JSON_INT, JSON_NUMBER
from agio.config.components import AgentRunConfig, AgentSpec, ApprovalConfig, Slug
from agio.domain.components import StoredComponent


class AgentRunConfigIn(AgentRunConfig):
    """`config` in a request: JSON numbers only (`true` is not 1; a YAML file's `${VAR}`
    substitutes text, so the component itself stays lax)."""

    max_steps: Annotated[int, Field(ge=1, le=100), JSON_INT] = Field(
        default=10, description="Model calls per run at most."
    )
    temperature: Annotated[float, Field(ge=0, le=2), JSON_NUMBER] | None = Field(
        default=None, description="Overrides the model's temperature."
    )
    max_tokens: Annotated[int, Field(ge=1, le=1_000_000), JSON_INT] | None = None
    tool_timeout: Annotated[float, Field(gt=0, le=3600), JSON_NUMBER] | None = Field(
        default=None, description="Overrides each tool's own timeout."
    )
    max_parallel_tool_calls: Annotated[int, Field(ge=1, le=64), JSON_INT] = 4


class AgentCreate(AgentSpec):
    """What defines an agent; the body of `POST`/`PUT /api/agents`."""

    enabled: StrictBool = True  # JSON `true`/`false` only (`0` is not false)
    config: AgentRunConfigIn = Field(default_factory=AgentRunConfigIn)


MERGE_PATCH = "application/merge-patch+json"


def _no_default(schema: dict[str, Any]) -> None:
    """Absent is not `null` for a field that cannot be removed: document no default."""
    schema.pop("default", None)


class AgentRunConfigPatch(BaseModel):
    """`config` in a merge patch: only the settings given change; `null` resets one."""

    model_config = ConfigDict(extra="forbid")

    max_steps: Annotated[int, Field(ge=1, le=100), JSON_INT] | None = None
    temperature: Annotated[float, Field(ge=0, le=2), JSON_NUMBER] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=1_000_000), JSON_INT] | None = None
    tool_timeout: Annotated[float, Field(gt=0, le=3600), JSON_NUMBER] | None = None
    max_parallel_tool_calls: Annotated[int, Field(ge=1, le=64), JSON_INT] | None = None
    approval: ApprovalConfig | None = None


class AgentPatch(BaseModel):
    """The body of `PATCH /api/agents/{agent_id}`: a JSON merge patch (RFC 7386) of the
    agent. Only the fields given change; `null` resets a field to its default; `config`
    is merged setting by setting; lists are replaced whole. `name` and `model` cannot be
    removed. The patched agent is then validated exactly like a `PUT` body.
    """

    # This model documents the body and refuses what no agent could have early; the
    # authoritative check is `AgentSpec` on the merged result, so the two must list the
    # same fields (a test asserts it).
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"model": "openai"}, {"tools": [], "config": {"temperature": 0.2}}]
        },
    )

    name: Slug = Field(  # type: ignore[assignment]
        default=None, description="Must stay the agent's name.", json_schema_extra=_no_default
    )
    description: str | None = Field(default=None, max_length=2000)
    model: Slug = Field(  # type: ignore[assignment]
        default=None, description="Name of a model component.", json_schema_extra=_no_default
    )
    tools: list[Slug] | None = Field(default=None, max_length=64)
    memory: Slug | None = None
    knowledge: Slug | None = None
    agents: list[Slug] | None = Field(default=None, max_length=32)
    system_prompt: str | None = Field(default=None, max_length=100_000)
    config: AgentRunConfigPatch | None = None
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=32
    )
    enabled: StrictBool | None = None

    @field_validator("name", "model", mode="before")
    @classmethod
    def _required(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("is required and cannot be removed")
        return value


class AgentSummary(BaseModel):
    id: str = Field(examples=["agt_01jd0000000000000000000000"])
    name: str
    description: str
    model: str
    tools: list[str]
    tags: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_stored(cls, stored: StoredComponent) -> AgentSummary:
        c = stored.config
        return cls(
            id=stored.id,
            name=stored.name,
            description=stored.description,
            model=c["model"],
            tools=c.get("tools", []),
            tags=stored.tags,
            enabled=stored.enabled,
            created_at=stored.created_at,
            updated_at=stored.updated_at,
        )


class Agent(AgentSummary):
    memory: str | None
    knowledge: str | None
    agents: list[str] = Field(
        default_factory=list,
        description="Agents this agent may ask, each as a tool `ask_<name>` (SPEC §20).",
    )
    system_prompt: str
    config: AgentRunConfig
    revision: int = Field(description="Increases by one with every change.")

    @classmethod
    def from_stored(cls, stored: StoredComponent) -> Agent:
        c = stored.config
        summary = AgentSummary.from_stored(stored).model_dump()
        return cls(
            **summary,
            memory=c.get("memory"),
            knowledge=c.get("knowledge"),
            agents=c.get("agents", []),
            system_prompt=c.get("system_prompt", ""),
            config=AgentRunConfig.model_validate(c.get("config") or {}),
            revision=stored.revision,
        )
