"""A rollback from a component's history tab (console/src/screens/config/History.tsx and
RollbackDialog.tsx): revision numbers in the table, "Roll back to revision N" with a
confirm step that lists what would change, the new `rolled_back` revision afterwards; a
rollback the server refuses is explained in the dialog and changes nothing."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.console.browser import api


def put(server: str, name: str, config: dict[str, Any]) -> None:
    response = httpx.put(f"{server}/api/config/{name}", json={"config": config}, timeout=30)
    assert response.status_code in (200, 201), response.text


def test_roll_back_to_an_earlier_revision_and_see_the_new_one(page: Page, server: str) -> None:
    model = {"type": "model", "provider": "demo", "model": "demo", "temperature": 0.2}
    put(server, "rolled", model)
    put(server, "rolled", {**model, "temperature": 0.9, "description": "Warmer."})
    page.goto("/config/rolled?tab=history")
    rows = page.locator("tr[data-revision]")
    expect(rows).to_have_count(2)
    expect(rows.locator("td.num")).to_have_text(["1", "2"])
    # the current revision has nothing to roll back to
    expect(page.get_by_role("button", name="Roll back to revision 2")).to_have_count(0)

    page.get_by_role("button", name="Roll back to revision 1").click()
    dialog = page.get_by_role("dialog", name="Roll back to revision 1?")
    expect(dialog).to_be_visible()
    changes = dialog.locator("tr[data-path]")
    expect(changes).to_have_count(2)
    expect(dialog.locator("tr[data-path=temperature] td")).to_have_text(
        ["temperature", "0.9", "0.2"]
    )
    expect(dialog.locator("tr[data-path=description] td")).to_have_text(
        ["description", "Warmer.", '""']
    )
    dialog.get_by_role("button", name="Roll back", exact=True).click()

    expect(page.get_by_role("status")).to_have_text("Rolled back to revision 1: now revision 3.")
    expect(page.locator(".badge[data-revision]")).to_have_text("revision 3")
    expect(rows).to_have_count(3)
    expect(page.locator("tr[data-revision='3'] td").nth(1)).to_have_text("rolled back to 1")
    expect(page.get_by_role("button", name="Roll back to revision 2")).to_be_visible()
    expect(page.get_by_role("button", name="Roll back to revision 3")).to_have_count(0)
    assert api(server, "/api/config/rolled")["temperature"] == 0.2
    entries = api(server, "/api/config/rolled/history")["history"]
    assert [(e["change_type"], e["rolled_back_from"]) for e in entries] == [
        ("created", None),
        ("updated", None),
        ("rolled_back", 1),
    ]


def test_a_refused_rollback_is_explained_in_the_dialog(page: Page, server: str) -> None:
    put(server, "passing", {"type": "model", "provider": "demo", "model": "demo"})
    put(server, "rollback_agent", {"type": "agent", "model": "passing"})
    put(server, "rollback_agent", {"type": "agent", "model": "demo"})
    assert httpx.delete(f"{server}/api/config/passing", timeout=30).status_code == 204
    page.goto("/config/rollback_agent?tab=history")
    page.get_by_role("button", name="Roll back to revision 1").click()
    dialog = page.get_by_role("dialog", name="Roll back to revision 1?")
    expect(dialog.locator("tr[data-path=model] td")).to_have_text(["model", "demo", "passing"])
    dialog.get_by_role("button", name="Roll back", exact=True).click()
    alert = dialog.get_by_role("alert")
    expect(alert).to_contain_text("Not rolled back")
    expect(alert).to_contain_text("passing")
    expect(alert).to_contain_text("InvalidConfig")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".badge[data-revision]")).to_have_text("revision 2")
    assert api(server, "/api/config/rollback_agent")["revision"] == 2
    expect(page).to_have_url(re.compile(r"\?tab=history$"))
