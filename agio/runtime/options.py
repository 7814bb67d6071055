"""The runtime's settings (from `AGIO_*`, see `agio.api.container`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agio.tools.environment import ToolEnvironment


@dataclass(frozen=True)
class RuntimeOptions:
    lease_seconds: float = 30.0
    tools: ToolEnvironment = field(default_factory=ToolEnvironment)
    default_memory_messages: int = 20
    recovery: Literal["resume", "fail"] = "resume"
    max_recoveries: int = 3
    control_wait_seconds: float = 10.0
    control_poll_seconds: float = 0.25
    max_steps_ceiling: int | None = None
    max_tokens_per_run: int | None = None
    approval_timeout_seconds: float = 3600.0
    mcp_connect_timeout: float = 10.0  # starting or reaching an MCP server, listing its tools
    #: record every model call (SPEC §22), kept this many days after its run ended (0: ever)
    model_call_log: bool = True
    model_call_retention_days: float = 30.0
    #: how deep runs may start runs (SPEC §20): a chat's run is depth 0
    max_run_depth: int = 3
