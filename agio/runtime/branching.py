"""Branching: checkpoints on demand, restoring a run from a checkpoint (in place, or as a
new run) and forking one with changes. Each builds a `RunState` (and snapshot) from the
checkpoint with the changes applied and launches it like any other run."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from agio.bus.base import EventBus
from agio.config.components import ModelComponent
from agio.domain import events as ev
from agio.domain.errors import (
    CheckpointNotFound,
    Conflict,
    InvalidStateTransition,
    ValidationFailed,
)
from agio.domain.events import Event
from agio.domain.ids import new_id
from agio.domain.messages import Message
from agio.domain.runs import Checkpoint, Run, RunStatus
from agio.domain.time import utcnow
from agio.runtime.launch import Launch, new_run
from agio.runtime.launching import Executions
from agio.runtime.snapshot import AgentSnapshot
from agio.runtime.state import RunState
from agio.storage.checkpoints import checkpoint_row
from agio.storage.runs import RunRepository

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ForkChanges:
    """What a fork (or a restore) changes in the checkpoint's state."""

    modified_query: str | None = None
    system_prompt: str | None = None
    model: str | None = None
    temperature: float | None = None
    max_steps: int | None = None
    messages: tuple[Message, ...] = ()
    #: system prompts for the agents the run starts from here on (agents as tools,
    #: workflow steps: SPEC §20), by agent name
    agent_system_prompts: tuple[tuple[str, str], ...] = ()


