"""Which address a request comes from, for the per-address login limit.

The address is the WSGI ``REMOTE_ADDR``: the peer of the TCP connection. Behind a
reverse proxy (nginx) that peer is the proxy, so when, and only when, it is one of
the trusted proxies (``IM_TRUSTED_PROXIES``), ``X-Forwarded-For`` is read from its
right end: the rightmost hop that is not itself a trusted proxy is the client. Hops
further left were written by the client and could be anything, so they are never
believed. (gunicorn's ``forwarded_allow_ips`` only decides the URL scheme; it does not
touch ``REMOTE_ADDR``, so the server decides here.)

IPv6 clients are counted per /64, the block one subscriber usually gets: a limit per
single IPv6 address would be no limit at all.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["DEFAULT_TRUSTED_PROXIES", "IpNetwork", "client_address", "parse_networks"]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_TRUSTED_PROXIES = "127.0.0.1,::1"
"""The peers trusted to name the client (``IM_TRUSTED_PROXIES``) unless configured: the
loopback addresses, where nginx on the same host connects from. The one statement of
the default; the settings and ``create_app`` parse it (``parse_networks``) and
docs/configuration.md is checked against it."""


def parse_networks(text: str) -> tuple[IpNetwork, ...]:
    """Addresses or networks, comma-separated (empty: none).

    Raises:
        ValueError: a part is no address or network.
    """
    return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())


def _parse(text: str) -> IpAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(remote_addr: str | None, forwarded_for: str | None,
                   trusted: Iterable[IpNetwork]) -> str | None:
    """The client's address as a limit key (an IPv4 address or an IPv6 /64).

    ``None`` when the peer's address is unknown (not an IP address: a unix socket).
    """
    address = _parse(remote_addr or "")
    if address is None:
        return None
    networks = tuple(trusted)

    def is_trusted(ip: IpAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in networks)

    if forwarded_for and is_trusted(address):
        for hop in reversed(forwarded_for.split(",")):
            ip = _parse(hop)
            if ip is None:
                break  # garbage from the client's side: the last good hop stands
            address = ip
            if not is_trusted(ip):
                break
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
