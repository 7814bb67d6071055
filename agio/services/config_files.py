"""The configs folder: load it at start-up, apply it to storage, and follow its changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from agio.config.loader import ConfigProblem, load_directory
from agio.services.components import ComponentService

log = structlog.get_logger(__name__)

WATCHED = (".yaml", ".yml", ".md", ".txt", ".html", ".htm")


class ConfigFiles:
    """Keeps storage in step with the YAML files and remembers their current problems."""

    def __init__(self, directory: Path, service: ComponentService) -> None:
        self.directory = directory
        self.service = service
        self.problems: list[ConfigProblem] = []
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: run after every reload (knowledge files are indexed from here)
        self.after_reload: list[Callable[[], Awaitable[None]]] = []

    async def reload(self) -> list[ConfigProblem]:
        """Load every file, apply what is valid, and report the rest."""
        async with self._lock:
            result = await asyncio.to_thread(load_directory, self.directory)
            problems = list(result.problems)
            problems.extend(await self.service.sync_files(result))
            self.problems = problems
            for problem in problems:
                log.warning(
                    "config_problem", path=problem.path, field=problem.field, reason=problem.message
                )
            log.info(
                "configs_loaded",
                directory=str(self.directory),
                files=result.files,
                components=len(result.components),
                problems=len(problems),
            )
        for hook in self.after_reload:
            try:
                await hook()
            except Exception:
                log.exception("config_reload_hook_failed")
        return problems

    def start_watching(self) -> None:
        if self.directory.is_dir():
            self._task = asyncio.create_task(self._watch(), name="agio-config-watch")

    async def _watch(self) -> None:
        from watchfiles import awatch

        try:
            async for changes in awatch(
                self.directory, stop_event=self._stop, debounce=300, recursive=True
            ):
                # YAML: components; the others: documents of knowledge components
                if any(path.endswith(WATCHED) for _, path in changes):
                    log.info("configs_changed", files=sorted({p for _, p in changes}))
                    try:
                        await self.reload()
                    except Exception:
                        log.exception("config_reload_failed")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("config_watch_stopped")

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
