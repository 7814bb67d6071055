"""Storing a new run: its row, its session (a new one) and its first checkpoint in one
batch of the writer, and its task started (or, queued, left for its session's turn).
A mixin of `agio.runtime.launching.Executions`."""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from agio.domain.errors import SessionBusy, ValidationFailed
from agio.domain.runs import Run, RunStatus
from agio.runtime.launch import Launch
from agio.runtime.loop import RunOutcome
from agio.runtime.snapshot import AgentSnapshot
from agio.runtime.state import RunState
from agio.storage.checkpoints import checkpoint_row
from agio.storage.runs import RunRepository, new_run_rows
from agio.storage.writer import RunWriteFailed, RunWriter

#: the checkpoint a queued run is created with: its conversation is read when it starts
QUEUED_CHECKPOINT = "queued"


class Creating(abc.ABC):
    """`create_queued` and `create_and_launch`, for `Executions` (which has the rest)."""

    runs: RunRepository
    writer: RunWriter
    owner_id: str
    tasks: dict[str, asyncio.Task[RunOutcome]]
    failed_early: dict[str, dict[str, Any]]
    stopping: bool
    #: runs stored while the process was closing, never launched: handed over at close
    unlaunched: set[str]

    @abc.abstractmethod
    def starting_here(self, run_id: str) -> contextlib.AbstractContextManager[None]:
        """While the run is created here and its task not yet running."""

    @abc.abstractmethod
    def launch(self, launch: Launch) -> None:
        """Start the run's task."""

    async def create_queued(
        self,
        run: Run,
        snapshot: AgentSnapshot,
        state: RunState,
        *,
        before_launch: Callable[[Run], None] | None = None,
    ) -> None:
        """Store a queued run: pending, no owner, not holding its session, with a
        `queued` checkpoint (its message, not yet its history). Whichever process finds
        its session free first starts it (`agio.runtime.multitask`, `continue_from`)."""
        self.writer.create_run(new_run_rows(run, new_session=False, owner_id=None))
        self.writer.save_checkpoint(
            checkpoint_row(
                run.id,
                state,
                snapshot.to_json(),
                kind=QUEUED_CHECKPOINT,
                seq=0,
                status=RunStatus.PENDING,
                description="queued: the session's history is read when the run starts",
            )
        )
        if before_launch is not None:
            before_launch(run)
        try:
            await self.writer.flush(run.id)
        except RunWriteFailed as exc:
            raise ValidationFailed(f"The run could not be stored: {exc.error['message']}") from exc

    async def create_and_launch(
        self,
        run: Run,
        snapshot: AgentSnapshot,
        state: RunState,
        *,
        new_session: bool,
        description: str = "",
        before_launch: Callable[[Run], None] | None = None,
        may_be_taken: bool = False,
        launch_early: bool = True,
    ) -> None:
        """Store a new run with its `start` checkpoint and launch it; return once it is
        stored. Without `launch_early`, a new session's run too starts only once stored
        (a child run, whose id a stale copy of its parent may be creating as well: the
        one refused never runs). The run holds its session from this insert on (SPEC
        §12): a session held by another run refuses it, and the caller gets 409
        `SessionBusy` (so does one whose new session, a thread's, a concurrent chat
        created first: `may_be_taken`).

        On a new session (nothing else can hold it), the task starts while the creation
        commits: its model call overlaps the commit, and its first writes queue behind
        the creation's (the writer keeps the order), so nothing of the run is stored, or
        published, before the run itself. On an existing session the task starts once
        the creation is stored, so that a run refused for a busy session never reaches
        its model or tools. If the creation cannot be stored, its task is stopped and the
        caller gets the error; a run stored whose first writes were refused was ended
        `failed` by the writer."""
        with self.starting_here(run.id):
            self.writer.create_run(
                new_run_rows(
                    run, new_session=new_session, owner_id=self.owner_id, holds_session=True
                )
            )
            self.writer.save_checkpoint(
                checkpoint_row(
                    run.id,
                    state,
                    snapshot.to_json(),
                    kind="start",
                    seq=0,
                    status=RunStatus.PENDING,
                    description=description,
                )
            )
            if before_launch is not None:
                before_launch(run)
            early = new_session and launch_early
            launch = Launch(run.id, run.session_id, run.user_id, snapshot, state, stored=not early)
            if early:
                self.launch(launch)
            # stored (group commit) before anyone is told its id; still `starting` until
            # then, so the heartbeat leaves the run alone while it has no row to renew
            stored = asyncio.ensure_future(self.writer.flush(run.id))
            # a caller gone meanwhile leaves no stored run without its task
            stored.add_done_callback(lambda done: self._stored(launch, done, early))
            try:
                await asyncio.shield(stored)
            except RunWriteFailed as exc:
                # the flush answers for every write of the run so far: if the creation was
                # stored and a first write of the task's was refused, the run exists and
                # ended `failed` (its stream says so); only an unstored run is an error here
                if await self.runs.get_run(run.id) is not None:
                    return
                task = self.tasks.get(run.id)
                if task is not None and not task.done():
                    self.failed_early.setdefault(run.id, exc.error)
                    task.cancel()
                if not new_session or may_be_taken:
                    await self._refuse_busy(run.session_id, exc)
                raise ValidationFailed(
                    f"The run could not be stored: {exc.error['message']}"
                ) from exc

    def _stored(self, launch: Launch, stored: asyncio.Future[None], launched: bool) -> None:
        """A run's creation is stored (or refused), whether or not its caller still
        waits: the task of a run on an existing session starts now."""
        if stored.cancelled() or stored.exception() is not None:
            return  # the caller, if still there, says why; a refused run has no task
        if launched:
            return
        if self.stopping:  # the process is closing: it hands the run over instead
            self.unlaunched.add(launch.run_id)
            return
        self.launch(launch)

    async def _refuse_busy(self, session_id: str, exc: RunWriteFailed) -> None:
        """A creation on an existing session that was refused: `SessionBusy` naming the
        run holding the session, if the session's slot is why (the only constraint such
        an insert can break; the run holding it may have ended since)."""
        holder = await self.runs.session_holder(session_id)
        if holder is not None:
            raise SessionBusy(session_id, holder.id, holder.status.value) from exc
        message = exc.error.get("message", "")
        if "IntegrityError" in message or "SQLSTATE 23" in message:
            raise SessionBusy(session_id, None, None) from exc
