"""Property-based fuzzing of every route described by /openapi.json (schemathesis), as
each role (admin, user, viewer).

Checks: no 5xx, every response (status code, content type, headers, body) matches what
the schema documents, and protected routes refuse requests without valid credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import BUNDLED_CONFIGS
from tests.live import serve

ROLES = ("admin", "user", "viewer")


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def live_server(fuzz_dir: Path) -> Iterator[str]:
    tmp = fuzz_dir
    app = create_app(
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=tmp,
            configs_dir=BUNDLED_CONFIGS,
            watch_configs=False,
            environment="test",
            log_level="ERROR",
            rate_limit_chat="",
            rate_limit_write="",
            rate_limit_read="",
            rate_limit_auth="",
            max_active_runs_per_user=100_000,
        )
    )
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def role_headers(live_server: str, fuzz_dir: Path) -> dict[str, dict[str, str]]:
    """An API key for each role (the admin's is the bootstrap key)."""
    admin = {"X-API-Key": (fuzz_dir / "admin.key").read_text().strip()}
    headers = {"admin": admin}
    with httpx.Client(base_url=live_server, headers=admin, timeout=30) as client:
        for role in ("user", "viewer"):
            user = client.post(
                "/api/users",
                json={"username": f"fuzz_{role}", "password": "fuzzing-password-1", "role": role},
            )
            assert user.status_code == 201, user.text
            key = client.post("/api/keys", json={"name": "fuzz", "user_id": user.json()["id"]})
            headers[role] = {"X-API-Key": key.json()["key"]}
    return headers


@pytest.fixture(scope="module")
def api_schema(live_server: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live_server}/openapi.json")


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every documented operation, read at collection time."""
    app = create_app(
        Settings(  # type: ignore[call-arg]
            _env_file=None, configs_dir=BUNDLED_CONFIGS, watch_configs=False, log_level="ERROR"
        )
    )
    return [
        (method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item
    ]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), _operations())
def test_api_conforms_to_its_schema(
    api_schema: schemathesis.BaseSchema,
    role_headers: dict[str, dict[str, str]],
    role: str,
    method: str,
    path: str,
) -> None:
    operation = api_schema[path][method]
    headers = role_headers[role]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def check(case: schemathesis.Case) -> None:
        # Every default check runs except "schema-valid data must be accepted": the schema
        # cannot say that an agent's `model` must name an existing component, so a
        # well-formed body naming a missing one is rightly a 422.
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    check()


def test_schema_covers_every_route(api_schema: schemathesis.BaseSchema, live_server: str) -> None:
    documented = {op.path for op in (r.ok() for r in api_schema.get_all_operations())}
    assert documented >= {
        "/api/agents",
        "/api/agents/{agent_id}",
        "/api/config",
        "/api/config/{component_name}",
        "/api/config/{component_name}/history",
        "/api/health",
    }


def test_the_fuzzing_was_authenticated(
    live_server: str, role_headers: dict[str, dict[str, str]]
) -> None:
    """Each role's key works, so the cases above ran as that role (not as nobody)."""
    for role, headers in role_headers.items():
        me = httpx.get(f"{live_server}/api/auth/me", headers=headers, timeout=10)
        assert me.json()["role"] == role
