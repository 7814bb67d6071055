"""Printing a run's events on a terminal, for `agio chat` and `agio runs follow`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from agio.client import RunEvent


def dim(text: str) -> str:
    return click.style(text, dim=True)


class EventPrinter:
    """Prints each event as it comes: the answer's text, tool calls, errors, and a summary
    line at the end. A failed or cancelled run is a `ClickException` (exit status 1)."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.session_id: str | None = None

    def show(self, event: RunEvent) -> None:
        data: dict[str, Any] = event.data
        if data.get("run_id"):
            self.run_id = str(data["run_id"])
        if event.type == "run_started":
            self.session_id = data.get("session_id")
        elif event.type == "content_delta":
            click.echo(data["content"], nl=False)
        elif event.type == "tool_call_started":
            args = json.dumps(data.get("args", {}), ensure_ascii=False)
            click.echo(dim(f"→ {data['tool']}({args})"))
        elif event.type == "tool_call_completed":
            if data.get("error"):
                outcome = click.style(f"error: {data['error']}", fg="red")
            else:
                outcome = json.dumps(data.get("result"), ensure_ascii=False)[:300]
            click.echo(
                dim(f"← {data['tool']}: ") + outcome + dim(f" ({data.get('duration', 0):.3f}s)")
            )
        elif event.type == "error":
            click.echo(dim(f"! {data['error']['message']}"), err=True)
        elif event.type == "approval_requested":
            click.echo()
            args = json.dumps(data.get("args", {}), ensure_ascii=False)
            click.echo(dim(f"? {data['tool']}({args}) waits for approval"))
        elif event.type == "approval_resolved":
            verdict = "approved" if data.get("decision") == "approve" else "rejected"
            click.echo(dim(f"✓ {data['tool']} {verdict} by {data.get('decided_by')}"))
        elif event.type == "run_paused":
            click.echo()
            click.echo(dim(f"‖ paused (agio runs follow {self.run_id} waits for a resume)"))
        elif event.type == "run_completed":
            m = data["metrics"]
            click.echo()
            click.echo(
                dim(
                    f"— {data['run_id']} · session {self.session_id or '?'} · "
                    f"{m['total_tokens']} tokens · {m['duration']:.2f}s"
                )
            )
        elif event.type in ("run_failed", "run_cancelled"):
            click.echo()
            error = data.get("error") or {"type": "Cancelled", "message": "cancelled"}
            raise click.ClickException(
                f"run {data['run_id']} ended: {error['type']}: {error['message']}"
            )
