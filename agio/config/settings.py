"""Process settings, read from `AGIO_*` environment variables and an optional `.env` file.

A `Settings` object is built by the caller (the CLI, a test) and handed to
`create_app(settings)`; nothing reads settings from a module global.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogFormat = Literal["console", "json"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Everything an operator can set. See docs/configuration.md for each variable."""

    model_config = SettingsConfigDict(
        env_prefix="AGIO_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path(".agio")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite file `agio.db` in the data dir.",
    )
    configs_dir: Path = Path("configs")
    watch_configs: bool = Field(
        default=True, description="Reload components when files in the configs dir change."
    )
    redis_url: str | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_allow_credentials: bool = False
    log_level: LogLevel = "INFO"
    log_format: LogFormat | None = Field(
        default=None, description="Default: `json` in production, `console` elsewhere."
    )
    # ---- security (docs/security.md)
    jwt_secret: str | None = Field(
        default=None,
        description="HS256 signing secret; required (32+ random characters) in production. "
        "Unset elsewhere: a random one kept in `<data dir>/jwt.secret`.",
    )
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_expire_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30)
    auth_disabled: bool = Field(
        default=False,
        description="Development only: no authentication, every request acts as a local "
        "admin. Honoured only for connections to and from a loopback address.",
    )
    auth_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="How long a verified API key or a token's user is remembered at most; "
        "changes are seen at once through the bus or the SQLite file's change stamp, this "
        "bounds the rest. 0: read the database on every request.",
    )
    session_idle_minutes: int = Field(
        default=120,
        ge=1,
        le=60 * 24 * 30,
        description="A browser session (the console's sign-in) not used for this long ends.",
    )
    session_max_hours: int = Field(
        default=24,
        ge=1,
        le=24 * 90,
        description="A browser session ends this long after its sign-in, however it is used.",
    )
    rate_limit_chat: str = Field(
        default="10/minute", description="`POST /api/chat` per caller; empty: no limit."
    )
    rate_limit_auth: str = Field(
        default="10/minute",
        description="Sign-ins, and failed authentications, per client address.",
    )
    rate_limit_write: str = Field(
        default="120/minute", description="Other POST, PUT, PATCH and DELETE per caller."
    )
    rate_limit_read: str = Field(default="1200/minute", description="GET requests per caller.")
    rate_limit_strategy: Literal["moving-window", "sliding-window"] = "moving-window"
    redis_prefix: str = Field(
        default="agio",
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        description="Prefix of every Redis key Agio writes (rate limits, events).",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks whose X-Forwarded-For is believed.",
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=1_073_741_824)
    max_upload_bytes: int = Field(
        default=10_485_760,
        ge=1024,
        le=1_073_741_824,
        description="The largest file a knowledge upload (multipart) may send; the "
        "upload's body may exceed AGIO_MAX_BODY_BYTES up to this (plus its form framing).",
    )
    max_message_chars: int = Field(default=32_000, ge=1, le=10_000_000)
    max_steps_ceiling: int = Field(
        default=50, ge=1, le=10_000, description="No agent or fork may set a higher max_steps."
    )
    max_active_runs_per_user: int = Field(
        default=8, ge=1, le=100_000, description="Pending and running runs a user may have."
    )
    max_tokens_per_run: int | None = Field(
        default=None, ge=1, description="A run that uses more tokens fails; unset: no limit."
    )
    max_tokens_per_user_per_day: int | None = Field(
        default=None,
        ge=1,
        description="Tokens a user's runs may use per UTC day; unset: no limit.",
    )
    allowed_python_tool_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Module prefixes that `python` tool components created through the API may "
            "import from. Files in the configs dir are trusted; the API is not."
        ),
    )
    allowed_mcp_commands: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Commands (exactly as written in `command`) that `mcp` tool components over "
            "stdio created through the API may run. Files in the configs dir are trusted; "
            "the API is not."
        ),
    )
    mcp_connect_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds to start or reach an MCP server and list its tools.",
    )
    health_probe_timeout: float = Field(default=2.0, gt=0, le=30)
    llm_probe_cache_seconds: float = Field(default=30.0, ge=0)
    component_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description="How long a process starts runs from the components it read before, at "
        "most; changes are seen at once through the bus or the SQLite file's change stamp, "
        "this bounds the rest. 0: read them for every run.",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200)
    run_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="A running run whose process has not heartbeated for this long is "
        "taken as interrupted.",
    )
    run_recovery: Literal["resume", "fail"] = Field(
        default="resume",
        description="What happens to a run whose process died: continue it from its last "
        "checkpoint, or mark it failed.",
    )
    max_recoveries: int = Field(default=3, ge=0, le=100)
    control_wait_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How long pause/cancel requests wait for the run to reach a safe point.",
    )
    sse_ping_seconds: float = Field(default=15.0, gt=0, le=300)
    sse_retry_ms: int = Field(
        default=1000,
        ge=0,
        le=600_000,
        description="The `retry:` hint every SSE stream starts with: how long a client waits "
        "before reconnecting (with Last-Event-ID) when the stream ends early.",
    )
    shutdown_grace_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="On SIGTERM, how long open requests and streams may take to finish "
        "before running runs are handed back and the process exits.",
    )
    tracing_enabled: bool = Field(default=False, description="OpenTelemetry tracing.")
    tracing_exporter: Literal["otlp", "console"] = "otlp"
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP traces endpoint (e.g. http://collector:4318/v1/traces); "
        "unset: the OTEL_EXPORTER_OTLP_* variables, else the exporter's default.",
    )
    tracing_service_name: str = "agio"
    tracing_sample_ratio: float = Field(default=1.0, ge=0, le=1)
    metrics_public: bool = Field(
        default=False, description="Serve GET /metrics without credentials."
    )
    metrics_max_buckets: int = Field(
        default=1000, ge=1, le=100_000, description="Most timeseries buckets one request gets."
    )
    enable_http_request_tool: bool = Field(
        default=False, description="Let agents use the built-in `http_request` tool."
    )
    # --- built-in workspace tools and web_fetch (SPEC §22, docs/tools.md)
    enable_web_fetch_tool: bool = Field(
        default=False, description="Let agents use the built-in `web_fetch` tool."
    )
    tool_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Networks (CIDR, comma-separated) the `http_request` and `web_fetch` "
        "tools may reach although private or loopback; cloud metadata addresses never.",
    )
    workspace_root: Path | None = Field(
        default=None,
        description="The folder the workspace tools (read_file, write_file, edit_file, "
        "list_files, glob, grep) are confined to; unset: they refuse every call.",
    )
    default_memory_messages: int = Field(
        default=20,
        ge=0,
        le=10_000,
        description="Earlier messages of a session sent to agents that name no memory.",
    )
    # --- the model-call log (SPEC §22)
    model_call_log: bool = Field(
        default=True,
        description="Record every model call of a run (GET /api/runs/{id}/model_calls).",
    )
    model_call_retention_days: float = Field(
        default=30.0,
        ge=0,
        le=36500,
        description="The model calls of a run are deleted this many days after the run "
        "ended (swept hourly by the run maintenance); 0 keeps them.",
    )
    # --- composition (SPEC §20)
    max_run_depth: int = Field(
        default=3,
        ge=0,
        le=16,
        description="How deep runs may start runs (agents as tools, workflow steps): a "
        "chat's run is depth 0; a call that would start a deeper one fails as a tool error.",
    )
    # --- approvals and one run per session (issue 16, SPEC §11-12)
    approval_timeout_seconds: float = Field(
        default=3600.0,
        gt=0,
        le=30 * 24 * 3600,
        description="A tool call waiting this long for a decision is rejected (`expired`).",
    )
    multitask_strategy: Literal["reject", "enqueue", "interrupt", "rollback"] = Field(
        default="reject",
        description="What `POST /api/chat` does on a session that has a run in progress, "
        "unless the request says (`multitask_strategy`): refuse it (409 SessionBusy), queue "
        "the new run, or cancel the run in progress keeping (interrupt) or dropping "
        "(rollback) its partial answer.",
    )

    # --- idempotency (SPEC §13)
    idempotency_ttl_seconds: float = Field(
        default=86400,
        gt=0,
        le=365 * 86400,
        description="How long a request's Idempotency-Key is remembered: a repeat within "
        "this time gets the first response; after it, the key is free again.",
    )
    idempotency_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        le=300,
        description="How long a repeat waits for the first request with its key to finish "
        "before it is a 409 IdempotencyKeyInProgress.",
    )

    # --- webhooks (SPEC §14)
    webhook_allow_private: bool = Field(
        default=False,
        description="Let webhooks reach private, loopback and link-local addresses "
        "(cloud metadata addresses stay refused).",
    )
    webhook_secret: str | None = Field(
        default=None,
        repr=False,
        description="The Standard Webhooks secret (`whsec_…`, the same on every replica) that "
        "signs the deliveries of a chat's own `webhook`; unset: they are sent unsigned.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="How long one delivery attempt may take."
    )
    webhook_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0],
        description="Seconds before each retry of a delivery, comma-separated; the last "
        "repeats until the horizon. Each is stretched by up to 20 % at random (jitter).",
    )
    webhook_retry_horizon_seconds: float = Field(
        default=26 * 3600,
        ge=0,
        le=30 * 24 * 3600,
        description="A delivery with no 2xx answer this long after its event is failed.",
    )
    webhook_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a claimed attempt is the claimer's: a delivery whose sender "
        "died is sent again after this (more than AGIO_WEBHOOK_TIMEOUT_SECONDS).",
    )
    webhook_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="How often a process looks for due deliveries stored by another one.",
    )
    webhook_concurrency: int = Field(
        default=8, ge=1, le=1000, description="Attempts one process sends at a time."
    )
    webhook_sender: bool = Field(
        default=True, description="Send deliveries from this process (false: store only)."
    )

    @field_validator("tool_allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("tool_allowed_networks")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        from ipaddress import ip_network

        for network in value:
            try:
                ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not a network such as 10.0.0.0/8") from None
        return value

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _check_schedule(cls, value: list[float]) -> list[float]:
        if not value or any(not 0 <= delay <= 7 * 24 * 3600 for delay in value):
            raise ValueError("give one or more delays in seconds, each from 0 to 604800")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: str | None) -> str | None:
        import base64
        import binascii

        if value is None or value == "":
            return None
        body = value.removeprefix("whsec_")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if not value.startswith("whsec_") or not 24 <= len(raw) <= 64:
            raise ValueError("should be whsec_ followed by 24 to 64 bytes in base64")
        return value

    @model_validator(mode="after")
    def _check_webhook_lease(self) -> Settings:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "AGIO_WEBHOOK_LEASE_SECONDS must be longer than AGIO_WEBHOOK_TIMEOUT_SECONDS"
            )
        return self

    # --- schedules (SPEC §15)
    scheduler_enabled: bool = Field(
        default=True,
        description="Fire due schedules from this process (any number of processes may: "
        "each firing is claimed by one). False: this process only serves the API.",
    )
    scheduler_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="The scheduler looks at the schedules at least this often (it also "
        "wakes at the earliest next firing): how soon a schedule created by another "
        "process is seen.",
    )
    scheduler_missed_grace_seconds: float = Field(
        default=60.0,
        ge=1,
        le=31_536_000,
        description="A due firing older than this when a scheduler first sees it was "
        "missed (the server was down): the schedule's `missed` policy applies.",
    )

    @field_validator(
        "cors_origins",
        "allowed_python_tool_modules",
        "allowed_mcp_commands",
        "trusted_proxies",
        mode="before",
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("rate_limit_chat", "rate_limit_auth", "rate_limit_write", "rate_limit_read")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        from limits import parse_many

        value = value.strip()
        if value:
            try:
                parse_many(value)
            except ValueError as exc:
                raise ValueError(
                    f"{value!r} is not a rate limit (examples: '10/minute', '100 per hour')"
                ) from exc
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or network") from exc
        return value

    @model_validator(mode="after")
    def _check_cors(self) -> Settings:
        if "*" in self.cors_origins and self.cors_allow_credentials:
            raise ValueError(
                "AGIO_CORS_ORIGINS='*' together with AGIO_CORS_ALLOW_CREDENTIALS=true would let "
                "any site send credentialed requests; list the allowed origins instead"
            )
        return self

    @property
    def resolved_log_format(self) -> LogFormat:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.environment == "production" else "console"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'agio.db').resolve()}"
