"""What the command groups share: AGIO_* exports, error messages without the input, and
the connection to a server (`--url`, `--api-key`, the local admin key)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import click

if TYPE_CHECKING:
    from pydantic import ValidationError

    from agio.client import AgioClient

DEFAULT_URL = "http://127.0.0.1:8000"

_F = TypeVar("_F", bound=Callable[..., Any])


def export(name: str, value: object | None) -> None:
    """Set AGIO_<name> (so that Settings, in this process and in workers, sees it)."""
    if value is not None:
        os.environ[f"AGIO_{name}"] = str(value)


def invalid(exc: ValidationError) -> str:
    """A validation error as `field: message; …`, never with the rejected value (which may
    be a password or a secret)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        where = ".".join(str(part) for part in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)


def server_options(command: _F) -> _F:
    """`--url` and `--api-key`, for the commands that talk to a server over HTTP."""
    command = click.option(
        "--api-key",
        default=None,
        envvar="AGIO_API_KEY",
        help="[env AGIO_API_KEY; default for a server on this machine: the admin key in "
        "the data dir, AGIO_DATA_DIR or ./.agio].",
    )(command)
    return click.option(
        "--url",
        default=DEFAULT_URL,
        show_default=True,
        envvar="AGIO_URL",
        help="The server [env AGIO_URL].",
    )(command)


def is_local(url: str) -> bool:
    """Whether `url` names this machine (a loopback address or `localhost`)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def local_admin_key(url: str) -> str | None:
    """The bootstrap admin key in the data dir (AGIO_DATA_DIR, default ./.agio) of a
    server started from this folder, if it is there and readable, so that `agio chat`
    works on a laptop with nothing to set. Only ever sent to a server on this machine."""
    if not is_local(url):
        return None
    from agio.config.settings import Settings
    from agio.services.auth import ADMIN_KEY_FILE

    try:
        return (Settings().data_dir / ADMIN_KEY_FILE).read_text().strip() or None
    except (OSError, ValueError):
        return None


@contextmanager
def connect(url: str, api_key: str | None) -> Iterator[AgioClient]:
    """A client for the server at `url`; its errors become one-line CLI errors."""
    import httpx

    from agio.client import AgioClient, AgioHTTPError

    try:
        with AgioClient(url, api_key=api_key or local_admin_key(url)) as client:
            yield client
    except AgioHTTPError as exc:
        raise click.ClickException(f"{exc.status} {exc.type}: {exc.message}") from exc
    except httpx.TransportError as exc:
        raise click.ClickException(f"cannot reach Agio at {url}: {exc}") from exc


def follow_hint(run_id: str, url: str) -> str:
    """How to get back to a run that goes on without us."""
    where = "" if url == DEFAULT_URL else f" --url {url}"
    return (
        f"run {run_id} goes on on the server.\n"
        f"  follow it: agio runs follow {run_id}{where}\n"
        f"  cancel it: agio runs cancel {run_id}{where}"
    )
