"""`/api/keys`: API keys. Everyone manages their own; admins see and revoke all, and may
create keys for other users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from agio.api.auth import allow
from agio.api.deps import ContainerDep, Limit, Offset
from agio.api.schemas.auth import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from agio.api.schemas.common import Paginated, error_responses
from agio.domain.errors import ApiKeyNotFound, PermissionDenied
from agio.domain.security import Permission, Principal
from agio.domain.time import utcnow
from agio.domain.users import ApiKey

router = APIRouter(prefix="/api/keys", tags=["keys"], responses=error_responses(401, 403, 429))

Reader = Annotated[Principal, allow(Permission.READ_KEY)]
Writer = Annotated[Principal, allow(Permission.WRITE_KEY)]
KeyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="The key's id.")]


async def _owned_key(container: ContainerDep, who: Principal, key_id: str) -> ApiKey:
    key = await container.auth.users.get_key(key_id)
    if key is None or not who.owns(key.user_id):
        raise ApiKeyNotFound(key_id)
    return key


@router.get("", response_model=Paginated[ApiKeyOut], summary="List API keys (metadata only)")
async def list_keys(
    container: ContainerDep,
    who: Reader,
    user_id: Annotated[
        str | None,
        Query(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="Admins: this user's keys only."),
    ] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Paginated[ApiKeyOut]:
    if not who.is_admin:
        if user_id is not None and user_id != who.user_id:
            return Paginated[ApiKeyOut].of([], 0, limit, offset)
        user_id = who.user_id
    page = await container.auth.users.list_keys(user_id, limit=limit, offset=offset)
    now = utcnow()
    return Paginated[ApiKeyOut].of(
        [ApiKeyOut.from_key(k, now) for k in page.items], page.total, limit, offset
    )


@router.post(
    "",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key; the key is in this response only",
    responses=error_responses(404),
)
async def create_key(body: ApiKeyCreate, container: ContainerDep, who: Writer) -> ApiKeyCreated:
    owner = who.user_id
    if body.user_id is not None and body.user_id != who.user_id:
        if not who.is_admin:
            raise PermissionDenied("Only an admin may create keys for another user")
        owner = body.user_id
    new = await container.auth.create_key(owner, body.name, expires_in_days=body.expires_in_days)
    out = ApiKeyOut.from_key(new.key, utcnow())
    return ApiKeyCreated(**out.model_dump(), key=new.secret)


@router.get(
    "/{key_id}",
    response_model=ApiKeyOut,
    summary="An API key's metadata",
    responses=error_responses(404),
)
async def get_key(key_id: KeyId, container: ContainerDep, who: Reader) -> ApiKeyOut:
    return ApiKeyOut.from_key(await _owned_key(container, who, key_id), utcnow())


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key: it fails from the very next request",
    responses=error_responses(404),
    response_class=Response,
)
async def revoke_key(key_id: KeyId, container: ContainerDep, who: Writer) -> Response:
    await _owned_key(container, who, key_id)
    await container.auth.users.revoke_key(key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
