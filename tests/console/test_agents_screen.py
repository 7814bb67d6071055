"""The agents and components screens (console/src/screens/config/): an agent edited in
its form, the server's 422 shown by the field it is about, the fix saved as a new
revision and seen in the history's side-by-side diff; a component created as YAML, its
validation error marked at the YAML line."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.console.browser import api


def test_an_invalid_model_is_refused_in_place_then_the_fix_shows_in_the_diff(
    page: Page, server: str
) -> None:
    page.goto("/config")
    page.locator("tr[data-component=customer_support]").get_by_role(
        "link", name="customer_support"
    ).click()
    expect(page).to_have_url(re.compile(r"/config/customer_support$"))
    form = page.get_by_role("form", name="Agent customer_support")
    expect(form.get_by_label("Model", exact=True)).to_have_value("demo")
    form.get_by_label("Model", exact=True).fill("gpt-nine")
    form.get_by_label("Temperature").fill("0.5")
    form.get_by_role("button", name="Save").click()

    model = form.locator("[data-field=model]")
    expect(model.locator(".field-error")).to_have_text("model component 'gpt-nine' does not exist")
    expect(form.get_by_label("Model", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_role("alert").first).to_contain_text("shown by the fields below")
    expect(form.locator("[data-field='config.temperature'] .field-error")).to_have_count(0)
    assert api(server, "/api/agents/customer_support")["revision"] == 1  # nothing saved

    form.get_by_label("Model", exact=True).fill("demo")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved: revision 2.")
    expect(page.locator(".badge[data-revision]")).to_have_text("revision 2")
    expect(model.locator(".field-error")).to_have_count(0)
    assert api(server, "/api/agents/customer_support")["config"]["temperature"] == 0.5

    page.get_by_role("navigation", name="Views").get_by_role("link", name="History").click()
    expect(page).to_have_url(re.compile(r"\?tab=history$"))
    expect(page.locator("tr[data-revision]")).to_have_count(2)
    expect(page.get_by_label("From revision", exact=True)).to_have_value("0")
    expect(page.get_by_label("To revision", exact=True)).to_have_value("1")
    diff = page.locator("table.diff")
    expect(diff.locator("thead")).to_contain_text("Revision 1")
    expect(diff.locator("thead")).to_contain_text("Revision 2")
    expect(diff.locator("td.del")).to_have_text(["  temperature: 0.2"])
    expect(diff.locator("td.add")).to_have_text(["  temperature: 0.5"])
    # any two revisions: the same one twice has no differences
    page.get_by_label("From revision", exact=True).select_option("1")
    expect(diff.locator("td.del, td.add")).to_have_count(0)
    expect(page.locator(".diff-wrap")).to_contain_text("No differences")


def test_a_component_created_as_yaml_with_its_error_at_the_line(page: Page, server: str) -> None:
    page.goto("/config?type=tool")
    page.get_by_role("link", name="New tool as YAML").click()
    expect(page).to_have_url(re.compile(r"/config/new/tool\?tab=yaml$"))
    editor = page.get_by_label("Component YAML")
    expect(editor).to_have_value(re.compile("^type: tool\n"))

    # a syntax error is found before anything is sent
    editor.fill("type: tool\nname: clock\n  kind: builtin\n")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_contain_text("Not sent")
    expect(page.locator(".yaml-gutter .bad")).to_have_count(1)

    # the server's 422 is shown at the line of the field it names
    editor.fill("type: tool\nname: clock\nkind: builtin\nbuiltin: sundial\ntimeout: 5\n")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_contain_text("Refused by the server")
    problems = page.get_by_role("list", name="Problems")
    expect(problems.locator("li")).to_have_count(1)
    expect(problems.locator("li")).to_have_attribute("data-line", "4")
    expect(problems).to_contain_text("builtin: Input should be")
    expect(page.locator(".yaml-gutter span.bad")).to_have_attribute("data-line", "4")
    assert api(server, "/api/config?type=tool")["total"] == 2  # calculator, current_time

    editor.fill(editor.input_value().replace("sundial", "current_time"))
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(re.compile(r"/config/clock$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("tool clock")
    expect(
        page.get_by_role("navigation", name="Views").get_by_role("link", name="YAML")
    ).to_have_attribute("aria-current", "page")
    expect(page.get_by_label("Component YAML")).to_have_value(re.compile("builtin: current_time"))
    stored = api(server, "/api/config/clock")
    assert (stored["type"], stored["builtin"], stored["timeout"], stored["revision"]) == (
        "tool",
        "current_time",
        5.0,
        1,
    )
    page.goto("/config?type=tool")
    expect(page.locator("tr[data-component=clock]")).to_contain_text("api")


def test_a_model_made_in_its_form_keeps_its_key_without_showing_it(page: Page, server: str) -> None:
    page.goto("/config/new/model")
    form = page.get_by_role("form", name="New model")
    form.get_by_label("Name").fill("local_llm")
    form.get_by_label("Provider").select_option("openai")
    form.get_by_label("Model", exact=True).fill("llama3")
    form.get_by_label("Base URL").fill("ftp://127.0.0.1/v1")
    form.get_by_label("API key").fill("sk-console-test")
    form.get_by_role("button", name="Create model").click()
    expect(form.locator("[data-field=base_url] .field-error")).to_contain_text(
        "must be an http:// or https:// URL"
    )
    form.get_by_label("Base URL").fill("http://127.0.0.1:11434/v1")
    form.get_by_role("button", name="Create model").click()
    expect(page).to_have_url(re.compile(r"/config/local_llm$"))
    form = page.get_by_role("form", name="Model local_llm")
    expect(form.get_by_label("API key")).to_have_value("")
    expect(form.locator("[data-field=api_key]")).to_contain_text("a key is stored")
    assert api(server, "/api/config/local_llm")["api_key"] == "********"

    form.get_by_label("Model", exact=True).fill("llama3.1")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved: revision 2.")
    stored = api(server, "/api/config/local_llm")
    assert (stored["model"], stored["api_key"]) == ("llama3.1", "********")  # the key kept
    page.get_by_role("navigation", name="Views").get_by_role("link", name="YAML").click()
    yaml_text = page.get_by_label("Component YAML").input_value()
    assert "api_key: '********'" in yaml_text or 'api_key: "********"' in yaml_text
    assert "sk-console-test" not in page.content()


def test_phone_width_has_no_horizontal_scroll(phone: Page) -> None:
    for path in ("/config", "/config/assistant", "/config/demo?tab=yaml", "/config/new/model"):
        phone.goto(path)
        expect(phone.locator("main h1").first).to_be_attached()
        phone.wait_for_load_state("networkidle")
        assert phone.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
