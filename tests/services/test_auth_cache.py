"""The auth cache: entries last their seconds and no longer, a read that overlapped a drop
is not stored, notices drop what they name; the change stamp tells every process sharing a
SQLite file of each change; and, through `AuthService` on SQLite and PostgreSQL, what is
remembered and what is not: refusals never, a key's expiry checked on every request,
`last_used_at` written once a minute, and without a bus or a stamp a change seen when the
entry expires."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from agio.bus.base import NOTICES_LOST
from agio.config.settings import Settings
from agio.domain.errors import Unauthorized
from agio.domain.security import Role
from agio.domain.time import utcnow
from agio.services.auth import TOUCH_EVERY, AuthService
from agio.services.auth_cache import (
    KEY_CHANGED,
    SESSION_CHANGED,
    USER_CHANGED,
    AuthCache,
    CachedKey,
    CachedSession,
    CachedUser,
    ChangeStamp,
)
from agio.storage import migrate
from agio.storage.database import Database
from agio.storage.users import UserRepository

SECRET = "an-agio-test-secret-that-is-long-enough-for-hs512-0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _key(key_id: str = "key_1", user_id: str = "usr_1") -> CachedKey:
    return CachedKey(key_id, user_id, "kim", Role.USER, None, None)


# ---------------------------------------------------------------------- the cache alone


def test_an_entry_lasts_its_seconds_and_no_longer() -> None:
    clock = Clock()
    cache = AuthCache(10, clock=clock)
    cache.put_key("h1", _key(), cache.generation)
    cache.put_user(CachedUser("usr_1", "kim", Role.USER), cache.generation)
    clock.now += 9.9
    assert cache.key("h1") == _key()
    assert cache.user("usr_1") == CachedUser("usr_1", "kim", Role.USER)
    clock.now += 0.1
    assert cache.key("h1") is None
    assert cache.user("usr_1") is None
    assert len(cache) == 0


def test_zero_seconds_keeps_nothing() -> None:
    cache = AuthCache(0)
    cache.put_key("h1", _key(), cache.generation)
    cache.put_user(CachedUser("usr_1", "kim", Role.USER), cache.generation)
    assert cache.key("h1") is None
    assert len(cache) == 0


def test_a_read_that_overlapped_a_drop_is_not_stored() -> None:
    cache = AuthCache(10)
    drops: list[Callable[[], None]] = [
        lambda: cache.drop_key("key_9"),
        lambda: cache.drop_user("usr_9"),
        cache.clear,
    ]
    for drop in drops:
        began = cache.generation
        drop()  # of anything: the read may have seen the row before the change
        cache.put_key("h1", _key(), began)
        cache.put_user(CachedUser("usr_1", "kim", Role.USER), began)
        assert cache.key("h1") is None
        assert cache.user("usr_1") is None


def test_notices_drop_what_they_name() -> None:
    cache = AuthCache(10)

    def fill() -> None:
        cache.clear()
        cache.put_key("h1", _key("key_1", "usr_1"), cache.generation)
        cache.put_key("h2", _key("key_2", "usr_1"), cache.generation)
        cache.put_key("h3", _key("key_3", "usr_2"), cache.generation)
        cache.put_user(CachedUser("usr_1", "kim", Role.USER), cache.generation)
        cache.put_user(CachedUser("usr_2", "lea", Role.USER), cache.generation)

    def kept() -> set[str]:
        keys = {h for h in ("h1", "h2", "h3") if cache.key(h) is not None}
        return keys | {u for u in ("usr_1", "usr_2") if cache.user(u) is not None}

    fill()
    cache.on_notice(KEY_CHANGED, {"key_id": "key_2"})
    assert kept() == {"h1", "h3", "usr_1", "usr_2"}
    fill()
    cache.on_notice(USER_CHANGED, {"user_id": "usr_1"})  # the user and all their keys
    assert kept() == {"h3", "usr_2"}
    fill()
    cache.on_notice("component_changed", {"name": "x"})  # someone else's
    assert kept() == {"h1", "h2", "h3", "usr_1", "usr_2"}
    for topic, data in ((NOTICES_LOST, {}), (KEY_CHANGED, {}), (USER_CHANGED, {"user": 1})):
        fill()
        cache.on_notice(topic, data)  # lost, or not saying what changed: everything goes
        assert kept() == set(), (topic, data)


def _session(session_id: str, user_id: str = "usr_1", key_id: str | None = None) -> CachedSession:
    now = utcnow()
    return CachedSession(
        session_id, user_id, "kim", Role.USER, key_id, now + timedelta(days=1), now
    )


def test_sessions_last_their_seconds_and_go_with_their_user_key_or_sign_out() -> None:
    clock = Clock()
    cache = AuthCache(10, clock=clock)
    entry = _session("bss_1")
    cache.put_session("s1", entry, cache.generation)
    clock.now += 9.9
    assert cache.session("s1") == entry
    clock.now += 0.1
    assert cache.session("s1") is None

    def fill() -> None:
        cache.clear()
        cache.put_session("s1", _session("bss_1", "usr_1", None), cache.generation)
        cache.put_session("s2", _session("bss_2", "usr_1", "key_1"), cache.generation)
        cache.put_session("s3", _session("bss_3", "usr_2", "key_2"), cache.generation)

    def kept() -> set[str]:
        return {h for h in ("s1", "s2", "s3") if cache.session(h) is not None}

    fill()
    cache.on_notice(SESSION_CHANGED, {"session_id": "bss_2"})  # signed out
    assert kept() == {"s1", "s3"}
    fill()
    cache.on_notice(KEY_CHANGED, {"key_id": "key_2"})  # the sessions opened with it
    assert kept() == {"s1", "s2"}
    fill()
    cache.on_notice(USER_CHANGED, {"user_id": "usr_1"})  # every session of the user
    assert kept() == {"s3"}
    for topic, data in ((NOTICES_LOST, {}), (SESSION_CHANGED, {"session": "bss_1"})):
        fill()
        cache.on_notice(topic, data)
        assert kept() == set(), (topic, data)
    began = cache.generation
    cache.drop_session("bss_9")  # a read that overlapped a sign-out is not stored
    cache.put_session("s1", _session("bss_1"), began)
    assert cache.session("s1") is None
    off = AuthCache(0)
    off.put_session("s1", _session("bss_1"), off.generation)
    assert off.session("s1") is None


def test_the_oldest_entry_goes_when_full() -> None:
    cache = AuthCache(10, max_entries=2)
    for n in range(3):
        cache.put_key(f"h{n}", _key(f"key_{n}"), cache.generation)
    assert [cache.key(f"h{n}") is not None for n in range(3)] == [False, True, True]


def test_every_change_stamped_is_seen_by_another_process(tmp_path: Path) -> None:
    database = str(tmp_path / "agio.db")
    mine, theirs = (
        ChangeStamp.beside(database, "auth-changes"),
        ChangeStamp.beside(database, "auth-changes"),
    )
    assert mine is not None
    assert theirs is not None
    assert ChangeStamp.beside(None, "auth-changes") is None  # PostgreSQL
    assert not theirs.changed()  # no file yet, none since
    for _ in range(3):  # faster than the file system's clock ticks
        mine.bump()
        assert theirs.changed()
        assert not theirs.changed()
    assert (tmp_path / "agio.db.auth-changes").stat().st_mode & 0o777 == 0o600
    (tmp_path / "agio.db.auth-changes").unlink()
    assert theirs.changed()


def test_a_stamped_change_clears_the_cache(tmp_path: Path) -> None:
    database = str(tmp_path / "agio.db")
    cache = AuthCache(10, stamp=ChangeStamp.beside(database, "auth-changes"))
    cache.put_key("h1", _key(), cache.generation)
    assert cache.key("h1") is not None
    stamp = ChangeStamp.beside(database, "auth-changes")
    assert stamp is not None
    stamp.bump()  # another process changed a user or a key
    assert cache.key("h1") is None


# ---------------------------------------------------------------------- through AuthService


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await migrate.upgrade(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def make_service(
    db: Database, make_settings: Callable[..., Settings], database_url: str
) -> Callable[..., AuthService]:
    """An auth service as one process has it; `cache` replaces the default one (which has
    the SQLite file's change stamp)."""
    settings = make_settings(database_url=database_url, jwt_secret=SECRET)

    def make(cache: AuthCache | None = None) -> AuthService:
        return AuthService(UserRepository(db), settings, jwt_secret=SECRET, cache=cache)

    return make


@pytest.fixture
def statements(db: Database) -> Iterator[list[str]]:
    """Every SQL statement the database runs meanwhile."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def _user_and_key(auth: AuthService, name: str = "kim") -> tuple[str, str]:
    user = await auth.users.create(name, Role.USER, None)
    assert user is not None
    return user.id, (await auth.create_key(user.id, "k", expires_in_days=1)).secret


async def _token(auth: AuthService, user_id: str) -> str:
    user = await auth.users.get(user_id)
    assert user is not None
    return auth.issue_token(user).access_token


async def test_a_repeated_key_or_token_reads_nothing(
    make_service: Callable[..., AuthService], statements: list[str]
) -> None:
    auth = make_service()
    user_id, key = await _user_and_key(auth)
    token = await _token(auth, user_id)
    first = await auth.from_key(key)
    assert await auth.from_token(token) is not None
    assert statements  # the listener hears this database
    statements.clear()
    for _ in range(3):
        assert await auth.from_key(key) == first
        assert (await auth.from_token(token)).user_id == user_id
    assert statements == []


async def test_a_key_s_expiry_is_checked_on_every_request(
    make_service: Callable[..., AuthService], statements: list[str]
) -> None:
    auth = make_service()
    _, key = await _user_and_key(auth)
    await auth.from_key(key)
    statements.clear()
    with pytest.raises(Unauthorized, match="expired"):
        await auth.from_key(key, now=utcnow() + timedelta(days=2))
    assert statements == []  # from the remembered expiry


async def test_last_used_at_is_written_once_a_minute(
    make_service: Callable[..., AuthService],
) -> None:
    auth = make_service()
    _, key = await _user_and_key(auth)
    principal = await auth.from_key(key)
    assert principal.key_id is not None

    async def last_used() -> datetime | None:
        stored = await auth.users.get_key(principal.key_id)  # type: ignore[arg-type]
        assert stored is not None
        return stored.last_used_at

    first = await last_used()
    assert first is not None
    await auth.from_key(key, now=utcnow() + TOUCH_EVERY / 2)
    assert await last_used() == first
    await auth.from_key(key, now=utcnow() + TOUCH_EVERY)
    written = await last_used()
    assert written is not None
    assert written > first


async def test_without_a_bus_or_stamp_a_change_is_seen_when_the_entry_expires(
    make_service: Callable[..., AuthService],
) -> None:
    """Two processes on one database with nothing between them (PostgreSQL, no Redis):
    the window is the cache's seconds."""
    clock = Clock()
    here, there = make_service(), make_service(AuthCache(10, clock=clock))
    _, key = await _user_and_key(here)
    principal = await there.from_key(key)
    await here.users.revoke_key(principal.key_id)  # type: ignore[arg-type]
    with pytest.raises(Unauthorized, match="revoked"):
        await here.from_key(key)  # this process: at once
    assert (await there.from_key(key)).key_id == principal.key_id  # the documented window
    clock.now += 10
    with pytest.raises(Unauthorized, match="revoked"):
        await there.from_key(key)


async def test_a_refusal_is_not_remembered(make_service: Callable[..., AuthService]) -> None:
    here, there = make_service(), make_service(AuthCache(3600))
    user_id, key = await _user_and_key(here)
    await here.users.update(user_id, disabled=True)
    with pytest.raises(Unauthorized):
        await there.from_key(key)
    token = await _token(here, user_id)
    with pytest.raises(Unauthorized):
        await there.from_token(token)
    await here.users.update(user_id, disabled=False)  # `there` is not told
    assert (await there.from_key(key)).user_id == user_id
    assert (await there.from_token(token)).user_id == user_id


async def test_a_lookup_that_overlapped_a_revoke_is_not_remembered(
    make_service: Callable[..., AuthService], monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = make_service(AuthCache(3600))  # no stamp: only the notice can drop it
    _, key = await _user_and_key(auth)
    read = auth.users.key_by_prefix

    async def revoked_meanwhile(prefix: str) -> Any:
        found = await read(prefix)  # the row as it was ...
        assert found is not None
        await auth.users.revoke_key(found[0].id)  # ... then the revoke commits
        return found

    monkeypatch.setattr(auth.users, "key_by_prefix", revoked_meanwhile)
    await auth.from_key(key)  # in flight before the revoke: let through, like any request
    monkeypatch.setattr(auth.users, "key_by_prefix", read)
    with pytest.raises(Unauthorized, match="revoked"):
        await auth.from_key(key)


async def test_every_change_of_a_user_or_key_drops_it_at_once(
    make_service: Callable[..., AuthService],
) -> None:
    auth = make_service(AuthCache(3600))  # no stamp: the change's own notice does it
    user_id, key = await _user_and_key(auth)
    token = await _token(auth, user_id)

    async def seen() -> tuple[Role, Role]:
        return (await auth.from_key(key)).role, (await auth.from_token(token)).role

    assert await seen() == (Role.USER, Role.USER)
    await auth.users.update(user_id, role=Role.VIEWER)
    assert await seen() == (Role.VIEWER, Role.VIEWER)
    await auth.users.update(user_id, password_hash=auth.hash_password("a long new password"))
    assert len(auth.cache) == 0
    await seen()
    await auth.users.update(user_id, disabled=True)
    for check in (auth.from_key(key), auth.from_token(token)):
        with pytest.raises(Unauthorized):
            await check
    await auth.users.update(user_id, disabled=False)
    await seen()
    await auth.users.delete(user_id)
    for check in (auth.from_key(key), auth.from_token(token)):
        with pytest.raises(Unauthorized):
            await check
