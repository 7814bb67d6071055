"""`/api/sessions`: conversations, scoped to their user (admins see all)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, Field

from agio.api.auth import allow
from agio.api.deps import ContainerDep, Limit, Offset
from agio.api.schemas.common import Paginated, error_responses
from agio.api.schemas.runs import ID_PATTERN
from agio.domain.errors import AgentNotFound
from agio.domain.runs import RunStatus
from agio.domain.security import Permission, Principal

router = APIRouter(
    prefix="/api/sessions", tags=["sessions"], responses=error_responses(401, 403, 429)
)

Reader = Annotated[Principal, allow(Permission.READ_SESSION)]
Deleter = Annotated[Principal, allow(Permission.DELETE_SESSION)]
SessionId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="The session's id.")]


class SessionSummary(BaseModel):
    id: str
    agent_id: str
    user_id: str | None
    created_at: datetime
    updated_at: datetime
    run_count: int


class SessionRun(BaseModel):
    id: str
    status: RunStatus


class SessionDetail(BaseModel):
    id: str
    agent_id: str
    user_id: str | None
    created_at: datetime
    updated_at: datetime
    messages: list[dict[str, Any]] = Field(
        description="The conversation as stored: what memory draws on."
    )
    summary: str | None = Field(description="The `summary` memory's summary of older turns.")
    runs: list[SessionRun]


@router.get("", response_model=Paginated[SessionSummary], summary="Sessions, most recent first")
async def list_sessions(
    container: ContainerDep,
    who: Reader,
    agent_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="An agent's id or name.")
    ] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Paginated[SessionSummary]:
    agent = None
    if agent_id is not None:
        try:
            agent = (await container.components.get_agent(agent_id)).id
        except AgentNotFound:  # like the runs list: an unknown agent has no sessions
            return Paginated[SessionSummary].of([], 0, limit, offset)
    page = await container.run_service.list_sessions(
        who, agent_id=agent, limit=limit, offset=offset
    )
    items = [
        SessionSummary(
            id=s.id,
            agent_id=s.agent_id,
            user_id=s.user_id,
            created_at=s.created_at,
            updated_at=s.updated_at,
            run_count=n,
        )
        for s, n in page.items
    ]
    return Paginated[SessionSummary].of(items, page.total, limit, offset)


@router.get(
    "/{session_id}",
    response_model=SessionDetail,
    summary="A session: its messages and runs",
    responses=error_responses(404),
)
async def get_session(session_id: SessionId, container: ContainerDep, who: Reader) -> SessionDetail:
    history = await container.run_service.session_history(who, session_id)
    session = history.session
    return SessionDetail(
        id=session.id,
        agent_id=session.agent_id,
        user_id=session.user_id,
        created_at=session.created_at,
        updated_at=session.updated_at,
        messages=history.messages,
        summary=history.summary,
        runs=[SessionRun(id=i, status=st) for i, st in history.runs],
    )


@router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a session with its messages and runs",
    responses=error_responses(404, 409),
    response_class=Response,
)
async def delete_session(session_id: SessionId, container: ContainerDep, who: Deleter) -> Response:
    await container.run_service.delete_session(who, session_id)
    await container.run_manager.forget_session(session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
