"""The `agio` command line."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from agio.services.auth import AuthService
    from agio.storage.users import User

from agio import __version__

_T = TypeVar("_T")


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
    from agio.api.auth import is_loopback
    from agio.services.auth import WeakSecret, check_jwt_secret

    try:
        settings = Settings()
        check_jwt_secret(settings.jwt_secret, settings.environment)
    except ValidationError as exc:
        raise click.ClickException(f"invalid settings:\n{exc}") from exc
    except WeakSecret as exc:
        raise click.ClickException(str(exc)) from exc
    if settings.auth_disabled:
        if not is_loopback(host):
            raise click.ClickException(
                f"AGIO_AUTH_DISABLED is set and --host {host} is not a loopback address: "
                "authentication may be turned off only on 127.0.0.1 or ::1"
            )
        click.echo(
            "WARNING: authentication is OFF (AGIO_AUTH_DISABLED); requests without "
            "credentials from this machine act as an admin",
            err=True,
        )
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # one set of Prometheus numbers for all the workers: each writes its values to
        # files here and /metrics adds them up (emptied now: old files are old processes')
        import shutil

        metrics_dir = (settings.data_dir / "prometheus").resolve()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
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
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)),
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
    api_key = api_key or _local_admin_key()
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


def _local_admin_key() -> str | None:
    """The bootstrap admin key of a server started from this folder, if it is here and
    readable: so that `agio chat` works on a laptop with nothing to set."""
    from agio.config.settings import Settings
    from agio.services.auth import ADMIN_KEY_FILE

    try:
        return (Settings().data_dir / ADMIN_KEY_FILE).read_text().strip() or None
    except (OSError, ValueError):
        return None


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


# ---------------------------------------------------------------------- users and keys
# These work on the database directly (like `agio db upgrade`): for whoever runs the
# server, also when no admin can sign in any more.


def _with_auth(work: Callable[[AuthService], Awaitable[_T]]) -> _T:
    from agio.config.settings import Settings
    from agio.services.auth import AuthService
    from agio.storage import migrate
    from agio.storage.database import Database
    from agio.storage.users import UserRepository

    settings = Settings()

    async def run() -> _T:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = Database(settings.resolved_database_url)
        try:
            await migrate.upgrade(database)
            return await work(AuthService(UserRepository(database), settings, jwt_secret=None))
        finally:
            await database.dispose()

    from agio.domain.errors import AgioError

    try:
        return asyncio.run(run())
    except AgioError as exc:
        raise click.ClickException(f"{exc.type}: {exc.message}") from exc


async def _user_named(auth: AuthService, username: str) -> User:
    from agio.domain.errors import UserNotFound

    user = await auth.users.by_username(username)
    if user is None:
        raise UserNotFound(username)
    return user


@main.group()
def users() -> None:
    """Manage users (directly in the database)."""


@users.command("create")
@click.argument("username")
@click.option(
    "--role", type=click.Choice(["admin", "user", "viewer"]), default="user", show_default=True
)
@click.option(
    "--password/--no-password",
    default=True,
    show_default=True,
    help="Ask for a password (at least 12 characters); --no-password: API keys only.",
)
def users_create(username: str, role: str, password: bool) -> None:
    """Create a user."""
    from agio.api.schemas.auth import UserCreate
    from agio.domain.security import Role

    secret = None
    if password:
        secret = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        body = UserCreate(username=username, password=secret, role=Role(role))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc

    async def work(auth: AuthService) -> Any:
        hashed = auth.hash_password(body.password) if body.password else None
        return await auth.users.create(body.username, body.role, hashed)

    user = _with_auth(work)
    click.echo(f"created {user.id} {user.username} ({user.role.value})")


@users.command("list")
def users_list() -> None:
    """List users."""

    async def work(auth: AuthService) -> Any:
        return await auth.users.list(limit=10_000, offset=0)

    for user in _with_auth(work).items:
        state = "disabled" if user.disabled else "active"
        click.echo(f"{user.id}  {user.username:<24} {user.role.value:<7} {state}")


@main.group()
def keys() -> None:
    """Manage API keys (directly in the database)."""


@keys.command("create")
@click.argument("username")
@click.option("--name", default="cli", show_default=True, help="What the key is for.")
@click.option("--expires-in-days", type=click.IntRange(1, 3650), default=None)
def keys_create(username: str, name: str, expires_in_days: int | None) -> None:
    """Create an API key for USERNAME and print it (only this once)."""

    async def work(auth: AuthService) -> Any:
        user = await _user_named(auth, username)
        return await auth.create_key(user.id, name, expires_in_days=expires_in_days)

    new = _with_auth(work)
    click.echo(f"created {new.key.id} for {username}; the key (shown only now):", err=True)
    click.echo(new.secret)


@keys.command("list")
@click.argument("username", required=False)
def keys_list(username: str | None) -> None:
    """List API keys (of USERNAME, or all): prefixes and metadata, never the keys."""

    async def work(auth: AuthService) -> Any:
        user_id = (await _user_named(auth, username)).id if username else None
        return await auth.users.list_keys(user_id, limit=10_000, offset=0)

    for key in _with_auth(work).items:
        state = "revoked" if key.revoked_at else "active"
        click.echo(f"{key.id}  {key.prefix}…  {key.user_id}  {key.name:<20} {state}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key: it fails from the very next request."""

    async def work(auth: AuthService) -> Any:
        return await auth.users.revoke_key(key_id)

    key = _with_auth(work)
    click.echo(f"revoked {key.id} ({key.prefix}…)")
