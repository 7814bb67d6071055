"""The webhooks screen (console/src/screens/webhooks/) in Chromium: a webhook created with
its URL, events and agent, its secret shown once (and it verifies what the receiver got),
its deliveries with their state, attempts and last answer as they change, and deleting it
(asked twice)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect
from standardwebhooks.webhooks import Webhook

from tests.console.browser import chat, console_app
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.live import serve


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    # each delivery's first attempt fails, its second succeeds
    with WebhookReceiver(statuses=[500, 200], per_delivery=True) as hooks:
        yield hooks


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = console_app(
        tmp_path_factory.mktemp("console-webhooks"),
        webhook_allow_private=True,
        webhook_retry_schedule=[0.3],
        webhook_poll_seconds=0.1,
    )
    with serve(app) as url:
        yield url


def test_create_watch_and_delete_a_webhook(
    page: Page, server: str, receiver: WebhookReceiver
) -> None:
    page.goto("/webhooks")
    expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
    expect(page.locator("[data-empty=webhooks]")).to_be_visible()
    form = page.get_by_role("form", name="New webhook")
    form.get_by_label("URL").fill(receiver.url)
    events = form.get_by_role("group", name="Events")
    expect(events.get_by_role("checkbox", name="run.completed")).to_be_checked()
    events.get_by_role("checkbox", name="run.failed").uncheck()
    events.get_by_role("checkbox", name="run.cancelled").check()
    form.get_by_label("Agent").select_option(label="assistant")
    form.get_by_role("button", name="Create webhook").click()

    shown = page.get_by_role("alert").filter(has_text="shown this once")
    secret = shown.locator("[data-secret=plaintext]").inner_text().strip()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]{40,}", secret)
    row = page.locator("tr[data-webhook-id]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(receiver.url)
    expect(row).to_contain_text("run.completed, run.cancelled")
    expect(row).to_contain_text("assistant")
    shown.get_by_role("button", name="I have stored it").click()
    expect(page.locator("[data-secret=plaintext]")).to_have_count(0)
    page.reload()  # never shown again
    expect(row).to_have_count(1)
    assert secret not in page.content()

    run = chat(server, "assistant", "What is 2 + 2?")
    row.get_by_role("button", name="Deliveries").click()
    deliveries = page.get_by_role("region", name=re.compile("^Deliveries"))
    delivery = deliveries.locator("tr[data-delivery-id]")
    expect(delivery).to_have_count(1)
    expect(delivery).to_contain_text("run.completed")
    expect(delivery).to_contain_text(run["run_id"])
    # the first attempt's 500, then (polled) the second's 200
    expect(delivery).to_have_attribute("data-status", "delivered")
    expect(delivery.locator("[data-field=attempts]")).to_have_text("2")
    expect(delivery.locator("[data-field=code]")).to_have_text("200")
    got = receiver.wait_for(2)
    assert Webhook(secret).verify(got[-1].body, got[-1].headers)["data"]["run_id"] == run["run_id"]

    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="Confirm deleting").click()
    expect(page.locator("tr[data-webhook-id]")).to_have_count(0)
    assert httpx.get(f"{server}/api/webhooks", timeout=10).json()["total"] == 0
