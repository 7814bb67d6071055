"""The model-call log's response (SPEC §22): `GET /api/runs/{id}/model_calls`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from agio.domain.model_calls import ModelCall


class ModelCallUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ModelCallOut(BaseModel):
    number: int = Field(description="1, 2, … in the order the run made its model calls.")
    step: int = Field(description="The run's step the call belongs to.")
    model: str = Field(description="The model component's name.")
    messages: list[dict[str, Any]] = Field(description="Every message of the request.")
    tools: list[dict[str, Any]] = Field(
        description="The tool schemas offered (name, description, parameters)."
    )
    response: dict[str, Any] | None = Field(
        description="The assistant message the call produced; null when it failed."
    )
    usage: ModelCallUsage
    latency_ms: float = Field(description="From the request to the end of the answer.")
    first_token_ms: float | None = Field(
        description="From the request to the first text or tool-call delta."
    )
    retries: int = Field(description="Attempts retried before the answer started.")
    error: dict[str, Any] | None = Field(description="`type` and `message` of a failed call.")
    started_at: datetime

    @classmethod
    def of(cls, call: ModelCall) -> ModelCallOut:
        return cls(
            number=call.number,
            step=call.step,
            model=call.model,
            messages=call.messages,
            tools=call.tools,
            response=call.response,
            usage=ModelCallUsage(
                prompt_tokens=call.prompt_tokens,
                completion_tokens=call.completion_tokens,
                total_tokens=call.prompt_tokens + call.completion_tokens,
            ),
            latency_ms=call.latency_ms,
            first_token_ms=call.first_token_ms,
            retries=call.retries,
            error=call.error,
            started_at=call.started_at,
        )
