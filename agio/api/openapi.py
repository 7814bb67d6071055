"""The app's OpenAPI document: FastAPI's, plus what holds for every operation and what the
app's settings decide, added in one place.

- 413 on every operation (`RequestContextMiddleware` refuses a body over
  AGIO_MAX_BODY_BYTES before any route sees it), and 400 on every operation that takes a
  body (one that cannot be decoded);
- a text field marked with `max_length_from_setting(name)` gets `maxLength` = that
  setting's value, so the document states the limit this app enforces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from agio.api.openai_compat.errors import is_v1
from agio.api.schemas.common import LIMIT_FROM_SETTING
from agio.config.settings import Settings

_ENVELOPE = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
#: under `/v1`, errors have OpenAI's shape (`agio.api.openai_compat.errors`)
_OPENAI_ENVELOPE = {
    "application/json": {"schema": {"$ref": "#/components/schemas/OpenAIErrorEnvelope"}}
}
_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Make `app.openapi()` (and so `/openapi.json`) return the completed document."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        # FastAPI caches the document (and rebuilds it when routes change): completing it
        # again is idempotent and cheap
        document = generate()
        complete(document, settings)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any], settings: Settings) -> None:
    """Add the transport-level error responses and the settings' limits to `document`."""
    for path, item in document.get("paths", {}).items():
        envelope = _OPENAI_ENVELOPE if is_v1({"path": path}) else _ENVELOPE
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault(
                    "400",
                    {"description": "The body cannot be parsed (malformed JSON or form)"},
                )
            responses.setdefault(
                "413",
                {
                    "description": (
                        f"The body is larger than {settings.max_body_bytes} bytes "
                        "(AGIO_MAX_BODY_BYTES)"
                    )
                },
            )
            for code in ("400", "413"):
                if code in responses:
                    responses[code].setdefault("content", envelope)
    _apply_limits(document.get("components", {}).get("schemas", {}), settings)


def _apply_limits(node: Any, settings: Settings) -> None:
    if isinstance(node, dict):
        setting = node.pop(LIMIT_FROM_SETTING, None)
        if setting is not None:
            node["maxLength"] = getattr(settings, setting)
        for value in node.values():
            _apply_limits(value, settings)
    elif isinstance(node, list):
        for value in node:
            _apply_limits(value, settings)
