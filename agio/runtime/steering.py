"""How the outside steers a running run: the flags `AgentRun` checks at its safe points,
and the exception that stops it there for a pause."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


class PauseRequested(Exception):
    """Raised at a safe point when a pause was asked for."""


@dataclass
class Control:
    """How the outside steers a running run (set by the RunManager)."""

    pause: asyncio.Event = field(default_factory=asyncio.Event)
    cancel: bool = False
    checkpoint_waiters: list[asyncio.Future[str]] = field(default_factory=list)
