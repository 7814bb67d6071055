"""Authorization, generated from the route table: every route declares its permission; an
RBAC matrix over every route and role; a BOLA matrix over every route that takes an id."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from agio.api.app import create_app
from agio.api.auth import Public, Requires
from agio.api.routers import console
from agio.config.settings import Settings
from agio.domain.security import ROLE_PERMISSIONS, Permission, Role
from tests.conftest import BUNDLED_CONFIGS, add_user

PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    permission: Permission | None  # None: public

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)


def _guards(dependant: Dependant) -> list[Requires | Public]:
    found: list[Requires | Public] = []
    for dep in dependant.dependencies:
        if isinstance(dep.call, Requires | Public):
            found.append(dep.call)
        found.extend(_guards(dep))
    return found


def api_routes(app: FastAPI) -> Iterator[tuple[str, set[str], Dependant]]:
    """(path, methods, dependant) of every API route as the app serves it: routers that
    FastAPI includes lazily are expanded, with their router-level dependencies."""
    for route in app.routes:
        if isinstance(route, APIRoute):
            yield route.path, route.methods, route.dependant
        elif hasattr(route, "effective_route_contexts"):  # an included router
            for context in route.effective_route_contexts():
                if isinstance(context.original_route, APIRoute):
                    assert context.dependant is not None
                    yield context.path, context.methods, context.dependant


def _table() -> list[Route]:
    app = create_app(Settings(_env_file=None, configs_dir=BUNDLED_CONFIGS))  # type: ignore[call-arg]
    table = []
    for path, methods, dependant in api_routes(app):
        guards = _guards(dependant)
        assert len(guards) == 1, f"{path} declares {guards}"
        guard = guards[0]
        for method in sorted(methods):
            permission = guard.permission if isinstance(guard, Requires) else None
            table.append(Route(method, path, permission))
    return table


ROUTES = _table()
PUBLIC = {
    ("GET", "/api/health"),
    ("POST", "/api/auth/token"),
    # browser sign-in, and the cookie's own session (answered from the cookie alone)
    ("POST", "/api/auth/session"),
    ("GET", "/api/auth/session"),
    ("DELETE", "/api/auth/session"),
    # the API docs and their assets (agio/api/routers/docs.py)
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/docs/assets/swagger-ui-bundle.js"),
    ("GET", "/docs/assets/swagger-ui.css"),
    ("GET", "/docs/assets/redoc.standalone.js"),
    ("GET", "/docs/assets/favicon.png"),
    # the web console: its page at `/` and its own routes, and its files (routers/console.py)
    ("GET", "/{path:console_path}"),
    *(("GET", path) for path in console.asset_paths()),
}


def test_every_route_declares_exactly_one_permission_or_is_knowingly_public() -> None:
    assert len(ROUTES) > 25
    public = {(r.method, r.path) for r in ROUTES if r.permission is None}
    assert public == PUBLIC  # a new public route must be added here on purpose
    app = create_app(Settings(_env_file=None, configs_dir=BUNDLED_CONFIGS))  # type: ignore[call-arg]
    # and nothing else is served (mounted apps, plain Starlette routes)
    others = {
        getattr(r, "path", "")
        for r in app.routes
        if not isinstance(r, APIRoute) and not hasattr(r, "effective_route_contexts")
    }
    assert others <= {"/openapi.json"}
    assert len({(m, p) for p, ms, _ in api_routes(app) for m in ms}) == len(ROUTES)


def test_roles() -> None:
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    viewer = ROLE_PERMISSIONS[Role.VIEWER]
    assert all(p.value.startswith("read:") for p in viewer - {Permission.WRITE_KEY})
    assert ROLE_PERMISSIONS[Role.USER] > viewer
    assert {Permission.EXECUTE_AGENT, Permission.EXECUTE_RUN} <= ROLE_PERMISSIONS[Role.USER]
    changes = {p for p in ROLE_PERMISSIONS[Role.USER] if p.value.startswith(("write:", "delete:"))}
    assert changes == {
        Permission.WRITE_CHECKPOINT,
        Permission.WRITE_KEY,
        Permission.DELETE_SESSION,  # their own sessions only
        Permission.WRITE_WEBHOOK,  # their own webhooks only
    }


def _fill(path: str, ids: dict[str, str]) -> str:
    return PARAM.sub(lambda m: ids[m.group(1)], path)


#: bodies for routes whose body has required fields (else a 422 answers before the ids
#: are looked at: it says nothing of them, but hides what the matrices check)
BODIES: dict[str, dict[str, str]] = {
    "/api/runs/{run_id}/approvals/{call_id}": {"decision": "reject"},
}


async def _call(
    client: httpx.AsyncClient, route: Route, path: str, headers: dict[str, str]
) -> httpx.Response:
    if route.method in ("POST", "PUT", "PATCH"):
        body = BODIES.get(route.path, {})
        return await client.request(route.method, path, json=body, headers=headers)
    return await client.request(route.method, path, headers=headers)


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def test_rbac_matrix(client: httpx.AsyncClient) -> None:
    """Each role on each route: 403 exactly when the role lacks the route's permission.
    Ids that do not exist keep the calls harmless (a permitted call then is a 404 or
    422, never a 401 or 403)."""
    headers = {role: (await add_user(client, role.value))[1] for role in Role}
    missing = {
        "agent_id": "no_such_agent",
        "component_name": "no_such_component",
        "run_id": "run_missing",
        "checkpoint_id": "ckpt_missing",
        "user_id": "usr_missing",
        "key_id": "key_missing",
        "document_id": "doc_missing",
        "session_id": "ses_missing",
        "call_id": "call_missing",
        "schedule_id": "sch_missing",
        "webhook_id": "whk_missing",
        "delivery_id": "whd_missing",
        "model": "no_such_agent",
        "response_id": "resp_missing",
    }
    checked = 0
    for route in ROUTES:
        if route.permission is None or route.path == "/api/auth/token":
            continue
        for role in Role:
            response = await _call(client, route, _fill(route.path, missing), headers[role])
            allowed = route.permission in ROLE_PERMISSIONS[role]
            where = f"{role.value} {route.method} {route.path}: {response.status_code}"
            if allowed:
                assert response.status_code not in (401, 403), where
                assert response.status_code < 500, where
            else:
                assert response.status_code == 403, where
                # under /v1, OpenAI's shape (agio/api/openai_compat/errors.py)
                forbidden = "permission_error" if route.path.startswith("/v1/") else "Forbidden"
                assert response.json()["error"]["type"] == forbidden, where
            checked += 1
    assert checked == 3 * len([r for r in ROUTES if r.permission is not None])


# (webhooks' own BOLA cases, with real ids: tests/api/test_webhooks.py)
OWNED = {
    "run_id",
    "checkpoint_id",
    "key_id",
    "session_id",
    "call_id",
    "schedule_id",
    "webhook_id",
    "delivery_id",
    "response_id",  # a run, under /v1
}
# the agent catalogue and knowledge bases: readable by every role, changed by admins
# (`model`: an agent, under /v1)
SHARED = {"agent_id", "component_name", "document_id", "model"}
ADMIN_ONLY = {"user_id"}


async def test_bola_matrix(client: httpx.AsyncClient) -> None:
    """Every route with an id, called by another user with the owner's ids: a 404 for
    owned resources (as for a missing one: ids cannot be probed), a 403 where the role
    lacks the permission; nothing of the owner's leaks, and nothing of it changes."""
    owner_id, owner = await add_user(client, "user", "owner")
    secret_question = "What is 17 * 23? (owner's private question)"
    chat = await client.post(
        "/api/chat",
        json={"agent_id": "customer_support", "message": secret_question, "stream": False},
        headers=owner,
    )
    assert chat.status_code == 200, chat.text
    run_id, session_id = chat.json()["run_id"], chat.json()["session_id"]
    checkpoints = (await client.get(f"/api/runs/{run_id}/checkpoints", headers=owner)).json()
    key_id = (await client.get("/api/auth/me", headers=owner)).json()["key_id"]
    schedule = await client.post(
        "/api/schedules",
        json={"agent_id": "customer_support", "message": secret_question, "cron": "0 9 * * *"},
        headers=owner,
    )
    assert schedule.status_code == 201, schedule.text
    schedule_id = schedule.json()["id"]
    ids = {
        "schedule_id": schedule_id,
        "run_id": run_id,
        "checkpoint_id": checkpoints["checkpoints"][0]["id"],
        "key_id": key_id,
        "session_id": session_id,
        "user_id": owner_id,
        "agent_id": "customer_support",
        "component_name": "calculator",
        "document_id": "doc_missing",
        "call_id": "call_0_0",
        "webhook_id": "whk_missing",
        "delivery_id": "whd_missing",
        "model": "customer_support",
        "response_id": "resp_" + run_id.removeprefix("run_"),
    }
    for role in ("user", "viewer"):
        _, intruder = await add_user(client, role)
        permissions = ROLE_PERMISSIONS[Role(role)]
        for route in ROUTES:
            if not route.params:
                continue
            unknown = set(route.params) - OWNED - SHARED - ADMIN_ONLY
            assert not unknown, f"classify {unknown} of {route.path} in this test"
            if route.method == "DELETE" and set(route.params) & SHARED:
                continue  # deleting the shared catalogue: covered by the RBAC matrix
            response = await _call(client, route, _fill(route.path, ids), intruder)
            where = f"{role} {route.method} {route.path}: {response.status_code}"
            assert route.permission is not None
            if route.permission not in permissions:
                assert response.status_code == 403, where
            elif set(route.params) & OWNED:
                assert response.status_code == 404, where
            else:
                assert set(route.params) <= SHARED, where
                assert response.status_code < 500, where
            assert secret_question not in response.text, where
            if "session_id" not in route.params:  # else the 404 names the id it was given
                assert session_id not in response.text, where
        # lists show only the caller's own
        runs = (await client.get("/api/runs", headers=intruder)).json()
        assert run_id not in str(runs)
        filtered = await client.get("/api/runs", params={"user_id": owner_id}, headers=intruder)
        assert filtered.json()["total"] == 0
        sessions = (await client.get("/api/sessions", headers=intruder)).json()
        assert session_id not in str(sessions)
        keys = (await client.get("/api/keys", headers=intruder)).json()
        assert key_id not in str(keys)
        schedules = await client.get("/api/schedules", headers=intruder)
        assert schedule_id not in schedules.text
        assert (await client.get(f"/api/keys?user_id={owner_id}", headers=intruder)).json()[
            "total"
        ] == 0
        sse = await client.get(
            f"/api/runs/{run_id}/events",
            headers={**intruder, "Accept": "text/event-stream"},
        )
        assert sse.status_code == 404
    # the owner's session cannot be continued by someone else
    _, other = await add_user(client, "user")
    hijack = await client.post(
        "/api/chat",
        json={"agent_id": "customer_support", "message": "hi", "session_id": session_id},
        headers=other,
    )
    assert hijack.status_code == 404
    assert hijack.json()["error"]["type"] == "SessionNotFound"
    # nothing of the owner's changed, and the admin sees it all
    run = (await client.get(f"/api/runs/{run_id}", headers=owner)).json()
    assert run["status"] == "completed"
    assert (await client.get("/api/auth/me", headers=owner)).status_code == 200
    assert (await client.get(f"/api/runs/{run_id}")).status_code == 200
    assert (await client.get("/api/runs", params={"user_id": owner_id})).json()["total"] == 1
    assert (await client.get(f"/api/keys/{key_id}")).status_code == 200
    assert (await client.get(f"/api/sessions/{session_id}")).status_code == 200
    assert (await client.get(f"/api/schedules/{schedule_id}", headers=owner)).json() == (
        schedule.json()
    )
    assert (await client.get(f"/api/schedules/{schedule_id}")).status_code == 200


async def test_run_user_id_is_the_callers_unless_an_admin_sets_it(
    client: httpx.AsyncClient,
) -> None:
    user_id, user = await add_user(client, "user")
    body: dict[str, Any] = {"agent_id": "customer_support", "message": "hi", "stream": False}
    own = await client.post("/api/chat", json=body, headers=user)
    assert (await client.get(f"/api/runs/{own.json()['run_id']}")).json()["user_id"] == user_id
    same = await client.post("/api/chat", json={**body, "user_id": user_id}, headers=user)
    assert same.status_code == 200
    spoofed = await client.post("/api/chat", json={**body, "user_id": "usr_other"}, headers=user)
    assert spoofed.status_code == 403
    on_behalf = await client.post("/api/chat", json={**body, "user_id": "end-user-42"})
    assert on_behalf.status_code == 200
    run = (await client.get(f"/api/runs/{on_behalf.json()['run_id']}")).json()
    assert run["user_id"] == "end-user-42"
