"""A guard against server-side request forgery for tools that fetch URLs a model chose.

A URL is fetched only when its scheme is http or https and every address its host
resolves to is public (not private, loopback, link-local, multicast, reserved,
unspecified, site-local, shared or a cloud metadata address; IPv4 embedded in IPv6 is
checked too). The connection then goes to the vetted address itself, with the original
host in the `Host` header and as TLS SNI, so DNS cannot answer differently between the
check and the connection (DNS rebinding). Redirects are followed by hand, each hop
vetted the same way. A `GuardPolicy` can allow chosen networks (tests, intranets).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import httpx

from agio.tools.base import ToolError

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

# Instance metadata services: refused even when a policy allows their network.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, …
        ip_address("fd00:ec2::254"),  # AWS over IPv6
        ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
_NAT64 = ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ip_network("::/96")
_LEGACY_IPV4 = re.compile(r"[0-9a-fA-FxX.]+")
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class BlockedURL(ToolError):
    """The guard refused a URL (scheme, address or redirect)."""


@dataclass(frozen=True)
class GuardPolicy:
    """What the guard lets through beyond the public internet.

    `allowed_networks` are reachable even when private or loopback (metadata addresses
    never are); `max_redirects` bounds the hops a request may follow.
    """

    allowed_networks: Sequence[IPNetwork] = ()
    allowed_schemes: frozenset[str] = field(default_factory=lambda: frozenset({"http", "https"}))
    max_redirects: int = 5


def embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    """The IPv4 address inside an IPv6 one (mapped, compatible, NAT64, 6to4, Teredo)."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _category(address: IPAddress) -> str | None:
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
        ("is_site_local", "a site-local address"),
    )
    for attribute, label in checks:
        if getattr(address, attribute, False):
            return label
    if not address.is_global:
        return "a non-public address"
    return None


def address_refusal(address: IPAddress, policy: GuardPolicy) -> str | None:
    """Why the guard will not connect to `address` (None when it may)."""
    inner = embedded_ipv4(address)
    candidates = [address] if inner is None else [address, inner]
    if any(candidate in METADATA_ADDRESSES for candidate in candidates):
        return "a cloud metadata address"
    for candidate in candidates:
        if any(candidate in network for network in policy.allowed_networks):
            return None
    for candidate in candidates:
        label = _category(candidate)
        if label is not None:
            return label
    return None


def parse_ip_literal(host: str) -> IPAddress | None:
    """`host` as an IP address when it is one, including the legacy IPv4 forms that
    resolvers accept (`127.1`, `0x7f.0.0.1`, `2130706433`)."""
    with contextlib.suppress(ValueError):
        return ip_address(host.strip("[]").split("%")[0])
    if _LEGACY_IPV4.fullmatch(host):
        with contextlib.suppress(OSError):
            return IPv4Address(socket.inet_aton(host))
    return None


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself, without DNS)."""
    literal = parse_ip_literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise BlockedURL(f"cannot resolve host {host!r}: {exc}") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        address = ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise BlockedURL(f"host {host!r} has no addresses")
    return addresses


@dataclass(frozen=True)
class VettedTarget:
    """A URL that passed the guard, and the addresses (all vetted) the request may use."""

    url: httpx.URL
    addresses: tuple[IPAddress, ...]

    @property
    def host(self) -> str:
        """The URL's host in ASCII (IDNA) form, as DNS, `Host` and SNI want it."""
        return self.url.raw_host.decode("ascii")

    def pinned_url(self, address: IPAddress) -> httpx.URL:
        """The URL with its host replaced by `address`: the connection goes there."""
        return self.url.copy_with(host=str(address))

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.url.port is None else f"{host}:{self.url.port}"

    @property
    def extensions(self) -> dict[str, str]:
        return {"sni_hostname": self.host} if self.url.scheme == "https" else {}


def _parse_url(url: str | httpx.URL) -> httpx.URL:
    try:
        return url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise BlockedURL(f"invalid URL: {exc}") from None


