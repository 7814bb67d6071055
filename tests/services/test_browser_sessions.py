"""Browser sessions through `AuthService`, on SQLite and PostgreSQL: a sign-in by password or
key, the CSRF token, a repeated lookup that reads nothing, `last_seen_at` written once a
minute, idle time measured from the last use anywhere, a sign-in that raced a change of
the user, and sign-out: at once here, and elsewhere when the entry expires (no bus, no
stamp) or at once (the stamp)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from agio.config.settings import Settings
from agio.domain.errors import Unauthorized
from agio.domain.security import Role
from agio.domain.time import utcnow
from agio.services.auth import AuthService
from agio.services.auth_cache import AuthCache
from agio.services.browser_sessions import TOUCH_EVERY, BrowserSessions, token_hash
from agio.storage import migrate
from agio.storage.database import Database
from agio.storage.users import UserRepository

PASSWORD = "a long enough password"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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
    """An auth service as one process has it (`cache`: instead of the default one, which
    has the SQLite file's change stamp)."""
    settings = make_settings(database_url=database_url)

    def make(cache: AuthCache | None = None) -> AuthService:
        return AuthService(UserRepository(db), settings, jwt_secret=None, cache=cache)

    return make


@pytest.fixture
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def _user(auth: AuthService, name: str = "kim") -> str:
    user = await auth.users.create(name, Role.USER, auth.hash_password(PASSWORD))
    assert user is not None
    return user.id


def _at(sessions: BrowserSessions, when: datetime) -> None:
    sessions.clock = lambda: when


async def test_password_and_key_sign_ins_and_their_csrf_tokens(
    make_service: Callable[..., AuthService],
) -> None:
    auth = make_service()
    user_id = await _user(auth)
    by_password = await auth.sign_in("kim", PASSWORD)
    assert (by_password.principal.user_id, by_password.principal.via) == (user_id, "session")
    assert by_password.principal.key_id is None
    key = await auth.create_key(user_id, "k")
    by_key = await auth.sign_in_with_key(key.secret)
    assert by_key.principal.key_id == key.key.id
    for opened in (by_password, by_key):
        current = await auth.sessions.current(opened.token)
        assert current.principal == opened.principal
        assert current.csrf_token == opened.csrf_token
        assert BrowserSessions.csrf_matches(opened.token, opened.csrf_token)
        assert opened.csrf_token not in (opened.token, token_hash(opened.token))
    assert not BrowserSessions.csrf_matches(by_password.token, by_key.csrf_token)
    assert not BrowserSessions.csrf_matches(by_password.token, None)
    assert not BrowserSessions.csrf_matches(by_password.token, "é")
    with pytest.raises(Unauthorized):
        await auth.sign_in("kim", "not the password")
    for token in ("", "x" * 43, by_password.token + "x", by_password.csrf_token):
        with pytest.raises(Unauthorized):
            await auth.sessions.current(token)


async def test_a_repeated_lookup_reads_nothing_and_touches_once_a_minute(
    make_service: Callable[..., AuthService], statements: list[str]
) -> None:
    auth = make_service()
    await _user(auth)
    opened = await auth.sign_in("kim", PASSWORD)
    await auth.sessions.current(opened.token)
    start = utcnow()
    statements.clear()
    for seconds in (0, 10, 59):
        _at(auth.sessions, start + timedelta(seconds=seconds))
        await auth.sessions.current(opened.token)
    assert statements == []
    _at(auth.sessions, start + TOUCH_EVERY + timedelta(seconds=1))
    await auth.sessions.current(opened.token)
    assert [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    found = await auth.users.sessions.lookup(token_hash(opened.token))
    assert found is not None
    assert found[0].last_seen_at == start + TOUCH_EVERY + timedelta(seconds=1)


async def test_idle_time_counts_from_the_last_use_in_any_process(
    make_service: Callable[..., AuthService],
) -> None:
    here, there = make_service(AuthCache(3600)), make_service(AuthCache(3600))
    await _user(here)
    opened = await here.sign_in("kim", PASSWORD)
    await here.sessions.current(opened.token)  # remembered here as last seen now
    start = utcnow()
    idle = here.sessions.idle
    _at(there.sessions, start + idle - timedelta(seconds=1))
    await there.sessions.current(opened.token)  # used there, which writes it
    _at(here.sessions, start + idle + timedelta(seconds=1))
    assert (await here.sessions.current(opened.token)).principal.username == "kim"
    _at(here.sessions, start + 3 * idle)
    with pytest.raises(Unauthorized):
        await here.sessions.current(opened.token)


async def test_a_sign_in_that_raced_a_change_of_the_user_is_refused(
    make_service: Callable[..., AuthService], monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = make_service()
    user_id = await _user(auth)
    login = auth.login

    async def changed_meanwhile(username: str, password: str) -> Any:
        user = await login(username, password)  # the password checked ...
        await auth.users.update(user_id, role=Role.VIEWER)  # ... then the user changes
        return user

    monkeypatch.setattr(auth, "login", changed_meanwhile)
    with pytest.raises(Unauthorized, match="changed"):
        await auth.sign_in("kim", PASSWORD)
    monkeypatch.setattr(auth, "login", login)
    assert (await auth.sign_in("kim", PASSWORD)).principal.role is Role.VIEWER


async def test_sign_out_is_seen_here_at_once_and_elsewhere_within_the_cache_s_seconds(
    make_service: Callable[..., AuthService],
) -> None:
    """Two processes with nothing between them (PostgreSQL, no Redis): the window is the
    cache's seconds."""
    clock = Clock()
    here, there = make_service(AuthCache(3600)), make_service(AuthCache(10, clock=clock))
    await _user(here)
    opened = await here.sign_in("kim", PASSWORD)
    current = await here.sessions.current(opened.token)
    await there.sessions.current(opened.token)
    await here.sessions.close(current)
    with pytest.raises(Unauthorized):
        await here.sessions.current(opened.token)
    assert (await there.sessions.current(opened.token)).session_id == current.session_id
    clock.now += 10
    with pytest.raises(Unauthorized):
        await there.sessions.current(opened.token)


@pytest.mark.parametrize("backend", ["sqlite"])  # the change stamp is beside a SQLite file
async def test_with_the_sqlite_stamp_a_sign_out_is_seen_elsewhere_at_once(
    make_service: Callable[..., AuthService],
) -> None:
    here, there = make_service(), make_service()  # each with its stamp, no bus
    await _user(here)
    opened = await here.sign_in("kim", PASSWORD)
    current = await there.sessions.current(opened.token)
    await here.sessions.close(current)
    with pytest.raises(Unauthorized):
        await there.sessions.current(opened.token)
