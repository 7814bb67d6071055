"""`agio chat`: send a message to an agent and stream the answer."""

from __future__ import annotations

import click

from agio.cli import approve
from agio.cli._common import connect, follow_hint, server_options
from agio.cli.render import EventPrinter


@click.command()
@click.argument("agent")
@click.argument("message")
@click.option("--session", "session_id", default=None, help="Continue this session.")
@click.option("--user", "user_id", default=None, help="User id to record on the run.")
@server_options
def chat(
    agent: str,
    message: str,
    session_id: str | None,
    user_id: str | None,
    url: str,
    api_key: str | None,
) -> None:
    """Send MESSAGE to AGENT and stream the answer (tool calls shown as they happen).

    A tool call that waits for approval is asked about: `Approve tool({...})?
    [y/N/e(dit)]` (e: approve with arguments you edit). Ctrl-C stops watching, not the
    run: it prints the run's id and how to follow or cancel it.
    """
    printer = EventPrinter()
    try:
        with connect(url, api_key) as client:
            for event in client.stream_chat(agent, message, session_id=session_id, user_id=user_id):
                printer.show(event)
                waits = event.type == "approval_requested" and printer.run_id is not None
                if waits and not approve.ask(client, str(printer.run_id), event.data):
                    click.echo(
                        f"the run waits for a decision: {follow_hint(str(printer.run_id), url)}",
                        err=True,
                    )
                    return
    except KeyboardInterrupt:
        click.echo(err=True)
        if printer.run_id is None:
            click.echo(
                "interrupted before the server named the run; `agio runs list` shows it if "
                "it started",
                err=True,
            )
        else:
            click.echo(f"interrupted: {follow_hint(printer.run_id, url)}", err=True)
        raise SystemExit(130) from None
