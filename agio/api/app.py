"""`create_app(settings)`: the one way to build the HTTP application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sniffio
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from agio import __version__
from agio.api.container import Container
from agio.api.errors import install_error_handlers
from agio.api.middleware import RequestContextMiddleware
from agio.api.openapi import install_openapi
from agio.api.routers import (
    agents,
    agui,
    approvals,
    auth,
    chat,
    config,
    console,
    control,
    docs,
    health,
    keys,
    knowledge,
    mcp,
    metrics,
    openai_responses,
    openai_v1,
    prometheus,
    runs,
    schedules,
    sessions,
    users,
    webhooks,
)
from agio.api.schemas.common import error_responses
from agio.api.storable_text import StorableTextMiddleware
from agio.config.settings import Settings
from agio.observability.logging import configure_logging

DESCRIPTION = """
Agio's control plane: define agents and their components, talk to them, and watch and
steer their runs. Every error has the same envelope: `{"error": {"type", "message",
"path", "request_id"}}`, except under `/v1` (the OpenAI-compatible API), where errors
have OpenAI's shape: `{"error": {"message", "type", "code", "param"}}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build an app for `settings` (read from the environment when not given)."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.resolved_log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The event loop's thread runs asyncio and nothing else: said once, so that
        # httpcore and anyio, which ask sniffio at every lock and stream, stop sniffing
        # for it (asyncio.current_task is Python code on 3.11: 5-8 % of CPU per run)
        sniffed, sniffio.thread_local.name = sniffio.thread_local.name, "asyncio"
        container = await Container.start(settings)
        app.state.agio = container
        try:
            yield
        finally:
            await container.close()
            sniffio.thread_local.name = sniffed

    app = FastAPI(
        title="Agio",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from local assets by routers/docs.py
        redoc_url=None,
        responses=error_responses(422, 500),
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_openapi(app, settings)
    app.include_router(docs.router)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(keys.router)
    app.include_router(agents.router)
    app.include_router(config.router)
    app.include_router(chat.router)
    app.include_router(agui.router)
    app.include_router(runs.router)
    app.include_router(control.router)
    app.include_router(metrics.router)
    app.include_router(knowledge.router)
    app.include_router(sessions.router)
    # --- approvals (issue 16)
    app.include_router(approvals.router)

    # --- webhooks
    app.include_router(webhooks.router)

    # --- schedules
    app.include_router(schedules.router)

    # --- the OpenAI-compatible API (`/v1`)
    app.include_router(openai_v1.router)
    app.include_router(openai_responses.router)

    # --- MCP (SPEC §19): Agio's own MCP server
    app.include_router(mcp.router)

    app.include_router(prometheus.make_router(public_metrics=settings.metrics_public))
    app.include_router(console.router)  # last: `/` and the console's client-side routes
    # innermost: text a database cannot store is refused before any route sees it
    app.add_middleware(StorableTextMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "X-Process-Time"],
        )
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    if settings.trusted_proxies:
        # X-Forwarded-For and -Proto, believed from these addresses only
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app
