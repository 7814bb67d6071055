"""A composite run's page (SPEC §20, console/src/screens/runs/Tree.tsx): the run, its
workflow steps and the runs it started as a tree with a waterfall on one time axis, each
node linking to its own page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.console.browser import api, chat


def test_an_agent_asking_two_agents_is_a_tree(page: Page, server: str) -> None:
    answer = chat(server, "researcher", "What is 12*12?")
    run = api(server, f"/api/runs/{answer['run_id']}")
    children = {c["agent_name"]: c["id"] for c in run["children"]}
    assert set(children) == {"assistant", "customer_support"}
    page.goto(f"/runs/{run['id']}")
    tree = page.get_by_role("table", name="Run tree")
    expect(tree).to_be_visible()
    rows = tree.locator(".wf-run")
    expect(rows).to_have_count(3)
    expect(rows.first).to_have_attribute("data-run-id", run["id"])
    for child_id in children.values():
        row = tree.locator(f".wf-run[data-run-id='{child_id}']")
        expect(row).to_have_attribute("data-depth", "1")
        # a bar on the time axis, with its duration
        bar = row.locator(".wf-bar")
        expect(bar).to_be_visible()
        assert float(bar.evaluate("b => b.getBoundingClientRect().width")) > 0
        expect(bar.locator(".wf-duration")).to_have_text(re.compile(r"\d"))
    expect(page.locator(".tree-tokens")).to_be_visible()
    # each node opens its own page, which names its parent
    tree.locator(f".wf-run[data-run-id='{children['assistant']}'] a").click()
    expect(page).to_have_url(re.compile(f"/runs/{children['assistant']}$"))
    expect(page.locator(".lineage a[rel='up']")).to_have_text(run["id"])


def test_a_workflow_shows_its_steps_and_their_runs(page: Page, server: str) -> None:
    answer = chat(server, "triage", "What is 6*7?")
    run = api(server, f"/api/runs/{answer['run_id']}")
    (child,) = run["children"]
    assert child["agent_name"] == "assistant"
    page.goto(f"/runs/{run['id']}")
    tree = page.get_by_role("table", name="Run tree")
    steps = tree.locator(".wf-step")
    expect(steps).to_have_count(2)
    expect(steps.nth(0)).to_contain_text("step 1 · route (route)")
    expect(steps.nth(1)).to_contain_text("step 2 · general (agent)")
    # the step's run sits under its step
    row = tree.locator(f".wf-run[data-run-id='{child['id']}']")
    expect(row).to_have_attribute("data-depth", "2")
    labels = tree.locator(".wf-row").all_inner_texts()
    assert labels.index(next(t for t in labels if "step 2" in t)) < labels.index(
        next(t for t in labels if t.startswith("assistant"))
    )
    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"/runs/{child['id']}$"))


def test_a_workflow_is_chatted_with_like_an_agent(page: Page, server: str) -> None:
    page.goto("/chat?agent=triage")
    expect(page.get_by_label("Agent")).to_have_value("triage")
    page.get_by_role("textbox", name="Message").fill("What is 6*7?")
    page.get_by_role("button", name="Send").click()
    turn = page.locator(".turn").last
    expect(turn.locator(".badge")).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(turn.locator(".answer-text")).to_contain_text("6*7 = 42")
    turn.get_by_role("link", name=re.compile("^Run run_")).click()
    expect(page.get_by_role("table", name="Run tree")).to_be_visible()


def test_the_agent_form_keeps_the_agents_it_may_ask(page: Page, server: str) -> None:
    page.goto("/config/researcher")
    field = page.get_by_label("Agents it may ask")
    expect(field).to_have_value("customer_support, assistant")
