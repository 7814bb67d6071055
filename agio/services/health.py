"""Health: probe the database, the cache and the configured language models for real."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import structlog

from agio.config.components import ModelComponent
from agio.config.loader import ConfigProblem
from agio.storage.components import ComponentRepository
from agio.storage.database import Database

log = structlog.get_logger(__name__)

Status = Literal["ok", "degraded", "unhealthy", "disabled", "not_configured"]
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


BAD: frozenset[Status] = frozenset({"degraded", "unhealthy"})
Overall = Literal["ok", "degraded", "unhealthy"]


@dataclass
class Probe:
    """What one probe found. A bad state (`degraded`, `unhealthy`) always says why."""

    status: Status
    latency_ms: float | None = None
    detail: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status in BAD and not self.detail:
            raise ValueError(f"a {self.status} probe needs a detail saying why")


@dataclass
class HealthReport:
    """Every component's probe; the overall status and its reasons are derived from them,
    so they cannot disagree with the states listed."""

    database: Probe
    cache: Probe
    llm: Probe
    configs: Probe

    @property
    def components(self) -> dict[str, Probe]:
        return {
            "database": self.database,
            "cache": self.cache,
            "llm": self.llm,
            "configs": self.configs,
        }

    @property
    def status(self) -> Overall:
        # without its database Agio can do nothing (503); any other bad component only
        # degrades it
        if self.database.status == "unhealthy":
            return "unhealthy"
        if any(probe.status in BAD for probe in self.components.values()):
            return "degraded"
        return "ok"

    @property
    def reasons(self) -> list[str]:
        """One line per component in a bad state: `name: detail`."""
        return [
            f"{name}: {probe.detail}"
            for name, probe in self.components.items()
            if probe.status in BAD
        ]


def configs_probe(problems: Sequence[ConfigProblem], configs_dir: Path) -> Probe:
    """The configs folder: degraded while any file in it could not be applied."""
    if not problems:
        return Probe("ok", extra={"problems": []})
    return Probe(
        "degraded",
        detail=f"{len(problems)} problem(s) in {configs_dir}",
        extra={"problems": list(problems)},
    )


def _reason(exc: BaseException) -> str:
    # the class name only: messages can carry hosts, users or SQL
    return "timed out" if isinstance(exc, TimeoutError) else f"failed ({type(exc).__name__})"


class HealthChecker:
    def __init__(
        self,
        db: Database,
        components: ComponentRepository,
        *,
        redis_url: str | None,
        timeout: float,
        llm_cache_seconds: float,
    ) -> None:
        self.db = db
        self.components = components
        self.redis_url = redis_url
        self.timeout = timeout
        self.llm_cache_seconds = llm_cache_seconds
        self._llm_cache: dict[tuple[str, int], tuple[float, str]] = {}

    async def report(self, problems: Sequence[ConfigProblem], configs_dir: Path) -> HealthReport:
        """Probe everything at once; `problems` are the configs folder's current ones."""
        database, cache, llm = await asyncio.gather(self.database(), self.cache(), self.llm())
        return HealthReport(database, cache, llm, configs_probe(problems, configs_dir))

    async def database(self) -> Probe:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                await self.db.ping()
        except Exception as exc:
            log.warning("health_database_failed", error_type=type(exc).__name__)
            return Probe("unhealthy", detail=f"{self.db.dialect}: {_reason(exc)}")
        return Probe(
            "ok",
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            detail=self.db.dialect,
        )

    async def cache(self) -> Probe:
        if not self.redis_url:
            return Probe("ok", detail="in-process (no AGIO_REDIS_URL set)")
        from redis.asyncio import Redis

        started = time.perf_counter()
        client: Redis = Redis.from_url(self.redis_url, socket_connect_timeout=self.timeout)
        try:
            await asyncio.wait_for(client.ping(), self.timeout)
        except Exception as exc:
            return Probe("unhealthy", detail=f"redis: {_reason(exc)}")
        finally:
            await client.aclose()
        return Probe(
            "ok", latency_ms=round((time.perf_counter() - started) * 1000, 3), detail="redis"
        )

    async def _probe_openai(self, model: ModelComponent, revision: int) -> str:
        key = (model.name, revision)
        cached = self._llm_cache.get(key)
        now = time.monotonic()
        if cached and now - cached[0] < self.llm_cache_seconds:
            return cached[1]
        api_key = model.api_key.get_secret_value() if model.api_key else ""
        if not api_key and not model.base_url:
            return "not_configured"
        base = (model.base_url or OPENAI_DEFAULT_BASE_URL).rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(f"{base}/models", headers=headers)
            status = "ok" if response.status_code < 400 else f"error (HTTP {response.status_code})"
        except Exception as exc:
            status = f"unreachable: {_reason(exc)}"
        self._llm_cache[key] = (now, status)
        return status

    async def llm(self) -> Probe:
        page = await self.components.list_page(type_="model")
        statuses: dict[str, str] = {}
        probes = []
        for stored in page.items:
            if not stored.enabled:
                statuses[stored.name] = "disabled"
                continue
            model = ModelComponent.model_validate(stored.config)
            if model.provider != "openai":
                statuses[stored.name] = "ok"
            else:
                probes.append((stored.name, self._probe_openai(model, stored.revision)))
        results = await asyncio.gather(*(p for _, p in probes))
        statuses.update({name: status for (name, _), status in zip(probes, results, strict=True)})
        bad = sorted(
            n for n, s in statuses.items() if s not in ("ok", "disabled", "not_configured")
        )
        if not statuses:
            return Probe("not_configured", detail="no model components", extra={"models": {}})
        return Probe(
            "degraded" if bad else "ok",
            detail=f"not answering: {', '.join(bad)}" if bad else None,
            extra={"models": statuses},
        )
