"""Errors under `/v1` in OpenAI's shape: `{"error": {"message", "type", "code", "param"}}`.

`agio.api.errors.envelope` builds every error response of the app; for a path under
`/v1` it asks `openai_error` instead, so that authentication, permissions, rate limits,
validation, unknown routes, oversized bodies and unhandled errors all reach an OpenAI
client (whose SDK reads `error.message`) in the shape it knows. `type` is OpenAI's kind
of error; `code` a stable name of Agio's (`model_not_found`, `response_not_found`,
`session_busy`, …), `param` the request field at fault when there is one.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

PREFIX = "/v1"

#: OpenAI's `type` by status
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "server_error",
}
#: Agio's error types renamed for OpenAI clients (the others are snake_cased)
_CODES = {
    "AgentNotFound": "model_not_found",
    "RunNotFound": "response_not_found",
    "ResponseNotFound": "response_not_found",
    "RateLimited": "rate_limit_exceeded",
    "Unauthorized": "invalid_api_key",
    "Forbidden": "insufficient_permissions",
}
_PARAMS = {"AgentNotFound": "model"}


def is_v1(scope: Any) -> bool:
    path = str(scope.get("path", ""))
    return path == PREFIX or path.startswith(PREFIX + "/")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _param(details: list[dict[str, Any]] | None) -> str | None:
    """The first field at fault in a validation error: its location after `body` /
    `query` / `path`, dotted (`messages.0.content`)."""
    for detail in details or ():
        loc = [str(part) for part in detail.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        if loc:
            return ".".join(loc)
    return None


def openai_error(
    status: int,
    type_: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    *,
    param: str | None = None,
) -> JSONResponse:
    """The response for an error of Agio's kind `type_` (`AgentNotFound`, …), in
    OpenAI's shape."""
    body = {
        "message": message,
        "type": _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
        "code": _CODES.get(type_, _snake(type_)),
        "param": param or _PARAMS.get(type_) or _param(details),
    }
    return JSONResponse({"error": body}, status_code=status, headers=headers)


class OpenAIErrorBody(BaseModel):
    message: str
    type: str = Field(
        description="OpenAI's kind of error: `invalid_request_error`, `authentication_error`, "
        "`permission_error`, `rate_limit_error` or `server_error`."
    )
    code: str | None = Field(
        description="A stable name for the error (`model_not_found`, `response_not_found`, "
        "`invalid_api_key`, `rate_limit_exceeded`, `validation_error`, `session_busy`, …)."
    )
    param: str | None = Field(description="The request field at fault, if any.")


class OpenAIErrorEnvelope(BaseModel):
    """Every error under `/v1` has this shape (OpenAI's)."""

    error: OpenAIErrorBody


def openai_error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for errors under `/v1`."""
    return {
        code: {"model": OpenAIErrorEnvelope, "description": "Error (OpenAI's shape)"}
        for code in codes
    }
