"""The `workflow` component (SPEC §20): steps that run agents one after another
(`agent`), side by side on the same input (`parallel`) or pick the next step by name
(`route`: a router agent's answer, or the previous output, tested by rules).

Validated as a whole: step names unique (`end` is reserved: where a workflow stops),
every `next`/route target a step, every step reachable from the first, and a cycle only
with `max_steps` (how many steps a run of the workflow may execute at most)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from agio.config.component_base import ComponentBase, Slug, Strict

#: the target that ends a workflow (never a step's name)
END = "end"


class RouteRule(Strict):
    """One rule of a `route` step: the text tested (the router agent's answer, else the
    previous output) matches → the workflow goes on at `to`. Exactly one test is set;
    tests ignore case."""

    to: Slug = Field(description="The next step's name, or `end`.")
    equals: str | None = Field(default=None, max_length=500, description="The whole text, trimmed.")
    contains: str | None = Field(default=None, max_length=500, description="A part of the text.")
    pattern: str | None = Field(
        default=None, max_length=500, description="A regular expression searched in the text."
    )

    @model_validator(mode="after")
    def _one_test(self) -> RouteRule:
        tests = [t for t in (self.equals, self.contains, self.pattern) if t is not None]
        if len(tests) != 1:
            raise ValueError("a route rule needs exactly one of equals, contains, pattern")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from None
        return self

    def matches(self, text: str) -> bool:
        if self.equals is not None:
            return text.strip().lower() == self.equals.strip().lower()
        if self.contains is not None:
            return self.contains.lower() in text.lower()
        assert self.pattern is not None
        return re.search(self.pattern, text, re.IGNORECASE) is not None


class WorkflowStep(Strict):
    """One step. `agent`: runs `agent`; `parallel`: runs `agents` on the same input, their
    outputs joined in order; `route`: picks the next step by `routes` (tested on the
    answer of the router agent `agent` when set, else on the previous output)."""

    name: Slug
    kind: Literal["agent", "parallel", "route"]
    agent: Slug | None = Field(
        default=None, description="`agent`: the agent run; `route`: the router agent (optional)."
    )
    agents: list[Slug] = Field(
        default_factory=list, max_length=16, description="`parallel`: the agents run."
    )
    input: Literal["previous", "input"] = Field(
        default="previous",
        description="What the step's agents get: the previous step's output (the "
        "workflow's input for the first step) or the workflow's input.",
    )
    next: Slug | None = Field(
        default=None,
        description="`agent`, `parallel`: the step after this one, or `end` (default: the "
        "next step in the list; `end` after the last).",
    )
    routes: list[RouteRule] = Field(default_factory=list, max_length=32)
    default: Slug | None = Field(
        default=None,
        description="`route`: the next step when no rule matches (unset: the run fails "
        "with `RouteNotMatched`).",
    )
    on_error: Literal["fail", "continue"] = Field(
        default="fail",
        description="`parallel`: a branch that fails fails the workflow (`fail`), or its "
        "output is replaced by a line saying it failed (`continue`).",
    )

    @model_validator(mode="after")
    def _kind_fields(self) -> WorkflowStep:
        if self.name == END:
            raise ValueError(f"'{END}' is reserved: it is where a workflow stops")
        if self.kind == "agent" and self.agent is None:
            raise ValueError("an agent step needs `agent`")
        if self.kind == "parallel":
            if len(self.agents) < 1:
                raise ValueError("a parallel step needs `agents` (one or more)")
            if self.agent is not None:
                raise ValueError("a parallel step names its agents in `agents`, not `agent`")
        elif self.agents:
            raise ValueError(f"`agents` is for parallel steps; this is a {self.kind} step")
        if self.kind == "route":
            if not self.routes:
                raise ValueError("a route step needs `routes`")
            if self.next is not None:
                raise ValueError("a route step goes on by its routes, not `next`")
        elif self.routes or self.default is not None:
            raise ValueError(f"`routes` and `default` are for route steps; this is {self.kind}")
        return self

    def agent_names(self) -> list[str]:
        if self.kind == "parallel":
            return list(self.agents)
        return [self.agent] if self.agent else []


class WorkflowComponent(ComponentBase):
    """A workflow: run with `POST /api/chat` (`agent_id` = its name) like an agent."""

    type: Literal["workflow"] = "workflow"
    steps: list[WorkflowStep] = Field(min_length=1, max_length=64)
    max_steps: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="How many steps a run may execute at most (needed when steps form a "
        "cycle); a run that would execute more fails with `MaxStepsExceeded`.",
    )

    @field_validator("steps")
    @classmethod
    def _unique_names(cls, steps: list[WorkflowStep]) -> list[WorkflowStep]:
        seen: set[str] = set()
        for step in steps:
            if step.name in seen:
                raise ValueError(f"two steps are named '{step.name}'")
            seen.add(step.name)
        return steps

    @model_validator(mode="after")
    def _graph(self) -> WorkflowComponent:
        names = {s.name for s in self.steps}
        for step in self.steps:
            for target in self.successors(step):
                if target != END and target not in names:
                    raise ValueError(f"step '{step.name}' goes on at '{target}', which is no step")
        reachable = self._reachable()
        unreachable = [s.name for s in self.steps if s.name not in reachable]
        if unreachable:
            raise ValueError("steps no path from the first step reaches: " + ", ".join(unreachable))
        if self.max_steps is None and self._has_cycle():
            raise ValueError("the steps form a cycle: set `max_steps` to bound a run")
        return self

    def step(self, name: str) -> WorkflowStep:
        return next(s for s in self.steps if s.name == name)

    def successors(self, step: WorkflowStep) -> list[str]:
        """The steps (or `end`) that may follow `step`."""
        if step.kind == "route":
            targets = [r.to for r in step.routes]
            if step.default is not None:
                targets.append(step.default)
            return list(dict.fromkeys(targets))
        return [self.following(step)]

    def following(self, step: WorkflowStep) -> str:
        """Where an agent or parallel step goes on: its `next`, else the next in the list."""
        if step.next is not None:
            return step.next
        index = self.steps.index(step)
        return self.steps[index + 1].name if index + 1 < len(self.steps) else END

    def _reachable(self) -> set[str]:
        seen: set[str] = set()
        todo = [self.steps[0].name]
        while todo:
            name = todo.pop()
            if name == END or name in seen:
                continue
            seen.add(name)
            todo.extend(self.successors(self.step(name)))
        return seen

    def _has_cycle(self) -> bool:
        state: dict[str, int] = {}  # 1: on the path, 2: done

        def visit(name: str) -> bool:
            if name == END or state.get(name) == 2:
                return False
            if state.get(name) == 1:
                return True
            state[name] = 1
            if any(visit(n) for n in self.successors(self.step(name))):
                return True
            state[name] = 2
            return False

        return visit(self.steps[0].name)

    def agent_names(self) -> list[str]:
        """Every agent the workflow runs, once each, in order of appearance."""
        return list(dict.fromkeys(a for s in self.steps for a in s.agent_names()))

    def references(self) -> list[tuple[str, str]]:
        return [("agent", name) for name in self.agent_names()]

    def reference_fields(self) -> list[tuple[str, str, str]]:
        """(field, component type, name) of every component the workflow names."""
        out: list[tuple[str, str, str]] = []
        for i, step in enumerate(self.steps):
            if step.kind == "parallel":
                out += [(f"steps.{i}.agents.{j}", "agent", a) for j, a in enumerate(step.agents)]
            elif step.agent:
                out.append((f"steps.{i}.agent", "agent", step.agent))
        return out
