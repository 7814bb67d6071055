"""The sessions screens (console/src/screens/sessions/): a chat's session is listed and
opens on its messages and runs; deleting it is refused, with the server's reason, while
one of its runs is running, and done once none is."""

from __future__ import annotations

import json
import re

import httpx
from playwright.sync_api import Page, expect

from tests.console.browser import api, chat

#: a scripted agent that keeps running until it is cancelled (a long answer, slowly)
ENDLESS = [
    {
        "type": "model",
        "name": "endless_script",
        "provider": "scripted",
        "model": "endless",
        "chunk_size": 1,
        "chunk_delay": 0.5,
        "responses": [{"content": "x" * 2000}],
    },
    {"type": "agent", "name": "endless", "model": "endless_script", "config": {"max_steps": 1}},
]


def _start_run(base_url: str, agent: str) -> dict[str, str]:
    """Start a run of `agent` and return its run_started data (the run goes on)."""
    body = {"agent_id": agent, "message": "Keep going.", "stream": True}
    with httpx.stream("POST", f"{base_url}/api/chat", json=body, timeout=30) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: "):
                started: dict[str, str] = json.loads(line.removeprefix("data: "))
                return started
    raise AssertionError("the chat stream ended without an event")


def test_a_chats_session_is_listed_and_opens(page: Page, server: str) -> None:
    answer = chat(server, "assistant", "What is 2 + 2?")
    session = answer["session_id"]
    page.goto("/sessions")
    row = page.locator(f"tr[data-session-id='{session}']")
    expect(row).to_contain_text("assistant")
    expect(row.locator("td.num")).to_have_text("1")
    page.get_by_label("Agent").select_option("customer_support")
    expect(page).to_have_url(re.compile(r"/sessions\?agent=customer_support$"))
    expect(row).to_have_count(0)
    page.get_by_label("Agent").select_option("")
    row.get_by_role("link", name=session).click()

    expect(page).to_have_url(re.compile(f"/sessions/{session}$"))
    messages = page.locator(".session-message")
    expect(messages.first).to_have_attribute("data-role", "user")
    expect(messages.first).to_contain_text("What is 2 + 2?")
    expect(page.locator(".session-message[data-role=tool]")).to_contain_text('"result": 4')
    expect(messages.last).to_contain_text("2 + 2 = 4")
    expect(page.get_by_role("link", name="Continue in chat")).to_have_attribute(
        "href", f"/chat?agent=assistant&session={session}"
    )
    run = page.locator(f".session-runs li[data-run-id='{answer['run_id']}']")
    expect(run.locator(".badge")).to_have_attribute("data-status", "completed")
    run.get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"/runs/{answer['run_id']}$"))


def test_a_session_with_a_running_run_is_not_deleted_until_it_ends(page: Page, server: str) -> None:
    for component in ENDLESS:
        httpx.put(
            f"{server}/api/config/{component['name']}", json={"config": component}, timeout=30
        ).raise_for_status()
    started = _start_run(server, "endless")
    session, run_id = started["session_id"], started["run_id"]
    page.goto(f"/sessions/{session}")
    expect(page.locator(f".session-runs li[data-run-id='{run_id}'] .badge")).to_have_attribute(
        "data-status", "running"
    )
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete this session?")
    dialog.get_by_role("button", name="Delete the session").click()
    refusal = dialog.get_by_role("alert")
    expect(refusal).to_contain_text(f"has runs in progress ({run_id}); cancel them first")
    expect(refusal).to_contain_text("Conflict")
    assert api(server, f"/api/sessions/{session}")["id"] == session

    httpx.post(f"{server}/api/runs/{run_id}/cancel", timeout=30).raise_for_status()
    page.wait_for_function(
        f"""async () => (await (await fetch('/api/runs/{run_id}')).json()).status === 'cancelled'"""
    )
    dialog.get_by_role("button", name="Delete the session").click()
    expect(page).to_have_url(re.compile(r"/sessions$"))
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    assert httpx.get(f"{server}/api/sessions/{session}", timeout=30).status_code == 404


def test_phone_width_has_no_horizontal_scroll(phone: Page, server: str) -> None:
    session = chat(server, "customer_support", "What is 12 * 12?")["session_id"]
    for path in ("/sessions", f"/sessions/{session}"):
        phone.goto(path)
        expect(phone.locator("main h1").first).to_be_attached()
        phone.wait_for_load_state("networkidle")
        assert phone.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
