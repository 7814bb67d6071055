"""`/api/auth`: sign in for a JWT, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from agio.api.auth import allow, public
from agio.api.deps import ContainerDep
from agio.api.schemas.auth import Me, TokenResponse
from agio.api.schemas.common import error_responses
from agio.domain.security import Permission, Principal

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post(
    "/token",
    response_model=TokenResponse,
    summary="Sign in with a username and password (OAuth2 password form); get a JWT",
    responses=error_responses(401, 429),
    dependencies=[public(group="auth")],
)
async def token(
    container: ContainerDep,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=256)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    scope: Annotated[str, Form(max_length=1024)] = "",
) -> TokenResponse:
    user = await container.auth.login(username, password)
    issued = container.auth.issue_token(user)
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)


@router.get(
    "/me",
    response_model=Me,
    summary="The caller: user, role and permissions",
    responses=error_responses(401, 403, 429),
)
async def me(who: Annotated[Principal, allow(Permission.READ_KEY)]) -> Me:
    return Me(
        user_id=who.user_id,
        username=who.username,
        role=who.role,
        permissions=sorted(who.permissions),
        authenticated_by=who.via,
        key_id=who.key_id,
    )
