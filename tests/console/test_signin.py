"""Signing in to the console (console/src/screens/signin/, src/api/session.ts) on a
server with authentication on.

With the server side of browser sessions (`POST/GET/DELETE /api/auth/session`: the HttpOnly
session cookie, the `csrf_token` in the body, `X-CSRF-Token` on every change): signing in
with a key or a password, chatting, following a run on the cookie alone, signing out."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.console.browser import console_app
from tests.live import serve

PASSWORD = "correct horse battery staple"  # a test user's


@pytest.fixture(scope="module")
def admin_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, the bootstrap admin's key) of a server with authentication on."""
    folder = tmp_path_factory.mktemp("console-auth")
    app = console_app(folder, auth_disabled=False)
    with serve(app) as url:
        key = (folder / "data" / "admin.key").read_text().strip()
        created = httpx.post(
            f"{url}/api/users",
            json={"username": "ada", "password": PASSWORD, "role": "user"},
            headers={"X-API-Key": key},
            timeout=30,
        )
        created.raise_for_status()
        yield url, key


@pytest.fixture(scope="module")
def server(admin_key: tuple[str, str]) -> str:
    return admin_key[0]


def test_without_a_session_the_console_asks_to_sign_in(page: Page) -> None:
    page.goto("/runs/run_somewhere")
    form = page.get_by_role("form", name="Sign in to Agio")
    expect(form).to_be_visible()
    expect(form.get_by_role("textbox", name="Username")).to_be_visible()
    form.get_by_role("radio", name="API key").check()
    expect(form.get_by_role("textbox", name="Username")).to_have_count(0)
    expect(form.get_by_placeholder("agio_…")).to_have_attribute("type", "password")
    expect(page.get_by_role("navigation", name="Screens")).to_have_count(0)


def test_a_refused_sign_in_shows_the_servers_message(page: Page) -> None:
    page.goto("/")
    form = page.get_by_role("form", name="Sign in to Agio")
    form.get_by_role("textbox", name="Username").fill("nobody")
    form.get_by_label("Password", exact=True).fill("not the password")
    form.get_by_role("button", name="Sign in").click()
    alert = form.get_by_role("alert")
    expect(alert).to_contain_text("Not signed in")
    expect(alert).to_contain_text(re.compile(r"request [0-9a-f]{8,}"))  # the request id
    expect(page.get_by_role("navigation", name="Screens")).to_have_count(0)


def _sign_in(page: Page) -> None:
    """Submit the form; the session endpoint must have taken it."""
    with page.expect_response(lambda r: r.url.endswith("/api/auth/session")) as answer:
        page.get_by_role("button", name="Sign in").click()
    status = answer.value.status
    assert status in (200, 201), f"POST /api/auth/session answered {status}"


def test_sign_in_with_the_admin_key_then_sign_out(page: Page, admin_key: tuple[str, str]) -> None:
    _, key = admin_key
    page.goto("/runs")
    form = page.get_by_role("form", name="Sign in to Agio")
    form.get_by_role("radio", name="API key").check()
    form.get_by_placeholder("agio_…").fill(key)
    _sign_in(page)
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()  # the deep link kept
    expect(page.locator(".who")).to_contain_text("admin")
    cookies = page.context.cookies()
    assert cookies
    assert all(c["httpOnly"] and c["sameSite"] == "Strict" for c in cookies)
    page.reload()  # the session outlives the page
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("form", name="Sign in to Agio")).to_be_visible()
    page.reload()
    expect(page.get_by_role("form", name="Sign in to Agio")).to_be_visible()


def test_sign_in_with_a_password_and_chat(page: Page) -> None:
    page.goto("/")
    form = page.get_by_role("form", name="Sign in to Agio")
    form.get_by_role("textbox", name="Username").fill("ada")
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    _sign_in(page)
    expect(page).to_have_url(re.compile(r"/chat"))
    expect(page.locator(".who")).to_contain_text("ada")
    # the agents are listed before a message can go to one of them
    expect(page.get_by_role("combobox", name="Agent")).to_be_enabled()
    box = page.get_by_role("textbox", name="Message")
    box.fill("What is 7 * 6?")
    box.press("Enter")  # a POST with the cookie and the CSRF token
    expect(page.locator(".turn").last.locator(".answer-text")).to_contain_text("42")
    # and EventSource follows a run with the cookie alone
    page.locator(".turn").last.get_by_role("link", name=re.compile("^Run run_")).click()
    expect(page.locator(".run-header .badge")).to_have_attribute("data-status", "completed")
    expect(page.get_by_role("list", name="Events")).not_to_have_attribute("data-total", "0")
