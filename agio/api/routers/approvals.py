"""`/api/approvals` and `/api/runs/{id}/approvals`: tool calls that wait for a person's
decision (SPEC §11). Deciding needs `approve:run` (admins and users; a user decides only
for runs of their own: another's is not found)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from agio.api.auth import allow
from agio.api.deps import ContainerDep, RunIdPath, owned_run
from agio.api.schemas.approvals import ApprovalList, ApprovalOut, DecisionRequest
from agio.api.schemas.common import error_responses
from agio.api.schemas.runs import ID_PATTERN
from agio.domain.approvals import Decision
from agio.domain.errors import AgentNotFound
from agio.domain.security import Permission, Principal

router = APIRouter(prefix="/api", tags=["approvals"], responses=error_responses(401, 403, 429))

Approver = Annotated[Principal, allow(Permission.APPROVE_RUN)]
Reader = Annotated[Principal, allow(Permission.READ_RUN)]
CallIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="The tool call's id.")]


@router.get(
    "/approvals",
    response_model=ApprovalList,
    summary="Tool calls waiting for a decision that the caller may decide",
)
async def list_approvals(
    container: ContainerDep,
    who: Approver,
    status: Literal["pending"] = "pending",
    run_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="A run's id.")] = None,
    agent_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="An agent's id or name.")
    ] = None,
) -> ApprovalList:
    agent = None
    if agent_id is not None:  # an id or a name, like everywhere
        try:
            agent = (await container.components.get_agent(agent_id)).id
        except AgentNotFound:  # like the runs list: an unknown agent has nothing waiting
            return ApprovalList(items=[])
    items = await container.run_manager.approvals.pending(
        user_id=None if who.is_admin else who.user_id, run_id=run_id, agent_id=agent
    )
    return ApprovalList(items=[ApprovalOut.of(a) for a in items])


@router.get(
    "/runs/{run_id}/approvals",
    response_model=ApprovalList,
    responses=error_responses(404),
    summary="A run's approvals, decided or not",
)
async def run_approvals(run_id: RunIdPath, container: ContainerDep, who: Reader) -> ApprovalList:
    await owned_run(container, who, run_id)
    items = await container.run_manager.approvals.of_run(run_id)
    return ApprovalList(items=[ApprovalOut.of(a) for a in items])


@router.post(
    "/runs/{run_id}/approvals/{call_id}",
    response_model=ApprovalOut,
    responses=error_responses(404, 409),
    summary="Approve or reject a tool call that waits for a decision",
)
async def decide(
    run_id: RunIdPath,
    call_id: CallIdPath,
    body: DecisionRequest,
    container: ContainerDep,
    who: Approver,
) -> ApprovalOut:
    approval = await container.run_manager.approvals.decide(
        run_id,
        call_id,
        Decision(body.decision),
        by=who.username,
        visible_to=None if who.is_admin else who.user_id,
        reason=body.reason,
        arguments=body.arguments,
    )
    return ApprovalOut.of(approval)
