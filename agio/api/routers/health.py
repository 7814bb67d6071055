"""`/api/health`: each dependency is really probed on every call (LLM probes are cached).

Anybody may call it (load balancers do) and is shown the summary: the overall status and
each component's state. A caller allowed to read the system (`read:system`) gets the full
report: probe details, the models and their probe results, the configs folder's problems,
and the reasons for a status that is not `ok`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from agio import __version__
from agio.api.auth import authenticate, local_connection, public
from agio.api.deps import ContainerDep
from agio.api.schemas.common import error_responses
from agio.api.schemas.health import (
    AuthState,
    AuthStatus,
    ComponentState,
    ComponentStates,
    ConfigProblemOut,
    ConfigsProbe,
    Health,
    HealthComponents,
    HealthSummary,
    LlmProbe,
    ProbeResult,
)
from agio.api.session_cookie import session_token
from agio.config.settings import Settings
from agio.domain.errors import Unauthorized
from agio.domain.security import Permission
from agio.domain.time import utcnow
from agio.services.health import HealthReport, Probe

router = APIRouter(prefix="/api", tags=["health"])

AUTH_DISABLED_DETAIL = (
    "AGIO_AUTH_DISABLED: requests without credentials on loopback connections act as a local admin"
)


async def _may_read_details(request: Request, settings: Settings) -> bool:
    # optional authentication, read by hand: the schema must not say that this route
    # needs credentials (load balancers call it without), and a caller without any is
    # never counted as a failed sign-in
    api_key = request.headers.get("x-api-key")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    signed_in = session_token(request) is not None  # the console's session cookie
    if not (
        token or api_key or signed_in or (settings.auth_disabled and local_connection(request))
    ):
        return False
    try:
        principal = await authenticate(request, token, api_key)
    except Unauthorized:
        return False
    return principal.can(Permission.READ_SYSTEM)


def _result(probe: Probe) -> ProbeResult:
    return ProbeResult(status=probe.status, latency_ms=probe.latency_ms, detail=probe.detail)


def _full(report: HealthReport, settings: Settings) -> Health:
    problems = report.configs.extra.get("problems", [])
    components = HealthComponents(
        database=_result(report.database),
        cache=_result(report.cache),
        llm=LlmProbe(**_result(report.llm).model_dump(), models=report.llm.extra.get("models", {})),
        configs=ConfigsProbe(
            **_result(report.configs).model_dump(),
            problems=[
                ConfigProblemOut(path=p.path, field=p.field, message=p.message) for p in problems
            ],
        ),
    )
    auth = (
        AuthStatus(status="disabled", detail=AUTH_DISABLED_DETAIL)
        if settings.auth_disabled
        else AuthStatus(status="enabled")
    )
    return Health(
        status=report.status,
        reasons=report.reasons,
        version=__version__,
        timestamp=utcnow(),
        components=components,
        auth=auth,
    )


def _summary(report: HealthReport, settings: Settings) -> HealthSummary:
    states = {name: ComponentState(status=p.status) for name, p in report.components.items()}
    return HealthSummary(
        status=report.status,
        timestamp=utcnow(),
        components=ComponentStates(**states),
        auth=AuthState(status="disabled" if settings.auth_disabled else "enabled"),
    )


@router.get(
    "/health",
    response_model=Health | HealthSummary,
    summary="Service health",
    description="The full report (`Health`) for a caller with `read:system`; for anybody "
    "else, the summary (`HealthSummary`).",
    responses={
        503: {"model": Health | HealthSummary, "description": "The database is unreachable"},
        **error_responses(429),
    },
    dependencies=[public()],
)
async def health(
    container: ContainerDep, response: Response, request: Request
) -> Health | HealthSummary:
    settings = container.settings
    detailed = await _may_read_details(request, settings)
    report = await container.health.report(container.config_files.problems, settings.configs_dir)
    if report.status == "unhealthy":
        response.status_code = 503
    return _full(report, settings) if detailed else _summary(report, settings)
