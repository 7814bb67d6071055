"""One model call of a run as the model-call log shows it (SPEC §22): the request's
messages and tool schemas in full, the response, usage, latency and error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ModelCall:
    #: 1, 2, … in the order the run made its calls
    number: int
    step: int
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    response: dict[str, Any] | None
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    first_token_ms: float | None
    retries: int
    error: dict[str, Any] | None
    started_at: datetime
