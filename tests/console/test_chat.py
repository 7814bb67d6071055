"""The chat screen (console/src/screens/chat/): an answer streams in with its tool calls,
the run is one click away, and a conversation can be picked up again."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.console.browser import SLOW_ANSWER, api


def _send(page: Page, message: str) -> None:
    expect(page.get_by_role("combobox", name="Agent")).to_be_enabled()  # agents listed
    box = page.get_by_label("Message")
    box.fill(message)
    box.press("Enter")


def test_the_answer_streams_in_as_it_is_produced(page: Page) -> None:
    page.goto("/chat?agent=slow")
    expect(page.get_by_label("Agent")).to_have_value("slow")
    _send(page, "Tell me slowly.")
    turn = page.locator(".turn").last
    expect(turn.locator(".bubble.user")).to_have_text(re.compile("Tell me slowly."))
    # part of the answer is on screen while the run is still running
    page.wait_for_function(
        """() => {
            const turn = [...document.querySelectorAll('.turn')].pop();
            const text = turn?.querySelector('.answer-text')?.textContent ?? '';
            const status = turn?.querySelector('.badge')?.dataset.status;
            return status === 'running' && text.length > 0 && text.length < 60;
        }"""
    )
    expect(turn.get_by_role("button", name="Pause")).to_be_enabled()
    expect(turn.locator(".badge")).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(turn.locator(".answer-text")).to_have_text(SLOW_ANSWER)
    expect(page.get_by_role("button", name="Send")).to_be_disabled()  # the box is empty


def test_chat_with_the_demo_agent_shows_the_calculator_call(page: Page, server: str) -> None:
    page.goto("/chat")
    expect(page.get_by_label("Agent")).to_have_value("assistant")
    _send(page, "What is (2 + 3) * 4?")
    turn = page.locator(".turn").last
    call = turn.locator(".tool-call[data-tool=calculator]")
    expect(call).to_contain_text('{"expression":"(2 + 3) * 4"}')
    expect(call.locator(".tool-result")).to_contain_text('"result": 20')
    expect(turn.locator(".answer-text")).to_contain_text("(2 + 3) * 4 = 20")
    expect(turn.locator(".badge")).to_have_attribute("data-status", "completed")
    expect(turn.locator(".turn-meta")).to_contain_text("tokens")
    # the conversation is in the URL: a reload shows it again, from the session's history
    expect(page).to_have_url(re.compile(r"/chat\?agent=assistant&session=ses_"))
    session = page.url.rsplit("session=", 1)[1]
    run_link = turn.get_by_role("link", name=re.compile("^Run run_"))
    run_id = run_link.inner_text().split()[-1]
    page.reload()
    expect(page.get_by_label("Conversation")).to_have_value(session)
    again = page.locator(".turn").last
    expect(again.locator(".bubble.user")).to_contain_text("What is (2 + 3) * 4?")
    expect(again.locator(".answer-text")).to_contain_text("= 20")
    expect(again.locator(".tool-call[data-tool=calculator]")).to_be_visible()
    # a second message continues the same session
    _send(page, "And 6 * 7?")
    expect(page.locator(".turn").last.locator(".answer-text")).to_contain_text("42")
    assert api(server, f"/api/sessions/{session}")["runs"][0]["id"] == run_id
    assert len(api(server, f"/api/sessions/{session}")["runs"]) == 2

    # the run page of that first run shows its steps and events
    page.goto(f"/runs/{run_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(run_id)
    steps = page.locator(".steps").first
    expect(steps.locator(".step")).to_have_count(3)
    expect(steps.locator(".step-tool_call tr[data-tool=calculator]")).to_contain_text("20")
    expect(page.locator(".run-response")).to_contain_text("= 20")
    events = api(server, f"/api/runs/{run_id}/events")
    timeline = page.get_by_role("list", name="Events")
    expect(timeline).to_have_attribute("data-total", str(events["total"]))
    expect(timeline.locator(".event-tool_call_started")).to_contain_text("calculator")
    expect(timeline.locator(".event-tool_call_completed")).to_contain_text("20")
    timeline.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    expect(timeline.locator(".event-run_completed")).to_be_visible()
    timeline.locator(".event-run_completed").click()
    expect(page.locator(".event-detail")).to_contain_text('"total_tokens"')
