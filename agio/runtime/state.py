"""The state of a run between two steps: what a checkpoint stores, as plain JSON."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from agio.domain.messages import Message, ToolCall, ToolSpec


class ToolResult(BaseModel):
    call_id: str
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    error: str | None = None
    duration: float = 0.0


class ChildRecord(BaseModel):
    """A run this run started (SPEC §20: a call of `ask_<agent>`, a workflow step), as
    far as this run knows: its id (derived from this run's id and the call's), how much
    of its event log is relayed here, and how it ended."""

    run_id: str
    agent: str
    status: str = "pending"
    #: the child's last event relayed into this run's log as `child_event`
    relayed_seq: int = 0
    #: the child's tokens, its children's included (once it ended)
    tokens: int = 0
    #: this run asked the child to pause (its own pause): a pause that lands after this
    #: run resumed is undone by this run, a pause by anyone else is not
    paused_by_parent: bool = False


class RunState(BaseModel):
    """Everything needed to continue a run exactly from a step boundary or a pause."""

    messages: list[Message]
    new_from: int = Field(description="Index of the first message this run added.")
    phase: Literal["llm", "tools", "done"] = "llm"
    step_num: int = Field(default=0, description="Steps completed so far.")
    llm_calls: int = 0
    step_open: bool = Field(default=False, description="`step_started` already emitted.")
    pending_tool_calls: list[ToolCall] = Field(default_factory=list)
    completed_tool_results: list[ToolResult] = Field(default_factory=list)
    partial_content: str | None = Field(
        default=None, description="Text of an interrupted model call already streamed."
    )
    metrics: dict[str, Any] = Field(default_factory=dict)
    #: calls of the round in progress whose `approval_requested` / `approval_resolved`
    #: was emitted (a resumed run does not emit them again)
    approvals_requested: list[str] = Field(default_factory=list)
    approvals_resolved: list[str] = Field(default_factory=list)
    #: ids of this run's tool calls that a restore went back over: never used again
    #: (their approvals are stored under them)
    retired_call_ids: list[str] = Field(default_factory=list)
    #: tools the client runs itself (AG-UI front-end tools): offered to the model beside
    #: the agent's own; a call of one is handed back to the client, never run here
    client_tools: list[ToolSpec] = Field(default_factory=list)
    #: the calls of the last round handed back to the client (`frontend_tool_call`
    #: emitted): the run then completes with them pending, for the client to answer
    handed_back: list[str] = Field(default_factory=list)
    #: composition (SPEC §20): the runs this run started, by the call that started each
    children: dict[str, ChildRecord] = Field(default_factory=dict)
    #: the agents (or workflow) from the root run down to this one, this one's last: a run
    #: never starts one of them again (no cycles), and its depth is `len(lineage) - 1`
    lineage: list[str] = Field(default_factory=list)
    #: system prompts replacing those of agents this run (and its descendants) starts,
    #: by agent name (a fork's `agent_system_prompts`)
    agent_prompts: dict[str, str] = Field(default_factory=dict)
    #: mixed into the ids of the child runs this run starts: a restore or fork sets a new
    #: one, so that calls it answers again get new children
    child_salt: str = ""
    #: a workflow run's progress (`agio.runtime.workflow`); None for an agent's run
    workflow: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        return cls.model_validate(data)

    def rewind_to(self, index: int) -> None:
        """Go back to just after message `index`: the messages after it, and the steps
        that produced them, are gone; the model is asked next. Step and call counters go
        back with them (each model answer was one step, each finished round of tool calls
        another), so later steps are numbered as if the rest had never happened."""
        later = self.messages[index + 1 :]
        mine = self.messages[max(index + 1, self.new_from) :]
        self.retired_call_ids += [c.id for m in mine for c in m.tool_calls]
        answers = sum(1 for m in later if m.role == "assistant")
        rounds = sum(1 for m in later if m.role == "assistant" and m.tool_calls)
        if self.phase == "tools":
            rounds -= 1  # the round in progress at the checkpoint had not finished
        self.step_num = max(0, self.step_num - answers - max(0, rounds))
        self.llm_calls = max(0, self.llm_calls - answers)
        del self.messages[index + 1 :]
        self.new_from = min(self.new_from, index)
        self.phase = "llm"
        self.pending_tool_calls = []
        self.completed_tool_results = []
        self.approvals_requested = []
        self.approvals_resolved = []
        self.handed_back = []
        self.step_open = False
        self.partial_content = None

    def response_so_far(self) -> str | None:
        """What the run has answered so far, as streamed: the text of each of its model
        calls (one line each), the interrupted one's streamed part included. The
        `response_content` of a run that ends before its answer (cancelled, failed)."""
        parts = [
            m.content for m in self.messages[self.new_from :] if m.role == "assistant" and m.content
        ]
        if self.partial_content:
            parts.append(self.partial_content)
        return "\n".join(parts) if parts else None

    def client_tool(self, name: str) -> bool:
        """`name` is one of the tools the client runs itself."""
        return any(spec.name == name for spec in self.client_tools)

    @property
    def total_tokens(self) -> int:
        return int(self.metrics.get("prompt_tokens", 0)) + int(
            self.metrics.get("completion_tokens", 0)
        )
