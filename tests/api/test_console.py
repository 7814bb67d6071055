"""The web console's routes (agio/api/routers/console.py): its page at `/` and at the
addresses it routes itself, only for browsers asking for HTML and never under the
server's own prefixes; its hashed files, cached for good; the page's security headers;
and that the build ships in the Python package."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from agio.api.routers import console
from tests.conftest import ROOT, start_client

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PAGE = (console.dist_dir() / "index.html").read_bytes()


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    client, lifespan = await start_client(app, as_admin=False)
    try:
        yield client
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


class _Page(HTMLParser):
    """The URLs the page loads (`src`, `href`) and its inline scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self._tag = tag
        if tag in ("script", "style") and not values.get("src"):
            self.inline.append(tag)
        if "style" in values:
            self.inline.append(f"style attribute on <{tag}>")
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        self.inline += [f"{k} on <{tag}>" for k, _ in attrs if k.startswith("on")]


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


@pytest.mark.parametrize(
    "path", ["/", "/chat", "/runs", "/runs/run_01jd0000", "/agents/x", "/chat?agent=a&session=s"]
)
async def test_the_page_answers_every_console_address(
    anonymous: httpx.AsyncClient, path: str
) -> None:
    response = await anonymous.get(path, headers=HTML)
    assert response.status_code == 200
    assert response.content == PAGE
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self';" in csp
    assert "unsafe" not in csp
    assert "frame-ancestors 'none'" in csp


async def test_only_a_request_for_html_gets_the_page(anonymous: httpx.AsyncClient) -> None:
    for accept in ("application/json", "*/*", "text/html;q=0", "image/avif,image/webp"):
        response = await anonymous.get("/runs/run_x", headers={"Accept": accept})
        assert response.status_code == 404, accept
        assert response.json()["error"]["type"] == "NotFound"
    posted = await anonymous.post("/runs/run_x", headers=HTML)
    assert posted.status_code == 405
    assert posted.headers["allow"] == "GET"


async def test_the_servers_own_prefixes_are_never_the_page(anonymous: httpx.AsyncClient) -> None:
    for path in ("/api/nope", "/api", "/v1", "/v1/nope", "/mcp/x", "/assets/missing.js", "/docs/x"):
        response = await anonymous.get(path, headers=HTML)
        assert response.status_code == 404, path
        assert response.content != PAGE, path
        assert response.headers["content-type"].startswith("application/json"), path
    # a route of the OpenAI-compatible API asks for credentials, in JSON
    models = await anonymous.get("/v1/models", headers=HTML)
    assert models.status_code == 401
    assert models.json()["error"]["type"] == "authentication_error"
    # MCP's one route takes POST only
    assert (await anonymous.get("/mcp", headers=HTML)).status_code == 405
    # a route of the API keeps its 405 for another method
    wrong_method = await anonymous.get("/api/runs/run_x/pause", headers=HTML)
    assert wrong_method.status_code == 405
    assert "swagger-ui" in (await anonymous.get("/docs", headers=HTML)).text
    assert (await anonymous.get("/openapi.json", headers=HTML)).json()["openapi"]
    assert (await anonymous.get("/metrics", headers=HTML)).status_code == 401
    # a name that only starts like a prefix is the console's
    assert (await anonymous.get("/apis", headers=HTML)).content == PAGE


async def test_every_file_the_page_loads_is_served_and_cached_for_good(
    anonymous: httpx.AsyncClient,
) -> None:
    page = _parse(PAGE.decode())
    assert page.inline == []
    assert page.urls, "the page loads its scripts and styles"
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for url in page.urls:
        assert re.fullmatch(r"/assets/[A-Za-z0-9._-]+", url), url
        response = await anonymous.get(url)
        assert response.status_code == 200, url
        assert response.content == (console.dist_dir() / url.lstrip("/")).read_bytes()
        assert response.headers["content-type"].startswith(types[Path(url).suffix]), url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_nothing_is_loaded_from_elsewhere() -> None:
    """No script or style names another host to load from (fonts, images, imports)."""
    for path in (console.dist_dir() / "assets").iterdir():
        text = path.read_text()
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", text), path.name
        assert not re.search(r"\bimport\s*\(?\s*['\"](https?:)?//", text), path.name
        assert not re.search(r"\bfrom\s*['\"](https?:)?//", text), path.name


def test_the_console_routes_stay_out_of_the_schema(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    assert not [p for p in paths if "console" in p or p.startswith("/assets")]


async def test_an_unbuilt_console_says_so(tmp_path: Path) -> None:
    router = console.make_router(tmp_path)
    assert console.asset_paths(tmp_path) == []
    [page] = [r for r in router.routes if isinstance(r, APIRoute)]
    request = Request(
        {"type": "http", "method": "GET", "path": "/", "headers": [(b"accept", b"text/html")]}
    )
    with pytest.raises(HTTPException) as raised:
        await page.endpoint(request, path="")
    assert raised.value.status_code == 404
    assert "scripts/build-console" in str(raised.value.detail)


def test_the_build_ships_in_the_package() -> None:
    """Every file of agio/console_dist/ is package data of the wheel (pyproject.toml)."""
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["agio"]
    files = [p for p in (ROOT / "agio" / "console_dist").rglob("*") if p.is_file()]
    assert files
    for path in files:
        relative = path.relative_to(ROOT / "agio").as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in package_data), relative
