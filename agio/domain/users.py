"""Users and their API keys as records (the hashes never leave the auth service)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agio.domain.security import Role


@dataclass(frozen=True)
class User:
    id: str
    username: str
    role: Role
    disabled: bool
    has_password: bool
    created_at: datetime
    updated_at: datetime
    password_hash: str | None = None  # never leaves the auth service


@dataclass(frozen=True)
class ApiKey:
    id: str
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    key_hash: str = ""  # never leaves the auth service
