"""The model-call log's retention: the run maintenance deletes the calls of runs that
ended more than `AGIO_MODEL_CALL_RETENTION_DAYS` ago, at most once an hour."""

from __future__ import annotations

import time
from datetime import timedelta

import structlog

from agio.domain.time import utcnow
from agio.storage.model_calls import ModelCallRepository

log = structlog.get_logger(__name__)

SWEEP_EVERY_SECONDS = 3600.0


class CallRetention:
    def __init__(
        self,
        calls: ModelCallRepository,
        days: float,
        *,
        every: float = SWEEP_EVERY_SECONDS,
    ) -> None:
        self.calls = calls
        self.days = days
        self.every = every
        self._last: float | None = None

    async def sweep(self) -> int:
        """A job of the maintenance (`Leases.periodic`, every heartbeat): sweeps when the
        last sweep is `every` seconds old (the first heartbeat sweeps). Returns the rows
        deleted."""
        if self.days <= 0:
            return 0
        now = time.monotonic()
        if self._last is not None and now - self._last < self.every:
            return 0
        self._last = now
        deleted = await self.calls.sweep(utcnow() - timedelta(days=self.days))
        if deleted:
            log.info("model_calls_swept", rows=deleted, retention_days=self.days)
        return deleted
