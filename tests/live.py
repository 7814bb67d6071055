"""A real uvicorn server in a background thread, for SSE, disconnect and CLI tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from fastapi import FastAPI

from agio.api.app import create_app
from agio.config.settings import Settings


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` on 127.0.0.1 (a free port) and yield its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="error", timeout_graceful_shutdown=2
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def control_app(folder: Path, components: list[dict[str, Any]], **overrides: Any) -> FastAPI:
    """An app for property tests of run control: `components` in a configs folder of its
    own under `folder`, the development switch on (loopback only), no rate limits, room
    for as many active runs as the test makes."""
    (folder / "configs").mkdir()
    (folder / "configs" / "components.yaml").write_text(yaml.safe_dump(components))
    values: dict[str, Any] = {
        "data_dir": folder / "data",
        "configs_dir": folder / "configs",
        "watch_configs": False,
        "environment": "test",
        "log_level": "ERROR",
        "control_wait_seconds": 5,
        "auth_disabled": True,
        "rate_limit_chat": "",
        "rate_limit_write": "",
        "rate_limit_read": "",
        "max_active_runs_per_user": 10_000,
        **overrides,
    }
    return create_app(Settings(_env_file=None, **values))  # type: ignore[call-arg]
