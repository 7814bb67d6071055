"""Everything one app instance owns, built in its lifespan and closed at shutdown."""

from __future__ import annotations

import os
import sys
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from ipaddress import ip_network

import structlog

from agio import __version__
from agio.api.mcp_server import AgentsMcpServer
from agio.api.ratelimit import RateLimits
from agio.bus.base import NOTICES_LOST, EventBus
from agio.bus.memory import InProcessBus
from agio.bus.redis import RedisBus
from agio.config.settings import Settings
from agio.models.embeddings import shared_client
from agio.observability.prometheus import Telemetry
from agio.observability.tracing import Tracing
from agio.runtime.manager import RunManager, RuntimeOptions, new_owner_id
from agio.runtime.redis_memory import RedisMemoryStore
from agio.runtime.run_service import RunLimits, RunService
from agio.services.auth import ADMIN_KEY_FILE, AuthService, resolve_jwt_secret
from agio.services.components import ComponentService
from agio.services.config_files import ConfigFiles
from agio.services.health import HealthChecker
from agio.services.idempotency import IdempotencyService
from agio.services.knowledge import KnowledgeSearchTool, KnowledgeService
from agio.services.knowledge_embedding import KnowledgeEmbedder
from agio.services.scheduler import ScheduledRuns, Scheduler
from agio.services.schedules import ScheduleService
from agio.services.webhook_delivery import RetryPolicy, WebhookSender
from agio.services.webhooks import WebhookService
from agio.storage import migrate
from agio.storage.checkpoints import CheckpointRepository
from agio.storage.components import ComponentRepository
from agio.storage.database import Database
from agio.storage.events import EventRepository
from agio.storage.idempotency import IdempotencyRepository
from agio.storage.knowledge import KnowledgeRepository
from agio.storage.knowledge_vectors import KnowledgeVectorRepository
from agio.storage.metrics import MetricsRepository
from agio.storage.model_calls import ModelCallRepository
from agio.storage.runs import RunReadRepository, RunRepository
from agio.storage.schedules import ScheduleRepository
from agio.storage.sessions import SessionRepository
from agio.storage.users import UserRepository
from agio.storage.webhooks import WebhookRepository
from agio.storage.writer import RunWriter
from agio.tools.environment import ToolEnvironment

log = structlog.get_logger(__name__)


