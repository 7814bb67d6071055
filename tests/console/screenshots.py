"""Screenshots of the console's main screens for docs/console.md, taken in Debian's
Chromium against a real server with the demo agents (nothing but the server reachable).

    .venv/bin/python -m tests.console.screenshots [folder]   # default: docs/console/
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.console.browser import Offline, chat, console_app, launch
from tests.live import serve

ROOT = Path(__file__).resolve().parents[2]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _page(browser: Browser, offline: Offline, viewport: dict[str, int], scheme: str) -> Page:
    context = browser.new_context(
        base_url=offline.base_url,
        viewport=viewport,  # type: ignore[arg-type]
        color_scheme=scheme,  # type: ignore[arg-type]
        device_scale_factor=1,
    )
    offline.attach(context)
    return context.new_page()


def _send(page: Page, message: str) -> None:
    expect(page.get_by_role("combobox", name="Agent")).to_be_enabled()  # agents listed
    box = page.get_by_role("textbox", name="Message")
    box.fill(message)
    box.press("Enter")
    expect(page.locator(".turn").last.locator(".badge")).to_have_attribute(
        "data-status", "completed"
    )


def _loaded_run(page: Page, run_id: str) -> None:
    """Open a run's page and wait for all of it: events, checkpoints, lineage."""
    page.goto(f"/runs/{run_id}")
    expect(page.get_by_role("list", name="Events")).not_to_have_attribute("data-total", "0")
    expect(page.locator(".checkpoints")).to_be_visible()
    expect(page.locator(".lineage")).not_to_contain_text("…")


def _config_and_data(page: Page, folder: Path, session: str) -> list[Path]:
    """The agents, sessions and knowledge screens: an agent's form with the server's 422
    by its field, the history's diff after the fix, a session, a knowledge search."""
    shots = [folder / name for name in ("agents.png", "agent-error.png", "agent-diff.png")]
    page.goto("/config")
    expect(page.locator("tr[data-component=assistant]")).to_be_visible()
    page.screenshot(path=shots[0])
    page.goto("/config/assistant")
    page.get_by_label("Model", exact=True).fill("gpt-nine")
    page.get_by_label("Temperature").fill("0.3")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-field=model] .field-error")).to_be_visible()
    page.screenshot(path=shots[1])
    page.get_by_label("Model", exact=True).fill("demo")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("revision 2")
    page.goto("/config/assistant?tab=history")
    expect(page.locator("table.diff td.add")).to_have_count(1)
    page.screenshot(path=shots[2], full_page=True)
    shots.append(folder / "session.png")
    page.goto(f"/sessions/{session}")
    expect(page.locator(".session-message").first).to_be_visible()
    page.screenshot(path=shots[-1])
    shots.append(folder / "knowledge.png")
    page.goto("/knowledge/product_docs")
    page.get_by_label("Query").fill("reset password")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".search-hit").first).to_be_visible()
    page.screenshot(path=shots[-1])
    return shots


def _admin_screens(page: Page, folder: Path, url: str) -> list[Path]:
    """Metrics (the runs made so far, in hour buckets), health and users and keys."""
    for body in (
        {"username": "ada", "password": "correct horse battery", "role": "user"},
        {"username": "grace", "role": "viewer"},
    ):
        httpx.post(f"{url}/api/users", json=body, timeout=30).raise_for_status()
    shots = [folder / name for name in ("metrics.png", "health.png", "users.png")]
    page.goto("/usage?agent=customer_support&period=24h&granularity=hour")
    expect(page.locator("figure[data-chart=Runs] rect.chart-bar").first).to_be_visible()
    page.screenshot(path=shots[0], full_page=True)
    page.goto("/health")
    expect(page.locator(".health-overall [data-status]")).to_be_visible()
    page.screenshot(path=shots[1], full_page=True)
    page.goto("/users")
    expect(page.get_by_role("cell", name="grace")).to_be_visible()
    page.screenshot(path=shots[2], full_page=True)
    return shots


def take(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = launch(playwright)
        app = console_app(Path(tmp) / "open")
        with serve(app) as url:
            offline = Offline(url)
            chat(url, "customer_support", "How do I reset my password?")
            forked = chat(url, "assistant", "What is 2 + 2?")

            page = _page(browser, offline, DESKTOP, "light")
            page.goto("/chat?agent=customer_support")
            _send(page, "What is 12 * 12, and what time is it?")
            shots.append(folder / "chat.png")
            page.screenshot(path=shots[-1])

            run_link = page.locator(".turn").last.get_by_role("link", name="Run", exact=False)
            run_id = run_link.inner_text().split()[-1]
            page.goto("/runs")
            expect(page.locator("tr[data-run-id]").first).to_be_visible()
            shots.append(folder / "runs.png")
            page.screenshot(path=shots[-1])

            _loaded_run(page, run_id)
            shots.append(folder / "run.png")
            page.screenshot(path=shots[-1], full_page=True)

            _loaded_run(page, forked["run_id"])
            page.locator("tr[data-checkpoint-id]", has_text="start").get_by_role(
                "button", name="Fork", exact=False
            ).click()
            page.get_by_label("Ask instead").fill("What is 6 * 7?")
            page.get_by_label("System prompt").fill("Answer with the number only.")
            shots.append(folder / "fork-dialog.png")
            page.screenshot(path=shots[-1])
            page.context.close()

            dark = _page(browser, offline, DESKTOP, "dark")
            _loaded_run(dark, run_id)
            shots.append(folder / "run-dark.png")
            dark.screenshot(path=shots[-1])
            dark.context.close()

            phone = _page(browser, offline, PHONE, "light")
            phone.goto("/chat?agent=assistant")
            _send(phone, "What is (2 + 3) * 4?")
            shots.append(folder / "chat-phone.png")
            phone.screenshot(path=shots[-1])
            phone.context.close()

            data = _page(browser, offline, DESKTOP, "light")
            shots += _config_and_data(data, folder, forked["session_id"])
            shots += _admin_screens(data, folder, url)
            data.context.close()

        with serve(console_app(Path(tmp) / "auth", auth_disabled=False)) as url:
            offline_auth = Offline(url)
            signin = _page(browser, offline_auth, DESKTOP, "light")
            signin.goto("/")
            expect(signin.get_by_role("form", name="Sign in to Agio")).to_be_visible()
            shots.append(folder / "signin.png")
            signin.screenshot(path=shots[-1])
            signin.context.close()
        browser.close()
        for guard in (offline, offline_auth):
            assert not guard.blocked, guard.blocked
            assert not guard.page_errors, guard.page_errors
    return shots


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "console"
    for shot in take(target):
        print(shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot)
