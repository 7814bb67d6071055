"""The http_request tool: off by default; through the SSRF guard against a local server."""

from __future__ import annotations

import json
from ipaddress import ip_address, ip_network
from urllib.parse import quote

import pytest

from agio.tools import ssrf
from agio.tools.base import Tool, ToolError
from agio.tools.builtin.http_request import HttpRequestTool
from agio.tools.ssrf import BlockedURL, GuardPolicy, IPAddress
from tests.tools.conftest import LocalServer

LOOPBACK_ONLY = GuardPolicy(allowed_networks=[ip_network("127.0.0.1/32")])


def redirect(server: LocalServer, to: str, status: int = 302) -> str:
    return server.url(f"/redirect?status={status}&to={quote(to, safe='')}")


def enabled(**kwargs: object) -> HttpRequestTool:
    return HttpRequestTool(enabled=True, policy=LOOPBACK_ONLY, **kwargs)  # type: ignore[arg-type]


async def test_disabled_by_default(local_server: LocalServer) -> None:
    tool = HttpRequestTool()
    assert isinstance(tool, Tool)
    with pytest.raises(ToolError, match="AGIO_ENABLE_HTTP_REQUEST_TOOL=true"):
        await tool.run({"url": local_server.url("/hello")})


async def test_schema() -> None:
    schema = HttpRequestTool().parameters
    assert schema["required"] == ["url"]
    assert set(schema["properties"]) == {"url", "method", "body"}
    assert schema["properties"]["method"]["enum"] == ["GET", "POST"]


async def test_get_from_an_allowed_network(local_server: LocalServer) -> None:
    result = await enabled().run({"url": local_server.url("/hello")})
    assert result["status"] == 200
    assert result["body"] == "hello world"
    assert result["truncated"] is False
    assert result["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert "set-cookie" not in result["headers"]


async def test_post_text_and_json(local_server: LocalServer) -> None:
    tool = enabled()
    result = await tool.run({"url": local_server.url("/echo"), "method": "post", "body": "hi"})
    echoed = json.loads(result["body"])
    assert echoed["method"] == "POST"
    assert echoed["body"] == "hi"
    assert echoed["content_type"] == "text/plain; charset=utf-8"
    assert echoed["host"] == f"127.0.0.1:{local_server.port}"

    result = await tool.run(
        {"url": local_server.url("/echo"), "method": "POST", "body": {"a": [1, "é"]}}
    )
    echoed = json.loads(result["body"])
    assert echoed["content_type"] == "application/json"
    assert json.loads(echoed["body"]) == {"a": [1, "é"]}


async def test_argument_errors(local_server: LocalServer) -> None:
    tool = enabled()
    with pytest.raises(ToolError, match="url: Field required"):
        await tool.run({})
    with pytest.raises(ToolError, match="method: "):
        await tool.run({"url": local_server.url("/hello"), "method": "DELETE"})
    with pytest.raises(ToolError, match="only be sent with method POST"):
        await tool.run({"url": local_server.url("/hello"), "body": "x"})
    with pytest.raises(ToolError, match="headers: Extra inputs"):
        await tool.run({"url": local_server.url("/hello"), "headers": {"Host": "x"}})


async def test_large_responses_are_truncated(local_server: LocalServer) -> None:
    result = await enabled(max_response_bytes=1000).run({"url": local_server.url("/big")})
    assert result["truncated"] is True
    assert result["body"] == "a" * 1000


async def test_time_limit(local_server: LocalServer) -> None:
    with pytest.raises(ToolError, match=r"timed out|ReadTimeout"):
        await enabled(timeout=0.2).run({"url": local_server.url("/slow")})


async def test_error_statuses_are_results(local_server: LocalServer) -> None:
    result = await enabled().run({"url": local_server.url("/status/503")})
    assert result["status"] == 503
    assert result["body"].startswith("boom")


async def test_allowed_redirects_are_followed(local_server: LocalServer) -> None:
    result = await enabled().run({"url": redirect(local_server, local_server.url("/hello"))})
    assert (result["status"], result["body"]) == (200, "hello world")
    assert result["url"] == local_server.url("/hello")
    # relative locations resolve against the URL asked for, not the pinned address
    result = await enabled().run({"url": redirect(local_server, "/hello", status=301)})
    assert result["body"] == "hello world"


async def test_post_becomes_get_after_303(local_server: LocalServer) -> None:
    result = await enabled().run(
        {"url": redirect(local_server, "/echo", status=303), "method": "POST", "body": "x"}
    )
    echoed = json.loads(result["body"])
    assert (echoed["method"], echoed["body"], echoed["content_type"]) == ("GET", "", None)


async def test_post_is_kept_after_307(local_server: LocalServer) -> None:
    result = await enabled().run(
        {"url": redirect(local_server, "/echo", status=307), "method": "POST", "body": "x"}
    )
    echoed = json.loads(result["body"])
    assert (echoed["method"], echoed["body"]) == ("POST", "x")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("http://127.0.0.2:{port}/hello", r"127\.0\.0\.2, a loopback address"),
        ("http://10.0.0.1/", r"10\.0\.0\.1, a private address"),
        ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("http://[::ffff:169.254.169.254]/", "a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "a cloud metadata address"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("gopher://127.0.0.1:{port}/", "scheme 'gopher' is not allowed"),
    ],
)
async def test_redirects_to_forbidden_targets_are_refused(
    local_server: LocalServer, target: str, message: str
) -> None:
    url = redirect(local_server, target.format(port=local_server.port))
    with pytest.raises(BlockedURL, match=message):
        await enabled().run({"url": url})


