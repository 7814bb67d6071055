"""Execution control: pause, resume, cancel; checkpoints; restore and fork."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, status

from agio.api.auth import allow
from agio.api.container import Container
from agio.api.deps import ContainerDep, RunIdPath, owned_checkpoint, owned_run
from agio.api.idempotency import IdempotencyDep, replay_documented
from agio.api.schemas.common import error_responses
from agio.api.schemas.runs import (
    CheckpointCreate,
    CheckpointDetail,
    CheckpointList,
    ControlResponse,
    ForkRequest,
    ForkResponse,
    RestoreRequest,
    RestoreResponse,
)
from agio.domain.messages import Message
from agio.domain.runs import ACTIONS, RunStatus
from agio.domain.security import Permission, Principal
from agio.runtime.manager import ForkChanges

router = APIRouter(prefix="/api", tags=["control"], responses=error_responses(401, 403, 429))

Controller = Annotated[Principal, allow(Permission.EXECUTE_RUN)]
CheckpointReader = Annotated[Principal, allow(Permission.READ_CHECKPOINT)]
CheckpointWriter = Annotated[Principal, allow(Permission.WRITE_CHECKPOINT)]

IdPath = RunIdPath
CONTROL_ERRORS = error_responses(404, 409)


def _control(run_id: str, state: RunStatus, done: RunStatus) -> ControlResponse:
    if state is done:
        message = f"Run {done.value}"
    else:
        message = f"Run is {state.value}; the {ACTIONS[done]} request is recorded"
    return ControlResponse(run_id=run_id, status=state, message=message)


@router.post(
    "/runs/{run_id}/pause",
    response_model=ControlResponse,
    responses=CONTROL_ERRORS,
    summary="Pause a run at its next safe point",
)
async def pause_run(run_id: RunIdPath, container: ContainerDep, who: Controller) -> ControlResponse:
    await owned_run(container, who, run_id)
    state = await container.run_manager.pause(run_id)
    return _control(run_id, state, RunStatus.PAUSED)


@router.post(
    "/runs/{run_id}/resume",
    response_model=ControlResponse,
    responses=CONTROL_ERRORS,
    summary="Resume a paused run from its checkpoint",
)
async def resume_run(
    run_id: RunIdPath, container: ContainerDep, who: Controller
) -> ControlResponse:
    await owned_run(container, who, run_id)
    state = await container.run_manager.resume(run_id)
    return ControlResponse(run_id=run_id, status=state, message="Run resumed")


@router.post(
    "/runs/{run_id}/cancel",
    response_model=ControlResponse,
    responses=CONTROL_ERRORS,
    summary="Cancel a run",
)
async def cancel_run(
    run_id: RunIdPath, container: ContainerDep, who: Controller
) -> ControlResponse:
    await owned_run(container, who, run_id)
    state = await container.run_manager.cancel(run_id)
    return _control(run_id, state, RunStatus.CANCELLED)


@router.get(
    "/runs/{run_id}/checkpoints",
    response_model=CheckpointList,
    responses=error_responses(404),
    summary="A run's checkpoints, oldest first",
)
async def list_checkpoints(
    run_id: RunIdPath, container: ContainerDep, who: CheckpointReader
) -> CheckpointList:
    await owned_run(container, who, run_id)
    checkpoints = await container.run_service.list_checkpoints(run_id)
    return CheckpointList(
        run_id=run_id,
        total=len(checkpoints),
        checkpoints=[CheckpointDetail.from_checkpoint(c) for c in checkpoints],
    )


@router.post(
    "/runs/{run_id}/checkpoints",
    response_model=CheckpointDetail,
    status_code=status.HTTP_201_CREATED,
    responses=CONTROL_ERRORS,
    summary="Take a checkpoint of the run's current state",
)
async def create_checkpoint(
    run_id: RunIdPath, body: CheckpointCreate, container: ContainerDep, who: CheckpointWriter
) -> CheckpointDetail:
    await owned_run(container, who, run_id)
    checkpoint = await container.run_manager.create_checkpoint(run_id, body.description, body.tags)
    return CheckpointDetail.from_checkpoint(checkpoint)


@router.get(
    "/checkpoints/{checkpoint_id}",
    response_model=CheckpointDetail,
    responses=error_responses(404),
    summary="A checkpoint with its full state",
)
async def get_checkpoint(
    checkpoint_id: IdPath, container: ContainerDep, who: CheckpointReader
) -> CheckpointDetail:
    return CheckpointDetail.from_checkpoint(await owned_checkpoint(container, who, checkpoint_id))


@router.post(
    "/checkpoints/{checkpoint_id}/restore",
    response_model=RestoreResponse,
    responses=CONTROL_ERRORS,
    summary="Run again from a checkpoint",
    openapi_extra=replay_documented(200),
)
async def restore_checkpoint(
    checkpoint_id: IdPath,
    body: RestoreRequest,
    container: ContainerDep,
    who: CheckpointWriter,
    idem: IdempotencyDep,
) -> Any:
    return await idem.once(who, body, lambda: _restore(checkpoint_id, body, container, who))


async def _restore(
    checkpoint_id: str, body: RestoreRequest, container: Container, who: Principal
) -> RestoreResponse:
    checkpoint = await owned_checkpoint(container, who, checkpoint_id)
    run = await owned_run(container, who, checkpoint.run_id)
    if body.create_new_run and run.user_id is not None:
        await container.run_service.check_run_quota(run.user_id)
    run = await container.run_manager.restore(
        checkpoint_id,
        create_new_run=body.create_new_run,
        modified_query=body.modifications.modified_query,
    )
    where = "a new run" if body.create_new_run else "the same run, in place"
    return RestoreResponse(
        new_run_id=run.id, message=f"Restored checkpoint {checkpoint_id} into {where}"
    )


@router.post(
    "/checkpoints/{checkpoint_id}/fork",
    response_model=ForkResponse,
    responses=CONTROL_ERRORS,
    summary="Branch a new run from a checkpoint",
    openapi_extra=replay_documented(200),
)
async def fork_checkpoint(
    checkpoint_id: IdPath,
    body: ForkRequest,
    container: ContainerDep,
    who: CheckpointWriter,
    idem: IdempotencyDep,
) -> Any:
    return await idem.once(who, body, lambda: _fork(checkpoint_id, body, container, who))


async def _fork(
    checkpoint_id: str, body: ForkRequest, container: Container, who: Principal
) -> ForkResponse:
    checkpoint = await owned_checkpoint(container, who, checkpoint_id)
    source = await owned_run(container, who, checkpoint.run_id)
    container.run_service.check_max_steps(body.modifications.max_steps)
    if source.user_id is not None:
        await container.run_service.check_run_quota(source.user_id)
    m = body.modifications
    changes = ForkChanges(
        modified_query=m.modified_query,
        system_prompt=m.system_prompt,
        model=m.model,
        temperature=m.temperature,
        max_steps=m.max_steps,
        messages=tuple(Message(role=x.role, content=x.content) for x in m.messages),
        agent_system_prompts=tuple(sorted(m.agent_system_prompts.items())),
    )
    run = await container.run_manager.fork(checkpoint_id, changes, body.description)
    return ForkResponse(
        new_run_id=run.id,
        checkpoint_id=checkpoint_id,
        message=f"Forked run {run.id} from checkpoint {checkpoint_id}",
    )
