"""Property-based fuzzing of every route described by /openapi.json (schemathesis).

Checks: no 5xx, and every response (status code, content type, headers, body) matches
what the schema documents.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import BUNDLED_CONFIGS
from tests.live import serve


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=tmp,
            configs_dir=BUNDLED_CONFIGS,
            watch_configs=False,
            environment="test",
            log_level="ERROR",
        )
    )
    with serve(app) as url:
        yield url


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


@pytest.mark.parametrize(("method", "path"), _operations())
def test_api_conforms_to_its_schema(
    api_schema: schemathesis.BaseSchema, method: str, path: str
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def check(case: schemathesis.Case) -> None:
        # Every default check runs except "schema-valid data must be accepted": the schema
        # cannot say that an agent's `model` must name an existing component, so a
        # well-formed body naming a missing one is rightly a 422.
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

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
