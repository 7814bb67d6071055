"""The console's frame (console/src/app.tsx, nav.ts, theme.ts): it loads with nothing but
the server reachable, deep links survive a reload, the layout fits a phone, and it can be
used from the keyboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Error, Page, expect

from tests.console.browser import Offline, chat


def test_the_console_loads_with_nothing_but_the_server_reachable(
    page: Page, offline: Offline
) -> None:
    loaded: list[str] = []
    page.on("requestfinished", lambda request: loaded.append(request.url))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/chat$"))  # the first screen the role may open
    nav = page.get_by_role("navigation", name="Screens")
    expect(nav.get_by_role("link", name="Chat")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="Runs")).to_be_visible()
    expect(page.get_by_label("Agent")).to_have_value("assistant")
    assert any("/assets/" in url and url.endswith(".js") for url in loaded)
    assert any(url.endswith(".css") for url in loaded)
    assert all(url.startswith(offline.base_url) for url in loaded)
    # the guard itself: a request elsewhere is aborted and remembered (and would fail
    # this test at its end, had it come from the console)
    other = page.context.new_page()
    with pytest.raises(Error, match="ERR_BLOCKED_BY_CLIENT"):
        other.goto("http://console-test.invalid/")
    assert offline.blocked == ["http://console-test.invalid/"]
    offline.blocked.clear()
    # and the page's policy refuses inline scripts (reported, and failing the test, too)
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.inlineRan = true'; document.body.append(s); }"
    )
    expect(page.locator("html")).to_be_attached()
    assert page.evaluate("window.inlineRan") is None
    page.wait_for_function("true")  # the console message arrives with the next round trip
    assert any("Content Security Policy" in e for e in offline.page_errors), offline.page_errors
    offline.page_errors.clear()


def test_a_deep_link_reloads_to_the_same_screen(page: Page, server: str) -> None:
    run = chat(server, "assistant", "What is 3 * 3?")
    page.goto(f"/runs/{run['run_id']}")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(run["run_id"])
    page.reload()
    expect(heading).to_contain_text(run["run_id"])
    expect(page.get_by_role("link", name="Runs", exact=True).first).to_have_attribute(
        "aria-current", "page"
    )
    page.goto("/runs?status=completed")
    expect(page.get_by_label("Status")).to_have_value("completed")
    page.goto("/no/such/screen")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def _horizontal_overflow(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def test_phone_width_has_no_horizontal_scroll(phone: Page, server: str) -> None:
    run = chat(server, "customer_support", "What is 12 * 12? And what time is it?")
    for path in ("/chat", "/runs", f"/runs/{run['run_id']}"):
        phone.goto(path)
        expect(phone.locator("main h1").first).to_be_attached()
        phone.wait_for_load_state("networkidle")
        assert _horizontal_overflow(phone) <= 0, path
    # the screens' links fold into a menu
    links = phone.get_by_role("navigation", name="Screens")
    expect(links).to_be_hidden()
    menu = phone.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    links.get_by_role("link", name="Chat").click()
    expect(phone).to_have_url(re.compile(r"/chat"))
    expect(links).to_be_hidden()


def test_keyboard_skip_link_and_visible_focus(page: Page) -> None:
    page.goto("/runs")
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    outline = skip.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline not in ("", "none")
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # the next Tab reaches the screen's own controls, and the buttons among them show
    # where the focus is too
    page.keyboard.press("Tab")
    expect(page.get_by_label("Agent")).to_be_focused()
    page.get_by_label("Status").select_option("completed")
    button = page.get_by_role("button", name="Filter")
    for _ in range(6):
        if button.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(button).to_be_focused()
    assert button.evaluate("el => getComputedStyle(el).outlineStyle") not in ("", "none")
    page.keyboard.press("Enter")  # a real button: the keyboard submits the filters
    expect(page).to_have_url(re.compile(r"/runs\?status=completed$"))


def test_the_theme_follows_the_system_until_chosen(page: Page) -> None:
    page.emulate_media(color_scheme="dark")
    page.goto("/runs")
    root = page.locator("html")
    background = "getComputedStyle(document.body).backgroundColor"
    dark = page.evaluate(background)
    page.emulate_media(color_scheme="light")
    light = page.evaluate(background)
    assert dark != light
    toggle = page.get_by_role("button", name=re.compile("^Theme: system"))
    toggle.click()  # system -> light
    expect(root).to_have_attribute("data-theme", "light")
    page.get_by_role("button", name=re.compile("^Theme: light")).click()  # light -> dark
    expect(root).to_have_attribute("data-theme", "dark")
    assert page.evaluate(background) == dark  # the dark theme, whatever the system says
    page.reload()
    expect(root).to_have_attribute("data-theme", "dark")
