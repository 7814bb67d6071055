"""The runtime's settings (from `AGIO_*`, see `agio.api.container`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class RuntimeOptions:
    lease_seconds: float = 30.0
    enable_http_request_tool: bool = False
    default_memory_messages: int = 20
    recovery: Literal["resume", "fail"] = "resume"
    max_recoveries: int = 3
    control_wait_seconds: float = 10.0
    control_poll_seconds: float = 0.25
    max_steps_ceiling: int | None = None
    max_tokens_per_run: int | None = None
    approval_timeout_seconds: float = 3600.0
    #: how deep runs may start runs (SPEC §20): a chat's run is depth 0
    max_run_depth: int = 3
