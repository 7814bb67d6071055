"""The wire shapes of the Responses API subset (`/v1/responses`): the request, and the
response object as the official SDK reads it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from agio.api.openai_compat.schemas import Integer, Model, Number

RESPONSE_ID_PATTERN = r"^resp_[A-Za-z0-9_-]{1,120}$"


class InputText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["input_text", "output_text", "text"]
    text: str
    annotations: list[Any] | None = None


class InputMessage(BaseModel):
    """A message of `input`: text only (a string or text parts)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["message"] | None = None
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[InputText]
    id: str | None = Field(default=None, max_length=256)
    status: str | None = Field(default=None, max_length=32)

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content


class ResponseCreate(BaseModel):
    """`model` is the agent; `input` (the last message, the user's, is the run's input;
    earlier ones are history), `instructions` (a system message for this response only),
    `previous_response_id` (continue that response's conversation), `background` (answer
    at once; the run goes on), `stream`, `store` (false: the response cannot be retrieved
    or continued through `/v1`; the run stays in Agio's run log). Sampling fields are
    accepted and ignored: the agent's configuration decides."""

    model_config = ConfigDict(extra="forbid")

    model: Model
    input: str | list[InputMessage] = Field(min_length=1)
    instructions: str | None = Field(default=None, max_length=100_000)
    stream: StrictBool | None = False
    background: StrictBool | None = False
    previous_response_id: str | None = Field(default=None, pattern=RESPONSE_ID_PATTERN)
    store: StrictBool | None = True
    metadata: dict[str, str] | None = Field(default=None, max_length=16)
    tools: list[dict[str, Any]] | None = Field(
        default=None, max_length=0, description="Not supported: the agent has its own tools."
    )
    # accepted and ignored
    temperature: Number | None = Field(default=None, ge=0, le=2)
    top_p: Number | None = Field(default=None, ge=0, le=1)
    max_output_tokens: Integer | None = Field(default=None, ge=1)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: StrictBool | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    include: list[str] | None = None
    stream_options: dict[str, Any] | None = None
    service_tier: str | None = Field(default=None, max_length=64)
    user: str | None = Field(default=None, max_length=256)
    safety_identifier: str | None = Field(default=None, max_length=256)
    prompt_cache_key: str | None = Field(default=None, max_length=256)


class OutputText(BaseModel):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)
    logprobs: list[Any] = Field(default_factory=list)


class OutputMessage(BaseModel):
    """The text of one model call of the run (a run that calls tools first may say
    something before it; the last message is its answer)."""

    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    status: Literal["in_progress", "completed", "incomplete"]
    content: list[OutputText]


class ResponseErrorOut(BaseModel):
    code: str
    message: str


class TokenDetails(BaseModel):
    cached_tokens: int = 0


class OutputDetails(BaseModel):
    reasoning_tokens: int = 0


class ResponseUsage(BaseModel):
    input_tokens: int
    input_tokens_details: TokenDetails = Field(default_factory=TokenDetails)
    output_tokens: int
    output_tokens_details: OutputDetails = Field(default_factory=OutputDetails)
    total_tokens: int


class ResponseObject(BaseModel):
    """A response: an Agio run (`id` is `resp_` and the run id's own part)."""

    id: str
    object: Literal["response"] = "response"
    created_at: int
    completed_at: int | None = None
    status: Literal["queued", "in_progress", "completed", "failed", "cancelled", "incomplete"]
    background: bool = False
    error: ResponseErrorOut | None = None
    incomplete_details: None = None
    instructions: str | None = None
    max_output_tokens: None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    model: str
    output: list[OutputMessage]
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    store: bool = True
    temperature: None = None
    text: dict[str, Any] = Field(default_factory=lambda: {"format": {"type": "text"}})
    tool_choice: str = "auto"
    tools: list[Any] = Field(default_factory=list)
    top_p: None = None
    truncation: str = "disabled"
    usage: ResponseUsage | None = None
    user: str | None = None
