"""The `Idempotency-Key` header of the routes that create something (SPEC §13), as one
dependency: `IdempotencyDep`.

A route that returns a JSON model applies it in one line:

    async def create_x(body: XCreate, who: Writer, idem: IdempotencyDep, ...) -> Any:
        return await idem.once(who, body, lambda: make_x(body), status_code=201)

and documents the replay header with `openapi_extra=replay_documented(201)`. `once`
claims the key (after the route's guard has authenticated the caller, whose user id the
key belongs to), does the work, stores its response; a repeat gets that response again,
with `Idempotent-Replayed: true`. A route whose response is a run (chat) uses the three
steps itself: `begin` (a replay, or None to go ahead), then `finish` or `abandon`.
Without the header, each of them does nothing and the route behaves as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from agio.api.container import Container
from agio.domain.idempotency import IdempotencyRecord
from agio.domain.security import Principal
from agio.services.idempotency import Claim, IdempotencyService, fingerprint

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
#: 1 to 255 printable ASCII characters, the first and the last not a space (HTTP strips
#: the spaces around a header's value, so they could not be told apart anyway)
KEY_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=255,
        pattern=KEY_PATTERN,
        description=(
            "Makes the request safe to retry: the same key with the same body, within "
            "AGIO_IDEMPOTENCY_TTL_SECONDS, returns the first response (with "
            "`Idempotent-Replayed: true`) and starts nothing new; with another body it is "
            "a 422 `IdempotencyKeyReused`. Keys are per user (docs/idempotency.md)."
        ),
    ),
]


def replay_documented(status_code: int = 200) -> dict[str, Any]:
    """`openapi_extra` for a route with the header: its response may say it is a replay."""
    return {
        "responses": {
            str(status_code): {
                "headers": {
                    REPLAYED: {
                        "description": "`true` when this is the stored response of an "
                        "earlier request with the same Idempotency-Key",
                        "schema": {"type": "string", "enum": ["true"]},
                    }
                }
            }
        }
    }


def replayed_json(record: IdempotencyRecord) -> JSONResponse:
    """The stored response of a JSON route, as it was first sent."""
    return JSONResponse(
        record.response_body,
        status_code=record.response_status or 200,
        headers={REPLAYED: "true"},
    )


class Idempotency:
    """One request's key (None: the request sent none) and what it claimed."""

    def __init__(self, service: IdempotencyService, key: str | None, method: str, path: str):
        self._service = service
        self.key = key
        self._method = method
        self._path = path
        self._claim: Claim | None = None

    async def begin(self, who: Principal, body: BaseModel | None) -> IdempotencyRecord | None:
        """Claim the key for this request: None to go ahead (or no key was sent), else
        the first response's record, to replay. Raises `IdempotencyKeyReused` (422) or
        `IdempotencyKeyInProgress` (409)."""
        if self.key is None:
            return None
        parsed = None if body is None else body.model_dump(mode="json", by_alias=True)
        claim = await self._service.claim(
            who.user_id, self.key, fingerprint(self._method, self._path, parsed)
        )
        if claim.replay is not None:
            return claim.replay
        self._claim = claim
        return None

    async def finish(
        self, status_code: int, body: Any = None, *, run_id: str | None = None
    ) -> None:
        """Store the response of the work `begin` let go ahead."""
        if self._claim is not None:
            claim, self._claim = self._claim, None
            await claim.complete(status_code, body, run_id=run_id)

    async def abandon(self) -> None:
        """The work failed: free the key (shielded, so that a request cancelled half-way
        still frees it)."""
        if self._claim is not None:
            claim, self._claim = self._claim, None
            await asyncio.shield(claim.release())

    async def once(
        self,
        who: Principal,
        body: BaseModel | None,
        work: Callable[[], Awaitable[BaseModel]],
        *,
        status_code: int = 200,
    ) -> Any:
        """`work()`'s result, done once per key: a repeat replays the stored response."""
        replay = await self.begin(who, body)
        if replay is not None:
            return replayed_json(replay)
        try:
            result = await work()
        except BaseException:
            await self.abandon()
            raise
        await self.finish(status_code, result.model_dump(mode="json", by_alias=True))
        return result


async def idempotency(request: Request, key: IdempotencyKey = None) -> Idempotency:
    container: Container = request.app.state.agio
    return Idempotency(container.idempotency, key, request.method, request.scope["path"])


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
