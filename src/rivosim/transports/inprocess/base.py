"""What the in-process carriers share without depending on the switch that starts them: the answer of one call
(:class:`SimulatedCall`) and the owner interface each carrier is given (:class:`Owner`, which ``MockApis`` is)."""

from __future__ import annotations

import re
from typing import Any, Protocol

from rivosim.kernel.transport_action import RESPOND, TransportAction

__all__ = ["Owner", "SimulatedCall"]


class SimulatedCall:
    """One request the app answered: the status, headers, body and the transport action to carry out, and the
    domain of the shop the request belonged to (whose clock a client's waiting moves), if any."""

    __slots__ = ("action", "body", "headers", "shop", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes, action: TransportAction,
                 shop: str | None = None) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.action = action
        self.shop = shop

    @property
    def plain(self) -> bool:
        """Nothing to carry out: respond at once."""
        return self.action is RESPOND or (self.action.kind == "respond" and not self.action.delay)

    def declared_length(self) -> int | None:
        """The Content-Length the app declared (``malformed_body: cut`` declares more than it sends)."""
        for name, value in self.headers:
            if name.lower() == "content-length" and value.isdigit():
                return int(value)
        return None


class Owner(Protocol):
    """What a carrier asks of its owner (``MockApis``): the simulated hosts, the pass-through policy, the app
    call and how a client's waiting is spent."""

    host_pattern: re.Pattern[str]
    passthrough: bool
    mock: Any
    aiohttp: Any

    def call(self, environ: dict[str, Any]) -> SimulatedCall: ...
    def wait(self, seconds: float, shop: str | None = None, since: float | None = None) -> None: ...
    async def arrive_async(self) -> float: ...
    async def wait_async(self, seconds: float, shop: str | None = None, since: float | None = None) -> None: ...
