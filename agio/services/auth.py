"""Authentication: passwords (Argon2 via pwdlib), JWTs (PyJWT), API keys (SHA-256 with a
visible prefix), browser sign-in (`sign_in`, sessions in `agio.services.browser_sessions`),
and the bootstrap admin of a fresh server. Verified keys, users and sessions are
remembered between requests (`agio.services.auth_cache`).

Nothing here logs a secret: not a password, a token, a key, nor a hash of one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import structlog
from pwdlib import PasswordHash

from agio.bus.base import EventBus
from agio.config.settings import Settings
from agio.domain.errors import Unauthorized
from agio.domain.security import Principal, Role
from agio.domain.time import utcnow
from agio.services.auth_cache import (
    KEY_CHANGED,
    SESSION_CHANGED,
    USER_CHANGED,
    AuthCache,
    CachedKey,
    CachedUser,
)
from agio.services.browser_sessions import BrowserSessions, OpenedSession
from agio.storage.change_stamp import ChangeStamp
from agio.storage.users import ApiKey, Changed, User, UserRepository

log = structlog.get_logger(__name__)

ISSUER = "agio"
AUDIENCE = "agio-api"
#: the only algorithms a token may be signed with; the header's own `alg` is never trusted
ALGORITHMS = ("HS256", "HS384", "HS512")

KEY_PREFIX = "agio_"
_KEY_SHAPE = re.compile(r"^agio_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
BOOTSTRAP_USERNAME = "admin"
ADMIN_KEY_FILE = "admin.key"
JWT_SECRET_FILE = "jwt.secret"  # noqa: S105  # a file name

# secrets seen in tutorials and sample configs: refused outside development
KNOWN_WEAK_SECRETS = frozenset(
    {
        "secret",
        "changeme",
        "change-me",
        "change_me",
        "changethis",
        "your-secret-key",
        "your_secret_key",
        "supersecret",
        "super-secret",
        "jwt-secret",
        "jwt_secret",
        "agio",
        "agio-secret",
        "development",
        "dev",
        "test",
        "password",
    }
)
MIN_SECRET_LENGTH = 32
#: a key's `last_used_at` is written at most this often per key and process: a write per
#: request would cost more than it tells
TOUCH_EVERY = timedelta(seconds=60)


class WeakSecret(ValueError):
    """The JWT secret is missing or guessable where that is not allowed."""


def check_jwt_secret(secret: str | None, environment: str) -> None:
    """Refuse, with the reason, a guessable secret outside development, and a missing one in
    production (elsewhere a missing one is generated: see `resolve_jwt_secret`)."""
    if environment == "development":
        return
    if not secret:
        if environment == "production":
            raise WeakSecret(
                "AGIO_JWT_SECRET must be set in production (at least 32 random characters, "
                'e.g. `python -c "import secrets; print(secrets.token_urlsafe(48))"`)'
            )
        return
    if secret.lower() in KNOWN_WEAK_SECRETS or len(secret) < MIN_SECRET_LENGTH:
        raise WeakSecret(
            "AGIO_JWT_SECRET is a known default or shorter than 32 characters; "
            "use a long random value"
        )


def _write_private(path: Path, text: str) -> None:
    """Write a file that only its owner can read, never briefly readable by others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def resolve_jwt_secret(settings: Settings) -> str:
    """The secret tokens are signed with; refuses a weak one in production."""
    check_jwt_secret(settings.jwt_secret, settings.environment)
    if settings.jwt_secret:
        return settings.jwt_secret
    # development: a random secret kept in the data dir, so tokens survive a restart
    path = settings.data_dir / JWT_SECRET_FILE
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if len(existing) >= MIN_SECRET_LENGTH:
        return existing
    secret = secrets.token_urlsafe(48)
    _write_private(path, secret)
    return secret


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # the whole key: shown once, never stored


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_in: int


