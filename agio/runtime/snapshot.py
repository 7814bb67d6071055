"""The configuration a run starts with, frozen into the run (secrets masked), and the live
model and tools built from it."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace

from agio.config.components import (
    MASK,
    AgentComponent,
    KnowledgeComponent,
    MemoryComponent,
    ModelComponent,
    ToolComponent,
    dump_component,
)
from agio.domain.errors import Conflict
from agio.models.base import Model
from agio.models.registry import build_model
from agio.observability.instrumented import InstrumentedModel, tracing_on
from agio.storage.components import ComponentRepository, StoredComponent
from agio.tools.base import Tool
from agio.tools.registry import build_tool


@dataclass
class AgentSnapshot:
    """Every component a run uses, as it was when the run started."""

    agent_id: str
    agent: AgentComponent
    model: ModelComponent
    tools: list[ToolComponent]
    memory: MemoryComponent | None
    knowledge: KnowledgeComponent | None

    def to_json(self) -> dict[str, Any]:
        """What the run stores: secrets masked (they are looked up again to run)."""
        return {
            "agent_id": self.agent_id,
            "agent": dump_component(self.agent),
            "model": dump_component(self.model),
            "tools": [dump_component(t) for t in self.tools],
            "memory": dump_component(self.memory) if self.memory else None,
            "knowledge": dump_component(self.knowledge) if self.knowledge else None,
        }

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
        )


def _require(stored: StoredComponent | None, kind: str, name: str) -> StoredComponent:
    if stored is None or stored.type != kind:
        raise Conflict(f"The agent's {kind} component '{name}' no longer exists")
    if not stored.enabled:
        raise Conflict(f"The agent's {kind} component '{name}' is disabled")
    return stored


async def take_snapshot(repo: ComponentRepository, agent: StoredComponent) -> AgentSnapshot:
    """Resolve an agent's components now; a disabled agent or component is a 409."""
    if not agent.enabled:
        raise Conflict(f"Agent '{agent.name}' is disabled")
    spec = AgentComponent.model_validate(agent.config)
    found = await repo.get_many([name for _, name in spec.references()])
    model = _require(found.get(spec.model), "model", spec.model)
    tools = [_require(found.get(t), "tool", t) for t in spec.tools]
    memory = _require(found.get(spec.memory), "memory", spec.memory) if spec.memory else None
    knowledge = (
        _require(found.get(spec.knowledge), "knowledge", spec.knowledge) if spec.knowledge else None
    )
    return AgentSnapshot(
        agent_id=agent.id,
        agent=spec,
        model=ModelComponent.model_validate(model.config),
        tools=[ToolComponent.model_validate(t.config) for t in tools],
        memory=MemoryComponent.model_validate(memory.config) if memory else None,
        knowledge=KnowledgeComponent.model_validate(knowledge.config) if knowledge else None,
    )


async def with_secrets(repo: ComponentRepository, component: Any, kind: str) -> Any:
    """Put the current secret values back where the snapshot holds the mask."""
    data = dump_component(component, reveal_secrets=True)
    if data.get("api_key") != MASK and MASK not in (data.get("headers") or {}).values():
        return component
    stored = await repo.get(component.name, kind)
    if stored is None:
        raise RuntimeError(f"{kind} component '{component.name}' was deleted; its secret is gone")
    if data.get("api_key") == MASK:
        data["api_key"] = stored.config.get("api_key")
    for key, value in list((data.get("headers") or {}).items()):
        if value == MASK:
            data["headers"][key] = (stored.config.get("headers") or {}).get(key)
    return type(component).model_validate(data)


@dataclass
class LiveAgent:
    model: Model
    tools: dict[str, Tool]


class ModelCache:
    """Live models shared by runs with the same model configuration, so that HTTP
    connections to a provider are pooled instead of opened per run; and built-in tools,
    shared the same way (they keep no state of their own, and building one generates its
    JSON schema, which cost more CPU than the rest of setting a run up)."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._models: OrderedDict[str, Model] = OrderedDict()
        self._tools: OrderedDict[tuple[str, bool], Tool] = OrderedDict()

    def tool(self, component: ToolComponent, *, enable_http_request: bool) -> Tool:
        """The tool `component` describes: a built-in one from the cache, any other kind
        built anew (a python tool is looked up in its module each time)."""
        if component.kind != "builtin":
            return build_tool(component, enable_http_request=enable_http_request)
        config = json.dumps(dump_component(component, reveal_secrets=True), sort_keys=True)
        key = (config, enable_http_request)
        tool = self._tools.get(key)
        if tool is None:
            tool = build_tool(component, enable_http_request=enable_http_request)
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


async def _close(model: Model) -> None:
    closer = getattr(model, "aclose", None)
    if closer is not None:
        await closer()


async def go_live(
    repo: ComponentRepository,
    snapshot: AgentSnapshot,
    models: ModelCache,
    *,
    enable_http_request: bool,
    knowledge_tool: Callable[[KnowledgeComponent], Tool] | None = None,
    tracer: trace.Tracer | None = None,
) -> LiveAgent:
    """The model and tools of a run; an agent that names a knowledge component also gets
    its `search_knowledge` tool (from `knowledge_tool`). With a `tracer` that records (not
    the no-op one of tracing off), the model comes wrapped in spans (the tool calls are
    traced by `AgentRun`)."""
    model = await models.get(await with_secrets(repo, snapshot.model, "model"))
    tools: dict[str, Tool] = {}
    for component in snapshot.tools:
        live = await with_secrets(repo, component, "tool")
        tools[component.name] = models.tool(live, enable_http_request=enable_http_request)
    if snapshot.knowledge is not None and knowledge_tool is not None:
        search = knowledge_tool(snapshot.knowledge)
        tools.setdefault(search.name, search)
    if tracer is not None and tracing_on(tracer):
        model = InstrumentedModel(model, tracer, snapshot.model)
    return LiveAgent(model=model, tools=tools)
