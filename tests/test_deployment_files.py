"""The Dockerfile and docker-compose.yml agree with the code: every AGIO_ variable they set
is a setting (with a valid value where it is literal), they run the CLI's own command
with options it has, and their ports and health check match the server."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import yaml
from click.testing import CliRunner

from agio.api.app import create_app
from agio.cli import main
from agio.config.settings import Settings
from tests.conftest import BUNDLED_CONFIGS, ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTING_NAMES = {f"AGIO_{name.upper()}" for name in Settings.model_fields}


def _instructions(keyword: str) -> list[str]:
    """The arguments of each `keyword` instruction (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [
        line.split(None, 1)[1]
        for line in text.splitlines()
        if line.strip() and not line.startswith("#") and line.split()[0] == keyword
    ]


def _dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in _instructions("ENV"):
        for name, value in re.findall(r"(\w+)=(\S+)", args):
            env[name] = value
    return env


def _check_agio_env(env: dict[str, Any]) -> None:
    agio = {k: str(v) for k, v in env.items() if k.startswith("AGIO_")}
    assert agio
    unknown = set(agio) - SETTING_NAMES
    assert not unknown, f"not settings: {unknown}"
    literal = {
        k.removeprefix("AGIO_").lower(): v
        for k, v in agio.items()
        if "${" not in v and "$" not in v
    }
    Settings(_env_file=None, **literal)  # type: ignore[call-arg]  # each literal value is valid


def _check_command(command: list[str]) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert command[0] in scripts
    assert scripts[command[0]] == "agio.cli:main"
    assert command[1] == "serve"
    options = {opt for param in main.commands["serve"].params for opt in param.opts}
    flags = [part for part in command[2:] if part.startswith("--")]
    assert set(flags) <= options, set(flags) - options
    # and the CLI accepts exactly this command line
    result = CliRunner().invoke(main, [*command[1:], "--help"])
    assert result.exit_code == 0, result.output
    assert command[command.index("--host") + 1] == "0.0.0.0"  # reachable from outside


def test_dockerfile() -> None:
    froms = _instructions("FROM")
    assert len(froms) == 2  # build stage, then a clean runtime image
    assert all(f.startswith("python:3.11-slim") for f in froms)
    assert "--from=build" in DOCKERFILE
    users = _instructions("USER")
    assert users
    assert users[-1] not in ("root", "0")
    assert not re.search(r"apt-get install|build-essential|\bgcc\b", DOCKERFILE)
    _check_agio_env(_dockerfile_env())
    (cmd,) = _instructions("CMD")
    command = json.loads(cmd)
    _check_command(command)
    port = command[command.index("--port") + 1]
    assert _instructions("EXPOSE") == [port]
    (health,) = _instructions("HEALTHCHECK")
    assert f"http://127.0.0.1:{port}/api/health" in health


def test_compose() -> None:
    services = COMPOSE["services"]
    assert {"api", "postgres", "redis"} <= set(services)
    api = services["api"]
    _check_agio_env(api["environment"])
    assert api["environment"]["AGIO_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert api["environment"]["AGIO_REDIS_URL"].startswith("redis://redis:")
    assert "${AGIO_JWT_SECRET:?" in api["environment"]["AGIO_JWT_SECRET"]  # required
    _check_command(api["command"])
    workers = int(api["command"][api["command"].index("--workers") + 1])
    assert workers >= 2
    port = api["command"][api["command"].index("--port") + 1]
    assert any(str(p).endswith(f":{port}") for p in api["ports"])
    for dependency in ("postgres", "redis"):
        assert api["depends_on"][dependency]["condition"] == "service_healthy"
        assert "healthcheck" in services[dependency]
    data_dir = api["environment"]["AGIO_DATA_DIR"]
    assert any(v.endswith(f":{data_dir}") for v in api["volumes"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    assert api["environment"]["AGIO_CONFIGS_DIR"] == _dockerfile_env()["AGIO_CONFIGS_DIR"]


def test_the_health_check_path_is_a_public_route() -> None:
    app = create_app(Settings(_env_file=None, configs_dir=BUNDLED_CONFIGS))  # type: ignore[call-arg]
    schema = app.openapi()
    assert "get" in schema["paths"]["/api/health"]
    assert "security" not in schema["paths"]["/api/health"]["get"]
