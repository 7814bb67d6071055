"""`/api/health`: each dependency is really probed on every call (LLM probes are cached)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from agio import __version__
from agio.api.auth import authenticate, public
from agio.api.deps import ContainerDep
from agio.api.schemas.common import error_responses
from agio.api.schemas.health import (
    AuthStatus,
    ConfigProblemOut,
    ConfigsProbe,
    Health,
    HealthComponents,
    LlmProbe,
    ProbeResult,
)
from agio.domain.errors import Unauthorized
from agio.domain.security import Permission
from agio.domain.time import utcnow

router = APIRouter(prefix="/api", tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    summary="Service health",
    responses={
        503: {"model": Health, "description": "The database is unreachable"},
        **error_responses(429),
    },
    dependencies=[public()],
)
async def health(
    container: ContainerDep,
    response: Response,
    request: Request,
) -> Health:
    # optional authentication, read by hand: the schema must not say that this route
    # needs credentials (load balancers call it without)
    api_key = request.headers.get("x-api-key")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    detailed = False
    if token or api_key:
        try:
            detailed = (await authenticate(request, token, api_key)).can(Permission.READ_SYSTEM)
        except Unauthorized:
            detailed = False
    checker = container.health
    database, cache, llm = await asyncio.gather(checker.database(), checker.cache(), checker.llm())
    problems = container.config_files.problems
    components = HealthComponents(
        database=ProbeResult(
            status=database.status, latency_ms=database.latency_ms, detail=database.detail
        ),
        cache=ProbeResult(status=cache.status, latency_ms=cache.latency_ms, detail=cache.detail),
        llm=LlmProbe(status=llm.status, detail=llm.detail, models=llm.extra.get("models", {})),
        configs=ConfigsProbe(
            status="degraded" if problems else "ok",
            detail=f"{len(problems)} problem(s) in {container.settings.configs_dir}"
            if problems
            else None,
            problems=[
                ConfigProblemOut(path=p.path, field=p.field, message=p.message) for p in problems
            ],
        ),
    )
    if database.status == "unhealthy":
        overall = "unhealthy"
    elif any(p.status in ("degraded", "unhealthy") for p in (cache, llm)) or problems:
        overall = "degraded"
    else:
        overall = "ok"
    if overall == "unhealthy":
        response.status_code = 503
    if container.settings.auth_disabled:
        auth = AuthStatus(
            status="disabled",
            detail="AGIO_AUTH_DISABLED: requests without credentials on loopback connections "
            "act as a local admin",
        )
    else:
        auth = AuthStatus(status="enabled")
    if not detailed:
        for probe in (
            components.database,
            components.cache,
            components.llm,
            components.configs,
        ):
            probe.detail = None
        components.configs.problems = []
    return Health(
        status=overall, version=__version__, timestamp=utcnow(), components=components, auth=auth
    )
