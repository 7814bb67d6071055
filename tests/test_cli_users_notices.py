"""`agio keys revoke` and `agio users disable` on a deployment with Redis tell the running
servers, which remember keys and users for an hour here: only the notice can make them
refuse. Without Redis reachable, the command still makes the change and says when the
servers will see it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from agio.api.app import create_app
from agio.cli import main
from agio.config.settings import Settings
from tests.conftest import redis_settings
from tests.live import serve

pytestmark = pytest.mark.postgres

PASSWORD = "a long enough password"


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def live(
    make_settings: Callable[..., Settings],
    configs_dir: Path,
    database_url: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """A server on PostgreSQL and Redis, and the CLI pointed at both."""
    redis = redis_settings(redis_url)
    settings = make_settings(
        configs_dir=configs_dir, database_url=database_url, auth_cache_seconds=3600, **redis
    )
    monkeypatch.setenv(
        "AGIO_DATABASE_URL", make_url(database_url).render_as_string(hide_password=False)
    )
    monkeypatch.setenv("AGIO_REDIS_URL", redis["redis_url"])
    monkeypatch.setenv("AGIO_REDIS_PREFIX", redis["redis_prefix"])
    with serve(create_app(settings)) as url:
        yield url


def _refused_within(url: str, headers: dict[str, str]) -> int:
    """The status of /api/auth/me once it is no longer 200, polled for up to 10 s."""
    deadline = time.monotonic() + 10
    while True:
        status = httpx.get(f"{url}/api/auth/me", headers=headers, timeout=10).status_code
        if status != 200 or time.monotonic() > deadline:
            return status
        time.sleep(0.02)


def _user_with_key(runner: CliRunner, username: str) -> tuple[str, dict[str, str]]:
    made = runner.invoke(main, ["users", "create", username, "--no-password"])
    assert made.exit_code == 0, made.output
    created = runner.invoke(main, ["keys", "create", username])
    assert created.exit_code == 0, created.output
    key_id = created.stderr.split()[1]
    return key_id, {"X-API-Key": created.stdout.strip().splitlines()[-1]}


def test_revoke_and_disable_reach_the_running_server(live: str) -> None:
    runner = CliRunner()
    key_id, with_key = _user_with_key(runner, "alice")
    _, other_key = _user_with_key(runner, "bob")
    for headers in (with_key, other_key):  # remembered from here on
        assert httpx.get(f"{live}/api/auth/me", headers=headers, timeout=10).status_code == 200

    revoked = runner.invoke(main, ["keys", "revoke", key_id])
    assert revoked.exit_code == 0, revoked.output
    assert _refused_within(live, with_key) == 401
    disabled = runner.invoke(main, ["users", "disable", "bob"])
    assert disabled.exit_code == 0, disabled.output
    assert "warning" not in disabled.output
    assert _refused_within(live, other_key) == 401


def test_without_redis_the_change_is_made_and_the_delay_said(
    live: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    _user_with_key(runner, "alice")
    monkeypatch.setenv("AGIO_REDIS_URL", "redis://127.0.0.1:1/0")  # nobody listens there
    disabled = runner.invoke(main, ["users", "disable", "alice"])
    assert disabled.exit_code == 0, disabled.output
    assert "within AGIO_AUTH_CACHE_SECONDS (10 s)" in disabled.stderr
    listed = runner.invoke(main, ["users", "list"]).output
    assert [line.split()[-1] for line in listed.splitlines() if " alice " in line] == ["disabled"]