async def vet_url(url: str | httpx.URL, policy: GuardPolicy) -> VettedTarget:
    """Check `url` against `policy` and pick the address to connect to."""
    parsed = _parse_url(url)
    if parsed.scheme not in policy.allowed_schemes:
        allowed = ", ".join(sorted(policy.allowed_schemes))
        raise BlockedURL(f"URL scheme {parsed.scheme!r} is not allowed (only {allowed})")
    if not parsed.raw_host:
        raise BlockedURL("the URL has no host")
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = await resolve_host(host, port)
    for address in addresses:
        reason = address_refusal(address, policy)
        if reason is not None:
            raise BlockedURL(f"refused {host!r}: it resolves to {address}, {reason}")
    return VettedTarget(url=parsed, addresses=tuple(addresses))


@dataclass(frozen=True)
class GuardedResponse:
    """The final response of a guarded request; `content` holds at most `max_bytes`."""

    url: httpx.URL
    status_code: int
    headers: httpx.Headers
    content: bytes
    truncated: bool

    def text(self) -> str:
        """The body decoded with its declared charset (UTF-8 otherwise), lossily."""
        charset = _charset(self.headers.get("content-type", "")) or "utf-8"
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return None


def _redirect_method(status: int, method: str) -> str:
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"
    return method


async def guarded_request(
    method: str,
    url: str,
    *,
    policy: GuardPolicy,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    time_limit: float = 30.0,
    max_bytes: int = 1_000_000,
) -> GuardedResponse:
    """Send a request through the guard, following redirects (each hop vetted); the
    whole exchange, redirects included, must finish within `time_limit` seconds."""
    current = _parse_url(url)
    extra_headers = dict(headers or {})
    try:
        async with asyncio.timeout(time_limit):
            for _hop in range(policy.max_redirects + 1):
                target = await vet_url(current, policy)
                response = await _send(
                    target,
                    method,
                    content,
                    extra_headers,
                    time_limit=time_limit,
                    max_bytes=max_bytes,
                )
                location = response.headers.get("location")
                if response.status_code not in REDIRECT_STATUSES or not location:
                    return response
                try:
                    current = current.join(location)
                except (httpx.InvalidURL, ValueError) as exc:
                    raise BlockedURL(f"invalid redirect location: {exc}") from None
                new_method = _redirect_method(response.status_code, method)
                if new_method != method:
                    method, content = new_method, None
                    extra_headers = {
                        key: value
                        for key, value in extra_headers.items()
                        if key.lower() not in ("content-type", "content-length")
                    }
    except TimeoutError:
        raise ToolError(f"the request timed out after {time_limit:g} s") from None
    raise BlockedURL(f"too many redirects (at most {policy.max_redirects})")


async def _send(
    target: VettedTarget,
    method: str,
    content: bytes | None,
    headers: Mapping[str, str],
    *,
    time_limit: float,
    max_bytes: int,
) -> GuardedResponse:
    """One request to a vetted address (the next one when connecting fails); the body
    is read up to `max_bytes`."""
    request_headers = {**headers, "Host": target.host_header}
    # A fresh client per hop: no proxies from the environment (they would bypass the
    # pinning) and no pooled connection made for another host's SNI.
    async with httpx.AsyncClient(
        follow_redirects=False, trust_env=False, timeout=httpx.Timeout(time_limit)
    ) as client:
        response: httpx.Response | None = None
        failure = "no address"
        for address in target.addresses:
            request = client.build_request(
                method,
                target.pinned_url(address),
                content=content,
                headers=request_headers,
                extensions=target.extensions,
            )
            try:
                response = await client.send(request, stream=True)
                break
            except httpx.ConnectError as exc:
                failure = str(exc) or type(exc).__name__
            except httpx.HTTPError as exc:
                reason = str(exc) or type(exc).__name__
                raise ToolError(f"request to {target.host!r} failed: {reason}") from None
        if response is None:
            raise ToolError(f"cannot connect to {target.host!r}: {failure}")
        try:
            body = bytearray()
            truncated = False
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    del body[max_bytes:]
                    truncated = True
                    break
        except httpx.HTTPError as exc:
            raise ToolError(f"reading the response from {target.host!r} failed: {exc}") from None
        finally:
            await response.aclose()
    return GuardedResponse(
        url=target.url,
        status_code=response.status_code,
        headers=response.headers,
        content=bytes(body),
        truncated=truncated,
    )
