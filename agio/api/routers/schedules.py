"""`/api/schedules`: agents run on a cron schedule (SPEC §15).

Schedules belong to their creator, whose runs their firings start: running agents
(`execute:agent`) is the permission for one's own; an admin sees and changes everyone's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status

from agio.api.auth import allow
from agio.api.deps import ContainerDep, Limit, Offset
from agio.api.idempotency import IdempotencyDep, replay_documented
from agio.api.schemas.agents import MERGE_PATCH
from agio.api.schemas.common import Paginated, error_responses
from agio.api.schemas.runs import ID_PATTERN
from agio.api.schemas.schedules import ScheduleCreate, ScheduleOut, SchedulePatch
from agio.domain.security import Permission, Principal
from agio.services.merge_patch import merge_patch

router = APIRouter(
    prefix="/api/schedules", tags=["schedules"], responses=error_responses(401, 403, 429)
)

Runner = Annotated[Principal, allow(Permission.EXECUTE_AGENT)]
ScheduleId = Annotated[str, Path(pattern=ID_PATTERN, description="The schedule's id.")]


@router.post(
    "",
    response_model=ScheduleOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a schedule",
    description=(
        "Each firing of `cron` (in `timezone`) starts one run of the agent with `message`, "
        "as the caller. An invalid cron expression or an unknown time zone is a 422 naming "
        "the field; an unknown agent or session a 404."
    ),
    responses=error_responses(404, 409),
    openapi_extra=replay_documented(201),
)
async def create_schedule(
    body: ScheduleCreate, container: ContainerDep, who: Runner, idem: IdempotencyDep
) -> Any:
    async def create() -> ScheduleOut:
        return ScheduleOut.of(await container.schedules.create(who, body.to_spec()))

    # an Idempotency-Key (SPEC §13): a repeat gets the first schedule, and makes none
    return await idem.once(who, body, create, status_code=status.HTTP_201_CREATED)


@router.get("", response_model=Paginated[ScheduleOut], summary="List schedules, newest first")
async def list_schedules(
    container: ContainerDep,
    who: Runner,
    agent_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="An agent's id or name.")
    ] = None,
    enabled: Annotated[bool | None, Query(description="Only enabled (or disabled) ones.")] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Paginated[ScheduleOut]:
    page = await container.schedules.list_page(
        who, agent=agent_id, enabled=enabled, limit=limit, offset=offset
    )
    return Paginated[ScheduleOut].of(
        [ScheduleOut.of(s) for s in page.items], page.total, limit, offset
    )


@router.get(
    "/{schedule_id}",
    response_model=ScheduleOut,
    summary="A schedule",
    responses=error_responses(404),
)
async def get_schedule(
    schedule_id: ScheduleId, container: ContainerDep, who: Runner
) -> ScheduleOut:
    return ScheduleOut.of(await container.schedules.get(who, schedule_id))


@router.patch(
    "/{schedule_id}",
    response_model=ScheduleOut,
    summary="Change some fields of a schedule (JSON merge patch)",
    description=(
        "A JSON merge patch (RFC 7386), sent as `application/merge-patch+json` or "
        "`application/json`: only the fields given change, `null` resets a field to its "
        "default. A changed `cron` or `timezone`, or enabling, computes `next_run_at` "
        "again; disabling clears it. A concurrent change is a 409."
    ),
    responses=error_responses(404, 409),
    openapi_extra={
        "requestBody": {
            "content": {MERGE_PATCH: {"schema": {"$ref": "#/components/schemas/SchedulePatch"}}}
        }
    },
)
async def patch_schedule(
    schedule_id: ScheduleId,
    body: SchedulePatch,
    request: Request,
    container: ContainerDep,
    who: Runner,
) -> ScheduleOut:
    # `body` has checked the shape; the merge applies the JSON as sent (`null` included)
    patch = await request.json()
    schedules = container.schedules
    current = await schedules.get(who, schedule_id)
    merged = ScheduleCreate.merged(merge_patch(current.spec(), patch))
    return ScheduleOut.of(await schedules.replace(who, current, merged.to_spec()))


@router.delete(
    "/{schedule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a schedule",
    description="Its runs stay, and keep their `schedule_id`.",
    responses=error_responses(404),
    response_class=Response,
)
async def delete_schedule(
    schedule_id: ScheduleId, container: ContainerDep, who: Runner
) -> Response:
    await container.schedules.delete(who, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
