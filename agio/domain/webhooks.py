"""Webhooks: the events a subscription may ask for, how run events map onto them, and the
records of subscriptions, their deliveries (the outbox) and each delivery's attempts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from agio.domain.errors import NotFound
from agio.domain.time import iso_z

RUN_COMPLETED: Final = "run.completed"
RUN_FAILED: Final = "run.failed"
RUN_CANCELLED: Final = "run.cancelled"
APPROVAL_REQUESTED: Final = "approval.requested"

#: every webhook event type, in the order the API lists them
WEBHOOK_EVENTS: Final = (RUN_COMPLETED, RUN_FAILED, RUN_CANCELLED, APPROVAL_REQUESTED)

#: the run event (`agio.domain.events`) that causes each webhook event, by name: a run
#: event of another type causes none. `approval_requested` is the approvals' event
#: (SPEC §11); named here as text so that this map does not depend on its constant.
WEBHOOK_EVENT_OF: Final = {
    "run_completed": RUN_COMPLETED,
    "run_failed": RUN_FAILED,
    "run_cancelled": RUN_CANCELLED,
    "approval_requested": APPROVAL_REQUESTED,
}
#: the webhook events of a run's end: the only ones a chat's own `webhook` gets
TERMINAL_WEBHOOK_EVENTS: Final = frozenset({RUN_COMPLETED, RUN_FAILED, RUN_CANCELLED})
#: the run's status that each webhook event reports (`data.status`)
STATUS_OF: Final = {
    RUN_COMPLETED: "completed",
    RUN_FAILED: "failed",
    RUN_CANCELLED: "cancelled",
    APPROVAL_REQUESTED: "waiting_approval",
}

SECRET_PREFIX: Final = "whsec_"  # noqa: S105  # the format's prefix, not a secret
#: Standard Webhooks secrets are 24 to 64 random bytes, base64 after the prefix
SECRET_MIN_BYTES: Final = 24
SECRET_MAX_BYTES: Final = 64


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not sent yet, being sent, or waiting for its next retry
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # no 2xx answer within the retry horizon


@dataclass(frozen=True)
class Subscription:
    """A webhook endpoint and the events it gets. `all_runs`: made by an admin, it gets
    the events of every user's runs; else only those of its owner's."""

    id: str
    url: str
    events: tuple[str, ...]
    agent_id: str | None
    owner_id: str
    all_runs: bool
    created_at: datetime
    secret: str = ""  # signs its deliveries; never leaves the webhook services


@dataclass(frozen=True)
class Delivery:
    """One event for one endpoint: a row of the outbox, written with the event itself.
    `subscription_id` is None for a chat's own `webhook`."""

    id: str
    subscription_id: str | None
    event_type: str
    run_id: str
    seq: int
    agent_id: str
    session_id: str
    url: str
    data: dict[str, Any]
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    #: set while an attempt is being sent (the claim's token)
    lease_token: str | None = None


def payload(delivery: Delivery) -> dict[str, Any]:
    """The body of a delivery, the same at every attempt: `{"type", "timestamp" (the
    event's), "data": {...the run event's data, "run_id", "agent_id", "session_id",
    "status"}}`."""
    data = {
        **delivery.data,
        "run_id": delivery.run_id,
        "agent_id": delivery.agent_id,
        "session_id": delivery.session_id,
        "status": STATUS_OF.get(delivery.event_type, "unknown"),
    }
    return {"type": delivery.event_type, "timestamp": iso_z(delivery.created_at), "data": data}


@dataclass(frozen=True)
class Attempt:
    """One try at sending a delivery. No `finished_at`: it is being sent, or its sender
    stopped before the answer was recorded (then `error` says so)."""

    attempt: int
    started_at: datetime
    finished_at: datetime | None
    status_code: int | None
    error: str | None
    duration_ms: float | None


class WebhookNotFound(NotFound):
    type = "WebhookNotFound"

    def __init__(self, webhook_id: str) -> None:
        super().__init__(f"Webhook '{webhook_id}' not found")


class DeliveryNotFound(NotFound):
    type = "DeliveryNotFound"

    def __init__(self, delivery_id: str) -> None:
        super().__init__(f"Delivery '{delivery_id}' not found")
