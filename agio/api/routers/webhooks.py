"""`/api/webhooks`: webhook subscriptions and their deliveries (SPEC §14), and the
deliveries of one run. Users manage their own; admins see and delete all, and an admin's
subscription gets the events of every user's runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from agio.api.auth import allow
from agio.api.deps import ContainerDep, Limit, Offset, RunIdPath, owned_run
from agio.api.schemas.common import Paginated, error_responses
from agio.api.schemas.webhooks import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
)
from agio.domain.security import Permission, Principal
from agio.domain.webhooks import DeliveryStatus, payload

router = APIRouter(prefix="/api", tags=["webhooks"], responses=error_responses(401, 403, 429))

Reader = Annotated[Principal, allow(Permission.READ_WEBHOOK)]
Writer = Annotated[Principal, allow(Permission.WRITE_WEBHOOK)]
WebhookId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="The webhook's id (`whk_…`).")
]
DeliveryId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="The delivery's id (`whd_…`).")
]
StatusFilter = Annotated[
    DeliveryStatus | None, Query(alias="status", description="Only deliveries in this state.")
]


@router.post(
    "/webhooks",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Subscribe a URL to run events; the signing secret is in this response only",
    responses=error_responses(404),
)
async def create_webhook(
    body: WebhookCreate, container: ContainerDep, who: Writer
) -> WebhookCreated:
    created = await container.webhooks.create(
        who,
        body.url,
        list(dict.fromkeys(body.events)),
        agent_key=body.agent_id,
        secret=body.secret,
    )
    return WebhookCreated(**WebhookOut.of(created).model_dump(), secret=created.secret)


@router.get(
    "/webhooks",
    response_model=Paginated[WebhookOut],
    summary="List webhooks: the caller's own (admins: everyone's), newest first",
)
async def list_webhooks(
    container: ContainerDep, who: Reader, limit: Limit = 20, offset: Offset = 0
) -> Paginated[WebhookOut]:
    page = await container.webhooks.list_subscriptions(who, limit=limit, offset=offset)
    return Paginated[WebhookOut].of(
        [WebhookOut.of(s) for s in page.items], page.total, limit, offset
    )


@router.get(
    "/webhooks/{webhook_id}",
    response_model=WebhookOut,
    summary="A webhook (never its secret)",
    responses=error_responses(404),
)
async def get_webhook(webhook_id: WebhookId, container: ContainerDep, who: Reader) -> WebhookOut:
    return WebhookOut.of(await container.webhooks.owned(who, webhook_id))


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook and its deliveries (those not sent yet are never sent)",
    responses=error_responses(404),
    response_class=Response,
)
async def delete_webhook(webhook_id: WebhookId, container: ContainerDep, who: Writer) -> Response:
    await container.webhooks.delete(who, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=Paginated[DeliveryOut],
    summary="A webhook's deliveries, newest first",
    responses=error_responses(404),
)
async def list_deliveries(
    webhook_id: WebhookId,
    container: ContainerDep,
    who: Reader,
    status_: StatusFilter = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Paginated[DeliveryOut]:
    page = await container.webhooks.deliveries(
        who, webhook_id, status=status_, limit=limit, offset=offset
    )
    return Paginated[DeliveryOut].of(
        [DeliveryOut.of(d) for d in page.items], page.total, limit, offset
    )


@router.get(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    summary="A delivery: its body and every attempt",
    responses=error_responses(404),
)
async def get_delivery(
    webhook_id: WebhookId, delivery_id: DeliveryId, container: ContainerDep, who: Reader
) -> DeliveryDetail:
    delivery, attempts = await container.webhooks.delivery(who, webhook_id, delivery_id)
    return DeliveryDetail(
        **DeliveryOut.of(delivery).model_dump(),
        payload=payload(delivery),
        attempt_log=[AttemptOut.of(a) for a in attempts],
    )


@router.get(
    "/runs/{run_id}/webhook_deliveries",
    response_model=Paginated[DeliveryOut],
    summary="A run's webhook deliveries: its own `webhook`'s and the caller's webhooks'",
    responses=error_responses(404),
)
async def run_deliveries(
    run_id: RunIdPath,
    container: ContainerDep,
    who: Reader,
    status_: StatusFilter = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Paginated[DeliveryOut]:
    await owned_run(container, who, run_id)
    page = await container.webhooks.run_deliveries(
        who, run_id, status=status_, limit=limit, offset=offset
    )
    return Paginated[DeliveryOut].of(
        [DeliveryOut.of(d) for d in page.items], page.total, limit, offset
    )
