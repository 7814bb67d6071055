"""Who a key, a token's user or a browser session is, remembered between requests: the
authentication of a repeated request reads no database.

What is cached, and only after it verified: for an API key, by the SHA-256 of the whole
key (never the key itself), its id, expiry and owner (id, name, role); for a JWT, the user
by id; for a browser session, by the SHA-256 of its token, its id, owner, the key it was
opened with, its end and when it was last seen. A lookup that failed is never cached, so
a key created later, or a user enabled later, is found in the database as before. A key's
`expires_at`, and a session's end and idle time, are in its entry and are checked on
every request.

An entry goes when what it says may have changed:

- at once in this process, when the user (role, password, disabled, deleted), the key
  (revoked) or the session (signed out) changes: `UserRepository` reports every committed
  change, and the auth service hands it to `notify`, the bus's (`EventBus.notify`), which
  tells this process's handlers before it returns and the other processes through Redis;
  a user's change drops their sessions too, a key's the sessions opened with it;
  `NOTICES_LOST` (the bus reconnected to Redis) clears everything;
- beside a SQLite file, every process sharing it (an `agio users disable` included) also
  appends a byte to `<database>.auth-changes` (`ChangeStamp`), and a lookup that finds the
  file changed clears everything: a process without Redis learns it on its next request;
- whatever else changed the rows (another process on PostgreSQL without Redis, a notice
  Redis lost): after `seconds` (`AGIO_AUTH_CACHE_SECONDS`), when every entry expires.

A lookup that read the database while an entry was dropped does not store what it read
(`generation`): it may have read the row before the change was committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import structlog

from agio.bus.base import NOTICES_LOST
from agio.domain.security import Role
from agio.storage.change_stamp import ChangeStamp

log = structlog.get_logger(__name__)

#: notice topics (`EventBus.notify`): `{"user_id": ...}`, `{"key_id": ...}` and
#: `{"session_id": ...}`
USER_CHANGED = "auth_user_changed"
KEY_CHANGED = "auth_key_changed"
SESSION_CHANGED = "auth_session_changed"

#: entries of each kind kept at most (the oldest goes first); only verified credentials
#: are stored, so this bounds a server with many keys, not an attacker
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class CachedKey:
    """A verified API key and its owner, as they were read."""

    key_id: str
    user_id: str
    username: str
    role: Role
    expires_at: datetime | None
    #: when this process last wrote the key's `last_used_at` (or read it)
    last_used_at: datetime | None


@dataclass(frozen=True)
class CachedUser:
    """An enabled user, as read for a JWT."""

    user_id: str
    username: str
    role: Role


@dataclass(frozen=True)
class CachedSession:
    """A verified browser session and its owner, as they were read."""

    session_id: str
    user_id: str
    username: str
    role: Role
    #: the API key the session was opened with (None: a password)
    key_id: str | None
    #: its absolute end
    expires_at: datetime
    #: when this process last wrote the session's `last_seen_at` (or read it)
    last_seen_at: datetime


_Entry = TypeVar("_Entry", CachedKey, CachedUser, CachedSession)


class _Entries(Generic[_Entry]):
    """Entries by a string, each until its deadline (a monotonic time), oldest first."""

    def __init__(self, max_entries: int) -> None:
        self._items: dict[str, tuple[float, _Entry]] = {}
        self._max = max_entries

    def get(self, name: str, now: float) -> _Entry | None:
        found = self._items.get(name)
        if found is None:
            return None
        if found[0] <= now:
            del self._items[name]
            return None
        return found[1]

    def put(self, name: str, entry: _Entry, deadline: float) -> None:
        self._items.pop(name, None)
        while len(self._items) >= self._max:
            del self._items[next(iter(self._items))]
        self._items[name] = (deadline, entry)

    def replace(self, name: str, entry: _Entry) -> None:
        """A newer version of an entry that is still there (its deadline kept)."""
        found = self._items.get(name)
        if found is not None:
            self._items[name] = (found[0], entry)

    def drop_where(self, matches: Callable[[_Entry], bool]) -> None:
        for name in [n for n, (_, e) in self._items.items() if matches(e)]:
            del self._items[name]

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class AuthCache:
    """Verified keys and sessions (by hash) and users (by id), for `seconds` at most;
    `seconds` 0: none are kept."""

    def __init__(
        self,
        seconds: float,
        *,
        stamp: ChangeStamp | None = None,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self._stamp = stamp
        self._clock = clock
        self._keys: _Entries[CachedKey] = _Entries(max_entries)
        self._users: _Entries[CachedUser] = _Entries(max_entries)
        self._sessions: _Entries[CachedSession] = _Entries(max_entries)
        #: counts the drops; an entry read from the database is stored only if no drop
        #: happened since the read began (`put_*`'s `generation`)
        self.generation = 0

    def __len__(self) -> int:
        return len(self._keys) + len(self._users) + len(self._sessions)

    def _fresh(self) -> bool:
        """Whether entries may be used: caching on, and no change stamped meanwhile."""
        if self.seconds <= 0:
            return False
        if self._stamp is not None and self._stamp.changed():
            self.clear()
        return True

    def key(self, key_hash: str) -> CachedKey | None:
        return self._keys.get(key_hash, self._clock()) if self._fresh() else None

    def user(self, user_id: str) -> CachedUser | None:
        return self._users.get(user_id, self._clock()) if self._fresh() else None

    def put_key(self, key_hash: str, entry: CachedKey, generation: int) -> None:
        if self.seconds > 0 and generation == self.generation:
            self._keys.put(key_hash, entry, self._clock() + self.seconds)

    def used_key(self, key_hash: str, entry: CachedKey) -> None:
        """The key's entry with a new `last_used_at`."""
        self._keys.replace(key_hash, entry)

    def put_user(self, entry: CachedUser, generation: int) -> None:
        if self.seconds > 0 and generation == self.generation:
            self._users.put(entry.user_id, entry, self._clock() + self.seconds)

    def session(self, token_hash: str) -> CachedSession | None:
        return self._sessions.get(token_hash, self._clock()) if self._fresh() else None

    def put_session(self, token_hash: str, entry: CachedSession, generation: int) -> None:
        if self.seconds > 0 and generation == self.generation:
            self._sessions.put(token_hash, entry, self._clock() + self.seconds)

    def seen_session(self, token_hash: str, entry: CachedSession) -> None:
        """The session's entry with a new `last_seen_at`."""
        self._sessions.replace(token_hash, entry)

    # ------------------------------------------------------------------ invalidation

    def drop_user(self, user_id: str) -> None:
        """The user and every key and session of theirs."""
        self.generation += 1
        self._users.drop_where(lambda user: user.user_id == user_id)
        self._keys.drop_where(lambda key: key.user_id == user_id)
        self._sessions.drop_where(lambda session: session.user_id == user_id)

    def drop_key(self, key_id: str) -> None:
        """The key and the sessions opened with it."""
        self.generation += 1
        self._keys.drop_where(lambda key: key.key_id == key_id)
        self._sessions.drop_where(lambda session: session.key_id == key_id)

    def drop_session(self, session_id: str) -> None:
        self.generation += 1
        self._sessions.drop_where(lambda session: session.session_id == session_id)

    def clear(self) -> None:
        self.generation += 1
        self._keys.clear()
        self._users.clear()
        self._sessions.clear()

    def on_notice(self, topic: str, data: dict[str, Any]) -> None:
        """The bus's notice handler (`EventBus.on_notice`)."""
        if topic not in (NOTICES_LOST, USER_CHANGED, KEY_CHANGED, SESSION_CHANGED):
            return
        user_id, key_id = data.get("user_id"), data.get("key_id")
        session_id = data.get("session_id")
        if topic == USER_CHANGED and isinstance(user_id, str):
            self.drop_user(user_id)
        elif topic == KEY_CHANGED and isinstance(key_id, str):
            self.drop_key(key_id)
        elif topic == SESSION_CHANGED and isinstance(session_id, str):
            self.drop_session(session_id)
        else:  # NOTICES_LOST, or a notice that does not say what changed
            self.clear()

    def stamp(self) -> None:
        """Tell the processes that share the SQLite file (if any) that something changed."""
        if self._stamp is not None:
            self._stamp.bump()
