"""The address policy: which hosts and addresses one job or look-up may connect to.

Plain rules, no I/O but the DNS look-up in ``AddressPolicy.resolve``: public unicast
addresses only, unless the operator allows private ones, certain networks or domains,
blocks domains, or names the exact endpoints of this server's own helpers. An IPv6 address
that carries an IPv4 one (mapped, compatible, translated, 6to4, Teredo, NAT64) leads to that
IPv4 host, so the IPv4 address inside is held to the same rules. netguard.py enforces a
policy on every connection yt-dlp opens.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215; read as /96 prefixes, the usual use
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated, but a stack may still route it to IPv4
IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT (RFC 2765)


class AddressRefused(OSError):
    """A connection the policy forbids; raised before any packet is sent."""


def embedded_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries (Teredo: server and client); () for any other address."""
    if isinstance(address, ipaddress.IPv4Address):
        return ()
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address.teredo is not None:
        return address.teredo
    if address.sixtofour is not None:
        return (address.sixtofour,)
    # :: and ::1 are IPv6's own unspecified and loopback addresses, not IPv4 ones.
    compatible = address in IPV4_COMPATIBLE and int(address) > 1
    if compatible or any(address in net for net in (IPV4_TRANSLATED, NAT64, LOCAL_NAT64)):
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    return ()


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast, and so is every IPv4 address it carries (mapped and NAT64: that one decides)."""
    embedded = embedded_ipv4(address)
    if not all(is_public(inner) for inner in embedded):
        return False
    if embedded and (address.ipv4_mapped is not None or address in NAT64):
        return True  # a translation of the public IPv4 address, whatever ipaddress says of the IPv6 form
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
    # Exact (host, port) pairs the operator configured for this server's own helpers (the PO-token
    # provider, a proxy): reached even on a private address, and nothing else on that address is.
    exempt_endpoints: tuple[tuple[str, int], ...] = ()
    refused: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, config: dict) -> AddressPolicy:
        """The policy the configuration describes."""
        return cls(
            allow_private=config["ALLOW_PRIVATE_URLS"],
            allowed_networks=tuple(ipaddress.ip_network(net, strict=False) for net in config["ALLOWED_NETWORKS"]),
            allowed_domains=tuple(domain.lower().strip(".") for domain in config["ALLOWED_DOMAINS"]),
            blocked_domains=tuple(domain.lower().strip(".") for domain in config["BLOCKED_DOMAINS"]),
            exempt_endpoints=tuple(
                endpoint
                for url in (config.get("YTDLP_POT_PROVIDER_URL"), config.get("YTDLP_PROXY"))
                if url and (endpoint := endpoint_of(url)) is not None
            ),
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
        """Whether a resolved address may be connected to (the one place that decides)."""
        if self.allow_private or self._in_allowed_network(address):
            return True
        embedded = embedded_ipv4(address)
        # ALLOWED_NETWORKS naming the IPv4 host an IPv6 form leads to exempts that form too.
        if any(self._in_allowed_network(inner) for inner in embedded) and all(
            self._in_allowed_network(inner) or is_public(inner) for inner in embedded
        ):
            return True
        return is_public(address)

    def _in_allowed_network(self, address: IPAddress) -> bool:
        return any(address in net for net in self.allowed_networks)

    def resolve(self, host: str, port: int | None) -> list[tuple]:
        """getaddrinfo results the policy allows; raises AddressRefused if none (DNS failure included)."""
        exempt = port is not None and (host.rstrip(".").lower(), int(port)) in self.exempt_endpoints
        problem = None if exempt else self.host_problem(host)
        if problem is None:
            try:
                infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                problem = f"{host} could not be resolved"
            else:
                allowed = [info for info in infos if exempt or self.address_allowed(_address_of(info))]
                if allowed:
                    return allowed
                shown = ", ".join(sorted({str(_address_of(info)) for info in infos}))
                problem = f"{host} resolves to a private or local address ({shown})"
        self.refused.append(problem)
        raise AddressRefused(f"refused by mediacache's address policy: {problem}")


def endpoint_of(url: str) -> tuple[str, int] | None:
    """(host, port) of a configured helper's URL, the port defaulted by its scheme."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    defaults = {"http": 80, "https": 443, "socks4": 1080, "socks4a": 1080, "socks5": 1080, "socks5h": 1080}
    try:
        port = parts.port or defaults.get(parts.scheme.lower())
    except ValueError:
        return None
    return (parts.hostname.rstrip(".").lower(), port) if parts.hostname and port else None


def _address_of(info: tuple) -> IPAddress:
    return ipaddress.ip_address(info[4][0].split("%")[0])
