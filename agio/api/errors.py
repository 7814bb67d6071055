"""The one place that turns exceptions into the error envelope."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from agio.api.openai_compat.errors import is_v1, openai_error
from agio.domain.errors import AgioError

_HTTP_TYPES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    429: "RateLimited",
    503: "ServiceUnavailable",
}


def request_id_of(scope: Any) -> str:
    state = scope.get("state") or {}
    rid = state.get("request_id") if isinstance(state, dict) else None
    return str(rid) if rid else uuid.uuid4().hex


def envelope(
    scope: Any,
    status: int,
    type_: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    if is_v1(scope):  # the OpenAI-compatible API answers in OpenAI's shape
        return openai_error(status, type_, message, details, headers)
    body: dict[str, Any] = {
        "type": type_,
        "message": message,
        "path": scope.get("path", ""),
        "request_id": request_id_of(scope),
    }
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


async def _agio_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AgioError)
    return envelope(
        request.scope, exc.status_code, exc.type, exc.message, exc.details, headers=exc.headers
    )


def _clean_loc(loc: Any) -> list[Any]:
    return [part for part in loc if not (isinstance(part, str) and part.startswith("function-"))]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {
            "loc": _clean_loc(err.get("loc", ())),
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]  # the input is never echoed back: it may hold a secret
    summary = "; ".join(".".join(str(p) for p in d["loc"]) + f": {d['msg']}" for d in details[:5])
    return envelope(request.scope, 422, "ValidationError", f"Invalid request: {summary}", details)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path.

    FastAPI makes one route per operation, and the router answers 405 from the first
    route whose path matches, so the `Allow` it sets names that one operation's methods
    (only `GET` where `GET` and `PUT` are served). Asking the whole router, method by
    method, gives all of them.
    """
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    type_ = _HTTP_TYPES.get(exc.status_code, "HTTPError")
    message = exc.detail if isinstance(exc.detail, str) else type_
    if exc.status_code == 404 and message == "Not Found":
        message = f"No route for {request.method} {request.url.path}"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        # (a route that serves this method raised it itself: its own header stands)
        if request.method not in allowed:
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
    return envelope(request.scope, exc.status_code, type_, message, headers=headers or None)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AgioError, _agio_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
