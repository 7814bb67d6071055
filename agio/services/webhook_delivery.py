"""Sending webhook deliveries: every process that serves runs sends the outbox's due
deliveries, each attempt claimed in the database first (so one process sends it), signed
the Standard Webhooks way, through the SSRF guard, and retried with backoff until its
horizon.

The body is `{"type", "timestamp", "data": {"run_id", "agent_id", "session_id", "status",
...the run event's data}}`; the headers `webhook-id` (the delivery's id, the same at every
attempt: receivers de-duplicate by it), `webhook-timestamp` (the attempt's, in seconds)
and `webhook-signature` (`v1,<base64 HMAC-SHA256>` of `id.timestamp.body`, by the
`standardwebhooks` library). A 2xx answer delivers it; anything else (another status, a
redirect, a refused address, a timeout, a connection error) is retried after the next
delay of the schedule, stretched by up to 20 % at random, until the next try would come
later than the horizon after the event: then it is failed.

At least once: an attempt whose process died (its answer not recorded) is due again
when its lease runs out, and a process that stops gives its attempts back at once. So a
receiver may see a delivery twice, never none.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import orjson
import structlog
from standardwebhooks.webhooks import Webhook

from agio import __version__
from agio.domain.events import Event
from agio.domain.time import utcnow
from agio.domain.webhooks import WEBHOOK_EVENT_OF, DeliveryStatus, payload
from agio.storage.webhooks import Claimed, Outcome, WebhookRepository
from agio.tools.base import ToolError
from agio.tools.ssrf import GuardPolicy, vet_url

log = structlog.get_logger(__name__)

USER_AGENT = f"Agio-Webhooks/{__version__}"
JITTER = 0.2


@dataclass(frozen=True)
class RetryPolicy:
    """Seconds before each retry (the last one repeats), and the horizon after the event
    beyond which no try is made."""

    schedule: tuple[float, ...]
    horizon_seconds: float
    jitter: float = JITTER

    def next_attempt(
        self, attempts: int, created_at: datetime, now: datetime, rng: random.Random
    ) -> datetime | None:
        """When to try again after `attempts` failed tries; None: give up."""
        delay = self.schedule[min(max(attempts, 1), len(self.schedule)) - 1]
        at = now + timedelta(seconds=delay * (1 + rng.uniform(0, self.jitter)))
        if at > created_at + timedelta(seconds=self.horizon_seconds):
            return None
        return at


def signed_headers(msg_id: str, body: str, secret: str | None, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (no signature without a secret)."""
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
    }
    if secret is not None:
        headers["webhook-signature"] = Webhook(secret).sign(msg_id, now, body)
    return headers


async def post(
    url: str, body: bytes, headers: dict[str, str], policy: GuardPolicy, seconds: float
) -> int:
    """POST `body` to `url` through the SSRF guard (the host resolved and vetted now, the
    connection made to the vetted address), never following a redirect; the status code.
    Raises `ToolError` (refused, unreachable, timed out) with the reason."""
    try:
        async with asyncio.timeout(seconds):
            target = await vet_url(url, policy)
            # no proxies from the environment (they would bypass the pinned address), no
            # pooled connection made for another host's TLS name
            async with httpx.AsyncClient(
                follow_redirects=False, trust_env=False, timeout=httpx.Timeout(seconds)
            ) as client:
                failure = "no address"
                for address in target.addresses:
                    request = client.build_request(
                        "POST",
                        target.pinned_url(address),
                        content=body,
                        headers={**headers, "Host": target.host_header},
                        extensions=target.extensions,
                    )
                    try:
                        response = await client.send(request, stream=True)
                    except httpx.ConnectError as exc:
                        failure = str(exc) or type(exc).__name__
                        continue
                    except httpx.HTTPError as exc:
                        raise ToolError(f"request failed: {exc or type(exc).__name__}") from None
                    await response.aclose()  # the answer's body is not read
                    return response.status_code
                raise ToolError(f"cannot connect to {target.host!r}: {failure}")
    except TimeoutError:
        raise ToolError(f"no answer within {seconds:g} s") from None