class Branching:
    def __init__(self, runs: RunRepository, bus: EventBus, executions: Executions) -> None:
        self.runs = runs
        self.bus = bus
        self.executions = executions
        #: cancels a run's unfinished children but those kept (`RunControl.cancel_children`)
        self.cancel_children: Callable[[str, frozenset[str]], Awaitable[None]] | None = None

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        checkpoint = await self.runs.get_checkpoint(checkpoint_id)
        if checkpoint is None:
            raise CheckpointNotFound(checkpoint_id)
        return checkpoint

    async def create_checkpoint(self, run_id: str, description: str, tags: list[str]) -> Checkpoint:
        executions = self.executions
        run = await executions.get_run(run_id)
        went_live = executions.went_live.get(run_id)
        if went_live is not None:  # still setting up here: wait until it runs
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(executions.options.control_wait_seconds):
                    await went_live.wait()
        if run_id not in executions.tasks:
            run = await executions.get_run(run_id)
        live = executions.live.get(run_id)
        if live is not None and live.outcome is not None:
            await executions.wait_local(run_id)  # it is ending: checkpoint its final state
            live = None
            run = await executions.get_run(run_id)
        if live is None and (run_id in executions.tasks or run.owner_id is not None):
            raise Conflict(
                f"Run '{run_id}' is executing in another process (or starting); pause it "
                "first, or retry"
            )
        if live is not None:
            checkpoint_id = live.checkpoint("manual", description, tags)
            await executions.writer.flush()
        else:
            checkpoint_id = await self._checkpoint_idle(run, description, tags)
        checkpoint = await self.runs.get_checkpoint(checkpoint_id)
        assert checkpoint is not None
        return checkpoint

    async def _checkpoint_idle(self, run: Run, description: str, tags: list[str]) -> str:
        """A checkpoint of a run nobody executes: its latest state again, stored with its
        event if the run is still as read."""
        latest = await self.runs.latest_checkpoint(run.id)
        if latest is None:
            raise Conflict(f"Run '{run.id}' has no state to checkpoint yet")
        state = RunState.from_json(latest.state)
        agent_config = AgentSnapshot.from_json(latest.agent_config).to_json()
        for _ in range(5):
            seq = await self.runs.max_seq(run.id)
            run.last_seq = seq
            row = checkpoint_row(
                run.id,
                state,
                agent_config,
                kind="manual",
                seq=seq,
                status=run.status,
                description=description,
                tags=tags,
            )
            event = Event(
                run.id,
                seq + 1,
                ev.CHECKPOINT_CREATED,
                utcnow(),
                {"checkpoint_id": row["id"], "step": row["step_num"]},
            )
            if await self.runs.add_checkpoint(row, run, event):
                await self.bus.publish(run.id, [event])
                return str(row["id"])
            run = await self.executions.get_run(run.id)
        raise Conflict(f"Run '{run.id}' keeps changing; retry")

    async def restore(
        self, checkpoint_id: str, *, create_new_run: bool, modified_query: str | None
    ) -> Run:
        """Run again from a checkpoint: as a new run, or the same (paused) run in place."""
        executions = self.executions
        checkpoint = await self.get_checkpoint(checkpoint_id)
        source = await executions.get_run(checkpoint.run_id)
        changes = ForkChanges(modified_query=modified_query)
        if create_new_run:
            return await self._branch(source, checkpoint, changes, "")
        if source.status is not RunStatus.PAUSED:
            raise InvalidStateTransition(
                f"Restoring run '{source.id}' in place needs it paused; it is "
                f"{source.status.value} (pause it, or restore with create_new_run: true)"
            )
        snapshot, state = await self._apply(checkpoint, changes)
        await self._retire_later_calls(source.id, checkpoint, state)
        if self.cancel_children is not None:
            # the children of the calls it goes back over are nobody's any more
            kept = frozenset(record.run_id for record in state.children.values())
            await self.cancel_children(source.id, kept)
        # the step in progress at the checkpoint starts over: its text is streamed again
        state.step_open = False
        state.partial_content = None
        writer = executions.writer
        with executions.starting_here(source.id):
            if not await self.runs.claim(source, executions.owner_id, recovery=False):
                raise InvalidStateTransition(f"Run '{source.id}' was changed by another request")
            executions.steer_early(source.id, source.control, pause=False)
            writer.supersede_steps(source.id, state.step_num)
            if modified_query is not None:
                writer.update_run(source.id, input_query=modified_query)
            last_seq = await self.runs.max_seq(source.id)
            # the run's latest checkpoint is now the state it continues from: a crash
            # before its next step recovers this, not the pause it was restored over
            writer.save_checkpoint(
                checkpoint_row(
                    source.id,
                    state,
                    snapshot.to_json(),
                    kind="restore",
                    seq=last_seq,
                    status=RunStatus.PAUSED,
                    description=f"restored from {checkpoint.id}",
                )
            )
            executions.launch(
                Launch(
                    source.id,
                    source.session_id,
                    source.user_id,
                    snapshot,
                    state,
                    last_seq=last_seq,
                    resumed={"checkpoint_id": checkpoint.id, "restored": True},
                )
            )
        return source

    async def _retire_later_calls(
        self, run_id: str, checkpoint: Checkpoint, state: RunState
    ) -> None:
        """The calls the run made after the checkpoint are undone by a restore in place:
        their ids, under which their approvals are stored, are never used again (a model
        saying the same again gets new ones, and is asked again). The calls pending at
        the checkpoint run again as they are, with the decisions made about them."""
        keep = {c.id for c in state.pending_tool_calls}
        keep.update(c.id for m in state.messages[state.new_from :] for c in m.tool_calls)
        keep.update(state.retired_call_ids)
        later = {
            call_id
            for event in await self.runs.events_after(run_id, checkpoint.seq, limit=100_000)
            if isinstance(call_id := event.data.get("call_id"), str)
        }
        state.retired_call_ids.extend(sorted(later - keep))

    async def fork(self, checkpoint_id: str, changes: ForkChanges, description: str) -> Run:
        """A new run from a checkpoint with changes; the source run is not touched."""
        checkpoint = await self.get_checkpoint(checkpoint_id)
        source = await self.executions.get_run(checkpoint.run_id)
        return await self._branch(source, checkpoint, changes, description)

    async def _apply(
        self, checkpoint: Checkpoint, changes: ForkChanges
    ) -> tuple[AgentSnapshot, RunState]:
        snapshot = AgentSnapshot.from_json(checkpoint.agent_config)
        state = RunState.from_json(checkpoint.state)
        # calls answered by child runs (SPEC §20) get children of their own from here: a
        # new salt in their ids, and no record of the children the checkpoint followed
        state.child_salt = new_id("salt")
        answered = {r.call_id for r in state.completed_tool_results}
        state.children = {
            k: v
            for k, v in state.children.items()
            if k in answered or all(c.id != k for c in state.pending_tool_calls)
        }
        state.agent_prompts.update(dict(changes.agent_system_prompts))
        if changes.modified_query is not None:
            # the conversation goes back to its last user message, which is replaced: what
            # answered the old question (model calls, tool calls) is not kept
            users = [i for i, m in enumerate(state.messages) if m.role == "user"]
            if not users:
                raise ValidationFailed("The checkpoint has no user message to modify")
            state.rewind_to(users[-1])
            state.messages[users[-1]] = Message.user(changes.modified_query)
            # a workflow starts over on the new question; no child answered it yet
            state.workflow = None
            state.children = {}
        agent = snapshot.agent
        updates: dict[str, Any] = {}
        config = agent.config.model_copy()
        if changes.temperature is not None:
            config.temperature = changes.temperature
        if changes.max_steps is not None:
            config.max_steps = changes.max_steps
        updates["config"] = config
        if changes.system_prompt is not None:
            updates["system_prompt"] = changes.system_prompt
            if state.messages and state.messages[0].role == "system":
                state.messages[0] = Message.system(changes.system_prompt)
            else:
                state.messages.insert(0, Message.system(changes.system_prompt))
                state.new_from += 1
        if changes.model is not None:
            stored = await self.executions.components.get(changes.model, "model")
            if stored is None or stored.name != changes.model:
                raise ValidationFailed(
                    f"Model component '{changes.model}' does not exist",
                    details=[
                        {
                            "loc": ["body", "modifications", "model"],
                            "msg": f"model component '{changes.model}' does not exist",
                            "type": "invalid_config",
                        }
                    ],
                )
            snapshot.model = ModelComponent.model_validate(stored.config)
            updates["model"] = changes.model
        snapshot.agent = agent.model_copy(update=updates)
        if changes.messages:
            if state.phase == "tools":
                raise ValidationFailed(
                    "Messages can only be added at a checkpoint between a "
                    "model answer and the next model call"
                )
            state.messages.extend(changes.messages)
            state.phase = "llm"
        if changes != ForkChanges() and state.phase == "done":
            state.phase = "llm"  # a changed conversation asks the model again
        return snapshot, state

    async def _branch(
        self, source: Run, checkpoint: Checkpoint, changes: ForkChanges, description: str
    ) -> Run:
        snapshot, state = await self._apply(checkpoint, changes)
        # the branch gets a session of its own holding the whole conversation so far
        state.new_from = 1 if state.messages and state.messages[0].role == "system" else 0
        state.step_open = False
        state.partial_content = None
        query = next(
            (m.content or "" for m in reversed(state.messages) if m.role == "user"),
            source.input_query,
        )
        run = new_run(
            source.agent_id,
            source.agent_name,
            new_id("ses"),
            source.user_id,
            query,
            snapshot,
            parent_run_id=source.id,
            checkpoint_id=checkpoint.id,
        )
        await self.executions.create_and_launch(
            run, snapshot, state, new_session=True, description=description
        )
        log.info(
            "run_branched", run_id=run.id, parent_run_id=source.id, checkpoint_id=checkpoint.id
        )
        return run