@dataclass
class Container:
    """What one app instance owns. Built only by `start`, which passes every part to the
    constructor; `close` releases it all (the exit stack that `start` filled)."""

    settings: Settings
    db: Database
    components: ComponentService
    config_files: ConfigFiles
    health: HealthChecker
    run_manager: RunManager
    run_service: RunService
    auth: AuthService
    rate_limits: RateLimits
    metrics_repo: MetricsRepository
    telemetry: Telemetry
    tracing: Tracing
    knowledge: KnowledgeService
    # --- approvals (issue 16)

    # --- idempotency
    idempotency: IdempotencyService

    # --- webhooks
    webhooks: WebhookService
    # --- schedules
    schedules: ScheduleService
    #: fires due schedules (started in `start` unless AGIO_SCHEDULER_ENABLED is false)
    scheduler: Scheduler
    # --- MCP (SPEC §19)
    #: Agio's own MCP server, served at /mcp
    mcp: AgentsMcpServer

    #: closes, in reverse order of opening, everything `start` opened
    resources: AsyncExitStack = field(repr=False)

    @classmethod
    async def start(cls, settings: Settings) -> Container:
        """Open everything in order. Each part is put on the exit stack as soon as it is
        opened, so a start that fails half-way closes what it had opened and re-raises."""
        stack = AsyncExitStack()
        try:
            return await cls._open(settings, stack)
        except BaseException:
            await stack.aclose()
            raise

    @classmethod
    async def _open(cls, settings: Settings, stack: AsyncExitStack) -> Container:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        tracing = Tracing(settings)
        stack.callback(tracing.shutdown)
        db = Database(settings.resolved_database_url, pool_size=settings.db_pool_size)
        stack.push_async_callback(db.dispose)
        await migrate.upgrade(db)
        repo = ComponentRepository(db, cache_seconds=settings.component_cache_seconds)
        components = ComponentService(
            repo,
            allowed_python_tool_modules=settings.allowed_python_tool_modules,
            allowed_mcp_commands=settings.allowed_mcp_commands,
            max_steps_ceiling=settings.max_steps_ceiling,
        )
        auth = AuthService(UserRepository(db), settings, jwt_secret=resolve_jwt_secret(settings))
        bootstrap_key = await auth.bootstrap()
        if bootstrap_key is not None:
            _announce(bootstrap_key, settings)
        embeddings_client = shared_client()
        stack.push_async_callback(embeddings_client.aclose)
        knowledge = KnowledgeService(
            KnowledgeRepository(db),
            repo,
            settings.configs_dir,
            KnowledgeEmbedder(KnowledgeVectorRepository(db), repo, embeddings_client),
            max_upload_bytes=settings.max_upload_bytes,
        )
        stack.push_async_callback(knowledge.close)
        config_files = ConfigFiles(settings.configs_dir, components)
        stack.push_async_callback(config_files.close)
        config_files.after_reload.append(knowledge.sync_all)
        await config_files.reload()
        if settings.watch_configs:
            config_files.start_watching()
        rate_limits = RateLimits(settings)
        stack.push_async_callback(rate_limits.close)
        bus = await _open_bus(settings, stack)
        auth.use_bus(bus)  # key and user changes reach every process's auth cache
        # and component changes every process's component cache
        repo.cache.connect(bus.notify, bus.on_notice, lost_topic=NOTICES_LOST)
        telemetry = Telemetry()
        owner_id = new_owner_id()  # this process, as the owner of the runs it executes
        writer = RunWriter(db, bus, owner_id=owner_id, on_stored=[telemetry.observe_events])
        writer.start()
        stack.push_async_callback(writer.close)
        redis_memory: RedisMemoryStore | None = None
        if settings.redis_url:
            redis_memory = RedisMemoryStore(settings.redis_url, settings.redis_prefix)
            stack.push_async_callback(redis_memory.close)
        run_repo = RunRepository(db)
        run_manager = RunManager(
            repo,
            run_repo,
            writer,
            bus,
            _runtime_options(settings),
            tracer=tracing.tracer,
            knowledge_tool=lambda component: KnowledgeSearchTool(
                knowledge, component.name, component.top_k
            ),
            redis_memory=redis_memory,
            owner_id=owner_id,
            on_execute=[
                lambda run_id, snapshot: telemetry.label_run(
                    run_id,
                    snapshot.agent.name,
                    snapshot.model.name,
                    frozenset(tool.name for tool in snapshot.tools)
                    | ({"search_knowledge"} if snapshot.knowledge else set()),
                )
            ],
        )
        stack.push_async_callback(run_manager.close)
        await run_manager.start()
        health = HealthChecker(
            db,
            repo,
            redis_url=settings.redis_url,
            timeout=settings.health_probe_timeout,
            llm_cache_seconds=settings.llm_probe_cache_seconds,
        )
        # --- approvals (issue 16)

        # --- idempotency
        idempotency = IdempotencyService(
            IdempotencyRepository(db),
            ttl_seconds=settings.idempotency_ttl_seconds,
            wait_seconds=settings.idempotency_wait_seconds,
        )

        # --- webhooks
        webhooks = _webhooks(settings, db, repo, writer, stack)
        # --- schedules
        schedules, scheduler = _schedules(db, components, auth, run_manager, bus, settings)
        if settings.scheduler_enabled:
            scheduler.start()
            stack.push_async_callback(scheduler.close)  # before the run manager closes

        run_service = _run_service(db, bus, settings, owner_id)
        # a child run counts against its user's quota like a chat's (SPEC §20)
        run_manager.children.check_quota = run_service.check_run_quota
        # --- MCP: /mcp's server, stopped before the run manager
        mcp = AgentsMcpServer(components, run_manager, run_service, rate_limits)
        await mcp.start()
        stack.push_async_callback(mcp.close)

        container = cls(
            settings=settings,
            db=db,
            components=components,
            config_files=config_files,
            health=health,
            run_manager=run_manager,
            run_service=run_service,
            auth=auth,
            rate_limits=rate_limits,
            metrics_repo=MetricsRepository(db),
            telemetry=telemetry,
            tracing=tracing,
            knowledge=knowledge,
            # --- approvals (issue 16)
            # --- idempotency
            idempotency=idempotency,
            # --- webhooks
            webhooks=webhooks,
            # --- schedules
            schedules=schedules,
            scheduler=scheduler,
            mcp=mcp,
            resources=stack,
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
        return container

    async def close(self) -> None:
        # the configs watcher first, so that no reload runs while the runtime stops; then
        # the rest in reverse order of opening: run manager, Redis memory, writer, bus,
        # rate-limit storage, database, tracing
        await self.config_files.close()
        await self.resources.aclose()
        log.info("agio_stopped")


async def _open_bus(settings: Settings, stack: AsyncExitStack) -> EventBus:
    if not settings.redis_url:
        bus = InProcessBus()
        stack.push_async_callback(bus.close)
        return bus
    redis_bus = RedisBus(settings.redis_url, settings.redis_prefix)
    stack.push_async_callback(redis_bus.close)
    await redis_bus.start()
    return redis_bus


def _run_service(db: Database, bus: EventBus, settings: Settings, owner_id: str) -> RunService:
    limits = RunLimits(
        max_message_chars=settings.max_message_chars,
        max_steps_ceiling=settings.max_steps_ceiling,
        max_active_runs_per_user=settings.max_active_runs_per_user,
        max_tokens_per_user_per_day=settings.max_tokens_per_user_per_day,
    )
    return RunService(
        RunReadRepository(db),
        EventRepository(db),
        CheckpointRepository(db),
        SessionRepository(db),
        bus,
        limits,
        owner_id=owner_id,
        model_calls=ModelCallRepository(db),
    )


def _schedules(
    db: Database,
    components: ComponentService,
    auth: AuthService,
    run_manager: RunManager,
    bus: EventBus,
    settings: Settings,
) -> tuple[ScheduleService, Scheduler]:
    """The schedules' service and scheduler. Both check runs as the API does, through a
    `RunService` of their own (the same limits; only its rules and session reads are
    used)."""
    schedule_repo = ScheduleRepository(db)
    runs = _run_service(db, bus, settings, run_manager.owner_id)
    scheduler = Scheduler(
        schedule_repo,
        ScheduledRuns(
            run_manager,
            runs,
            auth.users,
            # the local admin of AGIO_AUTH_DISABLED (agio.api.auth.LOCAL_PRINCIPAL)
            local_user_id="usr_local" if settings.auth_disabled else None,
        ),
        poll_seconds=settings.scheduler_poll_seconds,
        missed_grace_seconds=settings.scheduler_missed_grace_seconds,
    )
    service = ScheduleService(schedule_repo, components, runs, changed=scheduler.wake)
    return service, scheduler


def _webhooks(
    settings: Settings,
    db: Database,
    components: ComponentRepository,
    writer: RunWriter,
    stack: AsyncExitStack,
) -> WebhookService:
    """The webhook service and, unless `AGIO_WEBHOOK_SENDER=false`, this process's sender,
    woken by the writer when it stores a webhook event (stopped before the writer)."""
    repo = WebhookRepository(db)
    service = WebhookService(repo, components, writer, allow_private=settings.webhook_allow_private)
    if settings.webhook_sender:
        sender = WebhookSender(
            repo,
            policy=service.policy,
            run_secret=settings.webhook_secret,
            retry=RetryPolicy(
                tuple(settings.webhook_retry_schedule), settings.webhook_retry_horizon_seconds
            ),
            timeout_seconds=settings.webhook_timeout_seconds,
            lease_seconds=settings.webhook_lease_seconds,
            poll_seconds=settings.webhook_poll_seconds,
            concurrency=settings.webhook_concurrency,
        )
        writer.on_stored.append(sender.on_stored)
        sender.start()
        stack.push_async_callback(sender.close)
    return service


def _runtime_options(settings: Settings) -> RuntimeOptions:
    return RuntimeOptions(
        lease_seconds=settings.run_lease_seconds,
        tools=ToolEnvironment(
            enable_http_request=settings.enable_http_request_tool,
            enable_web_fetch=settings.enable_web_fetch_tool,
            allowed_networks=tuple(
                ip_network(network, strict=False) for network in settings.tool_allowed_networks
            ),
            workspace_root=settings.workspace_root,
        ),
        default_memory_messages=settings.default_memory_messages,
        recovery=settings.run_recovery,
        max_recoveries=settings.max_recoveries,
        control_wait_seconds=settings.control_wait_seconds,
        max_steps_ceiling=settings.max_steps_ceiling,
        max_tokens_per_run=settings.max_tokens_per_run,
        approval_timeout_seconds=settings.approval_timeout_seconds,
        mcp_connect_timeout=settings.mcp_connect_timeout,
        model_call_log=settings.model_call_log,
        model_call_retention_days=settings.model_call_retention_days,
        max_run_depth=settings.max_run_depth,
    )


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
        f'  Sign in to the web console at {base}/ with it (choose "API key"), or send\n'
        "  it as the X-API-Key header, for example:\n\n"
        f'      curl -H "X-API-Key: $(cat {path})" {base}/api/agents\n',
        file=sys.stderr,
        flush=True,
    )
