"""Where thongbao may connect for a URL that came in a request rather than from its settings.

Status callbacks, webhook subscriptions and e-mail attachments name URLs that thongbao then
calls from inside its own network. Left open, an API key could make it reach what only it can
reach and, for an attachment, mail the answer out: its loopback, the cloud metadata service
(169.254.169.254), the office LAN. So such URLs may reach public addresses only, and the
networks listed in ``[outbound] allowed_networks`` (a department's own systems on 10.x).

The check is made on the address a connection is actually opened to (aiohttp's
``socket_factory``), after DNS and on every redirect: a name that resolves, or later
re-resolves, to a private address is refused as well. :meth:`OutboundGuard.url_problem`
answers early, at intake, for what can be known without DNS (an IP literal, ``localhost``).
Gateways, relays and APIs named in the settings are the operator's choice and not limited.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

import aiohttp
from yarl import URL

from dispatcher.config import OutboundSettings

_ALLOW = "list its network in [outbound] allowed_networks to allow it"


class AddressRefusedError(OSError):
    """A connection to an address that URLs from requests may not reach."""


@dataclass(frozen=True)
class OutboundGuard:
    """Public addresses, plus ``allowed_networks``: see the module docstring."""

    allowed_networks: Sequence[IPv4Network | IPv6Network] = ()

    @classmethod
    def from_settings(cls, settings: OutboundSettings) -> OutboundGuard:
        """The guard the settings describe."""
        return cls(tuple(settings.allowed_networks))

    def allows(self, address: str) -> bool:
        """Whether an IP address (as a socket gives it, with or without an IPv6 zone) may be
        connected to."""
        ip: IPv4Address | IPv6Address = ip_address(address.partition("%")[0])
        if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self.allowed_networks):
            return True
        return ip.is_global and not ip.is_multicast

    def url_problem(self, url: str) -> str | None:
        """Why ``url`` will be refused, when that is known without DNS; None otherwise."""
        host = (URL(url).host or "").rstrip(".").lower()
        if host == "localhost" or host.endswith(".localhost"):
            address = "127.0.0.1"
        else:
            try:
                address = str(ip_address(host.strip("[]")))
            except ValueError:
                return None  # a name: checked on the addresses it resolves to
        if self.allows(address):
            return None
        return f"{host} is not a public address: thongbao does not call it; {_ALLOW}"

    def connector(self, **kwargs: Any) -> aiohttp.TCPConnector:
        """A connector that opens sockets only to allowed addresses."""
        return aiohttp.TCPConnector(socket_factory=self._socket, **kwargs)

    def _socket(self, addr_info: Any) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        if not self.allows(sockaddr[0]):
            # The same text for every address, so that a host with several refused ones
            # still raises this error and not aiohappyeyeballs' combined one.
            raise AddressRefusedError(
                errno.EACCES, f"the address is not public: thongbao does not call it; {_ALLOW}"
            )
        return socket.socket(family=family, type=kind, proto=proto)


def refused_address(exc: BaseException) -> str | None:
    """The guard's reason when ``exc`` (an aiohttp error) is a refused address, else None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AddressRefusedError):
            return seen.strerror
        seen = getattr(seen, "os_error", None) or seen.__cause__
    return None
