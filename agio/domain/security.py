"""Roles, permissions and the principal a request acts as.

Every route declares one permission (see `agio.api.auth.Requires`). A role is a fixed set
of permissions; `admin` has all of them. Ownership (a user sees only their own runs) is
checked on top of permissions, by the routes that read owned resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"
    VIEWER = "viewer"


class Permission(StrEnum):
    READ_AGENT = "read:agent"
    WRITE_AGENT = "write:agent"
    DELETE_AGENT = "delete:agent"
    EXECUTE_AGENT = "execute:agent"
    READ_CONFIG = "read:config"
    WRITE_CONFIG = "write:config"
    DELETE_CONFIG = "delete:config"
    READ_RUN = "read:run"
    EXECUTE_RUN = "execute:run"
    READ_CHECKPOINT = "read:checkpoint"
    WRITE_CHECKPOINT = "write:checkpoint"
    READ_USER = "read:user"
    WRITE_USER = "write:user"
    DELETE_USER = "delete:user"
    READ_KEY = "read:key"
    WRITE_KEY = "write:key"
    READ_SYSTEM = "read:system"
    READ_METRICS = "read:metrics"  # the whole server's Prometheus figures: admins only
    READ_SESSION = "read:session"
    DELETE_SESSION = "delete:session"
    READ_KNOWLEDGE = "read:knowledge"  # list and search knowledge bases
    WRITE_KNOWLEDGE = "write:knowledge"  # add, remove, re-index documents
    APPROVE_RUN = "approve:run"  # decide a tool call waiting for approval (own runs)
    # webhooks: one's own subscriptions (an admin's get every user's runs, and admins see
    # and delete everyone's)
    READ_WEBHOOK = "read:webhook"
    WRITE_WEBHOOK = "write:webhook"


_READ = frozenset(
    {
        Permission.READ_AGENT,
        Permission.READ_CONFIG,
        Permission.READ_RUN,
        Permission.READ_CHECKPOINT,
        Permission.READ_SYSTEM,
        Permission.READ_KNOWLEDGE,
        Permission.READ_SESSION,
        # one's own API keys: a viewer needs a key to read with, and gains nothing by it
        Permission.READ_KEY,
        Permission.WRITE_KEY,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _READ,
    Role.USER: _READ
    | {
        Permission.EXECUTE_AGENT,
        Permission.EXECUTE_RUN,
        Permission.WRITE_CHECKPOINT,
        Permission.DELETE_SESSION,
        Permission.APPROVE_RUN,
        Permission.READ_WEBHOOK,
        Permission.WRITE_WEBHOOK,
    },
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as."""

    user_id: str
    username: str
    role: Role
    #: how the caller proved it: "jwt", "api_key", or "local" (authentication turned off)
    via: str
    key_id: str | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self.role]

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def owns(self, user_id: str | None) -> bool:
        """May this principal see a resource that belongs to `user_id`? Admins see all."""
        return self.is_admin or (user_id is not None and user_id == self.user_id)

    @property
    def subject(self) -> str:
        """The principal as an actor in change history and logs."""
        return f"user:{self.username}"
