"""One round of tool calls of a run: the pending calls run in parallel (bounded), each
result stored before anything else happens (a resumed or recovered run never calls a
finished tool again), a pause honoured before a call starts. A call that needs a person's
approval (`approval_gate`) runs once approved, with the arguments the decider gave if
any; a rejected one gives the model an error instead, and is never called; while some
wait for a decision, the others run and then the run waits (`ApprovalNeeded`). A call of
a tool the client runs itself (an AG-UI front-end tool, `RunState.client_tools`) is
handed back: the others run, and the run completes with it pending. A mixin of
`AgentRun`."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from agio.domain import events as ev
from agio.domain.approvals import Approval, Decision
from agio.domain.messages import Message, ToolCall
from agio.domain.runs import Step
from agio.domain.time import iso_z, utcnow
from agio.observability.instrumented import ToolCaller, instrument_tool_calls, tracing_on
from agio.runtime.approval_gate import needs_approval
from agio.runtime.ask_tool import AskTool
from agio.runtime.state import ToolResult
from agio.runtime.steering import ApprovalNeeded, ChildPaused, PauseRequested, RunParts
from agio.storage.writer import RunWriteFailed
from agio.tools.base import ToolError


def _result_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    return json.dumps(result, ensure_ascii=False, default=str)


class ToolStep(RunParts):
    """`_tool_step` and `_call_tool`."""

    #: the run's row is known to be stored (`Launch.stored`: a new session's run's task
    #: starts while its creation commits)
    _creation_stored: bool = True

    async def _tool_step(self) -> None:
        if not self._creation_stored:
            # no tool runs for a run whose creation was refused: its launcher stops it
            try:
                await self.writer.flush(self.run_id)
            except RunWriteFailed:
                raise asyncio.CancelledError from None
            self._creation_stored = True
        state = self.state
        step_num = state.step_num + 1
        if not state.step_open:
            self.emit(ev.STEP_STARTED, {"step": step_num, "type": "tool_call"})
            state.step_open = True
        step_started_at = utcnow()
        t0 = time.perf_counter()
        limit = asyncio.Semaphore(self.snapshot.agent.config.max_parallel_tool_calls)
        done: dict[str, ToolResult] = {r.call_id: r for r in state.completed_tool_results}
        handed = self._hand_back()
        to_run = [c for c in state.pending_tool_calls if c.id not in done and c not in handed]
        skipped: list[ToolCall] = []
        approvals = await self._approvals(to_run)
        waiting = [c for c in to_run if c.id in approvals and approvals[c.id].decision is None]
        to_run = [c for c in to_run if c not in waiting]

        call_tool: ToolCaller = self._call_tool
        if tracing_on(self.tracer):  # each call a span of its own, when tracing is on
            call_tool = instrument_tool_calls(call_tool, self.tracer, self.tools)

        async def one(call: ToolCall) -> None:
            async with limit:
                if self.control.pause.is_set():  # safe point: before a tool call starts
                    skipped.append(call)
                    return
                approval = approvals.get(call.id)
                if approval is not None and approval.decision is Decision.APPROVE:
                    call = call.model_copy(
                        update={"arguments": approval.arguments, "raw_arguments": None}
                    )
                if call.id not in state.children:  # a child run's call resumed: once
                    self.emit(
                        ev.TOOL_CALL_STARTED,
                        {"tool": call.name, "args": call.arguments, "call_id": call.id},
                    )
                c0 = time.perf_counter()
                result: Any
                error: str | None
                if approval is not None and approval.decision is Decision.REJECT:
                    result, error = None, approval.rejection()  # never called
                else:
                    try:
                        result, error = await call_tool(call)
                    except ChildPaused:  # its child run paused: taken up on resume
                        skipped.append(call)
                        return
                duration = round(time.perf_counter() - c0, 6)
                data: dict[str, Any] = {
                    "tool": call.name,
                    "result": result,
                    "call_id": call.id,
                    "duration": duration,
                }
                if error is not None:
                    data["error"] = error
                self.emit(ev.TOOL_CALL_COMPLETED, data)
                record = ToolResult(
                    call_id=call.id,
                    tool=call.name,
                    args=call.arguments,
                    result=result,
                    error=error,
                    duration=duration,
                )
                done[call.id] = record
                state.completed_tool_results.append(record)
                # stored before anything else happens: a resumed or recovered run finds
                # it and never runs this call again
                await self.writer.flush()

        # a task group: if one call fails hard, the others are cancelled, not left running
        async with asyncio.TaskGroup() as group:
            for call in to_run:
                group.create_task(one(call))
        if skipped:
            raise PauseRequested
        if waiting:
            raise ApprovalNeeded
        calls = [c for c in state.pending_tool_calls if c not in handed]
        records = [done[c.id] for c in calls]
        errors = sum(1 for r in records if r.error is not None)
        self.metrics.total_steps += 1
        self.metrics.tool_calls += len(calls)
        self.metrics.tool_errors += errors
        results = [
            Message.tool(call, _result_text({"error": r.error} if r.error else r.result))
            for call, r in zip(calls, records, strict=True)
        ]
        step_metrics = {
            "tool_calls": len(calls),
            "tool_errors": errors,
            "duration": round(time.perf_counter() - t0, 6),
        }
        if handed:
            step_metrics["frontend_tool_calls"] = len(handed)
        self.writer.save_step(
            Step(
                run_id=self.run_id,
                step_num=step_num,
                type="tool_call",
                messages=[m.model_dump(mode="json") for m in results],
                model_response=None,
                tool_calls=[r.model_dump(mode="json") for r in records],
                metrics=step_metrics,
                started_at=step_started_at,
                ended_at=utcnow(),
            )
        )
        self.emit(ev.STEP_COMPLETED, {"step": step_num, "metrics": step_metrics})
        state.messages.extend(results)
        state.step_num = step_num
        state.step_open = False
        # calls handed back to the client: the run completes, the client answers them in
        # its next input (its results continue the conversation, in a new run)
        state.phase = "done" if handed else "llm"
        state.pending_tool_calls = []
        state.completed_tool_results = []
        state.approvals_requested = []
        state.approvals_resolved = []
        self.checkpoint("step", self._round_done(records))

    def _round_done(self, records: list[ToolResult]) -> str:
        """Called as a round of tool calls ends, before its checkpoint: the checkpoint's
        description (a workflow run finishes its step here: `agio.runtime.workflow`)."""
        return ""

    def _hand_back(self) -> list[ToolCall]:
        """The round's calls of tools the client runs itself (AG-UI front-end tools, not
        the agent's): never run here; each announced once (`frontend_tool_call`)."""
        state = self.state
        handed = [
            c
            for c in state.pending_tool_calls
            if c.name not in self.tools and state.client_tool(c.name) and c.raw_arguments is None
        ]
        for call in handed:
            if call.id not in state.handed_back:
                state.handed_back.append(call.id)
                self.emit(
                    ev.FRONTEND_TOOL_CALL,
                    {"tool": call.name, "args": call.arguments, "call_id": call.id},
                )
        return handed

    async def _approvals(self, calls: list[ToolCall]) -> dict[str, Approval]:
        """The approvals of the calls that need one, asked for or as decided; each asked
        and each decision announced once (`approval_requested`, `approval_resolved`)."""
        gate, state = self.approval_gate, self.state
        gated = [c for c in calls if needs_approval(self.snapshot, c.name, self.tools.get(c.name))]
        if gate is None or not gated:
            return {}
        await self.writer.flush()  # the run's row (and all it wrote) first: approvals refer to it
        approvals = await gate.ask(self.run_id, self.snapshot.agent_id, self.user_id, gated)
        for call in gated:
            approval = approvals[call.id]
            if approval.decision is None:
                if call.id not in state.approvals_requested:
                    state.approvals_requested.append(call.id)
                    self.emit(
                        ev.APPROVAL_REQUESTED,
                        {
                            "call_id": call.id,
                            "tool": call.name,
                            "args": call.arguments,
                            "expires_at": iso_z(approval.expires_at),
                        },
                    )
            elif call.id not in state.approvals_resolved:
                state.approvals_resolved.append(call.id)
                self.emit(
                    ev.APPROVAL_RESOLVED,
                    {
                        "call_id": call.id,
                        "tool": call.name,
                        "decision": approval.decision.value,
                        "status": approval.status,
                        "decided_by": approval.decided_by,
                        "decided_at": iso_z(approval.decided_at) if approval.decided_at else None,
                        "reason": approval.reason,
                        "args": approval.arguments,
                    },
                )
        return approvals

    async def _call_tool(self, call: ToolCall) -> tuple[Any, str | None]:
        """(result, error): a failing tool is reported to the model, never fatal."""
        tool = self.tools.get(call.name)
        if call.raw_arguments is not None and (
            tool is not None or self.state.client_tool(call.name)
        ):
            return None, f"Arguments must be a JSON object; got: {call.raw_arguments[:200]}"
        if tool is None:
            available = ", ".join(sorted(self.tools)) or "none"
            return None, f"Unknown tool '{call.name}'; available tools: {available}"
        if isinstance(tool, AskTool):  # answered by a child run, for as long as it takes
            if self.children is None:
                return None, f"'{call.name}' cannot start runs here"
            return await self.children.ask(self, call, tool.agent)
        timeout = self.snapshot.agent.config.tool_timeout or tool.timeout
        try:
            async with asyncio.timeout(timeout):
                return await tool.run(call.arguments), None
        except TimeoutError:
            return None, f"Tool '{call.name}' timed out after {timeout:g}s"
        except ToolError as exc:
            return None, str(exc)
        except Exception as exc:
            self.log.warning("tool_failed", tool=call.name, error_type=type(exc).__name__)
            return None, f"Tool '{call.name}' failed: {type(exc).__name__}: {exc}"
