"""`/api/config`: every component, with validation, masking and change history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from agio.api.auth import allow
from agio.api.deps import ComponentName, ComponentsDep, Offset
from agio.api.schemas.common import error_responses
from agio.api.schemas.config import (
    ComponentDetail,
    ConfigChange,
    ConfigDiff,
    ConfigHistory,
    ConfigList,
    ConfigPut,
    ConfigPutResult,
    ConfigRollback,
    ConfigRollbackResult,
    ConfigSummary,
    HistoryEntry,
    component_detail,
)
from agio.config.components import ComponentType
from agio.domain.security import Permission, Principal

router = APIRouter(prefix="/api/config", tags=["config"], responses=error_responses(401, 403, 429))

Reader = Annotated[Principal, allow(Permission.READ_CONFIG)]
Writer = Annotated[Principal, allow(Permission.WRITE_CONFIG)]
Deleter = Annotated[Principal, allow(Permission.DELETE_CONFIG)]


@router.get("", response_model=ConfigList, summary="List components")
async def list_components(
    _: Reader,
    components: ComponentsDep,
    type: Annotated[ComponentType | None, Query(description="Only this type.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> ConfigList:
    page = await components.list_components(type, limit=limit, offset=offset)
    return ConfigList(
        total=page.total,
        configs=[ConfigSummary.from_stored(s) for s in page.items],
        limit=limit,
        offset=offset,
        has_more=offset + len(page.items) < page.total,
    )


@router.get(
    "/{component_name}",
    response_model=ComponentDetail,
    summary="Get a component",
    responses=error_responses(404),
)
async def get_component(component_name: ComponentName, components: ComponentsDep, _: Reader) -> Any:
    return component_detail(await components.get(component_name))


@router.put(
    "/{component_name}",
    response_model=ConfigPutResult,
    summary="Create or update a component",
    responses={
        201: {"model": ConfigPutResult, "description": "Created"},
        **error_responses(409),
    },
)
async def put_component(
    component_name: ComponentName,
    body: ConfigPut,
    components: ComponentsDep,
    who: Writer,
    response: Response,
) -> ConfigPutResult:
    result = await components.put(
        component_name, body.config, validate_only=body.validate_only, actor=who.subject
    )
    if result.validated_only:
        what = "would be created" if result.created else "would be updated"
        message = f"Configuration of '{component_name}' is valid; it {what} (nothing saved)"
    else:
        what = "created" if result.created else "updated"
        message = f"Component '{component_name}' {what}"
        if result.created:
            response.status_code = status.HTTP_201_CREATED
    return ConfigPutResult(
        success=True,
        message=message,
        created=result.created,
        validate_only=result.validated_only,
        revision=result.component.revision if result.component else None,
    )


@router.delete(
    "/{component_name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a component",
    responses=error_responses(404, 409),
    response_class=Response,
)
async def delete_component(
    component_name: ComponentName, components: ComponentsDep, who: Deleter
) -> Response:
    await components.delete(component_name, actor=who.subject)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{component_name}/history",
    response_model=ConfigHistory,
    summary="A component's change history, oldest first",
    responses=error_responses(404),
)
async def component_history(
    component_name: ComponentName, components: ComponentsDep, _: Reader
) -> ConfigHistory:
    entries = await components.history(component_name)
    return ConfigHistory(
        component_name=component_name,
        history=[
            HistoryEntry(
                change_type=e.change_type,
                timestamp=e.timestamp,
                old_config=e.old_config,
                new_config=e.new_config,
                actor=e.actor,
                revision=e.revision,
                rolled_back_from=e.rolled_back_from,
            )
            for e in entries
        ],
    )


@router.get(
    "/{component_name}/diff",
    response_model=ConfigDiff,
    summary="The fields that differ between two revisions",
    responses=error_responses(404),
)
async def component_diff(
    component_name: ComponentName,
    components: ComponentsDep,
    _: Reader,
    from_revision: Annotated[
        int, Query(alias="from", ge=1, le=2_147_483_647, description="A revision.")
    ],
    to_revision: Annotated[
        int, Query(alias="to", ge=1, le=2_147_483_647, description="Another revision.")
    ],
) -> ConfigDiff:
    changes = await components.diff(component_name, from_revision, to_revision)
    return ConfigDiff(
        component_name=component_name,
        from_revision=from_revision,
        to_revision=to_revision,
        changes=[
            ConfigChange.model_validate({"path": list(c.path), "from": c.old, "to": c.new})
            for c in changes
        ],
    )


@router.post(
    "/{component_name}/rollback",
    response_model=ConfigRollbackResult,
    summary="Make an earlier revision's configuration current again",
    description=(
        "Recorded as a new revision, a `rolled_back` history entry that names the "
        "revision it came from, and validated like any update (422 with the reasons). "
        "Secrets are kept: history stores none, so each secret the revision had is the "
        "component's current one; a secret the component no longer has is a 422 naming "
        "the field (send it again with a PUT). A concurrent change is a 409."
    ),
    responses=error_responses(404, 409),
)
async def rollback_component(
    component_name: ComponentName, body: ConfigRollback, components: ComponentsDep, who: Writer
) -> ConfigRollbackResult:
    stored = await components.rollback(component_name, body.revision, actor=who.subject)
    return ConfigRollbackResult(
        success=True,
        message=(
            f"Component '{component_name}' rolled back to revision {body.revision}: "
            f"now revision {stored.revision}"
        ),
        revision=stored.revision,
        rolled_back_from=body.revision,
    )
