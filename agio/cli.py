"""The `agio` command line."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from agio import __version__


@click.group()
@click.version_option(__version__, prog_name="agio")
def main() -> None:
    """Agio: agents with a production-grade HTTP control plane."""


def _export(name: str, value: object | None) -> None:
    if value is not None:
        os.environ[f"AGIO_{name}"] = str(value)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes."
)
@click.option(
    "--configs-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Components folder [env AGIO_CONFIGS_DIR; default ./configs].",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data folder [env AGIO_DATA_DIR; default ./.agio].",
)
@click.option(
    "--database-url",
    default=None,
    help="SQLAlchemy URL [env AGIO_DATABASE_URL; default SQLite in the data dir].",
)
@click.option("--log-level", default=None, help="[env AGIO_LOG_LEVEL; default INFO].")
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    default=None,
    help="[env AGIO_LOG_FORMAT; default console].",
)
def serve(
    host: str,
    port: int,
    workers: int,
    configs_dir: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    log_level: str | None,
    log_format: str | None,
) -> None:
    """Run the HTTP server."""
    import uvicorn
    from pydantic import ValidationError

    from agio.config.settings import Settings

    # Options become AGIO_* variables so that every worker process builds the same Settings.
    _export("CONFIGS_DIR", configs_dir.resolve() if configs_dir else None)
    _export("DATA_DIR", data_dir.resolve() if data_dir else None)
    _export("DATABASE_URL", database_url)
    _export("LOG_LEVEL", log_level)
    _export("LOG_FORMAT", log_format)
    try:
        settings = Settings()
    except ValidationError as exc:
        raise click.ClickException(f"invalid settings:\n{exc}") from exc
    click.echo(
        f"Agio {__version__} on http://{host}:{port}  (API docs: http://{host}:{port}/docs)",
        err=True,
    )
    uvicorn.run(
        "agio.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        log_level=settings.log_level.lower(),
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


@main.command()
@click.argument("agent")
@click.argument("message")
@click.option("--session", "session_id", default=None, help="Continue this session.")
@click.option("--user", "user_id", default=None, help="User id to record on the run.")
@click.option(
    "--url",
    default="http://127.0.0.1:8000",
    show_default=True,
    envvar="AGIO_URL",
    help="The server [env AGIO_URL].",
)
@click.option("--api-key", default=None, envvar="AGIO_API_KEY", help="[env AGIO_API_KEY].")
def chat(
    agent: str,
    message: str,
    session_id: str | None,
    user_id: str | None,
    url: str,
    api_key: str | None,
) -> None:
    """Send MESSAGE to AGENT and stream the answer (tool calls shown as they happen)."""
    import json

    import httpx

    from agio.client import AgioClient, AgioHTTPError

    def dim(text: str) -> str:
        return click.style(text, dim=True)

    started = None
    try:
        with AgioClient(url, api_key=api_key) as client:
            for event in client.stream_chat(agent, message, session_id=session_id, user_id=user_id):
                data = event.data
                if event.type == "run_started":
                    started = data
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
                        dim(f"← {data['tool']}: ")
                        + outcome
                        + dim(f" ({data.get('duration', 0):.3f}s)")
                    )
                elif event.type == "error":
                    click.echo(dim(f"! {data['error']['message']}"), err=True)
                elif event.type == "run_completed":
                    m = data["metrics"]
                    session = started["session_id"] if started else "?"
                    click.echo()
                    click.echo(
                        dim(
                            f"— {data['run_id']} · session {session} · "
                            f"{m['total_tokens']} tokens · {m['duration']:.2f}s"
                        )
                    )
                elif event.type in ("run_failed", "run_cancelled"):
                    click.echo()
                    error = data.get("error") or {"type": "Cancelled", "message": "cancelled"}
                    raise click.ClickException(
                        f"run {data['run_id']} ended: {error['type']}: {error['message']}"
                    )
    except AgioHTTPError as exc:
        raise click.ClickException(f"{exc.status} {exc.type}: {exc.message}") from exc
    except httpx.TransportError as exc:
        raise click.ClickException(f"cannot reach Agio at {url}: {exc}") from exc


@main.group()
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


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.option("--database-url", default=None, help="[env AGIO_DATABASE_URL].")
def db_upgrade(database_url: str | None) -> None:
    """Apply all migrations (the server also does this when it starts)."""
    from agio.config.settings import Settings
    from agio.storage import migrate
    from agio.storage.database import Database

    _export("DATABASE_URL", database_url)
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
