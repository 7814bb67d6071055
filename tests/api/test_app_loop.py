"""The app tells sniffio once that its loop's thread is asyncio (httpcore and anyio ask
at every lock and stream), and takes it back when it stops."""

from __future__ import annotations

import sniffio

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import start_client


async def test_the_loop_thread_is_declared_asyncio_while_the_app_runs(settings: Settings) -> None:
    before = sniffio.thread_local.name
    assert before != "asyncio"
    client, lifespan = await start_client(create_app(settings))
    try:
        assert sniffio.thread_local.name == "asyncio"
        assert sniffio.current_async_library() == "asyncio"
        assert (await client.get("/api/health")).status_code == 200
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
    assert sniffio.thread_local.name == before
