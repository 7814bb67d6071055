"""`/api/agents`: agents are components of type `agent` with their own REST resource."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from agio.api.auth import allow
from agio.api.deps import AgentKey, ComponentsDep, Limit, Offset
from agio.api.idempotency import IdempotencyDep, replay_documented
from agio.api.schemas.agents import MERGE_PATCH, Agent, AgentCreate, AgentPatch, AgentSummary
from agio.api.schemas.common import Paginated, error_responses
from agio.domain.security import Permission, Principal

router = APIRouter(prefix="/api/agents", tags=["agents"], responses=error_responses(401, 403, 429))

Reader = Annotated[Principal, allow(Permission.READ_AGENT)]
Writer = Annotated[Principal, allow(Permission.WRITE_AGENT)]
Deleter = Annotated[Principal, allow(Permission.DELETE_AGENT)]

TagFilter = Annotated[
    str | None,
    Query(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$", description="Only this tag."),
]


@router.get("", response_model=Paginated[AgentSummary], summary="List agents")
async def list_agents(
    _: Reader,
    components: ComponentsDep,
    limit: Limit = 20,
    offset: Offset = 0,
    tag: TagFilter = None,
) -> Paginated[AgentSummary]:
    page = await components.list_agents(tag=tag, limit=limit, offset=offset)
    return Paginated[AgentSummary].of(
        [AgentSummary.from_stored(s) for s in page.items], page.total, limit, offset
    )


@router.get(
    "/{agent_id}",
    response_model=Agent,
    summary="Get an agent by id or name",
    responses=error_responses(404),
)
async def get_agent(agent_id: AgentKey, components: ComponentsDep, _: Reader) -> Agent:
    return Agent.from_stored(await components.get_agent(agent_id))


@router.post(
    "",
    response_model=Agent,
    status_code=status.HTTP_201_CREATED,
    summary="Create an agent",
    responses=error_responses(409),
    openapi_extra=replay_documented(201),
)
async def create_agent(
    body: AgentCreate, components: ComponentsDep, who: Writer, idem: IdempotencyDep
) -> Any:
    async def create() -> Agent:
        return Agent.from_stored(await components.create_agent(body, actor=who.subject))

    return await idem.once(who, body, create, status_code=status.HTTP_201_CREATED)


@router.put(
    "/{agent_id}",
    response_model=Agent,
    summary="Replace an agent",
    responses=error_responses(404, 409),
)
async def replace_agent(
    agent_id: AgentKey, body: AgentCreate, components: ComponentsDep, who: Writer
) -> Agent:
    return Agent.from_stored(await components.replace_agent(agent_id, body, actor=who.subject))


@router.patch(
    "/{agent_id}",
    response_model=Agent,
    summary="Change some fields of an agent (JSON merge patch)",
    description=(
        "A JSON merge patch (RFC 7386), sent as `application/merge-patch+json` or "
        "`application/json`: only the fields given change, `null` resets a field to its "
        "default, `config` is merged setting by setting, lists are replaced. The result is "
        "validated and recorded like a `PUT`; a concurrent change is a 409."
    ),
    responses=error_responses(404, 409),
    openapi_extra={
        "requestBody": {
            "content": {MERGE_PATCH: {"schema": {"$ref": "#/components/schemas/AgentPatch"}}}
        }
    },
)
async def patch_agent(
    agent_id: AgentKey, body: AgentPatch, request: Request, components: ComponentsDep, who: Writer
) -> Agent:
    # `body` has checked the shape; the merge uses the JSON exactly as sent, so that the
    # merged agent is validated by the same rules as a PUT body (no value coerced twice)
    patch = await request.json()
    return Agent.from_stored(await components.patch_agent(agent_id, patch, actor=who.subject))


@router.delete(
    "/{agent_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an agent",
    responses=error_responses(404, 409),
    response_class=Response,
)
async def delete_agent(agent_id: AgentKey, components: ComponentsDep, who: Deleter) -> Response:
    await components.delete_agent(agent_id, actor=who.subject)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
