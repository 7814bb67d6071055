"""Browser sessions: what the console's cookie stands for (docs/security.md, "Browser
sessions").

A session is opened by a sign-in (a password or an API key, checked by `AuthService`) and
named by a random token, the cookie's value, which is never stored: the database keeps its
SHA-256. Its CSRF token is derived from the token (a SHA-256 under a label of its own), so
it is the same for the session's whole life, needs no column, and tells nothing of the
token. A session ends `lifetime` after its sign-in (sooner if its API key expires
sooner), after `idle` without a request, when it is signed out, and when its user or key
changes (`UserRepository`).

Verified sessions are remembered in the `AuthCache` like keys: a request with a known
cookie reads no database, and `last_seen_at` is written at most once a minute per
session and process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from agio.domain.errors import Unauthorized
from agio.domain.security import Principal
from agio.domain.time import utcnow
from agio.services.auth_cache import AuthCache, CachedSession
from agio.storage.browser_sessions import BrowserSessionRepository

log = structlog.get_logger(__name__)

#: a token is 32 random bytes, URL-safe base64 without padding
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_CSRF_LABEL = b"agio browser session csrf token\x00"
#: `last_seen_at` is written at most this often per session and process (and at most a
#: quarter of the idle time, so that a session in use never looks idle)
TOUCH_EVERY = timedelta(seconds=60)
#: every refusal says the same: which check failed is nobody's business
ENDED = "No browser session, or it has ended: sign in again"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_of(token: str) -> str:
    digest = hashlib.sha256(_CSRF_LABEL + token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class OpenedSession:
    #: the cookie's value: shown to the browser once, never stored, never logged
    token: str
    csrf_token: str
    principal: Principal
    expires_at: datetime


@dataclass(frozen=True)
class CurrentSession:
    session_id: str
    principal: Principal
    csrf_token: str
    expires_at: datetime


class BrowserSessions:
    def __init__(
        self,
        repo: BrowserSessionRepository,
        cache: AuthCache,
        *,
        idle: timedelta,
        lifetime: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repo = repo
        self.cache = cache
        self.idle = idle
        self.lifetime = lifetime
        self.clock = clock
        self._touch_every = min(TOUCH_EVERY, idle / 4)

    async def open(
        self,
        principal: Principal,
        *,
        key_id: str | None,
        key_expires_at: datetime | None,
        user_updated_at: datetime | None,
    ) -> OpenedSession:
        """A new session for a principal just verified (with a password: `user_updated_at`
        is the user's as read then; with a key: `key_id` and its expiry)."""
        now = self.clock()
        expires_at = now + self.lifetime
        if key_expires_at is not None:
            expires_at = min(expires_at, key_expires_at)
        token = secrets.token_urlsafe(32)
        stored = await self.repo.create(
            token_hash(token),
            principal.user_id,
            key_id=key_id,
            user_updated_at=user_updated_at,
            now=now,
            expires_at=expires_at,
            idle_since=now - self.idle,
        )
        if stored is None:  # the user or key changed while signing in
            raise Unauthorized("The account changed while signing in: sign in again")
        session_principal = Principal(
            principal.user_id, principal.username, principal.role, via="session", key_id=key_id
        )
        log.info("browser_session_opened", session_id=stored.id, user_id=principal.user_id)
        return OpenedSession(token, csrf_token_of(token), session_principal, expires_at)

    def _live(self, entry: CachedSession, now: datetime) -> bool:
        return now < entry.expires_at and now < entry.last_seen_at + self.idle

    async def current(self, token: str) -> CurrentSession:
        """The live session of this token (Unauthorized if there is none)."""
        if _TOKEN_SHAPE.fullmatch(token) is None:
            raise Unauthorized(ENDED)
        digest = token_hash(token)
        now = self.clock()
        entry = self.cache.session(digest)
        if entry is None or not self._live(entry, now):
            # not remembered, or idle here: another process may have seen it since
            entry = await self._verified(digest, now)
        if now - entry.last_seen_at >= self._touch_every:
            await self._touch(digest, entry, now)
        principal = Principal(
            entry.user_id, entry.username, entry.role, via="session", key_id=entry.key_id
        )
        return CurrentSession(entry.session_id, principal, csrf_token_of(token), entry.expires_at)

    async def _verified(self, digest: str, now: datetime) -> CachedSession:
        generation = self.cache.generation
        found = await self.repo.lookup(digest)
        if found is None:
            raise Unauthorized(ENDED)
        session, owner = found
        entry = CachedSession(
            session.id,
            session.user_id,
            owner.username,
            owner.role,
            session.key_id,
            session.expires_at,
            session.last_seen_at,
        )
        if owner.disabled or owner.key_revoked or not self._live(entry, now):
            raise Unauthorized(ENDED)
        self.cache.put_session(digest, entry, generation)
        return entry

    async def _touch(self, digest: str, entry: CachedSession, now: datetime) -> None:
        """Write `last_seen_at`, marked in the entry first so that the requests meanwhile do
        not write it too."""
        self.cache.seen_session(digest, replace(entry, last_seen_at=now))
        try:
            await self.repo.touch(entry.session_id, now)
        except Exception as exc:  # bookkeeping: never the reason a request fails
            log.warning(
                "browser_session_touch_failed",
                session_id=entry.session_id,
                error_type=type(exc).__name__,
            )

    @staticmethod
    def csrf_matches(token: str, sent: str | None) -> bool:
        """Is `sent` the session's CSRF token? (compared in constant time)"""
        return sent is not None and hmac.compare_digest(
            csrf_token_of(token).encode(), sent.encode()
        )

    async def close(self, session: CurrentSession) -> None:
        """Sign out: the session is deleted, and forgotten here and by every process."""
        await self.repo.delete(session.session_id)
        log.info("browser_session_closed", session_id=session.session_id)
