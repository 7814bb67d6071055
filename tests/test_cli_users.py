"""`agio users` and `agio keys`: they work on the database the settings name, refuse a
folder without one, never echo a password, and disabling a user stops their keys and
tokens on the next request of a running server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from agio.api.app import create_app
from agio.cli import main
from agio.config.settings import Settings
from agio.services.auth import AuthService
from agio.storage.database import Database
from agio.storage.users import UserRepository
from tests.live import serve

PASSWORD = "a long enough password"
NEW_PASSWORD = "another long enough password"


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir with a database in it (as a server's first start leaves it)."""
    monkeypatch.setenv("AGIO_DATA_DIR", str(tmp_path / "data"))
    made = CliRunner().invoke(main, ["db", "upgrade"])
    assert made.exit_code == 0, made.output
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
        input=f"{PASSWORD}\n{PASSWORD}\n",
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


def test_a_refused_password_is_never_echoed(cli_env: Path) -> None:
    runner = CliRunner()
    weak = "tiny-secret"  # 11 characters
    refused = runner.invoke(main, ["users", "create", "bob"], input=f"{weak}\n{weak}\n")
    assert refused.exit_code == 1
    assert "password: String should have at least 12 characters" in refused.output
    assert weak not in refused.output
    made = runner.invoke(main, ["users", "create", "bob"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert made.exit_code == 0, made.output
    again = runner.invoke(main, ["users", "set-password", "bob"], input=f"{weak}\n{weak}\n")
    assert again.exit_code == 1
    assert "at least 12 characters" in again.output
    assert weak not in again.output


def test_a_folder_without_a_database_is_refused_not_filled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("AGIO_DATA_DIR", raising=False)  # the default: ./.agio, here
    runner = CliRunner()
    for command in (["users", "list"], ["keys", "list"], ["users", "disable", "alice"]):
        result = runner.invoke(main, command)
        assert result.exit_code == 1, result.output
        assert f"no Agio database in the data dir {elsewhere / '.agio'}" in result.output
        assert "AGIO_DATA_DIR" in result.output
    # refused before asking for a password that would be thrown away
    create = runner.invoke(main, ["users", "create", "alice"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert create.exit_code == 1
    assert "Password" not in create.output
    assert list(elsewhere.iterdir()) == []  # no ./.agio/agio.db made on the way

    monkeypatch.setenv("AGIO_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'none.db'}")
    named = runner.invoke(main, ["users", "list"])
    assert named.exit_code == 1
    assert f"AGIO_DATABASE_URL names {tmp_path / 'none.db'}, which does not exist" in named.output
    assert not (tmp_path / "none.db").exists()


@pytest.fixture
def live(
    make_settings: Callable[..., Settings], configs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A server, and the CLI pointed at its data dir (and so its database)."""
    settings = make_settings(configs_dir=configs_dir)
    monkeypatch.setenv("AGIO_DATA_DIR", str(settings.data_dir))
    with serve(create_app(settings)) as url:
        yield url


def _status(url: str, headers: dict[str, str]) -> int:
    return httpx.get(f"{url}/api/auth/me", headers=headers, timeout=10).status_code


def _login(url: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{url}/api/auth/token", data={"username": "alice", "password": password}, timeout=10
    )


def test_disable_enable_and_set_password_act_on_the_next_request(live: str) -> None:
    runner = CliRunner()
    made = runner.invoke(main, ["users", "create", "alice"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert made.exit_code == 0, made.output
    key = runner.invoke(main, ["keys", "create", "alice"]).stdout.strip().splitlines()[-1]
    login = _login(live, PASSWORD)
    assert login.status_code == 200, login.text
    with_key = {"X-API-Key": key}
    with_token = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert _status(live, with_key) == 200
    assert _status(live, with_token) == 200

    disabled = runner.invoke(main, ["users", "disable", "alice"])
    assert disabled.exit_code == 0, disabled.output
    assert "disabled" in disabled.output
    assert _status(live, with_key) == 401
    assert _status(live, with_token) == 401
    assert _login(live, PASSWORD).status_code == 401
    listed = runner.invoke(main, ["users", "list"]).output
    assert [line.split()[-1] for line in listed.splitlines() if " alice " in line] == ["disabled"]

    enabled = runner.invoke(main, ["users", "enable", "alice"])
    assert enabled.exit_code == 0, enabled.output
    assert _status(live, with_key) == 200
    assert _status(live, with_token) == 200

    changed = runner.invoke(
        main, ["users", "set-password", "alice"], input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    )
    assert changed.exit_code == 0, changed.output
    assert NEW_PASSWORD not in changed.output
    assert _login(live, PASSWORD).status_code == 401
    assert _login(live, NEW_PASSWORD).status_code == 200

    last_admin = runner.invoke(main, ["users", "disable", "admin"])
    assert last_admin.exit_code == 1
    assert "last enabled admin" in last_admin.output
    nobody = runner.invoke(main, ["users", "enable", "nobody"])
    assert nobody.exit_code == 1
    assert "UserNotFound" in nobody.output
