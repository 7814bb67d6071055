"""Everything one app instance owns, built in its lifespan and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from agio import __version__
from agio.bus.base import EventBus
from agio.bus.memory import InProcessBus
from agio.config.settings import Settings
from agio.runtime.manager import RunManager, RuntimeOptions
from agio.services.components import ComponentService
from agio.services.config_files import ConfigFiles
from agio.services.health import HealthChecker
from agio.storage import migrate
from agio.storage.components import ComponentRepository
from agio.storage.database import Database
from agio.storage.runs import RunRepository
from agio.storage.writer import RunWriter

log = structlog.get_logger(__name__)


@dataclass
class Container:
    settings: Settings
    db: Database
    components: ComponentService
    config_files: ConfigFiles
    health: HealthChecker
    bus: EventBus
    writer: RunWriter
    run_repo: RunRepository
    runs: RunManager

    @classmethod
    async def start(cls, settings: Settings) -> Container:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url, pool_size=settings.db_pool_size)
        try:
            await migrate.upgrade(db)
            repo = ComponentRepository(db)
            components = ComponentService(
                repo, allowed_python_tool_modules=settings.allowed_python_tool_modules
            )
            config_files = ConfigFiles(settings.configs_dir, components)
            await config_files.reload()
            if settings.watch_configs:
                config_files.start_watching()
        except BaseException:
            await db.dispose()
            raise
        bus = InProcessBus()
        writer = RunWriter(db, bus)
        writer.start()
        run_repo = RunRepository(db)
        runs = RunManager(
            components,
            run_repo,
            writer,
            bus,
            RuntimeOptions(
                lease_seconds=settings.run_lease_seconds,
                enable_http_request_tool=settings.enable_http_request_tool,
                default_memory_messages=settings.default_memory_messages,
                recovery=settings.run_recovery,
                max_recoveries=settings.max_recoveries,
                control_wait_seconds=settings.control_wait_seconds,
            ),
        )
        await runs.start()
        health = HealthChecker(
            db,
            repo,
            redis_url=settings.redis_url,
            timeout=settings.health_probe_timeout,
            llm_cache_seconds=settings.llm_probe_cache_seconds,
        )
        log.info(
            "agio_started",
            version=__version__,
            database=db.safe_url,
            configs_dir=str(settings.configs_dir),
            environment=settings.environment,
        )
        return cls(settings, db, components, config_files, health, bus, writer, run_repo, runs)

    async def close(self) -> None:
        await self.config_files.close()
        await self.runs.close()
        await self.writer.close()
        await self.bus.close()
        await self.db.dispose()
        log.info("agio_stopped")
