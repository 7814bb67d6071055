"""Idempotency keys (SPEC §13): a request sent again with the same `Idempotency-Key` gets
the first response and starts nothing new.

A request with a key first *claims* it (`IdempotencyService.claim`): an insert under the
unique (user, key) constraint, made before any work, so that of concurrent duplicates,
in this process or any other, exactly one goes ahead; the database is the arbiter. That
one stores its response when it has one (`Claim.complete`), or gives the key up when it
fails (`Claim.release`: an error is not remembered, a retry may succeed). The others
wait for the stored response (polling the row, for `wait_seconds` at most) and replay it,
or get a 409 `IdempotencyKeyInProgress` with `Retry-After`.

The same key with another request (method, path or body: compared by the SHA-256 of a
canonical JSON of them, `fingerprint`) is a 422 `IdempotencyKeyReused`. Keys are per
user, and kept `ttl_seconds`; expired ones are ignored, deleted when their key is claimed
again, and purged now and then (at most once a minute per process, on a claim).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import timedelta
from typing import Any

import structlog

from agio.domain.errors import IdempotencyKeyInProgress, IdempotencyKeyReused
from agio.domain.idempotency import IdempotencyRecord
from agio.domain.time import utcnow
from agio.storage.idempotency import IdempotencyRepository

log = structlog.get_logger(__name__)

#: A claim still in progress after this long was made by a process that died before it
#: could finish or give it up: the key may be claimed again. Every claim is finished
#: within moments (a chat's as soon as its run exists), so this is only a safety net.
STALE_CLAIM_SECONDS = 300.0
#: How often a process deletes every expired key, at most.
PURGE_EVERY_SECONDS = 60.0
#: The polling of a claim in progress: from this delay, doubling up to the next.
FIRST_POLL_SECONDS = 0.02
MAX_POLL_SECONDS = 0.25


def fingerprint(method: str, path: str, body: Any) -> str:
    """The SHA-256 of a canonical JSON (keys sorted, no spaces, ASCII) of the method, the
    path and the body as parsed: the same request, however its JSON was spelled."""
    canonical = json.dumps(
        [method.upper(), path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class Claim:
    """What a request with a key gets: the first response to replay (`replay`), or the
    key, claimed for this request, which then completes or releases it."""

    def __init__(
        self,
        repo: IdempotencyRepository,
        *,
        claim_id: str | None = None,
        replay: IdempotencyRecord | None = None,
    ) -> None:
        self._repo = repo
        self._claim_id = claim_id
        self.replay = replay

    async def complete(
        self, status_code: int, body: Any = None, *, run_id: str | None = None
    ) -> None:
        """Store this request's response (its JSON body, or the run it started): the
        repeats get it from now on."""
        if self._claim_id is None:
            return
        claim_id, self._claim_id = self._claim_id, None
        if not await self._repo.complete(
            claim_id, status_code=status_code, body=body, run_id=run_id
        ):
            log.warning("idempotency_claim_lost", claim_id=claim_id, run_id=run_id)

    async def release(self) -> None:
        """Give the key up (this request failed): a retry with it does the work anew."""
        if self._claim_id is None:
            return
        claim_id, self._claim_id = self._claim_id, None
        try:
            await self._repo.release(claim_id)
        except Exception as exc:  # the request's own error is what matters
            log.warning(
                "idempotency_release_failed", claim_id=claim_id, error_type=type(exc).__name__
            )


class IdempotencyService:
    def __init__(
        self,
        repo: IdempotencyRepository,
        *,
        ttl_seconds: float,
        wait_seconds: float,
        stale_seconds: float = STALE_CLAIM_SECONDS,
    ) -> None:
        self._repo = repo
        self.ttl_seconds = ttl_seconds
        self.wait_seconds = wait_seconds
        self._stale = timedelta(seconds=stale_seconds)
        self._next_purge = 0.0

    async def claim(self, user_id: str, key: str, request_fingerprint: str) -> Claim:
        """Claim `key` for this request, or find the first response to replay (waiting for
        it while the first request is in progress). `IdempotencyKeyReused` when the key
        was used for another request; `IdempotencyKeyInProgress` when the first one is
        still going after `wait_seconds`."""
        deadline = time.monotonic() + self.wait_seconds
        delay = FIRST_POLL_SECONDS
        await self._purge_now_and_then()
        while True:
            now = utcnow()
            claim_id, found = await self._repo.claim(
                user_id,
                key,
                request_fingerprint,
                now=now,
                expires_at=now + timedelta(seconds=self.ttl_seconds),
                stale_before=now - self._stale,
            )
            if claim_id is not None:
                return Claim(self._repo, claim_id=claim_id)
            # the key is held (or was, a moment ago): by a repeat of this request, or not
            while found is not None and not self._free(found):
                if found.fingerprint != request_fingerprint:
                    raise IdempotencyKeyReused(
                        "This Idempotency-Key was used for another request (a different "
                        f"body, method or path) in the last {self.ttl_seconds:g} seconds; "
                        "send a new key for a new request"
                    )
                if found.completed:
                    return Claim(self._repo, replay=found)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise IdempotencyKeyInProgress(
                        "The first request with this Idempotency-Key is still in progress; "
                        "retry later",
                        headers={"Retry-After": "1"},
                    )
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 2, MAX_POLL_SECONDS)
                found = await self._repo.get(user_id, key)
            # released (the first request failed), expired or abandoned: claim it again,
            # unless the wait is over (a key that keeps changing hands is busy)
            if time.monotonic() > deadline:
                raise IdempotencyKeyInProgress(
                    "Requests with this Idempotency-Key keep coming; retry later",
                    headers={"Retry-After": "1"},
                )

    def _free(self, record: IdempotencyRecord) -> bool:
        """May the key be claimed again? (Expired, or a claim its process abandoned.)"""
        now = utcnow()
        if record.expires_at <= now:
            return True
        return not record.completed and record.created_at <= now - self._stale

    async def _purge_now_and_then(self) -> None:
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + PURGE_EVERY_SECONDS
        try:
            purged = await self._repo.purge_expired(utcnow())
        except Exception as exc:  # a purge can wait for the next one
            log.warning("idempotency_purge_failed", error_type=type(exc).__name__)
            return
        if purged:
            log.info("idempotency_keys_purged", count=purged)


__all__ = ["Claim", "IdempotencyService", "fingerprint"]
