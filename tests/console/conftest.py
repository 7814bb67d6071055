"""Fixtures of the console's browser tests: one server and one Chromium per module, a
fresh browser context per test with every request to anything but the server aborted
(and the test failing if any was attempted)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.console.browser import Offline, console_app, launch
from tests.live import serve

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a real Agio server on 127.0.0.1 (authentication off, loopback)."""
    app = console_app(tmp_path_factory.mktemp("console"))
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = launch(playwright)
    yield browser
    browser.close()


@pytest.fixture
def offline(server: str) -> Iterator[Offline]:
    """The guard of the test's browser context: at the end, no request to anything but
    the server may have been attempted, and no page may have thrown."""
    guard = Offline(server)
    yield guard
    assert guard.blocked == [], f"the console asked for outside resources: {guard.blocked}"
    assert guard.page_errors == [], f"uncaught errors in the page: {guard.page_errors}"


def _page(browser: Browser, offline: Offline, viewport: dict[str, int]) -> Iterator[Page]:
    context = browser.new_context(base_url=offline.base_url, viewport=viewport)  # type: ignore[arg-type]
    offline.attach(context)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser, offline: Offline) -> Iterator[Page]:
    """A desktop-sized page (1280 x 800) of the server; nothing else reachable."""
    yield from _page(browser, offline, DESKTOP)


@pytest.fixture
def phone(browser: Browser, offline: Offline) -> Iterator[Page]:
    """A phone-sized page (390 x 844)."""
    yield from _page(browser, offline, PHONE)
