"""Whose request this is: the address sign-in limits count and the audit log records.

Behind the TLS proxy every request comes from the proxy's address, so the proxy names the client
in a header (BLUDASH_CLIENT_IP_HEADER, X-Forwarded-For by default). Anyone can write that header,
so it is read only when the request came from a listed proxy (BLUDASH_TRUSTED_PROXIES), and then
from its right end: each proxy appends the address it saw, and whatever the client wrote itself
is further left.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address, or None without a request (a management command)."""
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR") or None
    if remote is None or not _is_trusted_proxy(_address(remote)):
        return remote
    header = "HTTP_" + settings.BLUDASH_CLIENT_IP_HEADER.upper().replace("-", "_")
    hops = [hop.strip() for hop in request.META.get(header, "").split(",")]
    client = remote
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            # Not written by a proxy of ours: what lies left of it is no more believable.
            return client
        client = hop
        if not _is_trusted_proxy(address):
            return client
    return client


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_trusted_proxy(address: Address | None) -> bool:
    if address is None:
        return False
    return any(
        address in ipaddress.ip_network(network, strict=False)
        for network in settings.BLUDASH_TRUSTED_PROXIES
    )
