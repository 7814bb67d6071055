"""Domain errors. One handler in `agio.api.errors` maps them to the HTTP error envelope.

Each class has a stable `type` name (part of the API contract) and an HTTP status.
Routers and services raise these; nobody builds error JSON by hand.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AgioError(Exception):
    """Base of every error that the API reports with its own type and status."""

    type: ClassVar[str] = "InternalServerError"
    status_code: ClassVar[int] = 500

    def __init__(
        self,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        #: extra response headers (`WWW-Authenticate`, `Retry-After`, …)
        self.headers = headers


class NotFound(AgioError):
    type = "NotFound"
    status_code = 404


class AgentNotFound(NotFound):
    type = "AgentNotFound"

    def __init__(self, agent: str) -> None:
        super().__init__(f"Agent '{agent}' not found")


class ComponentNotFound(NotFound):
    type = "ComponentNotFound"

    def __init__(self, name: str) -> None:
        super().__init__(f"Component '{name}' not found")


class Conflict(AgioError):
    type = "Conflict"
    status_code = 409


class InvalidConfig(AgioError):
    """A component configuration failed validation; `details` lists each problem."""

    type = "InvalidConfig"
    status_code = 422


class ValidationFailed(AgioError):
    """Request data is well-formed but not acceptable (reported like FastAPI's 422)."""

    type = "ValidationError"
    status_code = 422


class Unauthorized(AgioError):
    type = "Unauthorized"
    status_code = 401

    def __init__(self, message: str = "Authentication required") -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer, APIKey header="X-API-Key"'})


class PermissionDenied(AgioError):
    type = "Forbidden"
    status_code = 403


class RateLimited(AgioError):
    """Too many requests, or a resource limit that frees up with time (active runs, the
    daily token budget); `headers` says when to retry."""

    type = "RateLimited"
    status_code = 429


class PayloadTooLarge(AgioError):
    type = "PayloadTooLarge"
    status_code = 413


class UserNotFound(NotFound):
    type = "UserNotFound"

    def __init__(self, user: str) -> None:
        super().__init__(f"User '{user}' not found")


class ApiKeyNotFound(NotFound):
    type = "ApiKeyNotFound"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"API key '{key_id}' not found")


class ServiceUnavailable(AgioError):
    type = "ServiceUnavailable"
    status_code = 503


class ApprovalNotFound(NotFound):
    type = "ApprovalNotFound"


class RunNotFound(NotFound):
    type = "RunNotFound"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"Run '{run_id}' not found")


class SessionNotFound(NotFound):
    type = "SessionNotFound"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session '{session_id}' not found")


class CheckpointNotFound(NotFound):
    type = "CheckpointNotFound"

    def __init__(self, checkpoint_id: str) -> None:
        super().__init__(f"Checkpoint '{checkpoint_id}' not found")


class InvalidStateTransition(Conflict):
    """An illegal run state change (pause a completed run, resume a running one, …)."""

    type = "InvalidStateTransition"


class ScheduleNotFound(NotFound):
    type = "ScheduleNotFound"

    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"Schedule '{schedule_id}' not found")


class RevisionNotFound(NotFound):
    """A component's history has no entry with this revision number."""

    type = "RevisionNotFound"

    def __init__(self, name: str, revision: int) -> None:
        super().__init__(f"Component '{name}' has no revision {revision}")


class IdempotencyKeyReused(AgioError):
    """An `Idempotency-Key` sent again with another request (body, method or path)."""

    type = "IdempotencyKeyReused"
    status_code = 422


class IdempotencyKeyInProgress(Conflict):
    """The first request with this `Idempotency-Key` is still being handled; `headers`
    says when to ask again."""

    type = "IdempotencyKeyInProgress"


class SessionBusy(Conflict):
    """A chat on a session that has a run in progress (or runs queued), under the
    `reject` strategy; the message and `details` name that run."""

    type = "SessionBusy"

    def __init__(
        self, session_id: str, run_id: str | None, status: str | None, *, queued: bool = False
    ) -> None:
        if run_id is None:  # it ended in the meantime: the caller may simply retry
            message = f"Session '{session_id}' had a run in progress; retry"
            details: list[dict[str, Any]] = [{"session_id": session_id}]
        else:
            what = "runs queued, the next" if queued else "a run in progress"
            message = (
                f"Session '{session_id}' has {what}: '{run_id}' ({status}); wait for it to "
                "end, cancel it, or send another multitask_strategy"
            )
            details = [
                {"session_id": session_id, "run_id": run_id, "status": status, "queued": queued}
            ]
        super().__init__(message, details=details)
        self.session_id = session_id
        self.run_id = run_id


class UnsupportedMediaType(AgioError):
    """An upload of a kind that cannot be read (415)."""

    type = "UnsupportedMediaType"
    status_code = 415


class UnreadableDocument(AgioError):
    """An upload of a supported kind whose text cannot be read (a broken or encrypted PDF,
    one with no text layer, text that is not UTF-8)."""

    type = "UnreadableDocument"
    status_code = 422


class EmbeddingUnavailable(AgioError):
    """The embedding model did not answer usably (502): unreachable, an error status, or
    an answer that is not one vector per input."""

    type = "EmbeddingUnavailable"
    status_code = 502
