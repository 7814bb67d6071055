"""Schemathesis against a live server, as each role (admin, user, viewer): `schemathesis run
--checks all` with every phase (examples, coverage, fuzzing, stateful), which must find
nothing.

Every check runs: no 5xx; status codes, content types, headers and bodies (SSE messages
too) match the schema; undocumented methods are a 405 whose `Allow` lists the path's
methods; schema-invalid requests are refused and schema-valid ones accepted; protected
routes refuse requests without valid credentials. The run's JSON report is what is
asserted on; the CLI's output (each failure with a curl line to reproduce it, and the
seed) is the failure message.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import BUNDLED_CONFIGS
from tests.live import serve

ROLES = ("admin", "user", "viewer")
MAX_EXAMPLES = {"admin": 15, "user": 8, "viewer": 8}  # per operation, in the fuzzing phase

# Schemathesis's statuses for "schema-invalid data is refused", plus 413: a body the
# schema refuses for its size (100 messages of 100,000 characters) can be larger than
# AGIO_MAX_BODY_BYTES, and then the size limit is what refuses it. (5xx are left to "no
# server errors", as by default.)
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428"]
REJECTED += ["429", "5xx"]

# "Schema-valid data is accepted" cannot hold where acceptance depends on more than the
# request's shape: there, a well-formed request may rightly be a 422 (any other refusal
# still fails the check).
ACCEPTED_OR_422 = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
DEPENDS_ON_MORE_THAN_SHAPE = [
    # an agent's `model`, `tools`, `memory` and `knowledge` must name stored components
    # of the right types
    "POST /api/agents",
    "PUT /api/agents/{agent_id}",
    "PATCH /api/agents/{agent_id}",
    # `config` is any component: its fields depend on its `type` and on other components
    "PUT /api/config/{component_name}",
    # a fork's `model` must name a stored model component, and its `max_steps` stay
    # within AGIO_MAX_STEPS_CEILING
    "POST /api/checkpoints/{checkpoint_id}/fork",
    # a schedule's agent (and session) must exist, its cron expression must be valid and
    # fire, its time zone be in the host's time zone database
    "POST /api/schedules",
    "PATCH /api/schedules/{schedule_id}",
    # the period and the granularity together may ask for more than
    # AGIO_METRICS_MAX_BUCKETS buckets
    "GET /api/metrics/agents/{agent_id}",
    "GET /api/metrics/system",
    # an Idempotency-Key that the caller sent before with another request (the fuzzer
    # sends short keys, "0", again and again) is a 422 IdempotencyKeyReused; so are
    # POST /api/agents and the fork above
    "POST /api/chat",
    "POST /api/checkpoints/{checkpoint_id}/restore",
    # a webhook URL (a subscription's, a chat's own `webhook`) must resolve to addresses
    # the SSRF guard lets through, and a subscription's secret decode to 24-64 bytes
    # (POST /api/chat is above)
    "POST /api/webhooks",
    # the OpenAI-compatible API's responses: the last input item must be the user's, with
    # text, within AGIO_MAX_MESSAGE_CHARS; a background response must be stored
    "POST /v1/responses",
    # an AG-UI input must hold something new after its last assistant message, tool
    # results for calls that wait for one, text content and front-end tool names that
    # are not the agent's own
    "POST /api/agui/{agent_id}",
]

# A chat completion: its acceptance depends on more than its shape as above (the last
# message must be the user's, with text); and one whose run failed because the agent's
# model did is a 502, the model being upstream (the fuzzing rewrites model components,
# pointing them at hosts that do not exist). Any other 5xx still fails the run.
COMPLETIONS = ["POST /v1/chat/completions"]
NO_5XX_BUT_A_FAILED_MODEL = ["2xx", "3xx", "4xx", "502"]
# a document's upload is accepted by what its file holds: its kind (a name without a
# known suffix is a 415), its text (none, not UTF-8, a PDF without a text layer: 422)
UPLOADS = ["POST /api/knowledge/{component_name}/documents"]
ACCEPTED_OR_UNREADABLE = [*ACCEPTED_OR_422, "413", "415"]


def schemathesis_config(target_user: str, target_key: str) -> str:
    """The run's `schemathesis.toml`. Schemathesis reuses ids it has seen in responses, so
    the operations that could take their access from the users and keys the runs
    authenticate with (revoking a key; disabling, demoting or deleting a user) are pinned
    to a user and a key that exist for that purpose, and left out of the stateful phase
    (whose links would hand them a resource just created, which the pin replaces)."""
    return f"""
[cache]
enabled = false

