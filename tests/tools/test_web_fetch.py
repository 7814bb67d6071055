"""web_fetch against a real HTTP server on 127.0.0.1: off unless enabled, loopback refused
unless its network is allowed (and on every redirect hop), HTML to text, content types,
size limits, time limit."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any
from urllib.parse import quote

import pytest

from agio.config.components import ToolComponent
from agio.tools.base import Tool, ToolError
from agio.tools.environment import ToolEnvironment
from agio.tools.registry import ToolLoadError, build_tool
from agio.tools.ssrf import BlockedURL
from tests.tools.conftest import LocalServer

LOOPBACK = (ip_network("127.0.0.1/32"),)


def fetcher(*, allowed: bool = True, timeout: float = 30.0, **options: Any) -> Tool:
    component = ToolComponent(
        name="web_fetch", kind="builtin", builtin="web_fetch", timeout=timeout, options=options
    )
    environment = ToolEnvironment(
        enable_web_fetch=True, allowed_networks=LOOPBACK if allowed else ()
    )
    return build_tool(component, environment)


def redirect(server: LocalServer, target: str) -> str:
    return server.url(f"/redirect?to={quote(target, safe='')}")


async def test_disabled_unless_the_operator_enables_it(local_server: LocalServer) -> None:
    component = ToolComponent(name="web_fetch", kind="builtin", builtin="web_fetch")
    tool = build_tool(component, ToolEnvironment(allowed_networks=LOOPBACK))
    with pytest.raises(ToolError, match="AGIO_ENABLE_WEB_FETCH_TOOL=true"):
        await tool.run({"url": local_server.url("/page")})


async def test_html_becomes_text(local_server: LocalServer) -> None:
    result = await fetcher().run({"url": local_server.url("/page")})
    assert result["status"] == 200
    assert result["content_type"] == "text/html"
    assert result["url"] == local_server.url("/page")
    text = result["text"]
    assert "Heading" in text
    assert "First paragraph with bold text." in text
    assert "one\ntwo" in text
    assert "<" not in text
    assert "script text" not in text
    assert "color: red" not in text
    assert result["truncated"] is False


async def test_text_and_json_come_as_they_are(local_server: LocalServer) -> None:
    text = await fetcher().run({"url": local_server.url("/text")})
    assert (text["text"], text["content_type"]) == ("plain answer", "text/plain")
    echoed = await fetcher().run({"url": local_server.url("/echo")})
    assert echoed["content_type"] == "application/json"
    assert '"method": "GET"' in echoed["text"]


async def test_html_without_a_content_type_is_recognised(local_server: LocalServer) -> None:
    result = await fetcher().run({"url": local_server.url("/untyped-html")})
    assert result["content_type"] is None
    assert "First paragraph with bold text." in result["text"]


async def test_an_error_page_is_returned_with_its_status(local_server: LocalServer) -> None:
    result = await fetcher().run({"url": local_server.url("/missing-page")})
    assert result["status"] == 404
    assert result["text"].strip() == "Not here"


async def test_binary_content_is_refused(local_server: LocalServer) -> None:
    with pytest.raises(ToolError, match="image/png, which web_fetch cannot read as text"):
        await fetcher().run({"url": local_server.url("/image")})


async def test_big_pages_are_cut_with_a_note(local_server: LocalServer) -> None:
    downloaded = await fetcher(max_bytes=1000).run({"url": local_server.url("/big-page")})
    assert downloaded["truncated"] is True
    assert downloaded["note"] == "only the first 1000 bytes were downloaded"
    assert "paragraph 0" in downloaded["text"]
    assert "paragraph 99999" not in downloaded["text"]

    shown = await fetcher(max_chars=50).run({"url": local_server.url("/big-page")})
    assert len(shown["text"]) == 50
    assert shown["truncated"] is True
    assert shown["note"].startswith("the text was cut at 50 of ")


async def test_the_time_limit_applies(local_server: LocalServer) -> None:
    with pytest.raises(ToolError, match=r"timed out after 0\.2 s"):
        await fetcher(timeout=0.2).run({"url": local_server.url("/slow")})


async def test_loopback_is_refused_unless_allowed(local_server: LocalServer) -> None:
    with pytest.raises(BlockedURL, match=r"127\.0\.0\.1, a loopback address"):
        await fetcher(allowed=False).run({"url": local_server.url("/page")})
    with pytest.raises(BlockedURL, match="loopback"):
        await fetcher(allowed=False).run({"url": local_server.url("/page", host="localhost")})


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("http://127.0.0.2:{port}/page", r"127\.0\.0\.2, a loopback address"),
        ("http://10.0.0.1/", r"10\.0\.0\.1, a private address"),
        ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
    ],
)
async def test_a_redirect_to_a_refused_address_is_refused(
    local_server: LocalServer, target: str, message: str
) -> None:
    """127.0.0.1 is allowed; where it redirects to is checked again, and refused."""
    url = redirect(local_server, target.format(port=local_server.port))
    with pytest.raises(BlockedURL, match=message):
        await fetcher().run({"url": url})


async def test_an_allowed_redirect_is_followed(local_server: LocalServer) -> None:
    result = await fetcher().run({"url": redirect(local_server, local_server.url("/page"))})
    assert result["url"] == local_server.url("/page")
    assert "Heading" in result["text"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "url: Field required"),
        ({"url": "x" * 3000}, "url: String should have at most 2048"),
        ({"url": "http://example.com", "method": "POST"}, "method: Extra inputs"),
        ({"url": "not a url"}, "scheme '' is not allowed"),
    ],
)
async def test_bad_arguments_are_tool_errors(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ToolError, match=message):
        await fetcher().run(arguments)


def test_bad_options_are_load_errors() -> None:
    with pytest.raises(ToolLoadError, match="max_bytes"):
        fetcher(max_bytes=0)
    with pytest.raises(ToolLoadError, match="allow_private: Extra inputs"):
        fetcher(allow_private=True)


def test_the_allowed_networks_setting(make_settings: Any) -> None:
    settings = make_settings(tool_allowed_networks="10.0.0.0/8, ::1,192.168.1.7")
    assert settings.tool_allowed_networks == ["10.0.0.0/8", "::1", "192.168.1.7"]
    with pytest.raises(ValueError, match="'intranet' is not a network"):
        make_settings(tool_allowed_networks="10.0.0.0/8,intranet")
