"""One conversation, one run at a time (SPEC §12): what a chat on a session that already
has a run in progress does (`multitask_strategy`), and the queue of a session's waiting
runs.

The rule itself is the database's (`agio.storage.session_slots`): a run holds its
session from the insert that creates it (or, queued, from the update that starts it) to
the write that ends it, under a unique index, so two concurrent chats never both start,
whichever processes serve them. Here:

- `reject`: the chat is refused (409 `SessionBusy`) if the session has a run in
  progress or runs queued; a race past that check is refused by the index;
- `enqueue`: the run is created queued, last; it starts when the runs before it ended;
- `interrupt` / `rollback`: the run is created queued, next, then the run in progress is
  cancelled (interrupted: its message and partial answer kept in the session's history;
  rolled back: nothing of it kept), and the new run starts as soon as the session is
  free, before the runs that were already queued.

A queued run starts in whichever process finds its session free first: the process
where the session's run ended (`advance`, from `Executions.on_ended`), the one that
queued it, or any process's maintenance (`advance_all`: a run that ended in a process
that died, or was stopping). Starting takes the slot in one conditional update, so only
one process wins; the winner claims the run and launches it from its session's history
as it is by then.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from agio.domain.errors import InvalidStateTransition, SessionBusy
from agio.domain.messages import Message
from agio.domain.runs import MultitaskStrategy, QueueRank, Run
from agio.runtime.client_turn import ClientTurn
from agio.runtime.control import RunControl
from agio.runtime.launching import Executions
from agio.storage.runs import RunRepository

log = structlog.get_logger(__name__)

#: how many queued runs one call may skip (cancelled while it looked) before it gives up
_ATTEMPTS = 10


class SessionQueue:
    """The strategies of a chat on a busy session, and starting queued runs."""

    def __init__(self, runs: RunRepository, executions: Executions, control: RunControl) -> None:
        self.runs = runs
        self.executions = executions
        self.control = control
        self._advancing: set[asyncio.Task[Run | None]] = set()
        executions.on_ended.append(self.ended)

    async def start_chat(
        self,
        strategy: MultitaskStrategy,
        agent_key: str,
        message: str,
        *,
        session_id: str | None,
        user_id: str | None,
        session_visible_to: str | None = None,
        before_launch: Callable[[Run], None] | None = None,
        schedule_id: str | None = None,
        history: list[Message] | None = None,
        instructions: str | None = None,
        turn: ClientTurn | None = None,
    ) -> Run:
        """A chat's run, by `strategy` when the session has a run in progress
        (`history`, `instructions`: as `Executions.start_chat` takes them)."""
        queue = {
            MultitaskStrategy.ENQUEUE: QueueRank.LAST,
            MultitaskStrategy.INTERRUPT: QueueRank.NEXT,
            MultitaskStrategy.ROLLBACK: QueueRank.NEXT,
        }.get(strategy)
        run = await self.executions.start_chat(
            agent_key,
            message,
            session_id=session_id,
            user_id=user_id,
            session_visible_to=session_visible_to,
            before_launch=before_launch,
            schedule_id=schedule_id,
            turn=turn,
            queue=queue if session_id is not None else None,
            gate=self.refuse_if_busy if strategy is MultitaskStrategy.REJECT else None,
            history=history,
            instructions=instructions,
        )
        if not run.queued:
            return run
        # the run exists now: whatever happens next, it starts when its session is free
        # (here, where the run in progress ends, or in any process's maintenance), so the
        # chat is answered with it rather than with an error a client would retry
        try:
            if queue is QueueRank.NEXT:
                keep = strategy is MultitaskStrategy.INTERRUPT
                await self._stop_in_progress(run, keep_partial=keep)
            await self.advance(run.session_id)
        except Exception as exc:
            log.warning("queued_run_not_started", run_id=run.id, error_type=type(exc).__name__)
        return run

    async def refuse_if_busy(self, session_id: str) -> None:
        """`reject`: 409 `SessionBusy` if the session has a run in progress, or runs
        queued (they are ahead of this chat), naming it (the next one)."""
        holder = await self.runs.session_holder(session_id)
        if holder is not None:
            raise SessionBusy(session_id, holder.id, holder.status.value)
        queued = await self.runs.queued_runs(session_id, limit=1)
        if queued:
            raise SessionBusy(session_id, queued[0].id, queued[0].status.value, queued=True)

    async def _stop_in_progress(self, new: Run, *, keep_partial: bool) -> None:
        """Cancel the session's run in progress (wherever it executes) for `new`."""
        holder = await self.runs.session_holder(new.session_id)
        if holder is None or holder.id == new.id:
            return
        # (a run that ended on its own in the meantime has freed the session all the same)
        with contextlib.suppress(InvalidStateTransition):
            await self.control.cancel(holder.id, keep_partial=keep_partial)
        log.info(
            "run_interrupted" if keep_partial else "run_rolled_back",
            run_id=holder.id,
            session_id=new.session_id,
            by_run_id=new.id,
        )

    # ------------------------------------------------------------------ the queue

    def ended(self, run_id: str, session_id: str) -> None:
        """`Executions.on_ended`: a run of the session ended here; start its next one."""
        if self.executions.stopping:
            return
        task = asyncio.create_task(self.advance(session_id), name=f"advance-{session_id}")
        self._advancing.add(task)
        task.add_done_callback(self._advanced)

    def _advanced(self, task: asyncio.Task[Run | None]) -> None:
        self._advancing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("session_queue_failed", error_type=type(task.exception()).__name__)

    async def advance(self, session_id: str) -> Run | None:
        """Start the session's next queued run here if the session is free; returns it
        (None when the session is busy, has no queued run, or another process won)."""
        executions = self.executions
        for _ in range(_ATTEMPTS):
            if executions.stopping:
                return None
            run = await self.runs.next_to_start(session_id)
            if run is None:  # busy, or nothing queued
                return None
            if not await self.runs.take_slot(run, executions.owner_id):
                continue  # taken by another run, cancelled, started elsewhere: look again
            with executions.starting_here(run.id):
                checkpoint = await self.runs.latest_checkpoint(run.id)
                if checkpoint is None:  # deleted with its session in the meantime
                    return None
                await executions.continue_from(run, checkpoint, {})
            log.info("queued_run_started", run_id=run.id, session_id=session_id)
            return run
        return None

    async def advance_all(self) -> int:
        """Every session whose slot is free but that has queued runs (maintenance, any
        process: crash safety); returns how many runs it started here. A slot still held
        by a run that has ended (no write should leave one) is given back first, loudly."""
        started = 0
        for session_id in await self.runs.release_ended():
            log.warning("session_slot_released", session_id=session_id, reason="run ended")
        for session_id in await self.runs.sessions_to_advance():
            if await self.advance(session_id) is not None:
                started += 1
        return started

    async def close(self) -> None:
        """Stop starting queued runs (the process is stopping)."""
        tasks = list(self._advancing)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
