"""Component schemas: `model`, `agent`, `tool`, `memory`, `knowledge` and `workflow`
(agio/config/workflows.py).

A component is a validated Pydantic model; `Component` is the discriminated union on
`type`. Secret fields use `SecretValue`: they print and serialise as `MASK` unless a
serialisation explicitly asks for them with `context={"reveal_secrets": True}` (only
the storage layer does, to persist the real value).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, field_validator, model_validator

from agio.config.component_base import (
    MASK,
    SLUG_PATTERN,
    ComponentBase,
    SecretValue,
    Slug,
    Strict,
    is_slug,
)
from agio.config.workflows import WorkflowComponent

_Strict = Strict

__all__ = [
    "MASK",
    "SLUG_PATTERN",
    "ComponentBase",
    "SecretValue",
    "Slug",
    "WorkflowComponent",
    "is_slug",
]


# --------------------------------------------------------------------------- model


class ScriptedToolCall(_Strict):
    name: str = Field(min_length=1, max_length=128)
    arguments: dict[str, Any] = Field(default_factory=dict)
    id: str | None = Field(
        default=None,
        max_length=128,
        description="The call's id as the model gives it (default `call_<turn>_<index>`); "
        "a fixed one plays a provider that numbers its calls afresh in every answer.",
    )


class ScriptedResponse(_Strict):
    """One model call of a `scripted` model: content streams first, then the tool calls."""

    content: str | None = None
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)


class ModelComponent(ComponentBase):
    """A language model. `provider` picks the implementation:

    `openai` (any OpenAI-compatible Chat Completions endpoint), `anthropic` (Anthropic's
    Messages API, native), `demo` (offline, deterministic) or `scripted` (answers from
    `responses`, for tests and demos).
    """

    type: Literal["model"] = "model"
    provider: Literal["openai", "anthropic", "demo", "scripted"]
    model: str = Field(min_length=1, max_length=256, description="The provider's model name.")
    base_url: str | None = Field(
        default=None,
        max_length=2048,
        description="The endpoint: OpenAI-compatible (e.g. Ollama's) for `openai`; "
        "for `anthropic`, the host before `/v1/messages` (default https://api.anthropic.com).",
    )
    api_key: SecretValue | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    timeout: float = Field(default=60.0, gt=0, le=3600, description="Seconds per model call.")
    max_retries: int = Field(default=2, ge=0, le=10)
    responses: list[ScriptedResponse] | None = Field(
        default=None, description="`scripted` only: one entry per model call."
    )
    chunk_size: int = Field(default=8, ge=1, le=100_000, description="`scripted` only.")
    chunk_delay: float = Field(default=0.0, ge=0, le=60, description="`scripted` only.")

    @field_validator("base_url", "api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `${OPENAI_BASE_URL:-}` with the variable unset means "not configured"
        return None if value == "" else value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _provider_fields(self) -> ModelComponent:
        if self.provider == "scripted":
            if not self.responses:
                raise ValueError("a scripted model needs at least one entry in `responses`")
        elif self.responses is not None:
            raise ValueError(f"`responses` is only for provider 'scripted', not '{self.provider}'")
        return self


# --------------------------------------------------------------------------- tool

BuiltinToolName = Literal[
    "calculator",
    "current_time",
    "http_request",
    "web_fetch",
    "read_file",
    "write_file",
    "edit_file",
    "list_files",
    "glob",
    "grep",
]


McpToolName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")]

#: fields that belong to one kind of tool only (besides `builtin`, `import_path`, `url`)
_MCP_FIELDS = ("transport", "command", "args", "env", "cwd", "include", "exclude", "tool_prefix")


class ToolComponent(ComponentBase):
    """A tool an agent may call. `kind` picks the implementation:

    `builtin` (one of Agio's own tools), `python` (a callable at `import_path`,
    `module:attribute`), `http` (the arguments are POSTed as JSON to `url`) or `mcp` (the
    tools of an MCP server, started with `command` over stdio or reached at `url` over
    streamable HTTP: every tool it lists, or those `include` names, less `exclude`).
    """

    type: Literal["tool"] = "tool"
    kind: Literal["builtin", "python", "http", "mcp"]
    builtin: BuiltinToolName | None = Field(default=None, description="`builtin` only.")
    import_path: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="`python` only: `package.module:function`.",
    )
    url: str | None = Field(
        default=None, max_length=2048, description="`http`, and `mcp` over `transport: http`."
    )
    headers: dict[str, SecretValue] = Field(
        default_factory=dict,
        description="`http`, and `mcp` over `transport: http`; values are secrets.",
    )
    parameters: dict[str, Any] | None = Field(
        default=None,
        description="JSON schema of the arguments (`http`; optional otherwise; not `mcp`, "
        "whose schemas come from the server).",
    )
    timeout: float = Field(default=30.0, gt=0, le=3600, description="Seconds per call.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Tool-specific settings (e.g. `http_request` limits)."
    )
    requires_approval: bool = Field(
        default=False,
        description="Every call of this tool (of each tool of an `mcp` server) waits for a "
        "person's approval (SPEC §11).",
    )
    # --- kind: mcp (SPEC §19)
    transport: Literal["stdio", "http"] | None = Field(
        default=None, description="`mcp` only: `stdio` (`command`) or `http` (`url`)."
    )
    command: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="`mcp` over stdio: the program that runs the server.",
    )
    args: list[Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=list, max_length=256, description="`mcp` over stdio: its arguments."
    )
    env: dict[str, SecretValue] = Field(
        default_factory=dict,
        description="`mcp` over stdio: environment variables for the server, besides a few "
        "basic ones (PATH, HOME, …); values are secrets.",
    )
    cwd: str | None = Field(
        default=None, max_length=4096, description="`mcp` over stdio: its working directory."
    )
    include: list[McpToolName] | None = Field(
        default=None,
        max_length=1024,
        description="`mcp` only: only these of the server's tools (by the server's names).",
    )
    exclude: list[McpToolName] = Field(
        default_factory=list,
        max_length=1024,
        description="`mcp` only: none of these of the server's tools.",
    )
    tool_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9_-]{0,32}$",
        description="`mcp` only: put before each tool's name as the model sees it (to keep "
        "the tools of two servers apart).",
    )

    @model_validator(mode="after")
    def _kind_fields(self) -> ToolComponent:
        if self.kind == "mcp":
            return self._mcp_fields()
        required = {"builtin": "builtin", "python": "import_path", "http": "url"}[self.kind]
        if getattr(self, required) is None:
            raise ValueError(f"a '{self.kind}' tool needs `{required}`")
        for kind, field in (("builtin", "builtin"), ("python", "import_path"), ("http", "url")):
            if kind != self.kind and getattr(self, field) is not None:
                raise ValueError(f"`{field}` is only for kind '{kind}', not '{self.kind}'")
        if self.kind != "http" and self.headers:
            raise ValueError("`headers` is only for kind 'http' (and 'mcp' over http)")
        for field in _MCP_FIELDS:
            if getattr(self, field) not in (None, "", [], {}):
                raise ValueError(f"`{field}` is only for kind 'mcp', not '{self.kind}'")
        self._check_url()
        return self

    def _mcp_fields(self) -> ToolComponent:
        if self.builtin is not None or self.import_path is not None:
            raise ValueError("an 'mcp' tool takes neither `builtin` nor `import_path`")
        if self.parameters is not None:
            raise ValueError("an 'mcp' tool takes no `parameters`: the server lists them")
        if self.transport is None:
            raise ValueError("an 'mcp' tool needs `transport`: 'stdio' or 'http'")
        if self.transport == "stdio":
            if self.command is None:
                raise ValueError("an 'mcp' tool over stdio needs `command`")
            if self.url is not None or self.headers:
                raise ValueError("`url` and `headers` are for an 'mcp' tool over http")
        else:
            if self.url is None:
                raise ValueError("an 'mcp' tool over http needs `url`")
            if self.command is not None or self.args or self.env or self.cwd is not None:
                raise ValueError(
                    "`command`, `args`, `env` and `cwd` are for an 'mcp' tool over stdio"
                )
        self._check_url()
        return self

    def _check_url(self) -> None:
        if self.url is not None and not re.match(r"^https?://[^\s/]+", self.url):
            raise ValueError("`url` must be an http:// or https:// URL")


#: the fields of a tool that map names to secrets
TOOL_SECRET_MAPS = ("headers", "env")


# --------------------------------------------------------------------------- memory


class MemoryComponent(ComponentBase):
    """Conversation memory for a session: which earlier messages go to the model.

    - `buffer`: the last `max_messages` messages;
    - `token_window`: the most recent messages that fit in `max_tokens` (estimated), never
      separating a tool call from its results;
    - `summary`: the last `max_messages` messages as they are, and everything older as a
      summary written by `summary_model` (default: the agent's own model), kept with the
      session and extended as the conversation grows.
    """

    type: Literal["memory"] = "memory"
    strategy: Literal["buffer", "token_window", "summary"] = "buffer"
    max_messages: int = Field(default=20, ge=0, le=10_000)
    max_tokens: int = Field(
        default=2000, ge=1, le=1_000_000, description="token_window: the budget of history."
    )
    summary_model: str | None = Field(
        default=None, pattern=SLUG_PATTERN, description="summary: a model component's name."
    )
    backend: Literal["database", "redis"] = Field(
        default="database",
        description="Where the history is read from: the database, or Redis (a copy kept "
        "in Redis when AGIO_REDIS_URL is set; the database keeps the durable one).",
    )
    ttl_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        le=365 * 24 * 3600,
        description="redis: how long an idle session's history stays in Redis.",
    )


# --------------------------------------------------------------------------- knowledge


class KnowledgeComponent(ComponentBase):
    """A named collection of documents that an agent can search."""

    type: Literal["knowledge"] = "knowledge"
    paths: list[str] = Field(
        default_factory=list, description="Files or folders, relative to the configs dir."
    )
    chunk_size: int = Field(default=800, ge=100, le=20_000)
    chunk_overlap: int = Field(default=100, ge=0, le=5_000)
    top_k: int = Field(default=4, ge=1, le=50)
    embedding: str | None = Field(
        default=None,
        pattern=SLUG_PATTERN,
        description="A model component (`provider: openai`, an OpenAI-compatible "
        "`/v1/embeddings`) that embeds the chunks: search is then hybrid by default.",
    )
    embedding_batch_size: int = Field(
        default=64, ge=1, le=2048, description="Chunks sent in one embeddings request."
    )
    search_mode: Literal["fulltext", "vector", "hybrid"] | None = Field(
        default=None,
        description="The default of `mode` on search and of the `search_knowledge` tool; "
        "unset: `hybrid` with an `embedding`, else `fulltext`.",
    )

    @model_validator(mode="after")
    def _overlap(self) -> KnowledgeComponent:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("`chunk_overlap` must be smaller than `chunk_size`")
        if self.search_mode in ("vector", "hybrid") and self.embedding is None:
            raise ValueError(f"`search_mode: {self.search_mode}` needs an `embedding` model")
        return self

    @property
    def default_mode(self) -> Literal["fulltext", "vector", "hybrid"]:
        if self.search_mode is not None:
            return self.search_mode
        return "hybrid" if self.embedding else "fulltext"


# --------------------------------------------------------------------------- agent


class ApprovalConfig(_Strict):
    """`config.approval` of an agent: the tools whose calls wait for a person's decision
    before they run, by name, or "all" of them (besides any tool that itself sets
    `requires_approval`)."""

    tools: list[Slug] | Literal["all"] = Field(default_factory=list, max_length=64)

    def covers(self, tool: str) -> bool:
        return self.tools == "all" or tool in self.tools


class AgentRunConfig(_Strict):
    """Run settings of an agent."""

    max_steps: int = Field(default=10, ge=1, le=100, description="Model calls per run at most.")
    temperature: float | None = Field(
        default=None, ge=0, le=2, description="Overrides the model's temperature."
    )
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    tool_timeout: float | None = Field(
        default=None, gt=0, le=3600, description="Overrides each tool's own timeout."
    )
    max_parallel_tool_calls: int = Field(default=4, ge=1, le=64)
    approval: ApprovalConfig | None = Field(
        default=None, description="Tool calls of this agent that wait for a person's approval."
    )


class AgentSpec(_Strict):
    """What defines an agent; the body of `POST`/`PUT /api/agents`."""

    name: Slug
    description: str = Field(default="", max_length=2000)
    model: Slug = Field(description="Name of a model component.")
    tools: list[Slug] = Field(default_factory=list, max_length=64)
    memory: Slug | None = None
    knowledge: Slug | None = None
    agents: list[Slug] = Field(
        default_factory=list,
        max_length=32,
        description="Other agents this agent may ask (SPEC §20): each is a tool "
        "`ask_<name>` (input `message`) whose call runs that agent as a child run.",
    )
    system_prompt: str = Field(default="", max_length=100_000)
    config: AgentRunConfig = Field(default_factory=AgentRunConfig)
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=32
    )
    enabled: bool = True

    @field_validator("tools", "tags", "agents")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))

    @model_validator(mode="after")
    def _not_itself(self) -> AgentSpec:
        if self.name in self.agents:
            raise ValueError(f"an agent cannot ask itself: '{self.name}' is in its agents")
        return self

    @model_validator(mode="after")
    def _approval_tools(self) -> AgentSpec:
        approval = self.config.approval
        if approval is not None and approval.tools != "all":
            unknown = [t for t in approval.tools if t not in self.tools]
            if unknown:
                raise ValueError(
                    f"config.approval.tools names tools the agent does not have: "
                    f"{', '.join(unknown)} (its tools: {', '.join(self.tools) or 'none'})"
                )
        return self


class AgentComponent(AgentSpec):
    type: Literal["agent"] = "agent"

    def references(self) -> list[tuple[str, str]]:
        """(component type, name) for every component this agent names."""
        refs = [("model", self.model)] + [("tool", t) for t in self.tools]
        if self.memory:
            refs.append(("memory", self.memory))
        if self.knowledge:
            refs.append(("knowledge", self.knowledge))
        refs += [("agent", a) for a in self.agents]
        return refs

    def reference_fields(self) -> list[tuple[str, str, str]]:
        """(field, component type, name) of every component the agent names."""
        out = [("model", "model", self.model)]
        out += [(f"tools.{i}", "tool", t) for i, t in enumerate(self.tools)]
        if self.memory:
            out.append(("memory", "memory", self.memory))
        if self.knowledge:
            out.append(("knowledge", "knowledge", self.knowledge))
        out += [(f"agents.{i}", "agent", a) for i, a in enumerate(self.agents)]
        return out


Component = Annotated[
    ModelComponent
    | AgentComponent
    | ToolComponent
    | MemoryComponent
    | KnowledgeComponent
    | WorkflowComponent,
    Field(discriminator="type"),
]
ComponentType = Literal["model", "agent", "tool", "memory", "knowledge", "workflow"]
COMPONENT_TYPES: tuple[str, ...] = ("model", "agent", "tool", "memory", "knowledge", "workflow")

component_adapter: TypeAdapter[Component] = TypeAdapter(Component)


def parse_component(data: Any) -> Component:
    """Validate a mapping as a component (raises pydantic.ValidationError)."""
    return component_adapter.validate_python(data)


def dump_component(component: BaseModel, *, reveal_secrets: bool = False) -> dict[str, Any]:
    """JSON-ready dict of a component; secrets masked unless `reveal_secrets`."""
    return component.model_dump(mode="json", context={"reveal_secrets": reveal_secrets})


def references(component: BaseModel) -> list[tuple[str, str]]:
    if isinstance(component, AgentComponent | WorkflowComponent):
        return component.references()
    if isinstance(component, MemoryComponent) and component.summary_model:
        return [("model", component.summary_model)]
    if isinstance(component, KnowledgeComponent) and component.embedding:
        return [("model", component.embedding)]
    return []


def secret_paths(component: BaseModel) -> list[tuple[str, ...]]:
    """Paths of the secret values that are set on a component (for keep-on-mask)."""
    paths: list[tuple[str, ...]] = []
    if isinstance(component, ModelComponent) and component.api_key is not None:
        paths.append(("api_key",))
    if isinstance(component, ToolComponent):
        for field in TOOL_SECRET_MAPS:
            paths.extend((field, key) for key in getattr(component, field))
    return paths
