"""The SSRF guard: address classification, URL vetting and pinning."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from agio.tools import ssrf
from agio.tools.ssrf import (
    BlockedURL,
    GuardPolicy,
    IPAddress,
    address_refusal,
    embedded_ipv4,
    resolve_host,
    vet_url,
)

DEFAULT = GuardPolicy()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.0.0.2", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.1.1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("100.64.0.1", "non-public"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved|private"),
        ("255.255.255.255", "private|reserved"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fec0::1", "site-local"),
        ("192.0.2.1", "private|non-public"),
        ("::ffff:127.0.0.1", "loopback|reserved|private"),
        ("::ffff:169.254.169.254", "metadata"),
        ("::ffff:10.0.0.1", "private|reserved"),
        ("64:ff9b::a00:1", "private|reserved|non-public"),
        ("64:ff9b::a9fe:a9fe", "metadata"),
        ("2002:a00:1::", "private|reserved|non-public"),
        ("::10.0.0.1", "private|reserved"),
    ],
)
def test_refused_addresses(address: str, reason: str) -> None:
    refusal = address_refusal(ip_address(address), DEFAULT)
    assert refusal is not None
    assert any(word in refusal for word in reason.split("|")), refusal


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ip_address(address), DEFAULT) is None


def test_policy_allows_chosen_networks_but_never_metadata() -> None:
    policy = GuardPolicy(
        allowed_networks=[ip_network("127.0.0.1/32"), ip_network("169.254.0.0/16")]
    )
    assert address_refusal(ip_address("127.0.0.1"), policy) is None
    assert address_refusal(ip_address("::ffff:127.0.0.1"), policy) is None
    assert address_refusal(ip_address("127.0.0.2"), policy) is not None
    assert address_refusal(ip_address("169.254.1.1"), policy) is None
    assert address_refusal(ip_address("169.254.169.254"), policy) == "a cloud metadata address"


def test_embedded_ipv4() -> None:
    assert embedded_ipv4(ip_address("10.0.0.1")) is None
    assert embedded_ipv4(ip_address("::ffff:10.0.0.1")) == ip_address("10.0.0.1")
    assert embedded_ipv4(ip_address("64:ff9b::a00:1")) == ip_address("10.0.0.1")
    assert embedded_ipv4(ip_address("2002:a00:1::")) == ip_address("10.0.0.1")
    assert embedded_ipv4(ip_address("2606:4700:4700::1111")) is None


async def test_resolve_literals_without_dns() -> None:
    assert await resolve_host("10.0.0.1", 80) == [ip_address("10.0.0.1")]
    assert await resolve_host("10.1", 80) == [ip_address("10.0.0.1")]
    assert await resolve_host("::1", 80) == [ip_address("::1")]
    assert ip_address("127.0.0.1") in await resolve_host("localhost", 80)


async def test_resolution_failures_are_refusals() -> None:
    with pytest.raises(BlockedURL, match="cannot resolve host"):
        await resolve_host("example.invalid", 80)  # the test suite refuses to resolve it


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("ftp://example.com/", "scheme 'ftp' is not allowed"),
        ("gopher://127.0.0.1:6379/", "scheme 'gopher' is not allowed"),
        ("http:///path", "no host"),
        ("http://127.0.0.1/", "loopback"),
        ("http://127.1/", "127.0.0.1, a loopback"),
        ("http://0x7f.0.0.1/", "127.0.0.1, a loopback"),
        ("http://2130706433/", "127.0.0.1, a loopback"),
        ("http://0xa000001/", "10.0.0.1, a private"),
        ("http://[::1]:8080/", "loopback"),
        ("http://[::ffff:7f00:1]/", "refused"),
        ("http://0.0.0.0:80/", "unspecified"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://100.100.100.200/", "metadata"),
        ("http://10.0.0.1/", "private"),
        ("http://localhost/", "loopback"),
        ("http://localhost.:1/", "loopback"),
    ],
)
async def test_vet_url_refusals(url: str, message: str) -> None:
    with pytest.raises(BlockedURL, match=message):
        await vet_url(url, DEFAULT)


async def test_vet_url_pins_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        assert (host, port) == ("xn--bcher-kva.example", 443)
        return [ip_address("93.184.216.34"), ip_address("2606:2800:220:1::1")]

    monkeypatch.setattr(ssrf, "resolve_host", resolve)
    target = await vet_url("https://bücher.example/a?b=1", DEFAULT)
    assert target.host == "xn--bcher-kva.example"
    assert target.host_header == "xn--bcher-kva.example"
    assert str(target.pinned_url(target.addresses[0])) == "https://93.184.216.34/a?b=1"
    assert str(target.pinned_url(target.addresses[1])) == "https://[2606:2800:220:1::1]/a?b=1"
    assert target.extensions == {"sni_hostname": "xn--bcher-kva.example"}


async def test_vet_url_refuses_when_any_address_is_private(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [ip_address("93.184.216.34"), ip_address("10.1.2.3")]

    monkeypatch.setattr(ssrf, "resolve_host", resolve)
    with pytest.raises(BlockedURL, match=r"resolves to 10\.1\.2\.3, a private address"):
        await vet_url("http://mixed.example:8080/", DEFAULT)


async def test_plain_http_has_no_sni_and_keeps_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        assert port == 8080
        return [ip_address("93.184.216.34")]

    monkeypatch.setattr(ssrf, "resolve_host", resolve)
    target = await vet_url("http://example.com:8080/x", DEFAULT)
    assert target.extensions == {}
    assert target.host_header == "example.com:8080"
    assert str(target.pinned_url(target.addresses[0])) == "http://93.184.216.34:8080/x"
