"""`agio serve`: run the HTTP server (uvicorn, one or more worker processes)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from agio import __version__
from agio.cli._common import export, invalid

# Where `agio serve` listens, for the bootstrap banner that the app prints in the worker
# (agio/api/container.py `_announce`): not a setting, a fact the app cannot see itself.
SERVE_URL_VARIABLE = "AGIO_SERVE_URL"


def base_url(host: str, port: int) -> str:
    """The URL to reach a server listening on host:port from this machine: a wildcard
    address becomes the loopback one, an IPv6 address gets its brackets."""
    if host in ("0.0.0.0", ""):  # noqa: S104  # the wildcard address, compared, not bound
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@click.command()
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
    export("CONFIGS_DIR", configs_dir.resolve() if configs_dir else None)
    export("DATA_DIR", data_dir.resolve() if data_dir else None)
    export("DATABASE_URL", database_url)
    export("LOG_LEVEL", log_level)
    export("LOG_FORMAT", log_format)
    from agio.api.auth import is_loopback
    from agio.services.auth import WeakSecret, check_jwt_secret

    try:
        settings = Settings()
        check_jwt_secret(settings.jwt_secret, settings.environment)
    except ValidationError as exc:
        raise click.ClickException(f"invalid settings: {invalid(exc)}") from exc
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
    if not is_loopback(host) and not settings.trusted_proxies:
        click.echo(
            f"WARNING: --host {host} serves plain HTTP to other machines, where browsers "
            "cannot sign in to the console (its session cookie needs HTTPS outside "
            "loopback); serve it behind a TLS proxy (AGIO_TRUSTED_PROXIES) or reach it "
            "through an SSH tunnel. API keys and tokens work as before.",
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
    url = base_url(host, port)
    if port:  # port 0: the system picks one when uvicorn binds; the banner cannot know it
        os.environ[SERVE_URL_VARIABLE] = url
    click.echo(f"Agio {__version__} on {url}  (the web console; API docs: {url}/docs)", err=True)
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
