"""Which address a request comes from, for failed-login counting and the audit log."""

from __future__ import annotations

from ipaddress import ip_network
from types import SimpleNamespace

import pytest
from starlette.requests import Request

from dockyard.api.access import client_address


def _request(peer: str, forwarded: str | None, trusted: list[str]) -> Request:
    access = SimpleNamespace(trusted_proxies=tuple(ip_network(n) for n in trusted))
    app = SimpleNamespace(state=SimpleNamespace(gate=SimpleNamespace(access=access)))
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    scope = {"type": "http", "client": (peer, 1234), "headers": headers, "app": app}
    return Request(scope)


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        # No trusted proxies: the header is anyone's to forge.
        ("203.0.113.9", "198.51.100.1", [], "203.0.113.9"),
        # From the balancer: the client it saw.
        ("10.0.0.2", "198.51.100.1", ["10.0.0.0/8"], "198.51.100.1"),
        # A client that forges a first hop is still seen by its real address.
        ("10.0.0.2", "1.2.3.4, 198.51.100.1", ["10.0.0.0/8"], "198.51.100.1"),
        # Two trusted hops in a row.
        ("10.0.0.2", "198.51.100.1, 10.0.0.7", ["10.0.0.0/8"], "198.51.100.1"),
        # Not from the balancer: the header is ignored.
        ("203.0.113.9", "198.51.100.1", ["10.0.0.0/8"], "203.0.113.9"),
        # From the balancer without the header: the balancer itself.
        ("10.0.0.2", None, ["10.0.0.0/8"], "10.0.0.2"),
        # Garbage in the header is not an address.
        ("10.0.0.2", "not-an-ip", ["10.0.0.0/8"], "not-an-ip"),
    ],
)
def test_client_address(
    peer: str, forwarded: str | None, trusted: list[str], expected: str
) -> None:
    assert client_address(_request(peer, forwarded, trusted)) == expected