class AuthService:
    def __init__(
        self,
        users: UserRepository,
        settings: Settings,
        *,
        jwt_secret: str | None,
        cache: AuthCache | None = None,
    ) -> None:
        """`jwt_secret` None: a service for user and key management only (the CLI).
        `cache`: by default for `AGIO_AUTH_CACHE_SECONDS`, with the change stamp beside a
        SQLite file."""
        self.users = users
        if cache is None:
            stamp = ChangeStamp.beside(users.database_file, "auth-changes")
            cache = AuthCache(settings.auth_cache_seconds, stamp=stamp)
        self.cache = cache
        # until `use_bus`: this process only
        self._notify: Callable[[str, dict[str, Any]], None] = self.cache.on_notice
        users.on_change.append(self._changed)
        self.sessions = BrowserSessions(
            users.sessions,
            self.cache,
            idle=timedelta(minutes=settings.session_idle_minutes),
            lifetime=timedelta(hours=settings.session_max_hours),
        )
        self._settings = settings
        self._secret = jwt_secret or ""
        self._algorithm = settings.jwt_algorithm
        self._hasher = PasswordHash.recommended()  # Argon2id
        # verified against when the username does not exist, so that a wrong username
        # takes as long as a wrong password
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    # ------------------------------------------------------------------ invalidation

    def use_bus(self, bus: EventBus) -> None:
        """Tell the other processes of changes through `bus`, and hear theirs."""
        bus.on_notice(self.cache.on_notice)
        self._notify = bus.notify

    def _changed(self, kind: Changed, id_: str) -> None:
        """A user, key or browser session changed (committed): drop what this process and
        the others remember of it, this process's before the change's caller goes on."""
        self.cache.stamp()
        if kind == "user":
            self._notify(USER_CHANGED, {"user_id": id_})
        elif kind == "key":
            self._notify(KEY_CHANGED, {"key_id": id_})
        else:
            self._notify(SESSION_CHANGED, {"session_id": id_})

    # ------------------------------------------------------------------ passwords

    def hash_password(self, password: str) -> str:
        return self._hasher.hash(password)

    async def login(self, username: str, password: str) -> User:
        user = await self.users.by_username(username)
        stored = user.password_hash if user is not None else None
        valid = self._hasher.verify(password, stored or self._dummy_hash)
        if user is None or stored is None or not valid or user.disabled:
            raise Unauthorized("Incorrect username or password")
        return user

    # ------------------------------------------------------------------ tokens

    def issue_token(self, user: User) -> Token:
        if not self._secret:
            raise RuntimeError("this AuthService has no JWT secret")
        now = utcnow()
        lifetime = timedelta(minutes=self._settings.jwt_expire_minutes)
        claims: dict[str, Any] = {
            "sub": user.id,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode(claims, self._secret, algorithm=self._algorithm)
        return Token(access_token=token, expires_in=int(lifetime.total_seconds()))

    async def from_token(self, token: str) -> Principal:
        if not self._secret:
            raise Unauthorized("Invalid token")
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("Invalid token") from exc
        subject = claims.get("sub")
        if not isinstance(subject, str):
            raise Unauthorized("Invalid token")
        cached = self.cache.user(subject)
        if cached is None:
            generation = self.cache.generation
            user = await self.users.get(subject)
            if user is None or user.disabled:
                raise Unauthorized("Invalid token")
            cached = CachedUser(user.id, user.username, user.role)
            self.cache.put_user(cached, generation)
        return Principal(cached.user_id, cached.username, cached.role, via="jwt")

    # ------------------------------------------------------------------ API keys

    async def create_key(
        self, user_id: str, name: str, *, expires_in_days: int | None = None
    ) -> NewKey:
        public = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}{public}_{secrets.token_urlsafe(32)}"
        expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
        key = await self.users.add_key(
            user_id, name, f"{KEY_PREFIX}{public}", hash_key(secret), expires_at
        )
        return NewKey(key=key, secret=secret)

    async def from_key(self, secret: str, *, now: datetime | None = None) -> Principal:
        key = await self._key(secret, now or utcnow())
        return Principal(key.user_id, key.username, key.role, via="api_key", key_id=key.key_id)

    async def _key(self, secret: str, now: datetime) -> CachedKey:
        shape = _KEY_SHAPE.fullmatch(secret)
        if shape is None:
            raise Unauthorized("Invalid API key")
        digest = hash_key(secret)
        key = self.cache.key(digest)
        if key is None:
            key = await self._verified_key(shape.group(1), digest, now)
        elif key.expires_at is not None and key.expires_at <= now:
            raise Unauthorized("This API key has expired")
        if key.last_used_at is None or now - key.last_used_at >= TOUCH_EVERY:
            await self._touch(digest, key, now)
        return key

    async def _verified_key(self, public: str, digest: str, now: datetime) -> CachedKey:
        """The key from the database, checked, and remembered (only if it passed)."""
        generation = self.cache.generation
        found = await self.users.key_by_prefix(f"{KEY_PREFIX}{public}")
        # compare whatever was found, or a hash that cannot match, in constant time
        expected = found[0].key_hash if found is not None else "0" * 64
        if not hmac.compare_digest(digest, expected) or found is None:
            raise Unauthorized("Invalid API key")
        key, user = found
        if key.revoked_at is not None:
            raise Unauthorized("This API key has been revoked")
        if key.expires_at is not None and key.expires_at <= now:
            raise Unauthorized("This API key has expired")
        if user.disabled:
            raise Unauthorized("Invalid API key")
        cached = CachedKey(
            key.id, user.id, user.username, user.role, key.expires_at, key.last_used_at
        )
        self.cache.put_key(digest, cached, generation)
        return cached

    async def _touch(self, digest: str, key: CachedKey, now: datetime) -> None:
        """Write the key's `last_used_at`, marked in its entry first so that the requests
        meanwhile do not write it too."""
        self.cache.used_key(digest, replace(key, last_used_at=now))
        try:
            await self.users.touch_key(key.key_id, utcnow())
        except Exception as exc:  # bookkeeping: never the reason a request fails
            log.warning("api_key_touch_failed", key_id=key.key_id, error_type=type(exc).__name__)

    # ------------------------------------------------------------------ browser sign-in

    async def sign_in(self, username: str, password: str) -> OpenedSession:
        """A browser session for a username and password."""
        user = await self.login(username, password)
        principal = Principal(user.id, user.username, user.role, via="password")
        return await self.sessions.open(
            principal, key_id=None, key_expires_at=None, user_updated_at=user.updated_at
        )

    async def sign_in_with_key(self, secret: str) -> OpenedSession:
        """A browser session for an API key; it ends when the key expires, if sooner."""
        key = await self._key(secret, utcnow())
        principal = Principal(key.user_id, key.username, key.role, via="api_key")
        return await self.sessions.open(
            principal, key_id=key.key_id, key_expires_at=key.expires_at, user_updated_at=None
        )

    # ------------------------------------------------------------------ first start

    async def bootstrap(self) -> str | None:
        """On a server with no users: create the admin and its first API key, write the
        key to `<data dir>/admin.key` (owner-only) and return it (to be printed once).
        Several processes starting together create one admin between them."""
        user = await self.users.create(BOOTSTRAP_USERNAME, Role.ADMIN, None, only_if_empty=True)
        if user is None:
            return None
        new = await self.create_key(user.id, "bootstrap")
        path = self._settings.data_dir / ADMIN_KEY_FILE
        _write_private(path, new.secret + "\n")
        log.warning(
            "bootstrap_admin_created",
            username=user.username,
            key_prefix=new.key.prefix,
            key_file=str(path),
        )
        return new.secret
