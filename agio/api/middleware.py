"""Pure ASGI middleware (BaseHTTPMiddleware would break streaming and disconnects)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agio.api.errors import envelope
from agio.observability.prometheus import Telemetry
from agio.observability.tracing import Tracing

log = structlog.get_logger("agio.http")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")
#: the routes that take file uploads (multipart), whose bodies may be as large as
#: AGIO_MAX_UPLOAD_BYTES plus the form's framing; the route checks each file itself
UPLOAD_PATHS = re.compile(r"^/api/knowledge/[^/]+/documents$")
UPLOAD_FRAMING_BYTES = 64 * 1024


class RequestContextMiddleware:
    """Request id, `X-Process-Time`, the `RateLimit-*` headers that the route's
    dependency left, the request body size limit (413), one structured log line per
    request, and the 500 envelope for anything unhandled (so that it too carries the
    request id)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int | None = None,
        max_upload_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, scope: Scope) -> tuple[int | None, str]:
        """The body limit of this request, and the setting that makes it."""
        if (
            self.max_upload_bytes is not None
            and scope["method"] == "POST"
            and UPLOAD_PATHS.match(scope["path"])
            and any(
                k == b"content-type" and v.lower().startswith(b"multipart/form-data")
                for k, v in scope.get("headers", [])
            )
        ):
            limit = self.max_upload_bytes + UPLOAD_FRAMING_BYTES
            return max(limit, self.max_body_bytes or 0), "AGIO_MAX_UPLOAD_BYTES"
        return self.max_body_bytes, "AGIO_MAX_BODY_BYTES"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next(
            (v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-request-id"),
            None,
        )
        request_id = (
            incoming if incoming and _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        )
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                headers["X-Process-Time"] = f"{time.perf_counter() - started:.6f}"
                for name, value in (state.get("rate_limit_headers") or {}).items():
                    headers.setdefault(name, value)
            await send(message)

        limit, setting = self._limit(scope)
        if limit is not None:
            declared = next(
                (v for k, v in scope.get("headers", []) if k == b"content-length"), None
            )
            if declared is not None and declared.isdigit() and int(declared) > limit:
                response = envelope(
                    scope,
                    413,
                    "PayloadTooLarge",
                    f"The request body is larger than {limit} bytes ({setting})",
                )
                await response(scope, receive, send_with_headers)
                return
            receive = _limited(receive, limit, setting)

        tracer = _tracer(scope)
        span = None
        token = None
        if tracer is not None:
            span = tracer.start_span(
                scope["method"],
                kind=trace.SpanKind.SERVER,
                attributes={
                    "http.request.method": scope["method"],
                    "url.path": scope["path"],
                    "agio.request_id": request_id,
                },
            )
            token = otel_context.attach(trace.set_span_in_context(span))
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_headers)
            except Exception:
                log.exception("unhandled_error", method=scope["method"], path=scope["path"])
                if not response_started:
                    response = envelope(
                        scope,
                        500,
                        "InternalServerError",
                        "The server failed to handle this request; the request id is in the logs.",
                    )
                    await response(scope, receive, send_with_headers)
            finally:
                elapsed = time.perf_counter() - started
                route = scope.get("route")
                # the template, never the raw path (ids would make a series per request)
                template = getattr(route, "path", None) or "unmatched"
                log.info(
                    "http_request",
                    method=scope["method"],
                    path=scope["path"],
                    route=template,
                    status=status,
                    duration_ms=round(elapsed * 1000, 3),
                )
                telemetry = _telemetry(scope)
                if telemetry is not None:
                    telemetry.observe_request(scope["method"], template, status, elapsed)
                if span is not None:
                    span.update_name(f"{scope['method']} {template}")
                    span.set_attribute("http.route", template)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(trace.StatusCode.ERROR)
                    span.end()
                if token is not None:
                    otel_context.detach(token)


def _limited(receive: Receive, limit: int, setting: str) -> Receive:
    """`receive` that fails with 413 once the body (however it is sent) exceeds `limit`."""
    seen = 0

    async def receive_limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(
                    413, f"The request body is larger than {limit} bytes ({setting})"
                )
        return message

    return receive_limited


def _container(scope: Scope) -> Any:
    return getattr(getattr(scope.get("app"), "state", None), "agio", None)


def _telemetry(scope: Scope) -> Telemetry | None:
    telemetry = getattr(_container(scope), "telemetry", None)
    return telemetry if isinstance(telemetry, Telemetry) else None


def _tracer(scope: Scope) -> trace.Tracer | None:
    tracing = getattr(_container(scope), "tracing", None)
    return tracing.tracer if isinstance(tracing, Tracing) and tracing.enabled else None
