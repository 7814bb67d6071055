"""Users, tokens, API keys and browser sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from agio.api.schemas.common import JSON_INT
from agio.domain.security import Permission, Role
from agio.domain.users import ApiKey, User

USERNAME_PATTERN = r"^[a-z][a-z0-9_.@-]{0,63}$"


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105  # the OAuth2 scheme name
    expires_in: int = Field(description="Seconds until the token expires.")


class UserOut(BaseModel):
    id: str
    username: str
    role: Role
    disabled: bool
    has_password: bool = Field(description="False for a user that signs in with API keys only.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_user(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            role=user.role,
            disabled=user.disabled,
            has_password=user.has_password,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


class Me(BaseModel):
    user_id: str
    username: str
    role: Role
    permissions: list[Permission]
    authenticated_by: Literal["jwt", "api_key", "session", "local"]
    key_id: str | None = Field(
        default=None,
        description="The API key the request was authenticated with (for a browser "
        "session: the key it was opened with, if any).",
    )


class PasswordSignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class KeySignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: str = Field(min_length=1, max_length=256, description="An API key (`agio_…`).")


class BrowserSessionOut(BaseModel):
    """The signed-in principal, and the token that state-changing requests send."""

    user_id: str
    username: str
    role: Role
    permissions: list[Permission]
    authenticated_by: Literal["session"] = "session"
    key_id: str | None = Field(
        default=None, description="The API key the session was opened with; none: a password."
    )
    csrf_token: str = Field(
        description="Send it as `X-CSRF-Token` with every POST, PUT, PATCH and DELETE that "
        "the session cookie authenticates. Keep it in memory only."
    )
    expires_at: datetime = Field(description="When the session ends, however much it is used.")
    idle_timeout_seconds: int = Field(description="A session unused this long ends sooner.")


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN, description="Lower-case; unique.")
    password: str | None = Field(
        default=None,
        min_length=12,
        max_length=256,
        description="At least 12 characters; none: the user signs in with API keys only.",
    )
    role: Role = Role.USER


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(default=None, min_length=12, max_length=256)
    role: Role | None = None
    disabled: StrictBool | None = None


class ApiKeyOut(BaseModel):
    """A key's metadata: never the key itself."""

    id: str
    user_id: str
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it by.")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Updated at most once a minute.")
    revoked_at: datetime | None
    active: bool

    @classmethod
    def from_key(cls, key: ApiKey, now: datetime) -> ApiKeyOut:
        return cls(
            id=key.id,
            user_id=key.user_id,
            name=key.name,
            prefix=key.prefix,
            created_at=key.created_at,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
            active=key.revoked_at is None and (key.expires_at is None or key.expires_at > now),
        )


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")
    expires_in_days: Annotated[int, Field(ge=1, le=3650), JSON_INT] | None = None
    user_id: str | None = Field(
        default=None,
        pattern=r"^usr_[a-z0-9]{1,60}$",
        description="Admins only: create the key for this user (default: yourself).",
    )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key. Shown only in this response: store it now.")
