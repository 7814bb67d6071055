"""Approvals in the console (console/src/screens/approvals/, components/ApprovalCard.tsx):
a tool call that waits for a decision is approved inline in the chat, with edited
arguments, and rejected from the inbox; the run page shows the decisions."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.console.browser import api


def _send(page: Page, message: str) -> None:
    expect(page.get_by_role("combobox", name="Agent")).to_be_enabled()  # agents listed
    box = page.get_by_label("Message")
    box.fill(message)
    box.press("Enter")


def test_approve_in_the_chat_with_edited_arguments(page: Page, server: str) -> None:
    page.goto("/chat?agent=careful")
    expect(page.get_by_label("Agent")).to_have_value("careful")
    _send(page, "What is 6 * 7?")
    turn = page.locator(".turn").last
    card = turn.get_by_role("region", name=re.compile("Approve calculator"))
    expect(card).to_be_visible()
    expect(turn.locator(".badge")).to_have_attribute("data-status", "waiting_approval")
    card.get_by_role("button", name="Edit arguments").click()
    arguments = card.get_by_label("Arguments (JSON)")
    arguments.fill('{"expression": 6}')  # not what the calculator takes: the 422 in place
    card.get_by_role("button", name="Approve with these arguments").click()
    expect(card.get_by_role("alert")).to_contain_text("expression")
    arguments.fill('{"expression": "2*3"}')
    card.get_by_role("button", name="Approve with these arguments").click()
    expect(turn.locator(".badge")).to_have_attribute("data-status", "completed")
    expect(turn.locator(".answer-text").last).to_contain_text("Worked out.")
    expect(turn.locator(".tool-call[data-tool=calculator] .tool-result")).to_contain_text("6")
    run_id = turn.get_attribute("data-run-id")
    assert run_id
    approvals = api(server, f"/api/runs/{run_id}/approvals")["items"]
    assert [(a["status"], a["arguments"]) for a in approvals] == [
        ("approved", {"expression": "2*3"})
    ]
    # the run page lists the decision
    page.goto(f"/runs/{run_id}")
    decisions = page.get_by_role("region", name="Approvals")
    expect(decisions.locator("td[data-status=approved]")).to_be_visible()


def test_reject_from_the_inbox(page: Page, server: str) -> None:
    started = httpx.post(
        f"{server}/api/chat",
        json={"agent_id": "careful", "message": "Compute it.", "stream": False},
        timeout=30,
    ).json()
    assert started["status"] == "waiting_approval"
    run_id = started["run_id"]
    page.goto("/approvals")
    item = page.get_by_role("listitem").filter(has=page.get_by_role("link", name=f"Run {run_id}"))
    card = item.get_by_role("region", name=re.compile("Approve calculator"))
    card.get_by_label("Reason (optional)").fill("not now")
    card.get_by_role("button", name="Reject").click()
    expect(item.get_by_role("status")).to_contain_text("rejected by local")
    run = {}
    for _ in range(100):
        run = api(server, f"/api/runs/{run_id}")
        if run["status"] == "completed":
            break
        page.wait_for_timeout(100)
    assert run["status"] == "completed"
    # decided: gone from the inbox at its next read
    expect(page.get_by_role("link", name=f"Run {run_id}")).to_have_count(0, timeout=10_000)
