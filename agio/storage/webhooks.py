"""Webhook subscriptions, their deliveries and attempts in the database.

Sending is claimed here: `claim` takes the due deliveries with one conditional UPDATE
(PostgreSQL: the candidates locked `FOR UPDATE SKIP LOCKED`, so replicas never wait on
each other; SQLite: one writer at a time) that sets a lease token and moves
`next_attempt_at` to the end of the lease. So one process sends each attempt, and one
whose process died is due again when its lease runs out. `record` stores an attempt's
outcome only while the lease is still the caller's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agio.domain.ids import new_id
from agio.domain.time import utcnow
from agio.domain.webhooks import (
    WEBHOOK_EVENTS,
    Attempt,
    Delivery,
    DeliveryStatus,
    Subscription,
)
from agio.storage.components import Page
from agio.storage.database import Database
from agio.storage.tables_webhooks import (
    PENDING_SQL,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookSubscriptionEventRow,
    WebhookSubscriptionRow,
)

#: the error of an attempt whose sender stopped before its answer was recorded
INTERRUPTED = "interrupted: the sending process stopped before the answer was recorded"


def _pending() -> Any:
    """`status = 'pending'` as a literal, the partial index's predicate (see
    `agio.storage.tables.unfinished_runs` for why not a parameter)."""
    return literal_column(PENDING_SQL)


def _delivery(row: WebhookDeliveryRow) -> Delivery:
    return Delivery(
        id=row.id,
        subscription_id=row.subscription_id,
        event_type=row.event_type,
        run_id=row.run_id,
        seq=row.seq,
        agent_id=row.agent_id,
        session_id=row.session_id,
        url=row.url,
        data=row.data,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        lease_token=row.lease_token,
    )


@dataclass(frozen=True)
class Claimed:
    """A delivery claimed for one attempt: send it, then `record` with `token`."""

    delivery: Delivery
    token: str
    attempt: int
    #: the subscription's secret; None for a run's own webhook
    secret: str | None


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to, and what becomes of the delivery."""

    status_code: int | None
    error: str | None
    duration_ms: float
    status: DeliveryStatus
    next_attempt_at: datetime | None


class WebhookRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------------ subscriptions

    async def create(
        self,
        url: str,
        events: Sequence[str],
        *,
        agent_id: str | None,
        owner_id: str,
        all_runs: bool,
        secret: str,
    ) -> Subscription:
        subscription = Subscription(
            id=new_id("whk"),
            url=url,
            events=tuple(events),
            agent_id=agent_id,
            owner_id=owner_id,
            all_runs=all_runs,
            created_at=utcnow(),
            secret=secret,
        )
        async with self._db.write_sessions() as s, s.begin():
            await s.execute(
                insert(WebhookSubscriptionRow),
                [
                    {
                        "id": subscription.id,
                        "url": url,
                        "agent_id": agent_id,
                        "owner_id": owner_id,
                        "all_runs": all_runs,
                        "secret": secret,
                        "created_at": subscription.created_at,
                    }
                ],
            )
            await s.execute(
                insert(WebhookSubscriptionEventRow),
                [{"subscription_id": subscription.id, "event_type": e} for e in events],
            )
        return subscription

    async def _events_of(self, s: AsyncSession, ids: list[str]) -> dict[str, list[str]]:
        rows = await s.execute(
            select(
                WebhookSubscriptionEventRow.subscription_id, WebhookSubscriptionEventRow.event_type
            ).where(WebhookSubscriptionEventRow.subscription_id.in_(ids))
        )
        found: dict[str, list[str]] = {}
        for subscription_id, event_type in rows:
            found.setdefault(subscription_id, []).append(event_type)
        return found

    @staticmethod
    def _subscription(row: WebhookSubscriptionRow, events: list[str]) -> Subscription:
        ordered: tuple[str, ...] = tuple(e for e in WEBHOOK_EVENTS if e in events)
        ordered += tuple(sorted(e for e in events if e not in WEBHOOK_EVENTS))
        return Subscription(
            id=row.id,
            url=row.url,
            events=ordered,
            agent_id=row.agent_id,
            owner_id=row.owner_id,
            all_runs=row.all_runs,
            created_at=row.created_at,
            secret=row.secret,
        )

    async def get(self, subscription_id: str) -> Subscription | None:
        async with self._db.sessions() as s:
            row = await s.get(WebhookSubscriptionRow, subscription_id)
            if row is None:
                return None
            events = await self._events_of(s, [row.id])
            return self._subscription(row, events.get(row.id, []))

    async def list_subscriptions(
        self, owner_id: str | None, *, limit: int, offset: int
    ) -> Page[Subscription]:
        """Newest first; `owner_id` None: everyone's."""
        where = [] if owner_id is None else [WebhookSubscriptionRow.owner_id == owner_id]
        async with self._db.sessions() as s:
            total = await s.scalar(
                select(func.count()).select_from(WebhookSubscriptionRow).where(*where)
            )
            rows = (
                (
                    await s.execute(
                        select(WebhookSubscriptionRow)
                        .where(*where)
                        .order_by(
                            WebhookSubscriptionRow.created_at.desc(), WebhookSubscriptionRow.id
                        )
                        .offset(offset)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
            events = await self._events_of(s, [r.id for r in rows]) if rows else {}
            return Page(
                total=int(total or 0),
                items=[self._subscription(r, events.get(r.id, [])) for r in rows],
            )

    async def delete(self, subscription_id: str) -> bool:
        """Delete it with its deliveries (those not sent yet are never sent)."""
        async with self._db.write_sessions() as s, s.begin():
            result = await s.execute(
                delete(WebhookSubscriptionRow).where(WebhookSubscriptionRow.id == subscription_id)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ deliveries

    async def deliveries(
        self,
        *,
        subscription_id: str | None = None,
        run_id: str | None = None,
        own_webhooks_of: str | None = None,
        status: DeliveryStatus | None = None,
        limit: int,
        offset: int,
    ) -> Page[Delivery]:
        """Newest first: a subscription's, or a run's (`own_webhooks_of`: only the run's
        own webhook and the subscriptions of that owner)."""
        where: list[Any] = []
        if subscription_id is not None:
            where.append(WebhookDeliveryRow.subscription_id == subscription_id)
        if run_id is not None:
            where.append(WebhookDeliveryRow.run_id == run_id)
        if status is not None:
            where.append(WebhookDeliveryRow.status == status.value)
        if own_webhooks_of is not None:
            mine = select(WebhookSubscriptionRow.id).where(
                WebhookSubscriptionRow.owner_id == own_webhooks_of
            )
            where.append(
                WebhookDeliveryRow.subscription_id.is_(None)
                | WebhookDeliveryRow.subscription_id.in_(mine)
            )
        async with self._db.sessions() as s:
            total = await s.scalar(
                select(func.count()).select_from(WebhookDeliveryRow).where(*where)
            )
            rows = (
                (
                    await s.execute(
                        select(WebhookDeliveryRow)
                        .where(*where)
                        .order_by(
                            WebhookDeliveryRow.created_at.desc(), WebhookDeliveryRow.id.desc()
                        )
                        .offset(offset)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
            return Page(total=int(total or 0), items=[_delivery(r) for r in rows])

    async def delivery(self, delivery_id: str) -> Delivery | None:
        async with self._db.sessions() as s:
            row = await s.get(WebhookDeliveryRow, delivery_id)
            return None if row is None else _delivery(row)

    async def attempts(self, delivery_id: str) -> list[Attempt]:
        async with self._db.sessions() as s:
            rows = (
                (
                    await s.execute(
                        select(WebhookAttemptRow)
                        .where(WebhookAttemptRow.delivery_id == delivery_id)
                        .order_by(WebhookAttemptRow.attempt, WebhookAttemptRow.id)
                    )
                )
                .scalars()
                .all()
            )
            return [
                Attempt(
                    attempt=r.attempt,
                    started_at=r.started_at,
                    finished_at=r.finished_at,
                    status_code=r.status_code,
                    error=r.error,
                    duration_ms=r.duration_ms,
                )
                for r in rows
            ]

    # ------------------------------------------------------------------ sending

    async def next_due(self) -> datetime | None:
        """When the earliest pending delivery is due (from the partial index)."""
        async with self._db.sessions() as s:
            value = await s.scalar(
                select(func.min(WebhookDeliveryRow.next_attempt_at)).where(_pending())
            )
            return value if isinstance(value, datetime) else None

    async def claim(self, limit: int, lease_until: datetime) -> list[Claimed]:
        """Claim up to `limit` due deliveries for one attempt each, until `lease_until`.
        An attempt of a claimed one that was never recorded (its sender stopped) is
        marked interrupted."""
        now = utcnow()
        token = new_id("wlt")
        due = and_(_pending(), WebhookDeliveryRow.next_attempt_at <= now)
        candidates = (
            select(WebhookDeliveryRow.id)
            .where(due)
            .order_by(WebhookDeliveryRow.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self._db.write_sessions() as s, s.begin():
            rows = (
                (
                    await s.execute(
                        update(WebhookDeliveryRow)
                        .where(WebhookDeliveryRow.id.in_(candidates), due)
                        .values(
                            lease_token=token,
                            next_attempt_at=lease_until,
                            attempts=WebhookDeliveryRow.attempts + 1,
                        )
                        .returning(WebhookDeliveryRow)
                        .execution_options(synchronize_session=False)
                    )
                )
                .scalars()
                .all()
            )
            if not rows:
                return []
            claimed = [_delivery(r) for r in rows]
            ids = [d.id for d in claimed]
            await s.execute(
                update(WebhookAttemptRow)
                .where(
                    WebhookAttemptRow.delivery_id.in_(ids), WebhookAttemptRow.finished_at.is_(None)
                )
                .values(finished_at=now, error=INTERRUPTED)
            )
            await s.execute(
                insert(WebhookAttemptRow),
                [{"delivery_id": d.id, "attempt": d.attempts, "started_at": now} for d in claimed],
            )
            subscription_ids = {d.subscription_id for d in claimed if d.subscription_id}
            secrets: dict[str, str] = {}
            if subscription_ids:
                found = await s.execute(
                    select(WebhookSubscriptionRow.id, WebhookSubscriptionRow.secret).where(
                        WebhookSubscriptionRow.id.in_(subscription_ids)
                    )
                )
                secrets = {sid: secret for sid, secret in found}
        return [
            Claimed(
                delivery=d,
                token=token,
                attempt=d.attempts,
                secret=secrets.get(d.subscription_id) if d.subscription_id else None,
            )
            for d in claimed
            # a subscription deleted since is gone with its deliveries (cascade)
            if d.subscription_id is None or d.subscription_id in secrets
        ]

    async def record(self, claimed: Claimed, outcome: Outcome) -> bool:
        """Store an attempt's outcome: the attempt always, the delivery's new state only
        while the claim is still the caller's (False: its lease ran out and another
        sender took it; that sender's attempt decides)."""
        now = utcnow()
        delivery = claimed.delivery
        async with self._db.write_sessions() as s, s.begin():
            await s.execute(
                update(WebhookAttemptRow)
                .where(
                    WebhookAttemptRow.delivery_id == delivery.id,
                    WebhookAttemptRow.attempt == claimed.attempt,
                )
                .values(
                    finished_at=now,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=outcome.duration_ms,
                )
            )
            result = await s.execute(
                update(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.id == delivery.id,
                    WebhookDeliveryRow.lease_token == claimed.token,
                )
                .values(
                    status=outcome.status.value,
                    last_status_code=outcome.status_code,
                    last_error=outcome.error,
                    next_attempt_at=outcome.next_attempt_at,
                    lease_token=None,
                    delivered_at=now if outcome.status is DeliveryStatus.DELIVERED else None,
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, claims: Sequence[Claimed]) -> None:
        """Give back claims whose attempts were stopped (shutdown): due at once again,
        their attempts marked interrupted."""
        if not claims:
            return
        now = utcnow()
        async with self._db.write_sessions() as s, s.begin():
            for claimed in claims:
                await s.execute(
                    update(WebhookAttemptRow)
                    .where(
                        WebhookAttemptRow.delivery_id == claimed.delivery.id,
                        WebhookAttemptRow.attempt == claimed.attempt,
                        WebhookAttemptRow.finished_at.is_(None),
                    )
                    .values(finished_at=now, error=INTERRUPTED)
                )
                await s.execute(
                    update(WebhookDeliveryRow)
                    .where(
                        WebhookDeliveryRow.id == claimed.delivery.id,
                        WebhookDeliveryRow.lease_token == claimed.token,
                    )
                    .values(lease_token=None, next_attempt_at=now)
                )
