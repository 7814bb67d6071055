"""Webhook subscriptions as the API uses them: creating one (its URL through the SSRF
guard, its secret made or checked), reading, listing and deleting them for their owner
(admins: all), their deliveries, and a chat's own `webhook` attached to its run.

Sending is `agio.services.webhook_delivery`; the outbox rows are written by the storage
layer with the events themselves (`agio.storage.webhook_outbox`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from collections.abc import Sequence
from ipaddress import ip_network

import structlog

from agio.domain.errors import AgentNotFound, ValidationFailed
from agio.domain.security import Principal
from agio.domain.webhooks import (
    SECRET_MAX_BYTES,
    SECRET_MIN_BYTES,
    SECRET_PREFIX,
    WEBHOOK_EVENTS,
    Attempt,
    Delivery,
    DeliveryNotFound,
    DeliveryStatus,
    Subscription,
    WebhookNotFound,
)
from agio.storage.components import ComponentRepository, Page
from agio.storage.webhooks import WebhookRepository
from agio.storage.writer import RunWriter
from agio.tools.base import ToolError
from agio.tools.ssrf import GuardPolicy, vet_url

log = structlog.get_logger(__name__)

_EVERYWHERE = (ip_network("0.0.0.0/0"), ip_network("::/0"))
_RESOLVE_SECONDS = 5.0  # a URL whose host takes longer to resolve is refused


def guard_policy(allow_private: bool) -> GuardPolicy:
    """Where webhooks may go: public addresses; with `allow_private` any address but the
    cloud metadata ones (which the guard refuses whatever the policy). No redirect is
    followed: a 3xx is an answer like any other that is not a 2xx."""
    return GuardPolicy(allowed_networks=_EVERYWHERE if allow_private else (), max_redirects=0)


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def check_secret(secret: str) -> str:
    body = secret.removeprefix(SECRET_PREFIX)
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not secret.startswith(SECRET_PREFIX) or not SECRET_MIN_BYTES <= len(raw) <= SECRET_MAX_BYTES:
        raise ValidationFailed(
            "Invalid webhook secret",
            details=[
                {
                    "loc": ["body", "secret"],
                    "msg": f"should be {SECRET_PREFIX} followed by {SECRET_MIN_BYTES} to "
                    f"{SECRET_MAX_BYTES} bytes in base64",
                    "type": "value_error",
                }
            ],
        )
    return secret


class WebhookService:
    def __init__(
        self,
        repo: WebhookRepository,
        components: ComponentRepository,
        writer: RunWriter,
        *,
        allow_private: bool,
    ) -> None:
        self.repo = repo
        self._components = components
        self._writer = writer
        self.policy = guard_policy(allow_private)

    async def check_url(self, url: str, field: str = "url") -> str:
        """`url` if webhooks may be sent there now (every address its host resolves to
        passes the guard), else a 422 saying why. Checked again at every attempt."""
        try:
            async with asyncio.timeout(_RESOLVE_SECONDS):
                await vet_url(url, self.policy)
        except TimeoutError:
            exc_text = f"its host did not resolve within {_RESOLVE_SECONDS:g} s"
            raise ValidationFailed(
                f"Webhook URL refused: {exc_text}",
                details=[{"loc": ["body", field], "msg": exc_text, "type": "value_error"}],
            ) from None
        except ToolError as exc:
            raise ValidationFailed(
                f"Webhook URL refused: {exc}",
                details=[{"loc": ["body", field], "msg": str(exc), "type": "value_error"}],
            ) from None
        return url

    async def create(
        self,
        who: Principal,
        url: str,
        events: Sequence[str],
        *,
        agent_key: str | None,
        secret: str | None,
    ) -> Subscription:
        """A subscription of `who`'s: to the events of `who`'s runs, or of every run when
        `who` is an admin. Returned with its secret, which nothing shows again."""
        unknown = [e for e in events if e not in WEBHOOK_EVENTS]
        if unknown or not events:
            raise ValidationFailed(f"Unknown webhook events: {', '.join(unknown) or 'none given'}")
        agent_id: str | None = None
        if agent_key is not None:
            agent = await self._components.get(agent_key, "agent", cached=True)
            if agent is None:
                raise AgentNotFound(agent_key)
            agent_id = agent.id
        await self.check_url(url)
        created = await self.repo.create(
            url,
            [e for e in WEBHOOK_EVENTS if e in events],
            agent_id=agent_id,
            owner_id=who.user_id,
            all_runs=who.is_admin,
            secret=check_secret(secret) if secret is not None else new_secret(),
        )
        log.info(
            "webhook_created", webhook_id=created.id, events=list(created.events), agent_id=agent_id
        )
        return created

    async def owned(self, who: Principal, webhook_id: str) -> Subscription:
        """The subscription if `who` may see it (its owner, an admin), else not found."""
        found = await self.repo.get(webhook_id)
        if found is None or not who.owns(found.owner_id):
            raise WebhookNotFound(webhook_id)
        return found

    async def list_subscriptions(
        self, who: Principal, *, limit: int, offset: int
    ) -> Page[Subscription]:
        return await self.repo.list_subscriptions(
            None if who.is_admin else who.user_id, limit=limit, offset=offset
        )

    async def delete(self, who: Principal, webhook_id: str) -> None:
        await self.owned(who, webhook_id)
        if not await self.repo.delete(webhook_id):
            raise WebhookNotFound(webhook_id)
        log.info("webhook_deleted", webhook_id=webhook_id)

    async def deliveries(
        self,
        who: Principal,
        webhook_id: str,
        *,
        status: DeliveryStatus | None,
        limit: int,
        offset: int,
    ) -> Page[Delivery]:
        await self.owned(who, webhook_id)
        return await self.repo.deliveries(
            subscription_id=webhook_id, status=status, limit=limit, offset=offset
        )

    async def delivery(
        self, who: Principal, webhook_id: str, delivery_id: str
    ) -> tuple[Delivery, list[Attempt]]:
        await self.owned(who, webhook_id)
        found = await self.repo.delivery(delivery_id)
        if found is None or found.subscription_id != webhook_id:
            raise DeliveryNotFound(delivery_id)
        return found, await self.repo.attempts(delivery_id)

    async def run_deliveries(
        self,
        who: Principal,
        run_id: str,
        *,
        status: DeliveryStatus | None,
        limit: int,
        offset: int,
    ) -> Page[Delivery]:
        """The deliveries of a run the caller may see (checked by the caller): its own
        webhook's and, but for admins, only those of the caller's subscriptions."""
        return await self.repo.deliveries(
            run_id=run_id,
            own_webhooks_of=None if who.is_admin else who.user_id,
            status=status,
            limit=limit,
            offset=offset,
        )

    def attach_to_run(self, run_id: str, url: str) -> None:
        """Give a new run its own webhook (checked with `check_url`). Called as the run
        is handed to the writer, before its task starts: the update is stored with the
        run's creation, or right after it, and before any event of the run."""
        self._writer.update_run(run_id, webhook_url=url)
