"""`/api/users`: user management, for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from agio.api.auth import allow
from agio.api.deps import ContainerDep, Limit, Offset
from agio.api.schemas.auth import UserCreate, UserOut, UserUpdate
from agio.api.schemas.common import Paginated, error_responses
from agio.domain.errors import UserNotFound
from agio.domain.security import Permission, Principal

router = APIRouter(prefix="/api/users", tags=["users"], responses=error_responses(401, 403, 429))

Reader = Annotated[Principal, allow(Permission.READ_USER)]
Writer = Annotated[Principal, allow(Permission.WRITE_USER)]
Deleter = Annotated[Principal, allow(Permission.DELETE_USER)]
UserId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="The user's id.")]


@router.get("", response_model=Paginated[UserOut], summary="List users")
async def list_users(
    container: ContainerDep, _: Reader, limit: Limit = 20, offset: Offset = 0
) -> Paginated[UserOut]:
    page = await container.auth.users.list(limit=limit, offset=offset)
    return Paginated[UserOut].of(
        [UserOut.from_user(u) for u in page.items], page.total, limit, offset
    )


@router.post(
    "",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a user",
    responses=error_responses(409),
)
async def create_user(body: UserCreate, container: ContainerDep, _: Writer) -> UserOut:
    auth = container.auth
    hashed = auth.hash_password(body.password) if body.password else None
    user = await auth.users.create(body.username, body.role, hashed)
    assert user is not None
    return UserOut.from_user(user)


@router.get(
    "/{user_id}", response_model=UserOut, summary="Get a user", responses=error_responses(404)
)
async def get_user(user_id: UserId, container: ContainerDep, _: Reader) -> UserOut:
    user = await container.auth.users.get(user_id)
    if user is None:
        raise UserNotFound(user_id)
    return UserOut.from_user(user)


@router.patch(
    "/{user_id}",
    response_model=UserOut,
    summary="Change a user's role, password or disabled flag",
    responses=error_responses(404, 409),
)
async def update_user(
    user_id: UserId, body: UserUpdate, container: ContainerDep, _: Writer
) -> UserOut:
    values: dict[str, object] = {}
    if body.role is not None:
        values["role"] = body.role
    if body.disabled is not None:
        values["disabled"] = body.disabled
    if body.password is not None:
        values["password_hash"] = container.auth.hash_password(body.password)
    if not values:
        user = await container.auth.users.get(user_id)
        if user is None:
            raise UserNotFound(user_id)
        return UserOut.from_user(user)
    return UserOut.from_user(await container.auth.users.update(user_id, **values))


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a user and their API keys (their runs stay)",
    responses=error_responses(404, 409),
    response_class=Response,
)
async def delete_user(user_id: UserId, container: ContainerDep, _: Deleter) -> Response:
    await container.auth.users.delete(user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
