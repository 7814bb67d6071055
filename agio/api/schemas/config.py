"""Configuration component resources."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, create_model

from agio.api.schemas.common import JSON_INT
from agio.config.components import (
    AgentComponent,
    KnowledgeComponent,
    MemoryComponent,
    ModelComponent,
    ToolComponent,
)
from agio.domain.components import StoredComponent


class ConfigSummary(BaseModel):
    id: str
    name: str
    type: str
    description: str
    enabled: bool
    tags: list[str]
    revision: int
    source: str = Field(description="`api`, or `file:<path>` for a component from the configs dir.")
    updated_at: datetime

    @classmethod
    def from_stored(cls, stored: StoredComponent) -> ConfigSummary:
        return cls(
            id=stored.id,
            name=stored.name,
            type=stored.type,
            description=stored.description,
            enabled=stored.enabled,
            tags=stored.tags,
            revision=stored.revision,
            source=stored.source,
            updated_at=stored.updated_at,
        )


class ConfigList(BaseModel):
    total: int
    configs: list[ConfigSummary]
    limit: int
    offset: int
    has_more: bool


class ConfigPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any] = Field(
        description=(
            "The whole component: `type` plus that type's fields. `name` may be left out "
            "(the path gives it). Secrets sent as `********` keep their stored value."
        ),
        examples=[{"type": "model", "provider": "demo", "model": "demo"}],
    )
    validate_only: StrictBool = Field(default=False, description="Check without saving anything.")


class ConfigPutResult(BaseModel):
    success: bool
    message: str
    created: bool = Field(description="Whether the name was new.")
    validate_only: bool
    revision: int | None = Field(description="The component's revision after the change.")


class HistoryEntry(BaseModel):
    change_type: Literal["created", "updated", "deleted", "rolled_back"]
    timestamp: datetime
    old_config: dict[str, Any] | None
    new_config: dict[str, Any] | None
    actor: str
    revision: int = Field(
        description="The component's revision after this change; it names the entry in "
        "`diff` and `rollback`."
    )
    rolled_back_from: int | None = Field(
        default=None,
        description="For a `rolled_back` entry: the revision whose configuration it made "
        "current again.",
    )


class ConfigHistory(BaseModel):
    component_name: str
    history: list[HistoryEntry]


class ConfigChange(BaseModel):
    """One field that differs between two revisions."""

    model_config = ConfigDict(populate_by_name=True)

    path: list[str] = Field(
        description="The keys from the top of the configuration down to the field, "
        'e.g. `["config", "temperature"]`.',
        examples=[["config", "temperature"]],
    )
    from_: Any = Field(
        alias="from", description="The value at the first revision; null where it is absent."
    )
    to: Any = Field(description="The value at the second revision; null where it is absent.")


class ConfigDiff(BaseModel):
    component_name: str
    from_revision: int
    to_revision: int
    changes: list[ConfigChange] = Field(
        description="Depth first, keys in alphabetical order; nested objects are walked, "
        "lists compared whole. Secrets are masked on both sides."
    )


class ConfigRollback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revision: Annotated[int, Field(ge=1, le=2_147_483_647), JSON_INT] = Field(
        description="The revision (from the history) whose configuration becomes current."
    )


class ConfigRollbackResult(BaseModel):
    success: bool
    message: str
    revision: int = Field(description="The component's new revision: the rollback's.")
    rolled_back_from: int


class _Meta(BaseModel):
    id: str
    revision: int
    source: str
    created_at: datetime
    updated_at: datetime


def _detail(base: type[BaseModel]) -> type[BaseModel]:
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in _Meta.model_fields.items()
    }
    return create_model(base.__name__.replace("Component", "Detail"), __base__=base, **fields)


ModelDetail = _detail(ModelComponent)
AgentDetail = _detail(AgentComponent)
ToolDetail = _detail(ToolComponent)
MemoryDetail = _detail(MemoryComponent)
KnowledgeDetail = _detail(KnowledgeComponent)

_DETAILS: dict[str, type[BaseModel]] = {
    "model": ModelDetail,
    "agent": AgentDetail,
    "tool": ToolDetail,
    "memory": MemoryDetail,
    "knowledge": KnowledgeDetail,
}

ComponentDetail = Annotated[
    ModelDetail | AgentDetail | ToolDetail | MemoryDetail | KnowledgeDetail,  # type: ignore[valid-type]
    Field(discriminator="type"),
]


def component_detail(stored: StoredComponent) -> BaseModel:
    """The full component plus its metadata; secret fields serialise masked."""
    return _DETAILS[stored.type].model_validate(
        {
            **stored.config,
            "id": stored.id,
            "revision": stored.revision,
            "source": stored.source,
            "created_at": stored.created_at,
            "updated_at": stored.updated_at,
        }
    )