# Text is UTF-8 without NUL: text a database cannot store (a NUL character, an unpaired
# surrogate) is refused with a 422 wherever it is sent (agio/api/storable_text.py).
[generation]
allow-x00 = false
codec = "utf-8"

[checks.negative_data_rejection]
expected-statuses = {json.dumps(REJECTED)}

[[operations]]
include-name = {json.dumps(DEPENDS_ON_MORE_THAN_SHAPE)}
checks.positive_data_acceptance.expected-statuses = {json.dumps(ACCEPTED_OR_422)}

[[operations]]
include-name = {json.dumps(COMPLETIONS)}
checks.positive_data_acceptance.expected-statuses = {json.dumps(ACCEPTED_OR_422)}
checks.not_a_server_error.expected-statuses = {json.dumps(NO_5XX_BUT_A_FAILED_MODEL)}

[[operations]]
include-name = {json.dumps(UPLOADS)}
checks.positive_data_acceptance.expected-statuses = {json.dumps(ACCEPTED_OR_UNREADABLE)}

[[operations]]
include-name = ["PATCH /api/users/{{user_id}}", "DELETE /api/users/{{user_id}}"]
parameters = {{ "path.user_id" = "{target_user}" }}
phases.stateful.enabled = false

[[operations]]
include-name = "DELETE /api/keys/{{key_id}}"
parameters = {{ "path.key_id" = "{target_key}" }}
phases.stateful.enabled = false
"""


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def live_server(fuzz_dir: Path) -> Iterator[str]:
    app = create_app(
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=fuzz_dir,
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
    """An API key for each role (the admin's is the bootstrap key), and under "target" the
    id of the user and of the key that the runs may change and remove."""
    admin = {"X-API-Key": (fuzz_dir / "admin.key").read_text().strip()}
    headers = {"admin": admin}
    with httpx.Client(base_url=live_server, headers=admin, timeout=30) as client:
        for role in ("user", "viewer", "target"):
            user = client.post(
                "/api/users",
                json={
                    "username": f"fuzz_{role}",
                    "password": "fuzzing-password-1",
                    "role": "user" if role == "target" else role,
                },
            )
            assert user.status_code == 201, user.text
            key = client.post("/api/keys", json={"name": "fuzz", "user_id": user.json()["id"]})
            assert key.status_code == 201, key.text
            if role == "target":
                headers[role] = {"user": user.json()["id"], "key": key.json()["id"]}
            else:
                headers[role] = {"X-API-Key": key.json()["key"]}
    return headers


def run_schemathesis(
    url: str, headers: dict[str, str], config: str, workdir: Path, max_examples: int
) -> tuple[dict[str, Any], str]:
    """`schemathesis run --checks all` against `url`: its JSON report and its output."""
    config_file = workdir / "schemathesis.toml"
    config_file.write_text(config)
    report = workdir / "report.json"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config_file),
        "--no-color",
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(max_examples),
        # one worker: with two, hypothesis describes strategies from two threads at once
        # and CPython 3.11.7's ast.parse can fail with "AST constructor recursion depth
        # mismatch" (seen once in a full run; the suite's processes run in parallel anyway)
        "--workers",
        "1",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    done = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=600, check=False
    )
    output = done.stdout + done.stderr
    assert report.exists(), output
    result: dict[str, Any] = json.loads(report.read_text())
    return result, output


@pytest.mark.parametrize("role", ROLES)
def test_every_schemathesis_check_passes(
    live_server: str, role_headers: dict[str, dict[str, str]], role: str, tmp_path: Path
) -> None:
    target = role_headers["target"]
    config = schemathesis_config(target["user"], target["key"])
    report, output = run_schemathesis(
        live_server, role_headers[role], config, tmp_path, MAX_EXAMPLES[role]
    )
    assert report["failures"] == [], output
    assert report["errors"] == [], output
    assert report["complete"], output
    assert report["stop_reason"] == "completed", output
    operations = report["operations"]
    assert operations["tested"] == operations["selected"] == operations["total"], output
    assert all(phase["status"] == "success" for phase in report["phases"].values()), output
    # the run kept its access to the end (a revoked key or a disabled user tests nothing)
    me = httpx.get(f"{live_server}/api/auth/me", headers=role_headers[role], timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["role"] == role


def test_schema_covers_every_route(live_server: str) -> None:
    api_schema = schemathesis.openapi.from_url(f"{live_server}/openapi.json")
    documented = {op.path for op in (r.ok() for r in api_schema.get_all_operations())}
    assert documented >= {
        "/api/agents",
        "/api/agents/{agent_id}",
        "/api/config",
        "/api/config/{component_name}",
        "/api/config/{component_name}/history",
        "/api/health",
    }
