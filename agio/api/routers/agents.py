"""`/api/agents`: agents are components of type `agent` with their own REST resource."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from agio.api.auth import allow
from agio.api.deps import AgentKey, ComponentsDep, Limit, Offset
from agio.api.schemas.agents import Agent, AgentCreate, AgentSummary
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
)
async def create_agent(body: AgentCreate, components: ComponentsDep, who: Writer) -> Agent:
    return Agent.from_stored(await components.create_agent(body, actor=who.subject))


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
