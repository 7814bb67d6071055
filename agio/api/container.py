"""Everything one app instance owns, built in its lifespan and closed at shutdown."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import structlog

from agio import __version__
from agio.api.ratelimit import RateLimits
from agio.bus.base import EventBus
from agio.bus.memory import InProcessBus
from agio.bus.redis import RedisBus
from agio.config.settings import Settings
from agio.observability.prometheus import Telemetry
from agio.observability.tracing import Tracing
from agio.runtime.manager import RunManager, RuntimeOptions
from agio.runtime.redis_memory import RedisMemoryStore
from agio.services.auth import ADMIN_KEY_FILE, AuthService, resolve_jwt_secret
from agio.services.components import ComponentService
from agio.services.config_files import ConfigFiles
from agio.services.health import HealthChecker
from agio.services.knowledge import KnowledgeSearchTool, KnowledgeService
from agio.storage import migrate
from agio.storage.components import ComponentRepository
from agio.storage.database import Database
from agio.storage.knowledge import KnowledgeRepository
from agio.storage.metrics import MetricsRepository
from agio.storage.runs import RunRepository
from agio.storage.users import UserRepository
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
    run_manager: RunManager
    auth: AuthService
    rate_limits: RateLimits
    metrics: MetricsRepository
    telemetry: Telemetry
    tracing: Tracing
    knowledge: KnowledgeService

    @classmethod
    async def start(cls, settings: Settings) -> Container:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url, pool_size=settings.db_pool_size)
        try:
            await migrate.upgrade(db)
            repo = ComponentRepository(db)
            components = ComponentService(
                repo,
                allowed_python_tool_modules=settings.allowed_python_tool_modules,
                max_steps_ceiling=settings.max_steps_ceiling,
            )
            auth = AuthService(
                UserRepository(db), settings, jwt_secret=resolve_jwt_secret(settings)
            )
            bootstrap_key = await auth.bootstrap()
            if bootstrap_key is not None:
                _announce(bootstrap_key, settings)
            knowledge = KnowledgeService(KnowledgeRepository(db), repo, settings.configs_dir)
            config_files = ConfigFiles(settings.configs_dir, components)
            config_files.after_reload.append(knowledge.sync_all)
            await config_files.reload()
            if settings.watch_configs:
                config_files.start_watching()
        except BaseException:
            await db.dispose()
            raise
        rate_limits = RateLimits(settings)
        bus: EventBus
        if settings.redis_url:
            redis_bus = RedisBus(settings.redis_url, settings.redis_prefix)
            try:
                await redis_bus.start()
            except BaseException:
                await redis_bus.close()
                await db.dispose()
                raise
            bus = redis_bus
        else:
            bus = InProcessBus()
        telemetry = Telemetry()
        writer = RunWriter(db, bus)
        writer.on_stored.append(telemetry.observe_events)
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
                max_steps_ceiling=settings.max_steps_ceiling,
                max_tokens_per_run=settings.max_tokens_per_run,
            ),
        )
        tracing = Tracing(settings)
        runs.tracer = tracing.tracer
        runs.knowledge_tool = lambda component: KnowledgeSearchTool(
            knowledge, component.name, component.top_k
        )
        if settings.redis_url:
            runs.redis_memory = RedisMemoryStore(settings.redis_url, settings.redis_prefix)
        writer.owner_id = runs.owner_id
        writer.on_fenced.append(runs.stop_fenced)
        writer.on_write_failed.append(runs.stop_failed)
        runs.on_execute.append(
            lambda run_id, snapshot: telemetry.label_run(
                run_id,
                snapshot.agent.name,
                snapshot.model.name,
                frozenset(tool.name for tool in snapshot.tools)
                | ({"search_knowledge"} if snapshot.knowledge else set()),
            )
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
        if settings.auth_disabled:
            log.warning(
                "auth_disabled",
                message="AGIO_AUTH_DISABLED: requests without credentials act as a local "
                "admin, on loopback connections only; never use this on a shared machine",
            )
        return cls(
            settings,
            db,
            components,
            config_files,
            health,
            bus,
            writer,
            run_repo,
            runs,
            auth,
            rate_limits,
            MetricsRepository(db),
            telemetry,
            tracing,
            knowledge,
        )

    async def close(self) -> None:
        await self.config_files.close()
        await self.run_manager.close()
        if self.run_manager.redis_memory is not None:
            await self.run_manager.redis_memory.close()
        await self.writer.close()
        await self.bus.close()
        await self.rate_limits.close()
        await self.db.dispose()
        self.tracing.shutdown()
        log.info("agio_stopped")


def _announce(key: str, settings: Settings) -> None:
    """Print the bootstrap admin key once, to the terminal that started the server (not to
    the log, which may be shipped elsewhere). The example URL is where `agio serve`
    listens (it says so in AGIO_SERVE_URL; another server shows a placeholder)."""
    path = settings.data_dir / ADMIN_KEY_FILE
    base = os.environ.get("AGIO_SERVE_URL") or "http://<host>:<port>"
    print(
        "\n"
        "  Agio created the first user, 'admin', and an API key for it:\n\n"
        f"      {key}\n\n"
        f"  It is shown only this once, and saved (readable by you only) in {path}.\n"
        "  Use it as the X-API-Key header, for example:\n\n"
        f'      curl -H "X-API-Key: $(cat {path})" {base}/api/agents\n',
        file=sys.stderr,
        flush=True,
    )
