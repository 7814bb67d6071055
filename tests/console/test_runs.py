"""The runs screens (console/src/screens/runs/): the list with its filters, updating by
itself; a run's page following the run live, pausing and resuming it; forking from a
checkpoint; and a long timeline that renders only the rows in view."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.console.browser import SLOW_ANSWER, api, chat


def _run_id(page: Page) -> str:
    match = re.search(r"/runs/(run_[a-z0-9]+)$", page.url)
    assert match, page.url
    return match.group(1)


def test_the_runs_list_filters_and_updates_by_itself(page: Page, server: str) -> None:
    assistant = chat(server, "assistant", "What is 1 + 1?")
    support = chat(server, "customer_support", "How do I reset my password?")
    page.goto("/runs")
    rows = page.locator("tr[data-run-id]")
    expect(rows.locator(f"a[href='/runs/{assistant['run_id']}']")).to_be_visible()
    expect(rows.locator(f"a[href='/runs/{support['run_id']}']")).to_be_visible()
    page.get_by_label("Agent").select_option("customer_support")
    page.get_by_label("Status").select_option("completed")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/runs\?agent_id=customer_support&status=completed$"))
    expect(rows.locator(f"a[href='/runs/{support['run_id']}']")).to_be_visible()
    expect(rows.locator(f"a[href='/runs/{assistant['run_id']}']")).to_have_count(0)
    # a run made meanwhile shows up without a reload
    newer = chat(server, "customer_support", "What plans are there?")
    expect(rows.first).to_have_attribute("data-run-id", newer["run_id"])
    # what is typed stays while the list reads itself again
    page.get_by_label("Session").fill(support["session_id"])
    for _ in range(2):  # two refreshes of the list
        page.wait_for_event("response", lambda r: "/api/runs?" in r.url)
    expect(page.get_by_label("Session")).to_have_value(support["session_id"])
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-run-id", support["run_id"])
    page.get_by_role("link", name="Clear").click()
    expect(page).to_have_url(re.compile(r"/runs$"))
    expect(rows.locator(f"a[href='/runs/{assistant['run_id']}']")).to_be_visible()


def test_pause_and_resume_from_the_run_page_end_with_the_same_answer(
    page: Page, server: str
) -> None:
    page.goto("/chat?agent=slow")
    page.get_by_role("textbox", name="Message").fill("Take your time.")
    page.get_by_role("button", name="Send").click()
    page.locator(".turn").last.get_by_role("link", name=re.compile("^Run run_")).click()
    run_id = _run_id(page)
    badge = page.locator(".run-header .badge")
    expect(badge).to_have_attribute("data-status", "running")
    timeline = page.get_by_role("list", name="Events")
    expect(page.locator(".timeline")).to_contain_text("following live")
    expect(timeline.locator(".event-content_delta").first).to_be_visible()
    controls = page.get_by_role("group", name="Run control")
    controls.get_by_role("button", name="Pause").click()
    expect(badge).to_have_attribute("data-status", "paused")
    expect(controls.get_by_role("button", name="Resume")).to_be_enabled()
    expect(controls.get_by_role("button", name="Pause")).to_be_disabled()
    expect(timeline.locator(".event-run_paused")).to_be_visible()  # live: kept at the end
    paused = api(server, f"/api/runs/{run_id}")
    assert paused["status"] == "paused"
    assert paused["response_content"] != SLOW_ANSWER
    controls.get_by_role("button", name="Resume").click()
    expect(badge).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(page.locator(".run-response")).to_have_text(SLOW_ANSWER)
    expect(page.locator(".checkpoints td", has_text="pause")).to_be_visible()
    types = [e["type"] for e in api(server, f"/api/runs/{run_id}/events")["events"]]
    assert "run_paused" in types
    assert "run_resumed" in types
    assert api(server, f"/api/runs/{run_id}")["response_content"] == SLOW_ANSWER


def test_fork_from_a_checkpoint_lands_on_the_new_run(page: Page, server: str) -> None:
    source = chat(server, "assistant", "What is 2 + 2?")
    page.goto(f"/runs/{source['run_id']}")
    start = page.locator("tr[data-checkpoint-id]", has_text="start")
    start.get_by_role("button", name=re.compile("^Fork")).click()
    dialog = page.get_by_role("dialog", name="Fork from step 0")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Description").fill("asked differently")
    dialog.get_by_label("Ask instead").fill("What is 6 * 7?")
    dialog.get_by_label("System prompt").fill("Answer with the number only.")
    dialog.get_by_label("Model").select_option("demo")
    dialog.get_by_label("Temperature").fill("0.5")
    dialog.get_by_role("button", name="Fork").click()
    expect(page).not_to_have_url(re.compile(source["run_id"]))
    fork_id = _run_id(page)
    expect(page.get_by_role("heading", level=1)).to_contain_text(fork_id)
    expect(page.locator(".run-header .badge")).to_have_attribute("data-status", "completed")
    expect(page.locator(".run-response")).to_contain_text("42")
    expect(page.locator(".lineage").get_by_role("link", name=source["run_id"])).to_be_visible()
    fork = api(server, f"/api/runs/{fork_id}")
    assert fork["parent_run_id"] == source["run_id"]
    assert fork["agent_config"]["agent"]["system_prompt"] == "Answer with the number only."
    # the original is untouched, and knows its child
    page.locator(".lineage").get_by_role("link", name=source["run_id"]).click()
    expect(page.locator(".run-response")).to_contain_text("4")
    expect(page.locator(".lineage").get_by_role("link", name=fork_id)).to_be_visible()
    assert api(server, f"/api/runs/{source['run_id']}")["response_content"] == source["response"]


def test_restore_from_a_checkpoint_asks_again(page: Page, server: str) -> None:
    source = chat(server, "assistant", "What is 5 + 5?")
    page.goto(f"/runs/{source['run_id']}")
    page.locator("tr[data-checkpoint-id]", has_text="start").get_by_role(
        "button", name=re.compile("^Restore")
    ).click()
    dialog = page.get_by_role("dialog", name="Restore from step 0")
    expect(dialog.get_by_label("As a new run")).to_be_checked()
    expect(dialog.get_by_label("As a new run")).to_be_disabled()  # in place: paused runs only
    dialog.get_by_label("Ask instead (optional)").fill("What is 9 * 9?")
    dialog.get_by_role("button", name="Restore").click()
    expect(page).not_to_have_url(re.compile(source["run_id"]))
    expect(page.locator(".run-response")).to_contain_text("81")


def test_a_fork_that_the_server_refuses_shows_why_in_the_dialog(page: Page, server: str) -> None:
    source = chat(server, "assistant", "What is 3 + 4?")
    page.goto(f"/runs/{source['run_id']}")
    page.locator("tr[data-checkpoint-id]", has_text="start").get_by_role(
        "button", name=re.compile("^Fork")
    ).click()
    dialog = page.get_by_role("dialog", name="Fork from step 0")
    # 2.5 passes the browser's own check only without its max: the server's 422 speaks
    dialog.get_by_label("Temperature").evaluate("el => el.removeAttribute('max')")
    dialog.get_by_label("Temperature").fill("2.5")
    dialog.get_by_role("button", name="Fork").click()
    alert = dialog.get_by_role("alert")
    expect(alert).to_contain_text("Not forked")
    expect(alert).to_contain_text("ValidationError")
    expect(alert).to_contain_text("temperature")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(re.compile(source["run_id"]))


def test_a_long_timeline_renders_only_the_rows_in_view(page: Page, server: str) -> None:
    run = chat(server, "chatty", "Talk a lot.")
    total = api(server, f"/api/runs/{run['run_id']}/events")["total"]
    assert total > 300
    page.goto(f"/runs/{run['run_id']}")
    timeline = page.get_by_role("list", name="Events")
    expect(timeline).to_have_attribute("data-total", str(total))
    expect(timeline.locator("[data-seq='1']")).to_be_visible()
    rendered = timeline.locator(".vrow").count()
    assert 0 < rendered < 40, rendered
    timeline.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    expect(timeline.locator(f"[data-seq='{total}']")).to_be_visible()
    expect(timeline.locator("[data-seq='1']")).to_have_count(0)
    assert timeline.locator(".vrow").count() < 40


def test_the_run_page_lists_the_model_calls_with_request_and_response(
    page: Page, server: str
) -> None:
    run = chat(server, "assistant", "What is 12 * 12?")
    logged = api(server, f"/api/runs/{run['run_id']}/model_calls")
    assert logged["total"] >= 1
    page.goto(f"/runs/{run['run_id']}")
    panel = page.locator("section[aria-labelledby='model-calls-title']")
    expect(panel.get_by_role("heading", name="Model calls")).to_be_visible()
    calls = panel.locator("li.model-call")
    expect(calls).to_have_count(logged["total"])
    first = calls.first
    expect(first).to_have_attribute("data-call", "1")
    expect(first.locator("h3")).to_contain_text(f"Call 1 · step 1 · {logged['items'][0]['model']}")
    usage = logged["items"][0]["usage"]
    expect(first.locator(".step-figures")).to_contain_text(
        f"{usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion tokens"
    )
    request = first.locator("summary", has_text="Request:")
    expect(request).to_contain_text(f"{len(logged['items'][0]['messages'])} messages")
    request.click()
    messages = first.get_by_label("Messages of model call 1")
    expect(messages).to_be_visible()
    expect(messages).to_contain_text("What is 12 * 12?")
    first.locator("summary", has_text="Response").click()
    expect(first.get_by_label("Response of model call 1")).to_contain_text('"role": "assistant"')
