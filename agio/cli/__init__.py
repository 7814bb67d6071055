"""The `agio` command line, one module per command group:

- `server`: `agio serve`
- `chat`: `agio chat` (over HTTP)
- `runs`: `agio runs list|show|follow|cancel` (over HTTP)
- `accounts`: `agio users …`, `agio keys …` (on the database)
- `maintenance`: `agio config validate`, `agio db upgrade`
"""

from __future__ import annotations

import click

from agio import __version__
from agio.cli import accounts, chat, maintenance, runs, server


@click.group()
@click.version_option(__version__, prog_name="agio")
def main() -> None:
    """Agio: agents with a production-grade HTTP control plane."""


main.add_command(server.serve)
main.add_command(chat.chat)
main.add_command(runs.runs)
main.add_command(maintenance.config)
main.add_command(maintenance.db)
main.add_command(accounts.users)
main.add_command(accounts.keys)

__all__ = ["main"]
