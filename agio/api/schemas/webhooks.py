"""Webhook subscriptions, their deliveries and attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agio.domain.webhooks import Attempt, Delivery, DeliveryStatus, Subscription

WEBHOOK_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s]+$"
WEBHOOK_URL_MAX = 2048

WebhookEvent = Literal["run.completed", "run.failed", "run.cancelled", "approval.requested"]

WebhookURL = Annotated[
    str,
    Field(
        min_length=8,
        max_length=WEBHOOK_URL_MAX,
        pattern=WEBHOOK_URL_PATTERN,
        description="An http or https URL whose host resolves to public addresses only "
        "(unless AGIO_WEBHOOK_ALLOW_PRIVATE=true); checked again at every attempt.",
        examples=["https://hooks.example.com/agio"],
    ),
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookURL
    events: list[WebhookEvent] = Field(
        min_length=1, max_length=16, description="The events to send (repeats are ignored)."
    )
    agent_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,128}$",
        description="Only this agent's runs (its id or name); all agents when absent.",
    )
    secret: str | None = Field(
        default=None,
        min_length=6,
        max_length=200,
        pattern=r"^whsec_[A-Za-z0-9+/=]+$",
        description="A Standard Webhooks secret (`whsec_` and 24 to 64 bytes in base64); "
        "one is made when absent.",
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    agent_id: str | None = Field(description="Only this agent's runs; null: every agent's.")
    user_id: str = Field(description="Who created it.")
    scope: Literal["own_runs", "all_runs"] = Field(
        description="`all_runs`: created by an admin, it gets the events of every user's "
        "runs; `own_runs`: of its creator's runs only."
    )
    created_at: datetime

    @classmethod
    def of(cls, s: Subscription) -> WebhookOut:
        return cls(
            id=s.id,
            url=s.url,
            events=list(s.events),
            agent_id=s.agent_id,
            user_id=s.owner_id,
            scope="all_runs" if s.all_runs else "own_runs",
            created_at=s.created_at,
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="The signing secret (`whsec_…`): in this response only, never again."
    )


class DeliveryOut(BaseModel):
    id: str = Field(description="Also the `webhook-id` header of every attempt.")
    webhook_id: str | None = Field(description="Null for a chat's own `webhook`.")
    event_type: str
    run_id: str
    status: DeliveryStatus
    attempts: int = Field(description="Attempts started (one being sent included).")
    last_response_code: int | None
    last_error: str | None
    next_retry_at: datetime | None = Field(
        description="When it is tried next (while an attempt is being sent: when that "
        "attempt's lease ends); null once delivered or failed."
    )
    created_at: datetime = Field(description="The time of the event.")
    delivered_at: datetime | None

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            id=d.id,
            webhook_id=d.subscription_id,
            event_type=d.event_type,
            run_id=d.run_id,
            status=d.status,
            attempts=d.attempts,
            last_response_code=d.last_status_code,
            last_error=d.last_error,
            next_retry_at=d.next_attempt_at,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
        )


class AttemptOut(BaseModel):
    attempt: int
    started_at: datetime
    finished_at: datetime | None = Field(description="Null while it is being sent.")
    response_code: int | None
    error: str | None
    duration_ms: float | None

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        return cls(
            attempt=a.attempt,
            started_at=a.started_at,
            finished_at=a.finished_at,
            response_code=a.status_code,
            error=a.error,
            duration_ms=a.duration_ms,
        )


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any] = Field(description="The body every attempt sends.")
    attempt_log: list[AttemptOut]
