"""The interactive API docs (`/docs`: Swagger UI, `/redoc`: ReDoc) with their scripts and
styles served by Agio itself, so they work without internet access.

The assets are the ones the pinned `fastapi-offline` package ships; only its files are
used, the pages come from FastAPI's own `get_swagger_ui_html` / `get_redoc_html`. None of
these routes is in the OpenAPI schema; each is public like `/api/health` (the `Public`
guard: rate limited by client address). `/` is the web console's (routers/console.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import metadata, resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

from agio.api.auth import public

ASSETS_PACKAGE = "fastapi_offline"
ASSETS_PREFIX = "/docs/assets"
#: file name -> media type of every asset the pages use
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
# the package's version is in every asset URL, so browsers may cache them for long
ASSETS_VERSION = metadata.version("fastapi-offline")
CACHE_CONTROL = "public, max-age=86400"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"

router = APIRouter(include_in_schema=False, dependencies=[public()])


def assets_dir() -> Path:
    return Path(str(resources.files(ASSETS_PACKAGE).joinpath("static")))


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _asset(request: Request, name: str) -> str:
    return f"{_root(request)}{ASSETS_PREFIX}/{name}?v={ASSETS_VERSION}"


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=_asset(request, "swagger-ui-bundle.js"),
        swagger_css_url=_asset(request, "swagger-ui.css"),
        swagger_favicon_url=_asset(request, "favicon.png"),
        oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT}",
        # no badge that asks the public validator about the schema
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(OAUTH2_REDIRECT)
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=f"{_root(request)}{request.app.openapi_url}",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=_asset(request, "redoc.standalone.js"),
        redoc_favicon_url=_asset(request, "favicon.png"),
        with_google_fonts=False,
    )


def _asset_route(path: Path, media_type: str) -> Callable[[], Awaitable[FileResponse]]:
    async def serve() -> FileResponse:
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": CACHE_CONTROL})

    return serve


# one fixed route per file (no path parameter: nothing else in the folder can be asked for)
for _name, _media_type in ASSETS.items():
    router.add_api_route(
        f"{ASSETS_PREFIX}/{_name}",
        _asset_route(assets_dir() / _name, _media_type),
        methods=["GET"],
        name=f"docs_asset_{_name}",
    )
