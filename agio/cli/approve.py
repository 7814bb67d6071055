"""`agio chat`'s question when a run waits for the caller's decision on a tool call:
`Approve calculator({...})? [y/N/e(dit)]` (SPEC §11)."""

from __future__ import annotations

import json
from typing import Any

import click

from agio.client import AgioClient, AgioHTTPError

CHOICES = click.Choice(["y", "n", "e"], case_sensitive=False)


def ask(client: AgioClient, run_id: str, data: dict[str, Any]) -> bool:
    """Ask about one call and send the decision; False when there is nobody to ask (the
    input ended): the run keeps waiting for a decision made elsewhere."""
    args = json.dumps(data.get("args", {}), ensure_ascii=False)
    try:
        answer = click.prompt(
            f"Approve {data['tool']}({args})? [y/N/e(dit)]",
            type=CHOICES,
            default="n",
            show_choices=False,
            show_default=False,
            err=True,
        ).lower()
        arguments = _edited(data.get("args", {})) if answer == "e" else None
    except click.Abort:
        return False
    decision = "reject" if answer == "n" else "approve"
    reason = "rejected in agio chat" if decision == "reject" else None
    try:
        client.decide(run_id, data["call_id"], decision, arguments=arguments, reason=reason)
    except AgioHTTPError as exc:  # decided elsewhere first, or edited arguments refused
        click.echo(click.style(f"! {exc}", fg="red"), err=True)
        if exc.status == 422:
            return ask(client, run_id, data)
    return True


def _edited(args: dict[str, Any]) -> dict[str, Any]:
    while True:
        text = click.prompt(
            "Arguments (JSON)", default=json.dumps(args, ensure_ascii=False), err=True
        )
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            click.echo(click.style(f"! not JSON: {exc}", fg="red"), err=True)
            continue
        if isinstance(value, dict):
            return value
        click.echo(click.style("! the arguments must be a JSON object", fg="red"), err=True)
