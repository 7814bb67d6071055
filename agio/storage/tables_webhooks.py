"""The tables of webhooks (issue 16), registered on `agio.storage.table_base.Base`.

A subscription is an endpoint (`webhooks`) and the event types it wants
(`webhook_events`, one row each, so that the outbox statement finds the
subscriptions of an event by a join). `webhook_deliveries` is the outbox: one row per
event and endpoint, inserted in the transaction that stores the event (see
`agio.storage.webhook_outbox`); `webhook_attempts` keeps every try at sending one. A
chat's own `webhook` is the run's `runs.webhook_url` (migration 0011 adds the column).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from agio.storage.table_base import Base
from agio.storage.types import JSONType, UTCDateTime

#: the predicate of the partial index of deliveries still to send (migration 0011 holds
#: the same text); a query that wants it says it as this literal, never as a parameter
PENDING_SQL = "status = 'pending'"


class WebhookSubscriptionRow(Base):
    """An endpoint. `secret` is kept as it is: it signs every delivery (HMAC), so it
    cannot be only a hash; the API shows it once, at creation."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    agent_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    owner_id: Mapped[str] = mapped_column(String(128), index=True)
    all_runs: Mapped[bool] = mapped_column(Boolean)
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookSubscriptionEventRow(Base):
    __tablename__ = "webhook_events"

    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), primary_key=True
    )
    event_type: Mapped[str] = mapped_column(String(32), primary_key=True)

    __table_args__ = (Index("ix_webhook_events_event_type", "event_type", "subscription_id"),)


class WebhookDeliveryRow(Base):
    """One event for one endpoint. `next_attempt_at` is when it is due: a claimed row's
    is the end of its lease (`lease_token` set), so a delivery whose sender died is due
    again when the lease runs out; None once delivered or failed."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    subscription_id: Mapped[str | None] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=True
    )
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    agent_id: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_webhook_deliveries_subscription_id_created_at", "subscription_id", "created_at"),
        # partial: what the sender looks for, however many deliveries are done
        Index(
            "ix_webhook_deliveries_pending_next_attempt_at",
            "next_attempt_at",
            sqlite_where=text(PENDING_SQL),
            postgresql_where=text(PENDING_SQL),
        ),
    )


class WebhookAttemptRow(Base):
    """One try at sending a delivery, from its claim to its answer (or its error)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (Index("ix_webhook_attempts_delivery_id_attempt", "delivery_id", "attempt"),)
