"""`agio runs list|show|follow|cancel`: runs on a server, over HTTP (like `agio chat`)."""

from __future__ import annotations

import json
from typing import Any

import click

from agio.cli._common import connect, follow_hint, server_options
from agio.cli.render import EventPrinter, dim
from agio.domain.runs import RunStatus


@click.group()
def runs() -> None:
    """Inspect, follow and cancel runs (over HTTP, as the caller's user)."""


def _print_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _one_line(text: str | None, width: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@runs.command("list")
@click.option("--agent", "agent_id", default=None, help="An agent's id or name.")
@click.option("--status", type=click.Choice([s.value for s in RunStatus]), default=None)
@click.option("--session", "session_id", default=None)
@click.option("--user", "user_id", default=None, help="A user's id (admins only).")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
@server_options
def runs_list(
    agent_id: str | None,
    status: str | None,
    session_id: str | None,
    user_id: str | None,
    limit: int,
    offset: int,
    as_json: bool,
    url: str,
    api_key: str | None,
) -> None:
    """List runs, newest first."""
    with connect(url, api_key) as client:
        page = client.list_runs(
            agent_id=agent_id,
            status=status,
            session_id=session_id,
            user_id=user_id,
            limit=limit,
            offset=offset,
        )
    if as_json:
        _print_json(page)
        return
    items: list[dict[str, Any]] = page["items"]
    for run in items:
        click.echo(
            f"{run['id']}  {run['status']:<9}  {run['agent_name']:<20}  "
            f"{run['created_at'][:19]}  {_one_line(run['input_query'], 40)}"
        )
    shown = f"{offset + 1}-{offset + len(items)}" if items else "none"
    click.echo(dim(f"{shown} of {page['total']}"), err=True)


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
@server_options
def runs_show(run_id: str, as_json: bool, url: str, api_key: str | None) -> None:
    """Show a run: its state, question, answer or error, and figures."""
    with connect(url, api_key) as client:
        run = client.get_run(run_id)
    if as_json:
        _print_json(run)
        return
    m = run["metrics"]
    lines = [
        ("run", run["id"]),
        ("status", run["status"]),
        ("agent", run["agent_name"]),
        ("session", run["session_id"]),
        ("user", run["user_id"] or "-"),
        ("created", run["created_at"]),
        ("ended", run["ended_at"] or "-"),
        ("steps", f"{m['total_steps']} ({m['tool_calls']} tool calls, {m['tool_errors']} failed)"),
        ("tokens", f"{m['total_tokens']} ({m['prompt_tokens']} in, {m['completion_tokens']} out)"),
        ("duration", f"{m['duration']:.2f}s"),
        ("question", run["input_query"]),
    ]
    if run.get("parent_run_id"):
        lines.append(("from run", run["parent_run_id"]))
    if run.get("response_content") is not None:
        lines.append(("answer", run["response_content"]))
    if run.get("error"):
        lines.append(("error", f"{run['error']['type']}: {run['error']['message']}"))
    for label, value in lines:
        click.echo(f"{label + ':':<10} {value}")


@runs.command("follow")
@click.argument("run_id")
@server_options
def runs_follow(run_id: str, url: str, api_key: str | None) -> None:
    """Print a run's events from the start, then live ones until it ends.

    Exits with 0 when the run completed, 1 when it failed or was cancelled. Ctrl-C stops
    following, not the run.
    """
    printer = EventPrinter()
    try:
        with connect(url, api_key) as client:
            for event in client.stream_events(run_id):
                printer.show(event)
    except KeyboardInterrupt:
        click.echo(err=True)
        click.echo(f"stopped following: {follow_hint(run_id, url)}", err=True)
        raise SystemExit(130) from None


@runs.command("cancel")
@click.argument("run_id")
@server_options
def runs_cancel(run_id: str, url: str, api_key: str | None) -> None:
    """Cancel a run: a model stream or tool call in progress stops at once."""
    with connect(url, api_key) as client:
        answer = client.cancel_run(run_id)
    click.echo(f"{answer['run_id']}: {answer['status']} ({answer['message']})")
