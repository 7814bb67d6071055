"""What is kept of a request sent with an `Idempotency-Key` (SPEC §13): a claim while the
first request is handled, then its response, replayed to the requests that repeat it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class KeyStatus(StrEnum):
    #: claimed by the first request, which is doing the work
    IN_PROGRESS = "in_progress"
    #: the first request's response is stored
    COMPLETED = "completed"


@dataclass(frozen=True)
class IdempotencyRecord:
    """One key of one user. `fingerprint` (SHA-256 of the method, the path and the body)
    tells a repeat of the first request from another request with the same key."""

    id: str
    user_id: str
    key: str
    fingerprint: str
    status: KeyStatus
    created_at: datetime
    expires_at: datetime
    response_status: int | None = None
    #: the first response's JSON body (None for a response that is a run's events)
    response_body: Any = None
    #: the run the first request started, if it started one
    run_id: str | None = None

    @property
    def completed(self) -> bool:
        return self.status is KeyStatus.COMPLETED
