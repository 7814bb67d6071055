"""Browser sessions in the database: the console's signed-in sessions. A session is stored
by the SHA-256 of its token (never the token), with its user, the API key it was opened
with (if any), its absolute end and when it was last seen. Revoking a session deletes its
row; `UserRepository` deletes a user's sessions in the transaction that changes what they
were opened with (`of_user`, `of_key`). Choosing tokens, expiry and idle time is the
service's job (`agio.services.browser_sessions`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Delete, delete, or_, select, update

from agio.domain.ids import new_id
from agio.domain.security import Role
from agio.storage.database import Database
from agio.storage.tables import ApiKeyRow, BrowserSessionRow, UserRow


@dataclass(frozen=True)
class BrowserSession:
    id: str
    user_id: str
    #: the API key the session was opened with; None: a password
    key_id: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class SessionOwner:
    """The session's user as a lookup reads it, and whether its key still holds."""

    username: str
    role: Role
    disabled: bool
    #: opened with a key that has been revoked since (its sessions are deleted when it is;
    #: this covers a sign-in that raced the revocation)
    key_revoked: bool


def of_user(user_id: str) -> Delete:
    """The statement that ends every session of a user."""
    return delete(BrowserSessionRow).where(BrowserSessionRow.user_id == user_id)


def of_key(key_id: str) -> Delete:
    """The statement that ends every session opened with an API key."""
    return delete(BrowserSessionRow).where(BrowserSessionRow.key_id == key_id)


class BrowserSessionRepository:
    def __init__(self, db: Database, changed: Callable[[str], None]) -> None:
        """`changed(session_id)`: called after a session's deletion is committed."""
        self._db = db
        self._changed = changed

    async def create(
        self,
        token_hash: str,
        user_id: str,
        *,
        key_id: str | None,
        user_updated_at: datetime | None,
        now: datetime,
        expires_at: datetime,
        idle_since: datetime,
    ) -> BrowserSession | None:
        """Store a new session, unless its user is gone or disabled, its key revoked, or
        (`user_updated_at` given) the user changed since it was read: then None. The user
        (and key) rows are read locked (PostgreSQL), so a change of theirs that commits
        meanwhile waits for this session and ends it, or is seen here. Sessions that
        ended (past their end, or last seen before `idle_since`) are deleted on the way."""
        row = BrowserSessionRow(
            id=new_id("bss"),
            token_hash=token_hash,
            user_id=user_id,
            key_id=key_id,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
        async with self._db.write_sessions() as session, session.begin():
            user = (
                await session.execute(
                    select(UserRow.disabled, UserRow.updated_at)
                    .where(UserRow.id == user_id)
                    .with_for_update(read=True)
                )
            ).first()
            if user is None or user.disabled:
                return None
            if user_updated_at is not None and user.updated_at != user_updated_at:
                return None
            if key_id is not None:
                revoked = await session.scalar(
                    select(ApiKeyRow.revoked_at.is_not(None))
                    .where(ApiKeyRow.id == key_id, ApiKeyRow.user_id == user_id)
                    .with_for_update(read=True)
                )
                if revoked is None or revoked:
                    return None
            await session.execute(
                delete(BrowserSessionRow).where(
                    or_(
                        BrowserSessionRow.expires_at <= now,
                        BrowserSessionRow.last_seen_at <= idle_since,
                    )
                )
            )
            session.add(row)
        return _session(row)

    async def lookup(self, token_hash: str) -> tuple[BrowserSession, SessionOwner] | None:
        """The session with this token hash and its user: one query (plain columns, no
        ORM session), on the requests that find no cache entry."""
        columns = (
            BrowserSessionRow.id,
            BrowserSessionRow.user_id,
            BrowserSessionRow.key_id,
            BrowserSessionRow.created_at,
            BrowserSessionRow.last_seen_at,
            BrowserSessionRow.expires_at,
            UserRow.username,
            UserRow.role,
            UserRow.disabled,
            ApiKeyRow.revoked_at.is_not(None),
        )
        async with self._db.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(*columns)
                    .join(UserRow, UserRow.id == BrowserSessionRow.user_id)
                    .outerjoin(ApiKeyRow, ApiKeyRow.id == BrowserSessionRow.key_id)
                    .where(BrowserSessionRow.token_hash == token_hash)
                )
            ).first()
        if row is None:
            return None
        found = BrowserSession(*row[:6])
        owner = SessionOwner(
            username=row[6], role=Role(row[7]), disabled=row[8], key_revoked=bool(row[9])
        )
        return found, owner

    async def touch(self, session_id: str, when: datetime) -> None:
        """Record that the session was used (never moving `last_seen_at` back)."""
        async with self._db.sessions() as session, session.begin():
            await session.execute(
                update(BrowserSessionRow)
                .where(BrowserSessionRow.id == session_id, BrowserSessionRow.last_seen_at < when)
                .values(last_seen_at=when)
            )

    async def delete(self, session_id: str) -> None:
        """Revoke a session (one already gone is fine)."""
        async with self._db.sessions() as session, session.begin():
            await session.execute(
                delete(BrowserSessionRow).where(BrowserSessionRow.id == session_id)
            )
        self._changed(session_id)


def _session(row: BrowserSessionRow) -> BrowserSession:
    return BrowserSession(
        id=row.id,
        user_id=row.user_id,
        key_id=row.key_id,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
    )
