"""A workflow's run (SPEC §20): an `AgentRun` whose "model" is the workflow itself.

Each workflow step is planned where an agent's run calls its model (`_model_step`): the
step's agents become calls of their `ask_<agent>` tools (one call for an `agent` step,
one per agent for `parallel`, the router's for a `route` with a router), which the tool
step runs as child runs, side by side; the round's end finishes the step (`_round_done`:
its output, the next step). A `route` by rules alone needs no call. So a workflow run is
a run like any other: its log (`workflow_step_started`, the children's `child_event`s,
`workflow_step_completed`), its checkpoints (after each step is planned and after each
ends), pause, resume, cancel, crash recovery, restore and fork are the agent run's.

A workflow run's progress lives in `RunState.workflow`: the next step, how many steps
ran, the previous output (the workflow's input at first) and the step in progress. Its
answer is the output of its last step.

Parallel steps: outputs are joined in the order of `agents`, each under a `[agent]`
line. A branch that fails fails the workflow (`WorkflowStepFailed`) once every branch has
ended, unless the step says `on_error: continue`: then its part says it failed and the
workflow goes on.
"""

from __future__ import annotations

from typing import Any

from agio.config.workflows import END, WorkflowComponent, WorkflowStep
from agio.domain import events as ev
from agio.domain.messages import Message, ToolCall
from agio.models.base import ModelError
from agio.runtime.ask_tool import ask_tool_name
from agio.runtime.loop import AgentRun
from agio.runtime.model_call import _call_ids, _unique_id
from agio.runtime.state import ToolResult

#: the most steps a workflow run executes, whatever its `max_steps`
HARD_LIMIT = 1000


def _text(result: Any) -> str:
    if isinstance(result, str):
        return result
    return "" if result is None else str(result)


class WorkflowRun(AgentRun):
    """Executes a workflow's run (`snapshot.workflow`) from a `RunState`."""

    @property
    def workflow(self) -> WorkflowComponent:
        workflow = self.snapshot.workflow
        assert workflow is not None
        return workflow

    def _progress(self) -> dict[str, Any]:
        state = self.state
        if state.workflow is None:
            question = next(
                (m.content or "" for m in reversed(state.messages) if m.role == "user"), ""
            )
            state.workflow = {
                "next": self.workflow.steps[0].name,
                "executed": 0,
                "input": question,
                "previous": question,
                "current": None,
            }
        return state.workflow

    async def _model_step(self) -> None:
        """Plan the next step (or end): its calls, or, for a route by rules, the route."""
        progress = self._progress()
        name = progress["next"]
        state = self.state
        if name == END:
            state.messages.append(Message.assistant(progress["previous"]))
            state.phase = "done"
            return
        limit = min(self.workflow.max_steps or HARD_LIMIT, HARD_LIMIT)
        if progress["executed"] >= limit:
            raise ModelError(
                f"The workflow executed {progress['executed']} steps, its max_steps, "
                "without reaching its end",
                type="MaxStepsExceeded",
            )
        step = self.workflow.step(name)
        number = progress["executed"] + 1
        self.emit(ev.WORKFLOW_STEP_STARTED, {"step": number, "name": name, "kind": step.kind})
        text = progress["input"] if step.input == "input" else progress["previous"]
        if step.kind == "route" and step.agent is None:
            self._finish(number, step, progress["previous"], self._route(number, step, text))
            self.checkpoint("step", f"workflow step {number}: {name}")
            return
        taken = _call_ids(state)
        agents = step.agent_names()
        calls = [
            ToolCall(
                id=_unique_id(
                    None, f"wf{number}_{name}" + (f"_{i}" if len(agents) > 1 else ""), taken
                ),
                name=ask_tool_name(agent),
                arguments={"message": text},
            )
            for i, agent in enumerate(agents)
        ]
        state.messages.append(Message.assistant(None, calls))
        state.pending_tool_calls = calls
        state.completed_tool_results = []
        state.phase = "tools"
        progress["current"] = {"name": name, "number": number}
        # the plan is stored: a recovered run follows these calls (their children), it
        # does not plan (and announce) the step again
        self.checkpoint("step", f"workflow step {number}: {name} started")

    def _round_done(self, records: list[ToolResult]) -> str:
        progress = self._progress()
        current = progress.get("current")
        if not current:
            return ""
        step = self.workflow.step(current["name"])
        number = current["number"]
        if step.kind == "route":  # the router's answer picks the next step
            answer = records[0] if records else None
            if answer is None or answer.error is not None:
                self._failed(number, step, f"the router failed: {answer.error if answer else '?'}")
            assert answer is not None
            self._finish(
                number, step, progress["previous"], self._route(number, step, _text(answer.result))
            )
            return f"workflow step {number}: {step.name}"
        if step.kind == "agent":
            record = records[0]
            if record.error is not None:
                self._failed(number, step, f"agent '{step.agent}': {record.error}")
            self._finish(number, step, _text(record.result), self.workflow.following(step))
            return f"workflow step {number}: {step.name}"
        parts, failures = [], []
        for agent, record in zip(step.agents, records, strict=True):
            if record.error is not None:
                failures.append(f"agent '{agent}': {record.error}")
                parts.append(f"[{agent}]\n(failed: {record.error})")
            else:
                parts.append(f"[{agent}]\n{_text(record.result)}")
        if failures and step.on_error == "fail":
            self._failed(number, step, "; ".join(failures))
        self._finish(number, step, "\n\n".join(parts), self.workflow.following(step), failures)
        return f"workflow step {number}: {step.name}"

    # ------------------------------------------------------------------ helpers

    def _route(self, number: int, step: WorkflowStep, text: str) -> str:
        for rule in step.routes:
            if rule.matches(text):
                return rule.to
        if step.default is not None:
            return step.default
        self._failed(number, step, f"no route matched {text[:200]!r}", type_="RouteNotMatched")
        raise AssertionError  # unreachable: _failed raises

    def _finish(
        self,
        number: int,
        step: WorkflowStep,
        output: str,
        target: str,
        failures: list[str] | None = None,
    ) -> None:
        progress = self._progress()
        data: dict[str, Any] = {
            "step": number,
            "name": step.name,
            "kind": step.kind,
            "output": output,
            "next": target,
        }
        if step.kind == "route":
            data["route"] = target
        if failures:
            data["errors"] = failures
        self.emit(ev.WORKFLOW_STEP_COMPLETED, data)
        progress["executed"] = number
        progress["previous"] = output
        progress["next"] = target
        progress["current"] = None

    def _failed(
        self, number: int, step: WorkflowStep, message: str, *, type_: str = "WorkflowStepFailed"
    ) -> None:
        self.emit(
            ev.WORKFLOW_STEP_COMPLETED,
            {"step": number, "name": step.name, "kind": step.kind, "error": message},
        )
        raise ModelError(f"Workflow step '{step.name}' failed: {message}", type=type_)
