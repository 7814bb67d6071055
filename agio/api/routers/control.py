"""Execution control: pause, resume, cancel; checkpoints; restore and fork."""

from __future__ import annotations

from fastapi import APIRouter, status

from agio.api.deps import ContainerDep, RunIdPath
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
from agio.domain.errors import RunNotFound
from agio.domain.messages import Message
from agio.domain.runs import RunStatus
from agio.runtime.manager import ForkChanges

router = APIRouter(prefix="/api", tags=["control"])

IdPath = RunIdPath
CONTROL_ERRORS = error_responses(404, 409)


def _control(run_id: str, state: RunStatus, done: str) -> ControlResponse:
    if state.value == done:
        message = f"Run {done}"
    else:
        message = f"Run is {state.value}; the {done.removesuffix('d')} request is recorded"
    return ControlResponse(run_id=run_id, status=state, message=message)


@router.post(
    "/runs/{run_id}/pause",
    response_model=ControlResponse,
    responses=CONTROL_ERRORS,
    summary="Pause a run at its next safe point",
)
async def pause_run(run_id: RunIdPath, container: ContainerDep) -> ControlResponse:
    state = await container.runs.pause(run_id)
    return _control(run_id, state, "paused")


@router.post(
    "/runs/{run_id}/resume",
    response_model=ControlResponse,
    responses=CONTROL_ERRORS,
    summary="Resume a paused run from its checkpoint",
)
async def resume_run(run_id: RunIdPath, container: ContainerDep) -> ControlResponse:
    state = await container.runs.resume(run_id)
    return ControlResponse(run_id=run_id, status=state, message="Run resumed")


@router.post(
    "/runs/{run_id}/cancel",
    response_model=ControlResponse,
    responses=CONTROL_ERRORS,
    summary="Cancel a run",
)
async def cancel_run(run_id: RunIdPath, container: ContainerDep) -> ControlResponse:
    state = await container.runs.cancel(run_id)
    return _control(run_id, state, "cancelled")


@router.get(
    "/runs/{run_id}/checkpoints",
    response_model=CheckpointList,
    responses=error_responses(404),
    summary="A run's checkpoints, oldest first",
)
async def list_checkpoints(run_id: RunIdPath, container: ContainerDep) -> CheckpointList:
    if await container.run_repo.get_run(run_id) is None:
        raise RunNotFound(run_id)
    checkpoints = await container.run_repo.list_checkpoints(run_id)
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
    run_id: RunIdPath, body: CheckpointCreate, container: ContainerDep
) -> CheckpointDetail:
    checkpoint = await container.runs.create_checkpoint(run_id, body.description, body.tags)
    return CheckpointDetail.from_checkpoint(checkpoint)


@router.get(
    "/checkpoints/{checkpoint_id}",
    response_model=CheckpointDetail,
    responses=error_responses(404),
    summary="A checkpoint with its full state",
)
async def get_checkpoint(checkpoint_id: IdPath, container: ContainerDep) -> CheckpointDetail:
    return CheckpointDetail.from_checkpoint(await container.runs.get_checkpoint(checkpoint_id))


@router.post(
    "/checkpoints/{checkpoint_id}/restore",
    response_model=RestoreResponse,
    responses=CONTROL_ERRORS,
    summary="Run again from a checkpoint",
)
async def restore_checkpoint(
    checkpoint_id: IdPath, body: RestoreRequest, container: ContainerDep
) -> RestoreResponse:
    run = await container.runs.restore(
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
)
async def fork_checkpoint(
    checkpoint_id: IdPath, body: ForkRequest, container: ContainerDep
) -> ForkResponse:
    m = body.modifications
    changes = ForkChanges(
        modified_query=m.modified_query,
        system_prompt=m.system_prompt,
        model=m.model,
        temperature=m.temperature,
        max_steps=m.max_steps,
        messages=tuple(Message(role=x.role, content=x.content) for x in m.messages),
    )
    run = await container.runs.fork(checkpoint_id, changes, body.description)
    return ForkResponse(
        new_run_id=run.id,
        checkpoint_id=checkpoint_id,
        message=f"Forked run {run.id} from checkpoint {checkpoint_id}",
    )
