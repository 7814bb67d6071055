"""What a running run writes, and to where: `RunSink`.

`AgentRun` hands everything it writes to a sink without waiting, and waits (`flush`) only
before it says the run is over. The server's sink is `agio.storage.writer.RunWriter`
(group commit, then publish on the bus), which satisfies this protocol structurally; tests
can hand the loop an in-memory one.
"""

from __future__ import annotations

from typing import Any, Protocol

from agio.domain.events import Event
from agio.domain.runs import Step
from agio.storage.checkpoints import NewCheckpoint
from agio.storage.sessions import NewSessionMessage


class RunSink(Protocol):
    def append(self, event: Event) -> None:
        """The run's next event (its `seq` numbered by the run)."""

    def save_step(self, step: Step) -> None:
        """A step, new or updated (keyed by run and step number)."""

    def update_run(self, run_id: str, **values: Any) -> None:
        """Columns of the run's row to change (status, response, metrics, …)."""

    def add_session_messages(self, rows: list[NewSessionMessage]) -> None:
        """`session_messages` rows: what a completed run adds to its session."""

    def save_model_call(self, row: dict[str, Any]) -> None:
        """A row of the model-call log (`agio.runtime.model_call_log.CallLog` builds it)."""

    def save_checkpoint(self, row: NewCheckpoint) -> None:
        """A `checkpoints` row, as built by `agio.storage.checkpoints.checkpoint_row`."""

    async def flush(self, run_id: str | None = None) -> None:
        """Return once everything handed over so far is stored (and published); with
        `run_id`, raise if that run's writes could not be stored."""

    def watched(self, run_id: str) -> bool:
        """Somebody follows the run's events as they come (a stream in this process): its
        first text is worth a transaction of its own."""
