"""What the console's browser tests share: a real Agio server on loopback with the demo
agents (and a slow scripted one), Debian's Chromium driven by Playwright (never a browser
download), and a guard that aborts, and records, every request to anything but the
server."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml
from fastapi import FastAPI
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Route,
)

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import BUNDLED_CONFIGS

CHROMIUM = Path("/usr/bin/chromium")
#: Chromium without its own calls home (updates, sync, safe browsing, first-run pages)
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
]

SLOW_ANSWER = (
    "Paused and resumed, this answer arrives in small pieces, a few words at a time, "
    "and reads the same at the end."
)
LONG_ANSWER = " ".join(f"w{i:03d}" for i in range(150))

#: components added to the demo configs: a slow scripted agent for pause and resume,
#: and one whose answer streams in many events (the timeline's virtualisation)
EXTRA_COMPONENTS: list[dict[str, Any]] = [
    {
        "type": "model",
        "name": "slow_script",
        "provider": "scripted",
        "model": "slow",
        "chunk_size": 4,
        "chunk_delay": 0.25,
        "responses": [{"content": SLOW_ANSWER}],
    },
    {
        "type": "agent",
        "name": "slow",
        "description": "Answers slowly (a scripted model), to pause and resume.",
        "model": "slow_script",
        "system_prompt": "You answer slowly.",
        "config": {"max_steps": 3},
    },
    {
        "type": "model",
        "name": "chatty_script",
        "provider": "scripted",
        "model": "chatty",
        "chunk_size": 2,
        "responses": [{"content": LONG_ANSWER}],
    },
    {
        "type": "agent",
        "name": "chatty",
        "description": "Streams a long answer in many small pieces.",
        "model": "chatty_script",
        "config": {"max_steps": 2},
    },
    {
        "type": "model",
        "name": "careful_script",
        "provider": "scripted",
        "model": "careful",
        "responses": [
            {
                "content": "Let me work it out.",
                "tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}],
            },
            {"content": "Worked out."},
        ],
    },
    {
        "type": "agent",
        "name": "careful",
        "description": "Asks before it calculates (its calculator calls wait for approval).",
        "model": "careful_script",
        "tools": ["calculator"],
        "config": {"max_steps": 3, "approval": {"tools": ["calculator"]}},
    },
]


def console_app(folder: Path, **overrides: Any) -> FastAPI:
    """An app on a database of its own in `folder`, with the bundled demo configs and
    EXTRA_COMPONENTS. By default authentication is off (the development switch, which
    acts as the local admin on loopback connections only)."""
    configs = folder / "configs"
    shutil.copytree(BUNDLED_CONFIGS, configs)
    (configs / "console-tests.yaml").write_text(yaml.safe_dump_all(EXTRA_COMPONENTS))
    values: dict[str, Any] = {
        "data_dir": folder / "data",
        "configs_dir": configs,
        "watch_configs": False,
        "environment": "test",
        "log_level": "ERROR",
        "auth_disabled": True,
        "rate_limit_chat": "",
        "rate_limit_write": "",
        "rate_limit_read": "",
        "rate_limit_auth": "",
        **overrides,
    }
    return create_app(Settings(_env_file=None, **values))  # type: ignore[call-arg]


def chat(base_url: str, agent: str, message: str) -> dict[str, Any]:
    """A finished run of `agent` for `message`, made through the API (as the local admin)."""
    response = httpx.post(
        f"{base_url}/api/chat",
        json={"agent_id": agent, "message": message, "stream": False},
        timeout=30,
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def api(base_url: str, path: str) -> Any:
    response = httpx.get(f"{base_url}{path}", timeout=30)
    response.raise_for_status()
    return response.json()


def launch(playwright: Playwright) -> Browser:
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: the console's browser tests drive Debian's Chromium "
            "(apt-get install chromium; .ci/run installs it). Playwright's own browser "
            "downloads are never used."
        )
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


@dataclass
class Offline:
    """Aborts every request of a context that is not for `base_url`'s host and port,
    remembering it; and remembers the page errors (uncaught exceptions) and the Content
    Security Policy violations of its pages."""

    base_url: str
    blocked: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def allowed(self, url: str) -> bool:
        parts, base = urlsplit(url), urlsplit(self.base_url)
        return parts.scheme in ("data", "blob", "about") or (
            parts.scheme == "http" and parts.netloc == base.netloc
        )

    def handle(self, route: Route) -> None:
        url = route.request.url
        if self.allowed(url):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def attach(self, context: BrowserContext) -> None:
        context.route("**/*", self.handle)
        context.on("page", self._watch)
        context.on("weberror", lambda error: self._error(error.error))

    def _watch(self, page: Page) -> None:
        page.on("pageerror", self._error)
        page.on("console", self._console)

    def _error(self, error: Exception) -> None:
        self.page_errors.append(str(error))

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.page_errors.append(message.text)
