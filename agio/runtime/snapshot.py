"""The configuration a run starts with, frozen into the run (secrets masked), and the live
model and tools built from it. `SnapshotCache` keeps the validated snapshots of agents by
the revisions they were built from, so that a run of an unchanged agent validates nothing."""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace

from agio.config.components import (
    MASK,
    TOOL_SECRET_MAPS,
    AgentComponent,
    KnowledgeComponent,
    MemoryComponent,
    ModelComponent,
    ToolComponent,
    WorkflowComponent,
    dump_component,
)
from agio.config.masked import restore_masked
from agio.domain.errors import Conflict
from agio.models.base import Model
from agio.models.registry import build_model
from agio.observability.instrumented import InstrumentedModel, tracing_on
from agio.runtime.ask_tool import AskTool, ask_tool_name
from agio.storage.component_cache import freeze, thaw
from agio.storage.components import ComponentRepository, StoredComponent
from agio.tools.base import Tool
from agio.tools.environment import ToolEnvironment
from agio.tools.mcp_links import McpLinks
from agio.tools.registry import build_tool


@dataclass
class AgentSnapshot:
    """Every component a run uses, as it was when the run started. The components are
    read, never changed in place (a fork sets new ones, `model_copy`'d): a snapshot from
    `SnapshotCache` shares them with the other runs of the same revisions."""

    agent_id: str
    agent: AgentComponent
    model: ModelComponent
    tools: list[ToolComponent]
    memory: MemoryComponent | None
    knowledge: KnowledgeComponent | None
    #: a workflow's run (SPEC §20): the workflow; `agent` is then made of it
    #: (`workflow_agent`) and `model` is a placeholder never called
    workflow: WorkflowComponent | None = None
    #: `to_json()` frozen (`SnapshotCache`'s snapshots), forgotten when a field is set
    frozen_json: bytes | None = field(default=None, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "frozen_json" and self.__dict__.get("frozen_json") is not None:
            object.__setattr__(self, "frozen_json", None)
        object.__setattr__(self, name, value)

    def to_json(self) -> dict[str, Any]:
        """What the run stores: secrets masked (they are looked up again to run). A new
        dict at every call."""
        if self.frozen_json is not None:
            data: dict[str, Any] = thaw(self.frozen_json)
            return data
        return self.dump()

    def dump(self) -> dict[str, Any]:
        """`to_json()`, made from the components."""
        data = {
            "agent_id": self.agent_id,
            "agent": dump_component(self.agent),
            "model": dump_component(self.model),
            "tools": [dump_component(t) for t in self.tools],
            "memory": dump_component(self.memory) if self.memory else None,
            "knowledge": dump_component(self.knowledge) if self.knowledge else None,
        }
        if self.workflow is not None:
            data["workflow"] = dump_component(self.workflow)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentSnapshot:
        return cls(
            agent_id=data["agent_id"],
            agent=AgentComponent.model_validate(data["agent"]),
            model=ModelComponent.model_validate(data["model"]),
            tools=[ToolComponent.model_validate(t) for t in data["tools"]],
            memory=MemoryComponent.model_validate(data["memory"]) if data["memory"] else None,
            knowledge=KnowledgeComponent.model_validate(data["knowledge"])
            if data["knowledge"]
            else None,
            workflow=WorkflowComponent.model_validate(data["workflow"])
            if data.get("workflow")
            else None,
        )


#: the model a workflow's run holds in its snapshot: never called (its steps are planned
#: by `agio.runtime.workflow`), there because every run has one
WORKFLOW_MODEL = ModelComponent.model_validate(
    {"name": "workflow", "provider": "demo", "model": "workflow"}
)


def workflow_agent(workflow: WorkflowComponent) -> AgentComponent:
    """The agent a workflow's run is executed as: its agents (as `ask_<agent>` tools),
    as many calls at a time as its widest parallel step."""
    widest = max(len(s.agent_names()) for s in workflow.steps)
    return AgentComponent.model_validate(
        {
            "name": workflow.name,
            "description": workflow.description,
            "model": WORKFLOW_MODEL.name,
            "agents": workflow.agent_names(),
            "config": {"max_steps": 100, "max_parallel_tool_calls": max(1, min(64, widest))},
        }
    )


def _require(stored: StoredComponent | None, kind: str, name: str) -> StoredComponent:
    if stored is None or stored.type != kind:
        raise Conflict(f"The agent's {kind} component '{name}' no longer exists")
    if not stored.enabled:
        raise Conflict(f"The agent's {kind} component '{name}' is disabled")
    return stored


#: (name, id, revision) of each component a snapshot was built from, the agent's first
Sources = tuple[tuple[str, str, int], ...]


async def _resolve(
    repo: ComponentRepository, agent: StoredComponent
) -> tuple[AgentSnapshot, Sources]:
    """Resolve an agent's components now (from memory where the repository has them); a
    disabled agent or component is a 409."""
    if not agent.enabled:
        raise Conflict(f"Agent '{agent.name}' is disabled")
    if agent.type == "workflow":
        workflow = WorkflowComponent.model_validate(agent.config)
        return AgentSnapshot(
            agent_id=agent.id,
            agent=workflow_agent(workflow),
            model=WORKFLOW_MODEL,
            tools=[],
            memory=None,
            knowledge=None,
            workflow=workflow,
        ), ((agent.name, agent.id, agent.revision),)
    spec = AgentComponent.model_validate(agent.config)
    found = await repo.get_many([name for _, name in spec.references()], cached=True)
    model = _require(found.get(spec.model), "model", spec.model)
    tools = [_require(found.get(t), "tool", t) for t in spec.tools]
    memory = _require(found.get(spec.memory), "memory", spec.memory) if spec.memory else None
    knowledge = (
        _require(found.get(spec.knowledge), "knowledge", spec.knowledge) if spec.knowledge else None
    )
    snapshot = AgentSnapshot(
        agent_id=agent.id,
        agent=spec,
        model=ModelComponent.model_validate(model.config),
        tools=[ToolComponent.model_validate(t.config) for t in tools],
        memory=MemoryComponent.model_validate(memory.config) if memory else None,
        knowledge=KnowledgeComponent.model_validate(knowledge.config) if knowledge else None,
    )
    used = [model, *tools, *(c for c in (memory, knowledge) if c is not None)]
    sources = tuple((c.name, c.id, c.revision) for c in [agent, *used])
    return snapshot, sources


class SnapshotCache:
    """Validated snapshots by the (id, revision) of the agent and of every component it
    names: a run of an agent none of whose components changed takes the snapshot of the
    runs before it (its own copy of the dataclass, the components shared, its JSON made
    once), and reads only the components' revisions, which the repository answers from
    memory while it has them. Any change to one of them is a new revision: the next run
    builds and validates a new snapshot (and a disabled or deleted one is the 409 it was)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, int], tuple[Sources, AgentSnapshot]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def take(self, repo: ComponentRepository, agent: StoredComponent) -> AgentSnapshot:
        """The snapshot of `agent` and its components as they are now: from the cache while
        its sources are current; a disabled agent or component is a 409."""
        if not agent.enabled:
            raise Conflict(f"Agent '{agent.name}' is disabled")
        key = (agent.id, agent.revision)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            sources, snapshot = entry
            current = await repo.revisions([name for name, _, _ in sources[1:]])
            if all(current.get(name) == (id_, rev) for name, id_, rev in sources[1:]):
                return dataclasses.replace(snapshot, tools=list(snapshot.tools))
            if self._entries.get(key) is entry:
                del self._entries[key]
        snapshot, sources = await _resolve(repo, agent)
        snapshot.frozen_json = freeze(snapshot.dump())
        self._entries[key] = (sources, snapshot)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return dataclasses.replace(snapshot, tools=list(snapshot.tools))


def _masked(component: Any) -> bool:
    """Whether a secret of `component` is the mask (a snapshot read back from a run)."""
    if isinstance(component, ModelComponent):
        return component.api_key is not None and component.api_key.get_secret_value() == MASK
    if isinstance(component, ToolComponent):
        return any(
            value.get_secret_value() == MASK
            for field in TOOL_SECRET_MAPS
            for value in getattr(component, field).values()
        )
    return False


async def with_secrets(repo: ComponentRepository, component: Any, kind: str) -> Any:
    """Put the current secret values back where the snapshot holds the mask (the stored
    component from memory, when the repository has it)."""
    if not _masked(component):
        return component
    data = dump_component(component, reveal_secrets=True)
    stored = await repo.get(component.name, kind, cached=True)
    if stored is None:
        raise RuntimeError(f"{kind} component '{component.name}' was deleted; its secret is gone")
    for path in restore_masked(data, stored.config):  # removed since: none, not the mask
        field, _, key = path.partition(".")
        if key:
            data[field][key] = None
        else:
            data[field] = None
    return type(component).model_validate(data)


@dataclass
class LiveAgent:
    model: Model
    tools: dict[str, Tool]


class ModelCache:
    """Live models shared by runs with the same model configuration, so that HTTP
    connections to a provider are pooled instead of opened per run; built-in tools,
    shared the same way (they keep no state of their own, and building one generates its
    JSON schema, which cost more CPU than the rest of setting a run up); and the MCP
    servers of `mcp` tools (`mcp`: a connection and a tool listing per configuration)."""

    def __init__(self, size: int = 64, *, mcp: McpLinks | None = None) -> None:
        self._size = size
        self.mcp = mcp or McpLinks()
        self._models: OrderedDict[str, Model] = OrderedDict()
        self._tools: OrderedDict[tuple[str, ToolEnvironment], Tool] = OrderedDict()

    def tool(self, component: ToolComponent, environment: ToolEnvironment) -> Tool:
        """The tool `component` describes: a built-in one from the cache, any other kind
        built anew (a python tool is looked up in its module each time)."""
        if component.kind != "builtin":
            return build_tool(component, environment)
        config = json.dumps(dump_component(component, reveal_secrets=True), sort_keys=True)
        key = (config, environment)
        tool = self._tools.get(key)
        if tool is None:
            tool = build_tool(component, environment)
            self._tools[key] = tool
            while len(self._tools) > self._size:
                self._tools.popitem(last=False)
        else:
            self._tools.move_to_end(key)
        return tool

    async def get(self, component: ModelComponent) -> Model:
        key = json.dumps(dump_component(component, reveal_secrets=True), sort_keys=True)
        model = self._models.get(key)
        if model is None:
            model = build_model(component)
            self._models[key] = model
            while len(self._models) > self._size:
                _, old = self._models.popitem(last=False)
                await _close(old)
        else:
            self._models.move_to_end(key)
        return model

    async def close(self) -> None:
        models = list(self._models.values())
        self._models.clear()
        self._tools.clear()
        for model in models:
            await _close(model)
        await self.mcp.close()


async def _close(model: Model) -> None:
    closer = getattr(model, "aclose", None)
    if closer is not None:
        await closer()


async def go_live(
    repo: ComponentRepository,
    snapshot: AgentSnapshot,
    models: ModelCache,
    *,
    tools: ToolEnvironment,
    knowledge_tool: Callable[[KnowledgeComponent], Tool] | None = None,
    tracer: trace.Tracer | None = None,
) -> LiveAgent:
    """The model and tools of a run; an agent that names a knowledge component also gets
    its `search_knowledge` tool (from `knowledge_tool`), and one that names an `mcp`
    component every tool its server lists (none while it cannot be reached). With a
    `tracer` that records (not the no-op one of tracing off), the model comes wrapped in
    spans (the tool calls are traced by `AgentRun`)."""
    model = await models.get(await with_secrets(repo, snapshot.model, "model"))
    live_tools: dict[str, Tool] = {}
    for component in snapshot.tools:
        live = await with_secrets(repo, component, "tool")
        if live.kind == "mcp":
            for name, tool in (await models.mcp.tools(live)).items():
                live_tools.setdefault(name, tool)
            continue
        live_tools[component.name] = models.tool(live, tools)
    if snapshot.knowledge is not None and knowledge_tool is not None:
        search = knowledge_tool(snapshot.knowledge)
        live_tools.setdefault(search.name, search)
    if snapshot.agent.agents:  # agents as tools (SPEC §20): answered by child runs
        found = await repo.get_many(list(snapshot.agent.agents), cached=True)
        for name in snapshot.agent.agents:
            asked = found.get(name)
            about = asked.description if asked is not None and asked.name == name else ""
            live_tools.setdefault(ask_tool_name(name), AskTool(name, about))
    if tracer is not None and tracing_on(tracer):
        model = InstrumentedModel(model, tracer, snapshot.model)
    return LiveAgent(model=model, tools=live_tools)