async def test_redirect_loops_stop(local_server: LocalServer) -> None:
    tool = HttpRequestTool(
        enabled=True,
        policy=GuardPolicy(allowed_networks=[ip_network("127.0.0.1/32")], max_redirects=2),
    )
    url = local_server.url("/hello")
    for _ in range(3):
        url = redirect(local_server, url)
    with pytest.raises(BlockedURL, match=r"too many redirects \(at most 2\)"):
        await tool.run({"url": url})


async def test_default_policy_refuses_loopback(local_server: LocalServer) -> None:
    tool = HttpRequestTool(enabled=True)
    with pytest.raises(BlockedURL, match="loopback"):
        await tool.run({"url": local_server.url("/hello")})
    with pytest.raises(BlockedURL, match="loopback"):
        await tool.run({"url": local_server.url("/hello", host="localhost")})
    with pytest.raises(BlockedURL, match="loopback"):
        await tool.run({"url": f"http://[::1]:{local_server.port}/hello"})


async def test_hostname_resolving_to_private_addresses_is_refused(
    local_server: LocalServer,
) -> None:
    tool = HttpRequestTool(enabled=True)
    with pytest.raises(BlockedURL, match=r"'localhost': it resolves to (127\.0\.0\.1|::1)"):
        await tool.run({"url": local_server.url("/hello", host="localhost")})


async def test_allowed_hostname_is_pinned(local_server: LocalServer) -> None:
    """Real DNS for `localhost`, then a connection to the vetted address with its `Host`."""
    policy = GuardPolicy(allowed_networks=[ip_network("127.0.0.1/32"), ip_network("::1/128")])
    tool = HttpRequestTool(enabled=True, policy=policy)
    result = await tool.run({"url": local_server.url("/echo", host="localhost")})
    assert json.loads(result["body"])["host"] == f"localhost:{local_server.port}"
    assert result["url"] == local_server.url("/echo", host="localhost")


async def test_pinning_defeats_dns_rebinding(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first answer is vetted and used; a later, different answer is never asked for."""
    answers = [[ip_address("127.0.0.1")]]
    calls: list[str] = []

    async def rebinding_resolver(host: str, port: int) -> list[IPAddress]:
        calls.append(host)
        return answers.pop(0) if answers else [ip_address("10.0.0.1")]

    monkeypatch.setattr(ssrf, "resolve_host", rebinding_resolver)
    result = await enabled().run({"url": local_server.url("/echo", host="rebind.test")})
    assert calls == ["rebind.test"]
    assert json.loads(result["body"])["host"] == f"rebind.test:{local_server.port}"
    # the next lookup answers a private address: refused before any connection
    with pytest.raises(BlockedURL, match=r"10\.0\.0\.1"):
        await enabled().run({"url": local_server.url("/echo", host="rebind.test")})


async def test_next_address_is_tried_when_connecting_fails(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def resolver(host: str, port: int) -> list[IPAddress]:
        return [ip_address("::1"), ip_address("127.0.0.1")]  # nothing listens on ::1

    monkeypatch.setattr(ssrf, "resolve_host", resolver)
    policy = GuardPolicy(allowed_networks=[ip_network("127.0.0.1/32"), ip_network("::1/128")])
    tool = HttpRequestTool(enabled=True, policy=policy)
    result = await tool.run({"url": local_server.url("/hello", host="dual.test")})
    assert result["body"] == "hello world"


async def test_connection_failures_are_tool_errors() -> None:
    tool = HttpRequestTool(enabled=True, policy=LOOPBACK_ONLY)
    with pytest.raises(ToolError, match="cannot connect"):
        await tool.run({"url": "http://127.0.0.1:1/"})
