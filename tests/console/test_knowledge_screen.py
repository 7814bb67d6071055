"""The knowledge screens (console/src/screens/knowledge/): a knowledge base's documents,
a document added through the form and found at once by a search."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.console.browser import api

REFUNDS = "Refunds reach the original card within 14 days under the zebra policy."


def test_a_document_added_is_found_by_search(page: Page, server: str) -> None:
    page.goto("/knowledge")
    base = page.locator("tr[data-knowledge=product_docs]")
    expect(base.locator("td.num").first).to_have_text("1")
    base.get_by_role("link", name="product_docs").click()
    expect(page).to_have_url(re.compile(r"/knowledge/product_docs$"))
    expect(page.locator("tr[data-document='knowledge/product_docs/faq.md']")).to_contain_text(
        "file"
    )

    form = page.get_by_role("form", name="Add a document")
    form.get_by_label("Name").fill("refunds.md")
    form.get_by_role("textbox", name="Text").fill(REFUNDS)
    form.get_by_role("button", name="Add document").click()
    expect(form.get_by_role("status")).to_contain_text("Added refunds.md: 1 chunk, searchable now.")
    expect(page.locator("tr[data-document='refunds.md']")).to_contain_text("api")
    expect(page.get_by_role("heading", name="Documents (2)")).to_be_visible()

    search = page.get_by_role("search", name="Search product_docs")
    search.get_by_label("Query").fill("zebra refunds")
    search.get_by_role("button", name="Search").click()
    results = page.get_by_role("list", name="Results")
    expect(results.locator(".search-hit").first).to_have_attribute("data-document", "refunds.md")
    expect(results.locator(".search-hit").first.locator("mark").first).to_have_text(
        re.compile("zebra|refunds", re.I)
    )
    expect(results).to_contain_text(REFUNDS)
    hits = page.request.post(
        "/api/knowledge/product_docs/search", data={"query": "zebra refunds"}
    ).json()["results"]
    expect(results.locator(".search-hit")).to_have_count(len(hits))

    page.get_by_role("button", name="Remove refunds.md").click()
    expect(page.locator("tr[data-document='refunds.md']")).to_have_count(0)
    assert api(server, "/api/knowledge/product_docs/documents")["total"] == 1


def test_phone_width_has_no_horizontal_scroll(phone: Page) -> None:
    for path in ("/knowledge", "/knowledge/product_docs"):
        phone.goto(path)
        expect(phone.locator("main h1").first).to_be_attached()
        phone.wait_for_load_state("networkidle")
        assert phone.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
