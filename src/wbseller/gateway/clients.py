"""The client's address, for the failed-authentication guard: the peer, or, when the peer is a trusted
proxy (`trusted_proxies`: addresses or CIDRs, none by default), the address it forwards.

uvicorn's own proxy handling is off (`serve` passes `proxy_headers=False`): it would trust
X-Forwarded-For from 127.0.0.1 by default, letting any local client pick the address it is counted as.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, MutableMapping
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """`10.0.0.1`, `10.0.0.0/8`, `::1`; ValueError naming the bad one."""
    nets: list[Network] = []
    for raw in values:
        value = raw.strip()
        if not value:
            continue
        try:
            nets.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(f"trusted_proxies: {value!r} is not an IP address or a CIDR range") from None
    return tuple(nets)


class ClientAddress:
    def __init__(self, trusted: Iterable[str] = ()) -> None:
        self.trusted = parse_networks(trusted)

    def is_trusted(self, addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def of(self, scope: MutableMapping[str, Any]) -> str:
        client = scope.get("client")
        peer: str = client[0] if client else "-"
        if not self.trusted or not self.is_trusted(peer):
            return peer
        hops: list[str] = []
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                hops += [h.strip() for h in value.decode("latin-1").split(",")]
            elif name == b"forwarded":
                hops += _forwarded_for(value.decode("latin-1"))
        # The nearest hop a trusted proxy did not add is the client (RFC 7239 7.4: from the right).
        for hop in reversed(hops):
            if not self.is_trusted(hop):
                return hop if _is_ip(hop) else peer
        return hops[0] if hops and _is_ip(hops[0]) else peer


def _forwarded_for(value: str) -> list[str]:
    out: list[str] = []
    for element in value.split(","):
        for pair in element.split(";"):
            key, _, val = pair.strip().partition("=")
            if key.lower() == "for":
                val = val.strip('"')
                if val.startswith("["):  # "[2001:db8::1]:4711"
                    val = val[1 : val.find("]")]
                elif val.count(":") == 1:  # "192.0.2.60:4711"
                    val = val.split(":")[0]
                out.append(val)
    return out


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
