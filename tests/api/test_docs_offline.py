"""`/docs` and `/redoc` work without internet: every script, style and icon they load is
served by Agio itself."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import start_client

CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


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


class _References(HTMLParser):
    """Every URL a page loads by itself: `src` and `href` attributes, ReDoc's `spec-url`."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "spec-url") and value:
                self.urls.append(value)


def _references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_only_local_assets(anonymous: httpx.AsyncClient, page: str) -> None:
    response = await anonymous.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    # no other host anywhere in the page: not in a tag, not in the inline script
    assert re.findall(r"(?:https?:)?//[\w.-]+\.\w", html) == []
    urls = _references(html)
    assets = [u for u in urls if u.startswith("/docs/assets/")]
    scripts = [u for u in assets if u.split("?")[0].endswith(".js")]
    assert scripts, urls  # the page's own script is among them
    assert "/favicon.png" in " ".join(assets)
    for url in urls:
        assert url.startswith("/"), url
        asset = await anonymous.get(url)
        assert asset.status_code == 200, url
        if url in assets:
            suffix = url.split("?")[0].rsplit(".", 1)[-1]
            assert asset.headers["content-type"].startswith(CONTENT_TYPES[f".{suffix}"]), url
            assert len(asset.content) > 1000, url
            assert "max-age" in asset.headers["cache-control"]
        else:
            assert url == "/openapi.json"
            assert "paths" in asset.json()


async def test_swagger_ui_page_uses_the_bundle_it_is_served(anonymous: httpx.AsyncClient) -> None:
    html = (await anonymous.get("/docs")).text
    assert "SwaggerUIBundle(" in html
    assert "url: '/openapi.json'" in html
    bundle = next(u for u in _references(html) if "swagger-ui-bundle.js" in u)
    body = (await anonymous.get(bundle)).text
    assert "SwaggerUIBundle" in body
    redirect = await anonymous.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert "swaggerUIRedirectOauth2" in redirect.text


async def test_only_the_known_assets_are_served(anonymous: httpx.AsyncClient) -> None:
    for path in (
        "/docs/assets/../../pyproject.toml",
        "/docs/assets/core.py",
        "/docs/assets/",
        "/docs/assets/%2e%2e/core.py",
    ):
        response = await anonymous.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["type"] == "NotFound"


async def test_docs_routes_stay_out_of_the_schema(anonymous: httpx.AsyncClient) -> None:
    paths = (await anonymous.get("/openapi.json")).json()["paths"]
    # the API's own routes, the OpenAI-compatible API's and the metrics: no docs route
    assert not [p for p in paths if not p.startswith(("/api/", "/v1/")) and p != "/metrics"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]
