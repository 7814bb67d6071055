"""Who asks whom (SPEC §20): agents name the agents they may ask (`agents:`). No agent
may reach itself through that graph as stored, and files are applied so that an agent
comes after the agents it asks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from agio.config.components import AgentComponent
from agio.storage.components import ComponentRepository

#: the longest chain of `agents` followed when looking for a cycle
MAX_CHAIN = 64


async def cycle_problems(repo: ComponentRepository, component: BaseModel) -> list[tuple[str, str]]:
    """An agent that could end up asking itself (through the `agents` of the agents it
    names, as stored) is refused: (field, reason) for the first such path."""
    if not isinstance(component, AgentComponent) or not component.agents:
        return []
    for index, first in enumerate(component.agents):
        path = await _path_to(repo, first, component.name, [component.name])
        if path is not None:
            return [(f"agents.{index}", "agents form a cycle: " + " → ".join(path))]
    return []


async def _path_to(
    repo: ComponentRepository, start: str, target: str, path: list[str]
) -> list[str] | None:
    """The chain of `agents` from `start` back to `target`, if there is one."""
    path = [*path, start]
    if start == target:
        return path
    if len(path) > MAX_CHAIN:
        return None
    stored = await repo.get(start, "agent")
    if stored is None:
        return None
    for name in stored.config.get("agents") or []:
        if name in path[1:]:
            continue  # a cycle elsewhere (refused when it was made); not through here
        found = await _path_to(repo, name, target, path)
        if found is not None:
            return found
    return None


def apply_order(loaded: Sequence[Any]) -> list[Any]:
    """The order files' components are applied in: everything but agents and workflows,
    then the agents (each after the agents it asks, where they form no cycle), then the
    workflows, so that references are checked against what they name."""
    rank = {"agent": 1, "workflow": 2}
    others = [c for c in loaded if c.component.type not in rank]
    agents = {c.component.name: c for c in loaded if c.component.type == "agent"}
    workflows = [c for c in loaded if c.component.type == "workflow"]
    ordered: list[Any] = []
    placed: set[str] = set()

    def place(name: str, seen: frozenset[str]) -> None:
        if name in placed or name in seen or name not in agents:
            return
        for asked in agents[name].component.agents:
            place(asked, seen | {name})
        placed.add(name)
        ordered.append(agents[name])

    for name in agents:
        place(name, frozenset())
    return [*others, *ordered, *workflows]
