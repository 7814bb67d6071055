"""Structured logging with structlog: readable in development, JSON in production.

Standard-library loggers (uvicorn, SQLAlchemy, Alembic) go through the same renderer,
and a redaction step masks any value whose key looks secret, wherever it comes from.
Tracebacks are plain in every format: never with local variables (which hold keys,
passwords and request bodies).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from agio.config.components import MASK

_SECRET_HINTS = ("api_key", "apikey", "password", "secret", "token", "authorization", "cookie")


def _is_secret_key(key: str) -> bool:
    lowered = key.lower().replace("-", "_")
    return any(hint in lowered for hint in _SECRET_HINTS)


def _redact_value(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        return value
    if isinstance(value, dict):
        return {
            k: (
                MASK
                if isinstance(k, str) and _is_secret_key(k) and v
                else _redact_value(v, depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_value(v, depth + 1) for v in value]
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask values of secret-looking keys, nested ones too."""
    for key, value in list(event_dict.items()):
        if key != "event" and _is_secret_key(key) and value:
            event_dict[key] = MASK
        elif isinstance(value, dict | list | tuple):
            event_dict[key] = _redact_value(value)
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    """Configure structlog and the standard library's root logger (idempotent)."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        # a plain traceback: the rich and better-exceptions formatters that structlog picks
        # by default print each frame's local variables, which hold API keys, passwords
        # and request bodies
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("agio")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "agio":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs each request
    quiet = max(logging.WARNING, logging.getLevelName(level))
    logging.getLogger("watchfiles").setLevel(quiet)
    # aiosqlite logs every statement with its parameters at DEBUG: secrets included
    logging.getLogger("aiosqlite").setLevel(quiet)
