"""Which hosts mediacache may connect to, enforced where yt-dlp opens its sockets.

Checking a URL before handing it to yt-dlp is not enough: redirects, playlist entries,
manifests and DNS rebinding all lead to connections the first check never saw. So
yt-dlp's connection factory is wrapped: while a policy is active on the current thread,
every host is resolved once, every address is checked, and the socket connects to an
address that passed (never to a second, possibly different, resolution).
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressRefused(OSError):
    """A connection the policy forbids; raised before any packet is sent."""


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast; mapped and NAT64 forms are judged by the IPv4 address inside."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address in NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and not address.is_multicast


def _domain_matches(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in domains)


@dataclass
class AddressPolicy:
    """The rules one job or look-up connects under; ``refused`` records what was stopped."""

    allow_private: bool = False
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    blocked_domains: tuple[str, ...] = ()
    refused: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, config: dict) -> AddressPolicy:
        """The policy the configuration describes."""
        return cls(
            allow_private=config["ALLOW_PRIVATE_URLS"],
            allowed_networks=tuple(ipaddress.ip_network(net, strict=False) for net in config["ALLOWED_NETWORKS"]),
            allowed_domains=tuple(domain.lower().strip(".") for domain in config["ALLOWED_DOMAINS"]),
            blocked_domains=tuple(domain.lower().strip(".") for domain in config["BLOCKED_DOMAINS"]),
        )

    def host_problem(self, host: str) -> str | None:
        """Why a host name is refused before resolving it, or None."""
        host = host.rstrip(".").lower()
        if _domain_matches(host, self.blocked_domains):
            return f"{host} is on this server's blocked list"
        if self.allowed_domains and not _domain_matches(host, self.allowed_domains):
            return f"{host} is not on this server's list of allowed sites"
        if not self.allow_private and (host == "localhost" or host.endswith(".localhost")):
            return f"{host} is a local address"
        return None

    def address_allowed(self, address: IPAddress) -> bool:
        """Whether a resolved address may be connected to."""
        return self.allow_private or is_public(address) or any(address in net for net in self.allowed_networks)

    def resolve(self, host: str, port: int | None) -> list[tuple]:
        """getaddrinfo results the policy allows; raises AddressRefused if none (DNS failure included)."""
        problem = self.host_problem(host)
        if problem is None:
            try:
                infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                problem = f"{host} could not be resolved"
            else:
                allowed = [info for info in infos if self.address_allowed(_address_of(info))]
                if allowed:
                    return allowed
                shown = ", ".join(sorted({str(_address_of(info)) for info in infos}))
                problem = f"{host} resolves to a private or local address ({shown})"
        self.refused.append(problem)
        raise AddressRefused(f"refused by mediacache's address policy: {problem}")


def _address_of(info: tuple) -> IPAddress:
    return ipaddress.ip_address(info[4][0].split("%")[0])


_active: contextvars.ContextVar[AddressPolicy | None] = contextvars.ContextVar("mediacache_policy", default=None)
_install_lock = threading.Lock()
_installed = False


@contextmanager
def enforced(policy: AddressPolicy) -> Iterator[AddressPolicy]:
    """Apply ``policy`` to every connection yt-dlp opens on this thread while inside."""
    _install()
    token = _active.set(policy)
    try:
        yield policy
    finally:
        _active.reset(token)


def _install() -> None:
    """Wrap yt-dlp's connection factory once per process."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from yt_dlp.networking import _helper, _urllib

        original = _helper.create_connection

        def guarded_create_connection(address, *args, **kwargs):
            policy = _active.get()
            if policy is None:
                return original(address, *args, **kwargs)
            host, port = address
            last_error: OSError | None = None
            for info in policy.resolve(host, port):
                try:
                    # A numeric address: no second DNS answer can differ from the one checked.
                    return original((info[4][0], port), *args, **kwargs)
                except OSError as exc:
                    last_error = exc
            raise last_error or OSError(f"could not connect to {host}")

        _helper.create_connection = guarded_create_connection
        _urllib.create_connection = guarded_create_connection
        _installed = True
