"""Users and API keys in the database, and (`UserRepository.sessions`) their browser
sessions. Hashing and checking secrets is the auth service's job; this module only stores
what it is given, and says when a user, a key or a session changed
(`UserRepository.on_change`), for those who remember them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agio.domain.errors import ApiKeyNotFound, Conflict, UserNotFound
from agio.domain.ids import new_id
from agio.domain.security import Role
from agio.domain.time import utcnow
from agio.domain.users import ApiKey as ApiKey
from agio.domain.users import User as User
from agio.storage import browser_sessions
from agio.storage.browser_sessions import BrowserSessionRepository
from agio.storage.components import Page
from agio.storage.database import Database
from agio.storage.tables import ApiKeyRow, UserRow

Changed = Literal["user", "key", "session"]
#: called after a change is committed: ("user", user id) for a user's role, password or
#: disabled flag changed, or the user deleted (with their keys); ("key", key id) for a key
#: revoked; ("session", session id) for a browser session revoked. The first two end the
#: browser sessions they concern in the same transaction.
ChangeHandler = Callable[[Changed, str], None]


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        username=row.username,
        role=Role(row.role),
        disabled=row.disabled,
        has_password=row.password_hash is not None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        password_hash=row.password_hash,
    )


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        key_hash=row.key_hash,
    )


async def _end_sessions(session: AsyncSession, statement: Delete) -> None:
    """Delete browser sessions after the change that ends them is written: the written row
    is locked first, so a sign-in that read it (`BrowserSessionRepository.create`) has
    committed its session before the delete looks, or sees the change itself."""
    await session.flush()
    await session.execute(statement)


class UserRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        #: told of every committed change of a user or a key (see `ChangeHandler`)
        self.on_change: list[ChangeHandler] = []
        self.sessions = BrowserSessionRepository(db, lambda id_: self._changed("session", id_))

    @property
    def database_file(self) -> str | None:
        """The SQLite file the rows are in (None on PostgreSQL)."""
        return self._db.sqlite_file

    def _changed(self, kind: Changed, id_: str) -> None:
        for handler in self.on_change:
            handler(kind, id_)

    # ------------------------------------------------------------------ users

    async def count(self) -> int:
        async with self._db.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(UserRow)) or 0)

    async def create(
        self, username: str, role: Role, password_hash: str | None, *, only_if_empty: bool = False
    ) -> User | None:
        """Create a user; a taken username is a Conflict. With `only_if_empty`, create it
        only if there is no user at all (in the same transaction), else return None."""
        now = utcnow()
        row = UserRow(
            id=new_id("usr"),
            username=username,
            password_hash=password_hash,
            role=role.value,
            disabled=False,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._db.write_sessions() as session, session.begin():
                if only_if_empty:
                    existing = await session.scalar(select(func.count()).select_from(UserRow))
                    if existing:
                        return None
                session.add(row)
        except IntegrityError as exc:
            if only_if_empty:
                return None  # another process bootstrapped at the same moment
            raise Conflict(f"User '{username}' already exists") from exc
        return _user(row)

    async def get(self, user_id: str) -> User | None:
        async with self._db.sessions() as session:
            row = await session.get(UserRow, user_id)
            return _user(row) if row else None

    async def by_username(self, username: str) -> User | None:
        async with self._db.sessions() as session:
            row = await session.scalar(select(UserRow).where(UserRow.username == username))
            return _user(row) if row else None

    async def list(self, *, limit: int, offset: int) -> Page[User]:
        async with self._db.sessions() as session:
            total = int(await session.scalar(select(func.count()).select_from(UserRow)) or 0)
            rows = await session.scalars(
                select(UserRow).order_by(UserRow.created_at, UserRow.id).limit(limit).offset(offset)
            )
            return Page(total=total, items=[_user(r) for r in rows])

    async def update(self, user_id: str, **values: Any) -> User:
        """Change a user. Taking the admin role from, disabling or (`delete=True`) removing
        the last enabled admin is a Conflict: the server would have nobody to run it. A new
        role or password, or disabling, ends the user's browser sessions (deleting the user
        does, by the foreign key)."""
        delete = values.pop("delete", False)
        async with self._db.write_sessions() as session, session.begin():
            row = await session.get(UserRow, user_id)
            if row is None:
                raise UserNotFound(user_id)
            loses_admin = (
                row.role == Role.ADMIN.value
                and not row.disabled
                and (
                    delete
                    or values.get("disabled") is True
                    or values.get("role", Role.ADMIN) != Role.ADMIN
                )
            )
            if loses_admin:
                # locked (PostgreSQL): two admins demoted at once cannot both see the other
                admins = (
                    await session.scalars(
                        select(UserRow.id)
                        .where(UserRow.role == Role.ADMIN.value, UserRow.disabled.is_(False))
                        .order_by(UserRow.id)
                        .with_for_update()
                    )
                ).all()
                if len(admins) <= 1:
                    raise Conflict("This is the last enabled admin; make another admin first")
            role = values.get("role")
            ends_sessions = (
                "password_hash" in values
                or values.get("disabled") is True
                or (role is not None and Role(role).value != row.role)
            )
            if delete:
                await session.delete(row)
            else:
                for name, value in values.items():
                    setattr(row, name, value.value if isinstance(value, Role) else value)
                row.updated_at = utcnow()
                if ends_sessions:
                    await _end_sessions(session, browser_sessions.of_user(user_id))
            user = _user(row)
        self._changed("user", user_id)
        return user

    async def delete(self, user_id: str) -> None:
        await self.update(user_id, delete=True)

    # ------------------------------------------------------------------ keys

    async def add_key(
        self,
        user_id: str,
        name: str,
        prefix: str,
        key_hash: str,
        expires_at: datetime | None,
    ) -> ApiKey:
        row = ApiKeyRow(
            id=new_id("key"),
            user_id=user_id,
            name=name,
            prefix=prefix,
            key_hash=key_hash,
            created_at=utcnow(),
            expires_at=expires_at,
        )
        try:
            async with self._db.write_sessions() as session, session.begin():
                if await session.get(UserRow, user_id) is None:
                    raise UserNotFound(user_id)
                session.add(row)
        except IntegrityError as exc:  # a prefix collision: 48 random bits, but still
            raise Conflict("Could not create a unique key; try again") from exc
        return _key(row)

    async def key_by_prefix(self, prefix: str) -> tuple[ApiKey, User] | None:
        """The key with this prefix and its user: one query on every request that sends a
        key, so plain columns (no ORM identity map) and one round trip."""
        columns = (
            ApiKeyRow.id,
            ApiKeyRow.user_id,
            ApiKeyRow.name,
            ApiKeyRow.prefix,
            ApiKeyRow.created_at,
            ApiKeyRow.expires_at,
            ApiKeyRow.last_used_at,
            ApiKeyRow.revoked_at,
            ApiKeyRow.key_hash,
            UserRow.username,
            UserRow.role,
            UserRow.disabled,
            UserRow.password_hash.is_not(None),
            UserRow.created_at,
            UserRow.updated_at,
        )
        async with self._db.engine.connect() as connection:  # Core: no ORM session to set up
            row = (
                await connection.execute(
                    select(*columns)
                    .join(UserRow, UserRow.id == ApiKeyRow.user_id)
                    .where(ApiKeyRow.prefix == prefix)
                )
            ).first()
        if row is None:
            return None
        key = ApiKey(*row[:9])
        user = User(
            id=key.user_id,
            username=row[9],
            role=Role(row[10]),
            disabled=row[11],
            has_password=bool(row[12]),
            created_at=row[13],
            updated_at=row[14],
        )
        return key, user

    async def get_key(self, key_id: str) -> ApiKey | None:
        async with self._db.sessions() as session:
            row = await session.get(ApiKeyRow, key_id)
            return _key(row) if row else None

    async def list_keys(self, user_id: str | None, *, limit: int, offset: int) -> Page[ApiKey]:
        """Keys of `user_id` (all keys when None), newest first, revoked ones included."""
        where = [] if user_id is None else [ApiKeyRow.user_id == user_id]
        async with self._db.sessions() as session:
            total = int(
                await session.scalar(select(func.count()).select_from(ApiKeyRow).where(*where)) or 0
            )
            rows = await session.scalars(
                select(ApiKeyRow)
                .where(*where)
                .order_by(ApiKeyRow.created_at.desc(), ApiKeyRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return Page(total=total, items=[_key(r) for r in rows])

    async def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key (again is fine: the first time stays recorded), and end the browser
        sessions opened with it."""
        async with self._db.write_sessions() as session, session.begin():
            row = await session.get(ApiKeyRow, key_id)
            if row is None:
                raise ApiKeyNotFound(key_id)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            await _end_sessions(session, browser_sessions.of_key(key_id))
        self._changed("key", key_id)
        return _key(row)

    async def touch_key(self, key_id: str, when: datetime) -> None:
        """Record that the key was used (how often is the auth service's choice)."""
        async with self._db.sessions() as session, session.begin():
            await session.execute(
                update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=when)
            )
