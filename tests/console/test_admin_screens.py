"""The metrics, health and users screens (console/src/screens/metrics/, health/, users/):
a chart of the runs after a chat, the components' states, and an admin's users and API
keys: a user created, their role changed, disabled and enabled; a key created and shown
once, then revoked, after which the server refuses it. Authentication is on: each test
signs in with the bootstrap admin's API key (a session cookie, CSRF on every change)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.console.browser import console_app
from tests.live import serve


@pytest.fixture(scope="module")
def admin_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, the bootstrap admin's key) of a server with authentication on."""
    folder = tmp_path_factory.mktemp("console-admin")
    with serve(console_app(folder, auth_disabled=False)) as url:
        yield url, (folder / "data" / "admin.key").read_text().strip()


@pytest.fixture(scope="module")
def server(admin_key: tuple[str, str]) -> str:
    return admin_key[0]


def _open_signed_in(page: Page, path: str, key: str) -> None:
    page.goto(path)
    form = page.get_by_role("form", name="Sign in to Agio")
    form.get_by_role("radio", name="API key").check()
    form.get_by_placeholder("agio_…").fill(key)
    form.get_by_role("button", name="Sign in").click()
    expect(form).to_have_count(0)


def _api(admin_key: tuple[str, str], path: str) -> Any:
    url, key = admin_key
    response = httpx.get(f"{url}{path}", headers={"X-API-Key": key}, timeout=30)
    response.raise_for_status()
    return response.json()


def test_the_metrics_chart_counts_a_chat(page: Page, admin_key: tuple[str, str]) -> None:
    url, key = admin_key
    answer = httpx.post(
        f"{url}/api/chat",
        json={"agent_id": "assistant", "message": "What is 2 + 2?", "stream": False},
        headers={"X-API-Key": key},
        timeout=30,
    )
    answer.raise_for_status()
    _open_signed_in(page, "/usage?agent=assistant&period=24h&granularity=hour", key)
    expect(page.get_by_role("combobox", name="Agent")).to_have_value("assistant")
    runs = page.locator("figure[data-chart=Runs]")
    expect(runs.get_by_role("img")).to_have_attribute("aria-label", re.compile(r"total 1$"))
    expect(runs.locator("rect.chart-bar")).to_have_count(1)  # one bucket has a run
    expect(runs.locator("tbody tr")).to_have_count(25)  # 24 hours: 25 hour buckets
    # the values are a table too
    runs.get_by_text("Data").click()
    expect(runs.locator("tbody td.num").filter(has_text=re.compile("^1$"))).to_have_count(1)
    # the tokens of that bucket, prompt and completion stacked, as the server counted them
    point = next(
        p
        for p in _api(admin_key, "/api/metrics/agents/assistant?granularity=hour")["timeseries"]
        if p["runs"]
    )
    tokens = page.locator("figure[data-chart=Tokens]")
    split = [point["prompt_tokens"], point["completion_tokens"]]
    assert sum(split) > 0
    expect(tokens.locator("rect.chart-bar")).to_have_count(sum(1 for n in split if n))
    expect(tokens.get_by_role("img")).to_have_attribute(
        "aria-label", re.compile(rf"total {sum(split)}$")
    )
    # latency over time: average, median and p95 of that bucket's one run
    latency = page.locator("figure[data-chart='Duration (seconds)']")
    expect(latency.locator("circle.chart-dot")).to_have_count(3)
    expect(latency.locator(".chart-legend li")).to_have_text(["average", "p50", "p95"])
    assert point["p50_duration"] == point["p95_duration"] == point["avg_duration"] is not None
    totals = page.get_by_label("Totals of assistant")
    expect(totals).to_contain_text("Prompt tokens")
    expect(totals).to_contain_text("p95 duration")
    expect(page.get_by_label("System totals")).to_contain_text("Runs today")
    # another bucket size is in the URL and asked of the server
    page.get_by_role("combobox", name="Bucket").select_option("day")
    expect(page).to_have_url(re.compile(r"granularity=day"))
    expect(runs.locator("tbody tr")).to_have_count(2)  # the 24 hours span two days


def test_health_shows_each_component(page: Page, admin_key: tuple[str, str]) -> None:
    _open_signed_in(page, "/health", admin_key[1])
    expect(page.locator(".health-overall [data-status]")).to_have_text("ok")
    database = page.locator("tr[data-component=database]")
    expect(database.locator("[data-status]")).to_have_text("ok")
    expect(page.locator("tr[data-component]")).to_have_count(4)


def test_an_admin_manages_a_user_and_their_key(page: Page, admin_key: tuple[str, str]) -> None:
    server = admin_key[0]
    _open_signed_in(page, "/users", admin_key[1])
    form = page.get_by_role("form", name="New user")
    form.get_by_label("Username").fill("dana")
    form.get_by_label("Password", exact=False).fill("a long enough password")
    form.get_by_label("Role").select_option("user")
    form.get_by_role("button", name="Create user").click()
    expect(form.get_by_role("status")).to_contain_text("Created dana")
    row = page.locator("tr[data-username=dana]")
    row.get_by_label("Role of dana").select_option("viewer")
    expect(row.get_by_label("Role of dana")).to_have_value("viewer")
    row.get_by_role("button", name="Disable dana").click()
    expect(row.locator("[data-disabled]")).to_have_text("disabled")
    row.get_by_role("button", name="Enable dana").click()
    expect(row.locator("[data-disabled]")).to_have_text("active")
    dana = next(u for u in _api(admin_key, "/api/users")["items"] if u["username"] == "dana")
    assert (dana["role"], dana["disabled"]) == ("viewer", False)

    keys = page.get_by_role("form", name="New API key")
    keys.get_by_label("Key name").fill("ci-bot")
    keys.get_by_label("For user").select_option(label="dana")
    keys.get_by_role("button", name="Create key").click()
    shown = page.locator("[data-key=plaintext]")
    expect(shown).to_have_text(re.compile(r"^agio_"))
    expect(page.locator(".key-once")).to_contain_text("shown this once")
    secret = shown.inner_text()
    me = httpx.get(f"{server}/api/auth/me", headers={"X-API-Key": secret}, timeout=10)
    assert me.status_code == 200
    assert me.json()["username"] == "dana"

    # once: dismissed, or after a reload, the key is nowhere in the page
    page.get_by_role("button", name="I have stored it").click()
    expect(shown).to_have_count(0)
    page.reload()
    key_row = page.locator("tr[data-key-id]").filter(has_text="ci-bot")
    expect(key_row).to_contain_text("dana")
    assert secret not in page.content()

    key_row.get_by_role("button", name="Revoke ci-bot").click()
    key_row.get_by_role("button", name="Confirm revoking ci-bot").click()
    expect(key_row.locator("[data-state=inactive]")).to_contain_text("revoked")
    refused = httpx.get(f"{server}/api/auth/me", headers={"X-API-Key": secret}, timeout=10)
    assert refused.status_code == 401


def test_the_screens_fit_a_phone(phone: Page, admin_key: tuple[str, str]) -> None:
    _open_signed_in(phone, "/users", admin_key[1])
    for path in ("/usage", "/health", "/users"):
        phone.goto(path)
        expect(phone.locator("main h1").first).to_be_attached()
        phone.wait_for_load_state("networkidle")
        assert phone.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0, path
