"""The schedules screen (console/src/screens/schedules/): a schedule created by the form,
whose invalid cron expression and unknown time zone are shown by their fields (the
server's 422); listed with its agent, cron, zone and next run; disabled and enabled
again; fired (the server's scheduler, its clock moved to the firing) so that the last run
links to the run; deleted after a confirmation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect

from agio.api.container import Container
from tests.console.browser import api, console_app
from tests.live import serve


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    # the scheduler looks often, so that a firing shows up soon after its clock is moved
    return console_app(tmp_path_factory.mktemp("console-schedules"), scheduler_poll_seconds=0.1)


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


def _container(app: FastAPI) -> Container:
    container: Container = app.state.agio
    return container


def test_a_schedule_is_created_toggled_fired_and_deleted(
    page: Page, server: str, app: FastAPI
) -> None:
    page.goto("/schedules")
    expect(page.get_by_role("heading", name="Schedules", level=1)).to_be_visible()
    expect(page.get_by_text("No schedules yet.")).to_be_visible()
    form = page.get_by_role("form", name="New schedule")
    expect(form.get_by_label("Agent")).to_have_value("assistant")  # the agents are listed
    form.get_by_label("Agent").select_option("customer_support")
    form.get_by_label("Message").fill("How many orders came in?")
    form.get_by_label("Cron expression").fill("61 9 * * *")
    form.get_by_label("Time zone").fill("Mars/Olympus")
    form.get_by_role("button", name="Create schedule").click()
    # the server's 422, each message by its field
    cron_error = form.locator(".field[data-field=cron] .field-error")
    expect(cron_error).to_contain_text("not a valid cron expression")
    zone_error = form.locator(".field[data-field=timezone] .field-error")
    expect(zone_error).to_contain_text("not a known IANA time zone")
    expect(form.get_by_label("Cron expression")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_role("alert").first).to_contain_text("shown by the fields")

    form.get_by_label("Cron expression").fill("30 8 * * 1-5")
    form.get_by_label("Time zone").fill("Europe/Berlin")
    form.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_role("status")).to_contain_text("Created schedule sch_")
    expect(cron_error).to_have_count(0)
    (schedule,) = api(server, "/api/schedules")["items"]
    row = page.locator(f"tr[data-schedule-id='{schedule['id']}']")
    expect(row).to_contain_text("customer_support")
    expect(row).to_contain_text("30 8 * * 1-5")
    expect(row).to_contain_text("Europe/Berlin")
    expect(row).to_contain_text("How many orders came in?")
    expect(row.locator(".schedule-state")).to_have_text("enabled")
    expect(row.locator(".schedule-next")).to_have_attribute("title", schedule["next_run_at"])
    expect(row.locator(".schedule-last")).to_have_text("never")

    row.get_by_role("button", name="Disable").click()
    expect(row.locator(".schedule-state")).to_have_text("disabled")
    expect(row.locator(".schedule-next")).to_have_text("\u2013")  # a dash: no next run
    assert api(server, f"/api/schedules/{schedule['id']}")["enabled"] is False
    row.get_by_role("button", name="Enable").click()
    expect(row.locator(".schedule-state")).to_have_text("enabled")
    enabled = api(server, f"/api/schedules/{schedule['id']}")
    assert enabled["next_run_at"] is not None

    # the firing: the server's scheduler is told it is that time
    due = datetime.fromisoformat(enabled["next_run_at"].replace("Z", "+00:00"))
    _container(app).scheduler.now = lambda: due + timedelta(seconds=1)
    link = row.locator(".schedule-last a")
    expect(link).to_be_visible(timeout=20_000)  # the list is read again every 5 s
    fired = api(server, f"/api/schedules/{schedule['id']}")
    assert fired["last_run_id"]
    expect(link).to_have_attribute("href", f"/runs/{fired['last_run_id']}")
    link.click()
    expect(page).to_have_url(re.compile(f"/runs/{fired['last_run_id']}$"))
    run = api(server, f"/api/runs/{fired['last_run_id']}")
    assert run["schedule_id"] == schedule["id"]

    page.goto("/schedules")
    row.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete this schedule?")
    expect(dialog).to_contain_text(schedule["id"])
    dialog.get_by_role("button", name="Keep it").click()
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete the schedule").click()
    expect(page.get_by_role("status")).to_contain_text(f"Deleted schedule {schedule['id']}")
    expect(row).to_have_count(0)
    gone = httpx.get(f"{server}/api/schedules/{schedule['id']}", timeout=30)
    assert gone.status_code == 404
    # its run stays, and still says which schedule started it
    assert api(server, f"/api/runs?schedule_id={schedule['id']}")["total"] == 1


def test_phone_width_has_no_horizontal_scroll(phone: Page, server: str) -> None:
    httpx.post(
        f"{server}/api/schedules",
        json={"agent_id": "assistant", "message": "Good morning", "cron": "0 7 * * *"},
        timeout=30,
    ).raise_for_status()
    phone.goto("/schedules")
    expect(phone.locator("tr[data-schedule-id]").first).to_be_visible()
    phone.wait_for_load_state("networkidle")
    assert phone.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
