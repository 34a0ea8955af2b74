"""Webhook URLs that point back at this simulator's own listening address are refused: at subscription time (422
naming the field, Rivo and Shopify alike) and again at delivery (the attempt fails as ``refused``), so no tenant
can drive the control API — reset the world, read or regenerate another shop's keys — through a webhook, whatever
the control token setting.

Subscription-time checks resolve no names (they run on the event loop): IP literals, ``localhost`` and this host's
own names. The delivery-time check runs on a sender thread and resolves the name, so a DNS name that points here
(or is rebound to point here later) is caught there.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

__all__ = ["add_listening_address", "delivery_refusal", "subscription_refusal"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Listening = list[tuple[str, int]]


def add_listening_address(sim: Any, host: str, port: int) -> None:
    """Record that ``sim`` is served on ``host:port`` (``rivosim serve``, the plugin's server, the demo)."""
    sim.listening.append((host, int(port)))


def _ip(text: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _local_names() -> set[str]:
    names = {"localhost", "ip6-localhost", "ip6-loopback", "localhost.localdomain"}
    try:
        hostname = socket.gethostname().lower()
        names.update({hostname, socket.getfqdn().lower()})
    except OSError:
        pass
    return names


def _local_addresses() -> set[IPAddress]:
    out: set[IPAddress] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            ip = _ip(str(info[4][0]))
            if ip is not None:
                out.add(ip)
    except OSError:
        pass
    return out


def _reaches(target: IPAddress, bound: str) -> bool:
    """Whether connecting to ``target`` reaches a socket bound to ``bound``."""
    if target.is_unspecified:  # connecting to 0.0.0.0 / :: reaches this machine
        return True
    bound_ip = _ip(bound) if bound not in ("", "*") else ipaddress.ip_address("0.0.0.0")
    if bound_ip is None:  # bound by name (e.g. "localhost"): treat as loopback plus this host's addresses
        return target.is_loopback or target in _local_addresses()
    if bound_ip.is_unspecified:
        return target.is_loopback or target in _local_addresses()
    if bound_ip.is_loopback:
        return target.is_loopback
    return target == bound_ip


def _port(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.hostname is None:
        return None
    return parts.hostname.lower(), port if port is not None else (443 if parts.scheme == "https" else 80)


def _message(url: str, host: str, port: int) -> str:
    return (f"{url} points at this rivosim server itself ({host}:{port}); a webhook must go to your receiver, "
            "never back into the simulator (its control API)")


def _refusal(url: str, listening: Listening, addresses: Iterable[IPAddress] | None) -> str | None:
    if not listening:
        return None
    target = _port(url)
    if target is None:
        return None
    name, port = target
    for bound, bound_port in listening:
        if port != bound_port:
            continue
        ips: Iterable[IPAddress]
        literal = _ip(name)
        if literal is not None:
            ips = (literal,)
        elif addresses is not None:
            ips = addresses
        elif name in _local_names() or name.endswith(".localhost"):
            return _message(url, bound, bound_port)
        else:
            ips = ()
        if any(_reaches(ip, bound) for ip in ips):
            return _message(url, bound, bound_port)
    return None


def subscription_refusal(url: str, listening: Listening) -> str | None:
    """Why ``url`` may not be subscribed (it points at this server), or None. Resolves no names."""
    return _refusal(url, listening, None)


def delivery_refusal(url: str, listening: Listening) -> str | None:
    """Why a delivery to ``url`` must not be sent (it would reach this server), or None. Resolves the name."""
    if not listening:
        return None
    target = _port(url)
    if target is None:
        return None
    quick = _refusal(url, listening, None)
    if quick is not None or _ip(target[0]) is not None:
        return quick
    try:
        infos = socket.getaddrinfo(target[0], target[1], type=socket.SOCK_STREAM)
    except OSError:
        return None  # the send itself will fail and say why
    resolved = {ip for info in infos if (ip := _ip(str(info[4][0]))) is not None}
    return _refusal(url, listening, resolved)
