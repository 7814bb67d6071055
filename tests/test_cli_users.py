"""`agio users` and `agio keys`: they work on the database the settings name."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from agio.cli import main
from agio.config.settings import Settings
from agio.services.auth import AuthService
from agio.storage.database import Database
from agio.storage.users import UserRepository


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AGIO_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _principal_role(data_dir: Path, key: str) -> str:
    async def check() -> str:
        settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
        db = Database(settings.resolved_database_url)
        try:
            auth = AuthService(UserRepository(db), settings, jwt_secret=None)
            return (await auth.from_key(key)).role.value
        finally:
            await db.dispose()

    return asyncio.run(check())


def test_users_and_keys_from_the_command_line(cli_env: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(
        main,
        ["users", "create", "alice", "--role", "viewer"],
        input="a long enough password\na long enough password\n",
    )
    assert made.exit_code == 0, made.output
    assert "alice (viewer)" in made.output
    again = runner.invoke(main, ["users", "create", "alice", "--no-password"])
    assert again.exit_code == 1
    assert "Conflict" in again.output
    short = runner.invoke(main, ["users", "create", "bob"], input="short\nshort\n")
    assert short.exit_code == 1
    listed = runner.invoke(main, ["users", "list"])
    assert "alice" in listed.output
    assert "bob" not in listed.output

    created = runner.invoke(main, ["keys", "create", "alice", "--name", "laptop"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("agio_")
    assert _principal_role(cli_env, key) == "viewer"
    keys = runner.invoke(main, ["keys", "list", "alice"])
    assert key not in keys.output
    assert key[:17] in keys.output  # the visible prefix
    key_id = keys.output.split()[0]
    revoked = runner.invoke(main, ["keys", "revoke", key_id])
    assert revoked.exit_code == 0, revoked.output
    with pytest.raises(Exception, match="revoked"):
        _principal_role(cli_env, key)
    missing = runner.invoke(main, ["keys", "create", "nobody"])
    assert missing.exit_code == 1
    assert "UserNotFound" in missing.output