class WebhookSender:
    """The process's sender: a loop that claims due deliveries (woken at once when this
    process stores a webhook event, else every `poll_seconds` or when the next retry is
    due) and sends up to `concurrency` attempts at a time."""

    def __init__(
        self,
        repo: WebhookRepository,
        *,
        policy: GuardPolicy,
        run_secret: str | None,
        retry: RetryPolicy,
        timeout_seconds: float,
        lease_seconds: float,
        poll_seconds: float,
        concurrency: int,
        rng: random.Random | None = None,
    ) -> None:
        self._repo = repo
        self._policy = policy
        self._run_secret = run_secret
        self._retry = retry
        self._timeout = timeout_seconds
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._concurrency = concurrency
        self._rng = rng or random.Random()  # noqa: S311  # jitter, not a secret
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[asyncio.Task[None], Claimed] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="agio-webhook-sender")

    def wake(self) -> None:
        self._wake.set()

    def on_stored(self, events: Sequence[Event]) -> None:
        """`RunWriter.on_stored` hook: a stored webhook event has its deliveries due now."""
        of = WEBHOOK_EVENT_OF
        if any(e.type in of for e in events):
            self._wake.set()

    async def close(self) -> None:
        """Stop; attempts still being sent are given back, due at once for any process."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        stopped = list(self._inflight.values())
        for attempt in list(self._inflight):
            attempt.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)
        self._inflight.clear()
        if stopped:
            try:
                await self._repo.release(stopped)
            except Exception as exc:  # their leases run out instead
                log.warning("webhook_release_failed", error_type=type(exc).__name__)

    # ------------------------------------------------------------------ the loop

    async def _loop(self) -> None:
        while True:
            try:
                wait = await self._round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # storage unavailable: try again later
                log.warning("webhook_sender_error", error_type=type(exc).__name__)
                wait = self._poll
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
            self._wake.clear()

    async def _round(self) -> float:
        """Claim and start what is due and fits; how long to wait before the next round
        (unless woken)."""
        free = self._concurrency - len(self._inflight)
        if free <= 0:
            return self._poll  # an attempt that ends wakes the loop
        due = await self._repo.next_due()
        now = utcnow()
        if due is None:
            return self._poll
        if due > now:
            return min(self._poll, (due - now).total_seconds())
        claimed = await self._repo.claim(free, now + timedelta(seconds=self._lease))
        for one in claimed:
            task = asyncio.create_task(self._attempt(one), name=f"webhook-{one.delivery.id}")
            self._inflight[task] = one
            task.add_done_callback(self._done)
        if claimed:
            return 0  # more may be due
        return min(self._poll, 0.25)  # another process is claiming them right now

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._wake.set()

    async def _attempt(self, claimed: Claimed) -> None:
        delivery = claimed.delivery
        body = orjson.dumps(payload(delivery))
        text = body.decode("utf-8")
        secret = claimed.secret if delivery.subscription_id is not None else self._run_secret
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            headers = signed_headers(delivery.id, text, secret, utcnow())
            status_code = await post(delivery.url, body, headers, self._policy, self._timeout)
        except ToolError as exc:
            error = str(exc)
        except Exception as exc:  # a bug of ours must not stop the sender
            error = f"{type(exc).__name__}"
            log.warning("webhook_attempt_error", delivery_id=delivery.id, error_type=error)
        duration_ms = (time.perf_counter() - started) * 1000
        now = utcnow()
        if status_code is not None and 200 <= status_code < 300:
            status, next_at = DeliveryStatus.DELIVERED, None
        else:
            if status_code is not None:
                error = f"HTTP {status_code}"
            next_at = self._retry.next_attempt(claimed.attempt, delivery.created_at, now, self._rng)
            status = DeliveryStatus.PENDING if next_at is not None else DeliveryStatus.FAILED
        outcome = Outcome(status_code, error, duration_ms, status, next_at)
        try:
            kept = await self._repo.record(claimed, outcome)
        except Exception as exc:  # not recorded: its lease runs out and it is sent again
            log.warning(
                "webhook_record_failed", delivery_id=delivery.id, error_type=type(exc).__name__
            )
            return
        log.info(
            "webhook_attempt",
            delivery_id=delivery.id,
            webhook_id=delivery.subscription_id,
            run_id=delivery.run_id,
            event_type=delivery.event_type,
            attempt=claimed.attempt,
            status_code=status_code,
            status=status.value if kept else "superseded",
        )
