"""The web console (built from `console/` into `agio/console_dist/` by
`scripts/build-console`): its page at `/` and at every address the console routes itself
(`/runs/run_…`, `/chat?…`), and its scripts, styles and images under `/assets/`.

- The page (`index.html`) is the answer to a GET that asks for HTML (`Accept: text/html`,
  what a browser sends when it navigates) at any path outside the server's own prefixes
  (`/api`, `/docs`, `/redoc`, `/metrics`, `/openapi.json`, `/v1`, `/mcp`, `/assets`); other
  requests there get the usual JSON 404. It is never cached without asking
  (`no-cache`), and carries a strict Content-Security-Policy: only this server's own
  scripts, styles, images and connections, no inline script, no framing.
- An asset's name holds a hash of its content, so it is cached for a year (`immutable`).
  Only the files of the build are served, one fixed route each, made from the folder's
  listing when the router is built.

Every route is public (the console signs in through the API) and outside the OpenAPI
schema, like the API docs' pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException

from agio.api.auth import public

ASSETS_PREFIX = "/assets"
#: the server's own path prefixes: never the console's page
RESERVED_PREFIXES = ("api", "docs", "redoc", "metrics", "openapi.json", "v1", "mcp", "assets")

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}
#: suffix -> media type of what the build may hold; any other file is not served
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
}


class ConsolePathConvertor(Convertor[str]):
    """A path the console may own: anything not under a reserved prefix. In the route's
    pattern, so a request under `/api` never reaches the console's route (its 404 and 405
    stay the API's)."""

    reserved = "|".join(p.replace(".", r"\.") for p in RESERVED_PREFIXES)
    regex = rf"(?!(?:{reserved})(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("console_path", ConsolePathConvertor())


def dist_dir() -> Path:
    return Path(str(resources.files("agio").joinpath("console_dist")))


def _assets(folder: Path) -> dict[str, tuple[Path, str]]:
    if not folder.is_dir():
        return {}
    return {
        path.name: (path, MEDIA_TYPES[path.suffix])
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix in MEDIA_TYPES
    }


def _page(folder: Path) -> bytes | None:
    index = folder / "index.html"
    return index.read_bytes() if index.is_file() else None


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 1.0
    return 1.0


def wants_html(request: Request) -> bool:
    """Whether the request accepts HTML (a browser navigating), by its Accept header."""
    for entry in request.headers.get("accept", "").split(","):
        media, _, params = entry.partition(";")
        if media.strip().lower() in ("text/html", "application/xhtml+xml") and _quality(params) > 0:
            return True
    return False


def _asset_route(path: Path, media_type: str) -> Callable[[], Awaitable[FileResponse]]:
    async def serve() -> FileResponse:
        return FileResponse(path, media_type=media_type, headers=ASSET_HEADERS)

    return serve


def asset_paths(folder: Path | None = None) -> list[str]:
    """The URL path of every asset the console serves."""
    return [f"{ASSETS_PREFIX}/{name}" for name in _assets((folder or dist_dir()) / "assets")]


def make_router(folder: Path | None = None) -> APIRouter:
    """The console's routes, serving the build in `folder` (default: the package's)."""
    folder = folder or dist_dir()
    page = _page(folder)
    assets = _assets(folder / "assets")
    router = APIRouter(include_in_schema=False, dependencies=[public()])

    # one fixed route per file (no path parameter: nothing else can be asked for)
    for name, (path, media_type) in assets.items():
        router.add_api_route(
            f"{ASSETS_PREFIX}/{name}",
            _asset_route(path, media_type),
            methods=["GET"],
            name=f"console_asset_{name}",
        )

    @router.get("/{path:console_path}")
    async def console_page(request: Request, path: str) -> HTMLResponse:
        if not wants_html(request):
            raise HTTPException(404)
        if page is None:
            raise HTTPException(404, "The web console is not built: run scripts/build-console")
        return HTMLResponse(page, headers=PAGE_HEADERS)

    return router


router = make_router()
