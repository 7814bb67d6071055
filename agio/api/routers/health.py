"""`/api/health`: each dependency is really probed on every call (LLM probes are cached)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from agio import __version__
from agio.api.deps import ContainerDep
from agio.api.schemas.health import (
    ConfigProblemOut,
    ConfigsProbe,
    Health,
    HealthComponents,
    LlmProbe,
    ProbeResult,
)
from agio.domain.time import utcnow

router = APIRouter(prefix="/api", tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    summary="Service health",
    responses={503: {"model": Health, "description": "The database is unreachable"}},
)
async def health(container: ContainerDep, response: Response) -> Health:
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
    return Health(status=overall, version=__version__, timestamp=utcnow(), components=components)
