"""`GET /metrics`: Prometheus text format (outside `/api`).

Protected by `read:metrics` (admins: the figures cover every user) unless
`AGIO_METRICS_PUBLIC=true`. Prometheus can send an API
key as `Authorization: Bearer agio_…` (its `authorization` scrape setting).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from agio.api.auth import allow, public
from agio.api.deps import ContainerDep
from agio.api.schemas.common import error_responses
from agio.domain.security import Permission
from agio.observability.prometheus import CONTENT_TYPE

DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text exposition format 0.0.4.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


def make_router(*, public_metrics: bool) -> APIRouter:
    router = APIRouter(tags=["metrics"])
    guard = public() if public_metrics else allow(Permission.READ_METRICS)
    codes = (429,) if public_metrics else (401, 403, 429)

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={**DOC, **error_responses(*codes)},
        dependencies=[guard],
    )
    async def prometheus_metrics(container: ContainerDep) -> Response:
        active = await container.run_service.unfinished_by_status()
        body = container.telemetry.exposition(active)
        return Response(content=body, media_type=CONTENT_TYPE)

    return router
