"""`agio users …` and `agio keys …`.

These work on the database directly (like `agio db upgrade`): for whoever runs the
server, also when no admin can sign in any more. They use the database the settings name
(AGIO_DATABASE_URL, else `agio.db` in the data dir, AGIO_DATA_DIR or ./.agio) and refuse
to start when it does not exist yet, rather than create an empty one in the wrong folder.

The servers remember verified keys and users (`agio.services.auth_cache`). A command that
changes one tells them as the servers tell each other: through Redis when AGIO_REDIS_URL
is set, and through the change stamp beside a SQLite file; else (PostgreSQL without
Redis) they see it within AGIO_AUTH_CACHE_SECONDS.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from agio.cli._common import invalid

if TYPE_CHECKING:
    from agio.bus.base import EventBus
    from agio.config.settings import Settings
    from agio.services.auth import AuthService
    from agio.storage.users import User

_T = TypeVar("_T")

ROLES = ["admin", "user", "viewer"]


def _sqlite_file(settings: Settings) -> Path | None:
    """The SQLite file the settings name (None for another database or an in-memory one)."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _check_database_exists(settings: Settings) -> None:
    path = _sqlite_file(settings)
    if path is None or path.exists():
        return
    if settings.database_url:
        where = f"AGIO_DATABASE_URL names {path}, which does not exist"
    else:
        where = (
            f"no Agio database in the data dir {settings.data_dir.resolve()} "
            f"({path.name} is missing; the data dir is AGIO_DATA_DIR, default ./.agio "
            "in the current folder)"
        )
    raise click.ClickException(
        f"{where}. Run this in the folder the server runs in, or set AGIO_DATA_DIR (or "
        "AGIO_DATABASE_URL) to the server's; the server creates its database when it first "
        "starts."
    )


def _database_settings() -> Settings:
    """The settings, once it is clear that the database they name exists."""
    from agio.config.settings import Settings

    settings = Settings()
    _check_database_exists(settings)
    return settings


async def _servers_bus(settings: Settings) -> EventBus | None:
    """The servers' Redis bus, to tell them of a change; None without Redis, or when it
    cannot be reached (said on stderr: the servers then see the change later)."""
    from agio.bus.redis import RedisBus

    if not settings.redis_url:
        return None
    bus = RedisBus(settings.redis_url, settings.redis_prefix)
    try:
        await bus.start()
    except Exception as exc:
        await bus.close()
        click.echo(
            f"warning: Redis not reachable ({type(exc).__name__}); running servers see this "
            f"change within AGIO_AUTH_CACHE_SECONDS ({settings.auth_cache_seconds:g} s)",
            err=True,
        )
        return None
    return bus


def _with_auth(
    work: Callable[[AuthService], Awaitable[_T]],
    settings: Settings | None = None,
    *,
    changes: bool = False,
) -> _T:
    """Run `work` with an auth service on the database; `changes`: it changes users or
    keys, so the running servers are told (see the module)."""
    from agio.domain.errors import AgioError
    from agio.services.auth import AuthService
    from agio.storage import migrate
    from agio.storage.database import Database
    from agio.storage.users import UserRepository

    settings = settings or _database_settings()

    async def run() -> _T:
        database = Database(settings.resolved_database_url)
        bus = None
        try:
            await migrate.upgrade(database)
            auth = AuthService(UserRepository(database), settings, jwt_secret=None)
            bus = await _servers_bus(settings) if changes else None
            if bus is not None:
                auth.use_bus(bus)
            return await work(auth)
        finally:
            if bus is not None:
                await bus.close()  # sends what it was told first
            await database.dispose()

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


def _new_password(validate: Callable[[str], object]) -> str:
    """Ask for a password twice; a refused one is named by its rule, never echoed."""
    from pydantic import ValidationError

    secret: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        validate(secret)
    except ValidationError as exc:
        raise click.ClickException(invalid(exc)) from None
    return secret


@click.group()
def users() -> None:
    """Manage users (directly in the database)."""


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="user", show_default=True)
@click.option(
    "--password/--no-password",
    default=True,
    show_default=True,
    help="Ask for a password (at least 12 characters); --no-password: API keys only.",
)
def users_create(username: str, role: str, password: bool) -> None:
    """Create a user."""
    from pydantic import ValidationError

    from agio.api.schemas.auth import UserCreate
    from agio.domain.security import Role

    settings = _database_settings()  # before asking for a password
    secret = None
    if password:
        secret = _new_password(lambda s: UserCreate(username=username, password=s))
    try:
        body = UserCreate(username=username, password=secret, role=Role(role))
    except ValidationError as exc:
        raise click.ClickException(invalid(exc)) from None

    async def work(auth: AuthService) -> Any:
        hashed = auth.hash_password(body.password) if body.password else None
        return await auth.users.create(body.username, body.role, hashed)

    user = _with_auth(work, settings)
    click.echo(f"created {user.id} {user.username} ({user.role.value})")


@users.command("list")
def users_list() -> None:
    """List users."""

    async def work(auth: AuthService) -> Any:
        return await auth.users.list(limit=10_000, offset=0)

    for user in _with_auth(work).items:
        state = "disabled" if user.disabled else "active"
        click.echo(f"{user.id}  {user.username:<24} {user.role.value:<7} {state}")


def _set_disabled(username: str, disabled: bool) -> User:
    async def work(auth: AuthService) -> User:
        user = await _user_named(auth, username)
        return await auth.users.update(user.id, disabled=disabled)

    return _with_auth(work, changes=True)


@users.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Disable a user: their API keys and tokens fail from the very next request, and they
    cannot sign in (the last enabled admin cannot be disabled)."""
    user = _set_disabled(username, True)
    click.echo(f"disabled {user.id} {user.username}: their keys and tokens no longer work")


@users.command("enable")
@click.argument("username")
def users_enable(username: str) -> None:
    """Enable a disabled user again (their keys that are not revoked work again)."""
    user = _set_disabled(username, False)
    click.echo(f"enabled {user.id} {user.username}")


@users.command("set-password")
@click.argument("username")
def users_set_password(username: str) -> None:
    """Set a user's password (asked twice; at least 12 characters)."""
    from agio.api.schemas.auth import UserUpdate

    settings = _database_settings()
    secret = _new_password(lambda s: UserUpdate(password=s))

    async def work(auth: AuthService) -> User:
        user = await _user_named(auth, username)
        return await auth.users.update(user.id, password_hash=auth.hash_password(secret))

    user = _with_auth(work, settings, changes=True)
    click.echo(f"password set for {user.id} {user.username}")


@click.group()
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

    key = _with_auth(work, changes=True)
    click.echo(f"revoked {key.id} ({key.prefix}…)")
