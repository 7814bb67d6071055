"""A run as a Responses API response, and its event log as the Responses stream.

`ResponseLog` reads the run's events in order (from the first) and gives the stream's
events, each with the next `sequence_number` (from 0). It is a pure function of the
run's row and its durable event log, so any process, at any time, rebuilds the same
events with the same numbers: a client that lost its stream asks for the events after
the last number it saw (`starting_after`) and gets exactly the missing ones.

- `response.created` (status `queued`) first; `response.in_progress` at `run_started`;
- each model call's text is an output message: `response.output_item.added` and
  `response.content_part.added` at its first `content_delta`, then one
  `response.output_text.delta` per delta, closed (`…output_text.done`,
  `…content_part.done`, `…output_item.done`) when the model call ends (`step_completed`),
  its stream restarts, or the run ends;
- tool calls are not in the stream (the agent runs them; they are in the run's log);
- the end: `response.completed`, `response.failed` (error `server_error`, with Agio's
  error type and message), or, for a cancelled run, `response.incomplete` with status
  `cancelled` (the SDK knows no `response.cancelled` event).
"""

from __future__ import annotations

import copy
from typing import Any

from agio.domain import events as ev
from agio.domain.events import Event
from agio.domain.runs import Run, RunStatus


def response_id(run_id: str) -> str:
    return "resp_" + run_id.removeprefix("run_")


def run_id_of(response: str) -> str:
    return "run_" + response.removeprefix("resp_")


def _epoch(run: Run) -> int:
    return int(run.created_at.timestamp())


_STATUS = {
    RunStatus.PENDING: "queued",
    RunStatus.COMPLETED: "completed",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "cancelled",
}


class ResponseLog:
    """The Responses view of one run, built from its events (`feed`) in `seq` order."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.rid = response_id(run.id)
        self.number = -1
        self.status = "queued"
        self.output: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None
        self.error: dict[str, str] | None = None
        self.usage: dict[str, Any] | None = None
        self.completed_at: int | None = None

    # ------------------------------------------------------------------ the object

    def response(self) -> dict[str, Any]:
        """The response as the events so far describe it."""
        options = self.run.response_options or {}
        return {
            "id": self.rid,
            "object": "response",
            "created_at": _epoch(self.run),
            "completed_at": self.completed_at,
            "status": self.status,
            "background": bool(options.get("background", False)),
            "error": self.error,
            "incomplete_details": None,
            "instructions": options.get("instructions"),
            "max_output_tokens": None,
            "metadata": options.get("metadata") or {},
            "model": self.run.agent_name,
            "output": copy.deepcopy(self.output),
            "parallel_tool_calls": True,
            "previous_response_id": options.get("previous_response_id"),
            "store": bool(options.get("store", True)),
            "temperature": None,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": None,
            "truncation": "disabled",
            "usage": self.usage,
            "user": None,
        }

    def current(self) -> dict[str, Any]:
        """The response now, its status from the run's row where the log says less (a
        run paused or waiting for approvals is `in_progress`)."""
        body = self.response()
        if self.status in ("queued", "in_progress"):
            body["status"] = _STATUS.get(self.run.status, "in_progress")
            if self.run.status is RunStatus.PENDING and self.run.started_at is not None:
                body["status"] = "in_progress"
        return body

    # ------------------------------------------------------------------ the stream

    def _event(self, type_: str, **fields: Any) -> dict[str, Any]:
        self.number += 1
        return {"type": type_, "sequence_number": self.number, **fields}

    def start(self) -> list[dict[str, Any]]:
        return [self._event("response.created", response=self.response())]

    def _open(self) -> list[dict[str, Any]]:
        index = len(self.output)
        item: dict[str, Any] = {
            "id": f"msg_{self.rid.removeprefix('resp_')}_{index}",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        self.output.append(item)
        self.open = item
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        added = self._event(
            "response.output_item.added", output_index=index, item=copy.deepcopy(item)
        )
        item["content"].append(part)
        return [
            added,
            self._event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=copy.deepcopy(part),
            ),
        ]

    def _close(self) -> list[dict[str, Any]]:
        item = self.open
        if item is None:
            return []
        self.open = None
        index = len(self.output) - 1
        part = item["content"][0]
        item["status"] = "completed"
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        return [
            self._event("response.output_text.done", **where, text=part["text"], logprobs=[]),
            self._event("response.content_part.done", **where, part=copy.deepcopy(part)),
            self._event("response.output_item.done", output_index=index, item=copy.deepcopy(item)),
        ]

    def feed(self, event: Event) -> list[dict[str, Any]]:
        """The stream's events for the run's next event."""
        if event.type == ev.RUN_STARTED:
            self.status = "in_progress"
            return [self._event("response.in_progress", response=self.response())]
        if event.type == ev.CONTENT_DELTA:
            delta = str(event.data.get("content") or "")
            if not delta:
                return []
            out = self._open() if self.open is None else []
            assert self.open is not None
            self.open["content"][0]["text"] += delta
            out.append(
                self._event(
                    "response.output_text.delta",
                    item_id=self.open["id"],
                    output_index=len(self.output) - 1,
                    content_index=0,
                    delta=delta,
                    logprobs=[],
                )
            )
            return out
        if event.type in (ev.STEP_COMPLETED, ev.TOOL_CALL_STARTED, ev.ERROR):
            return self._close()
        if event.terminal:
            return self._end(event)
        return []

    def _end(self, event: Event) -> list[dict[str, Any]]:
        out = self._close()
        self.completed_at = int(event.timestamp.timestamp())
        metrics = event.data.get("metrics") or self.run.metrics or {}
        prompt = int(metrics.get("prompt_tokens") or 0)
        completion = int(metrics.get("completion_tokens") or 0)
        self.usage = {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion,
        }
        if event.type == ev.RUN_COMPLETED:
            self.status = "completed"
            out.append(self._event("response.completed", response=self.response()))
        elif event.type == ev.RUN_FAILED:
            self.status = "failed"
            error = event.data.get("error") or {}
            message = f"{error.get('type', 'RunFailed')}: {error.get('message', '')}"
            self.error = {"code": "server_error", "message": message}
            out.append(self._event("response.failed", response=self.response()))
        else:
            self.status = "cancelled"
            out.append(self._event("response.incomplete", response=self.response()))
        return out
