"""`agio config validate` and `agio db upgrade`: work on files and the database, no server."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from agio.cli._common import export


@click.group()
def config() -> None:
    """Work with component configuration files."""


@config.command("validate")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
def config_validate(directory: Path | None) -> None:
    """Check every YAML file in DIRECTORY (default: the configs dir) without a server.

    Prints each problem with its file and field; exits with 1 when there is any.
    """
    from agio.config.loader import check_directory
    from agio.config.settings import Settings

    target = directory or Settings().configs_dir
    result = check_directory(target)
    for problem in result.problems:
        click.echo(f"{problem}", err=True)
    summary = (
        f"{result.files} file(s), {len(result.components)} valid component(s), "
        f"{len(result.problems)} problem(s)"
    )
    click.echo(summary)
    sys.exit(1 if result.problems else 0)


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.option("--database-url", default=None, help="[env AGIO_DATABASE_URL].")
def db_upgrade(database_url: str | None) -> None:
    """Apply all migrations (the server also does this when it starts)."""
    from agio.config.settings import Settings
    from agio.storage import migrate
    from agio.storage.database import Database

    export("DATABASE_URL", database_url)
    settings = Settings()

    async def run() -> str | None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = Database(settings.resolved_database_url)
        try:
            await migrate.upgrade(database)
            return await migrate.current_revision(database)
        finally:
            await database.dispose()

    click.echo(f"database at revision {asyncio.run(run())}")
