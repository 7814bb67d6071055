"""The wire shapes of `/v1/models` and `/v1/chat/completions` (OpenAI's): requests
validated (fields OpenAI clients send that Agio does not use are accepted and ignored;
anything else is refused), responses as the official SDK reads them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from agio.api.schemas.common import JSON_INT, JSON_NUMBER

MODEL_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
Model = Annotated[
    str,
    Field(
        pattern=MODEL_PATTERN,
        description="The agent's name (or id): each agent is a model.",
        examples=["customer_support"],
    ),
]
Number = Annotated[float, JSON_NUMBER]
Integer = Annotated[int, JSON_INT]


# --------------------------------------------------------------------- models


class ModelOut(BaseModel):
    id: str = Field(description="The agent's name.")
    object: Literal["model"] = "model"
    created: int = Field(description="When the agent was created (Unix seconds).")
    owned_by: str = "agio"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


# --------------------------------------------------------------------- chat completions


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str


class ChatMessageIn(BaseModel):
    """A message of the conversation. Text only: `content` a string or text parts. An
    assistant's `tool_calls` and `tool` messages are accepted and left out of the
    history (an agent runs its own tools)."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = Field(default=None, max_length=256)
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = Field(default=None, max_length=256)
    refusal: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: StrictBool = Field(
        default=False, description="A last chunk (no choices) with the run's token usage."
    )
    include_obfuscation: StrictBool | None = Field(default=None, description="Ignored.")


class ChatCompletionRequest(BaseModel):
    """`model` is the agent; the last message (from the user) is the run's input and the
    earlier ones its history, unless `X-Agio-Session-ID` names a session. The agent's
    configuration decides the model settings: `temperature`, `max_tokens` and the other
    sampling fields are accepted and ignored."""

    model_config = ConfigDict(extra="forbid")

    model: Model
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=10_000)
    stream: StrictBool | None = Field(default=False, description="Server-Sent Events when true.")
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, max_length=256, description="Ignored.")
    n: Integer | None = Field(default=None, ge=1, le=1, description="Only 1.")
    tools: list[dict[str, Any]] | None = Field(
        default=None,
        max_length=0,
        description="Not supported: the agent calls its own tools (leave it out or empty).",
    )
    # accepted and ignored: the agent's configuration decides
    temperature: Number | None = Field(default=None, ge=0, le=2)
    top_p: Number | None = Field(default=None, ge=0, le=1)
    max_tokens: Integer | None = Field(default=None, ge=1)
    max_completion_tokens: Integer | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: Integer | None = None
    presence_penalty: Number | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: Number | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, Number] | None = None
    logprobs: StrictBool | None = None
    top_logprobs: Integer | None = Field(default=None, ge=0, le=20)
    response_format: dict[str, Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: StrictBool | None = None
    metadata: dict[str, str] | None = None
    store: StrictBool | None = None
    service_tier: str | None = Field(default=None, max_length=64)
    reasoning_effort: str | None = Field(default=None, max_length=64)


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """The answer: the run's response (`X-Agio-Run-ID` names the run, `X-Agio-Session-ID`
    its session)."""

    id: str = Field(description="`chatcmpl-…`, from the run's id.")
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(description="When the run was created (Unix seconds).")
    model: str = Field(description="The agent's name.")
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop", "length"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    """One `data:` message of a streamed completion (the stream ends with `data: [DONE]`)."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
