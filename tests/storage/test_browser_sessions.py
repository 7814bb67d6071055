"""Browser sessions in the database, on SQLite and PostgreSQL: stored by their token's hash,
found with their user, refused to a user or key that changed, touched forward only,
deleted on sign-out, and ended by `UserRepository` in the transaction of every change that
concerns them (and by the foreign key when the user goes)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from agio.domain.security import Role
from agio.domain.time import utcnow
from agio.storage.browser_sessions import BrowserSession
from agio.storage.database import Database
from agio.storage.tables import BrowserSessionRow
from agio.storage.users import Changed, User, UserRepository

HOUR = timedelta(hours=1)


@pytest.fixture
def users(db: Database) -> UserRepository:
    return UserRepository(db)


def _hash(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


async def _user(users: UserRepository, name: str = "kim") -> User:
    user = await users.create(name, Role.USER, "argon2-hash-of-something")
    assert user is not None
    return user


async def _open(
    users: UserRepository,
    user: User,
    token: str,
    *,
    key_id: str | None = None,
    now: datetime | None = None,
    checked: bool = True,
) -> BrowserSession | None:
    now = now or utcnow()
    return await users.sessions.create(
        _hash(token),
        user.id,
        key_id=key_id,
        user_updated_at=user.updated_at if checked else None,
        now=now,
        expires_at=now + 24 * HOUR,
        idle_since=now - 2 * HOUR,
    )


async def _count(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(BrowserSessionRow)) or 0)


async def test_a_session_is_stored_by_its_hash_and_found_with_its_user(
    users: UserRepository, db: Database
) -> None:
    user = await _user(users)
    opened = await _open(users, user, "token-1")
    assert opened is not None
    assert opened.user_id == user.id
    assert opened.key_id is None
    found = await users.sessions.lookup(_hash("token-1"))
    assert found is not None
    session, owner = found
    assert session == opened
    assert (owner.username, owner.role, owner.disabled, owner.key_revoked) == (
        "kim",
        Role.USER,
        False,
        False,
    )
    assert await users.sessions.lookup(_hash("token-2")) is None
    async with db.sessions() as s:
        stored = (await s.scalars(select(BrowserSessionRow))).one()
    assert "token-1" not in repr(vars(stored))
    assert stored.token_hash == _hash("token-1")


async def test_a_sign_in_is_refused_to_a_user_or_key_that_changed(users: UserRepository) -> None:
    user = await _user(users)
    changed = await users.update(user.id, role=Role.VIEWER)  # after the password was checked
    assert await _open(users, user, "t1") is None
    assert await _open(users, changed, "t2") is not None
    disabled = await users.update(user.id, disabled=True)
    assert await _open(users, disabled, "t3") is None
    assert await _open(users, disabled, "t4", checked=False) is None
    enabled = await users.update(user.id, disabled=False)
    key = await users.add_key(user.id, "k", "agio_aaaaaaaaaaaa", _hash("key"), None)
    assert await _open(users, enabled, "t5", key_id=key.id, checked=False) is not None
    await users.revoke_key(key.id)
    assert await _open(users, enabled, "t6", key_id=key.id, checked=False) is None
    other = await _user(users, "lea")
    assert await _open(users, other, "t7", key_id=key.id, checked=False) is None  # not theirs


async def test_ended_sessions_are_deleted_by_the_next_sign_in(
    users: UserRepository, db: Database
) -> None:
    user = await _user(users)
    now = utcnow()
    await _open(users, user, "recent", now=now - HOUR)
    await _open(users, user, "idle", now=now - 3 * HOUR)  # will be last seen too long ago
    await _open(users, user, "old", now=now - 25 * HOUR)  # will be past its end
    assert await _count(db) == 3
    await _open(users, user, "new", now=now)
    remaining = {
        t for t in ("old", "idle", "recent", "new") if await users.sessions.lookup(_hash(t))
    }
    assert remaining == {"recent", "new"}


async def test_touch_moves_last_seen_forward_only(users: UserRepository) -> None:
    user = await _user(users)
    opened = await _open(users, user, "t")
    assert opened is not None
    later = opened.last_seen_at + timedelta(minutes=5)
    await users.sessions.touch(opened.id, later)
    await users.sessions.touch(opened.id, later - timedelta(minutes=1))
    found = await users.sessions.lookup(_hash("t"))
    assert found is not None
    assert found[0].last_seen_at == later


async def test_sign_out_deletes_the_session_and_says_so(users: UserRepository) -> None:
    told: list[tuple[Changed, str]] = []
    users.on_change.append(lambda kind, id_: told.append((kind, id_)))
    user = await _user(users)
    opened, kept = await _open(users, user, "t"), await _open(users, user, "u")
    assert opened is not None
    assert kept is not None
    await users.sessions.delete(opened.id)
    assert await users.sessions.lookup(_hash("t")) is None
    assert await users.sessions.lookup(_hash("u")) is not None
    assert told == [("session", opened.id)]


async def test_changes_of_the_user_or_key_end_their_sessions(users: UserRepository) -> None:
    user = await _user(users)
    other = await _user(users, "lea")
    key = await users.add_key(user.id, "k", "agio_bbbbbbbbbbbb", _hash("key"), None)

    async def live() -> set[str]:
        names = ("by-password", "by-key", "other")
        return {t for t in names if await users.sessions.lookup(_hash(t)) is not None}

    async def reopen() -> None:
        fresh = await users.get(user.id)
        assert fresh is not None
        for token, key_id in (("by-password", None), ("by-key", key.id)):
            if await users.sessions.lookup(_hash(token)) is None:
                assert await _open(users, fresh, token, key_id=key_id) is not None

    await reopen()
    assert await _open(users, other, "other") is not None
    assert await live() == {"by-password", "by-key", "other"}
    # what changes nothing of the user's access keeps them
    await users.update(user.id, role=Role.USER)
    await users.update(user.id, disabled=False)
    assert await live() == {"by-password", "by-key", "other"}
    for change in ({"role": Role.VIEWER}, {"password_hash": "another hash"}, {"disabled": True}):
        await users.update(user.id, **change)
        assert await live() == {"other"}, change
        await users.update(user.id, disabled=False)
        await reopen()
    await users.revoke_key(key.id)
    assert await live() == {"by-password", "other"}
    await users.delete(user.id)
    assert await live() == {"other"}
