"""Agent resources."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from agio.config.components import AgentRunConfig, AgentSpec
from agio.storage.components import StoredComponent

AgentCreate = AgentSpec


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
            system_prompt=c.get("system_prompt", ""),
            config=AgentRunConfig.model_validate(c.get("config") or {}),
            revision=stored.revision,
        )
