"""The one switch of in-process mode: :class:`MockApis` (what ``mock_apis(sim)`` returns) owns the simulated hosts,
the app, the pass-through policy and how a client's waiting is spent, and starts one carrier per HTTP client
library (``requests`` through ``responses``, ``httpx`` through its transports, ``aiohttp`` through
``aioresponses``). Every carrier feeds the same ``create_app(sim)``: one journal, one clock, one set of faults."""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import time
import weakref
from collections.abc import Iterable
from contextlib import ContextDecorator
from typing import TYPE_CHECKING, Any, Protocol

from rivosim.http.state import REQ_KEY
from rivosim.kernel.transport_action import ENVIRON_KEY, RESPOND, TransportAction
from rivosim.transports.inprocess.base import SimulatedCall
from rivosim.transports.wsgi import call_app

if TYPE_CHECKING:
    from flask import Flask

    from rivosim.engine import Simulator

__all__ = ["CLIENTS", "DEFAULT_HOSTS", "RIVO_HOST", "MockApis", "app_for", "installed_clients",
           "mock_apis"]

RIVO_HOST = "developer-api.rivo.io"  # rivo-api.md §1.1: https://developer-api.rivo.io/merchant_api/v1
DEFAULT_HOSTS = (RIVO_HOST, "*.myshopify.com")
CLIENTS = ("requests", "httpx", "aiohttp")
_APPS: weakref.WeakKeyDictionary[Simulator, Flask] = weakref.WeakKeyDictionary()


def app_for(sim: Simulator) -> Flask:
    """One app per simulator (compiling the routes takes ~30 ms)."""
    app = _APPS.get(sim)
    if app is None:
        from rivosim.http.app import create_app

        app = _APPS[sim] = create_app(sim)
    return app


def installed_clients() -> tuple[str, ...]:
    """The HTTP client libraries of :data:`CLIENTS` importable here (``aiohttp`` counts with ``aioresponses``)."""
    needs = {"requests": ("requests", "responses"), "httpx": ("httpx",), "aiohttp": ("aiohttp", "aioresponses")}
    return tuple(c for c in CLIENTS if all(importlib.util.find_spec(m) is not None for m in needs[c]))


def host_pattern(hosts: Iterable[str]) -> re.Pattern[str]:
    alternatives = "|".join(fnmatch.translate(h.lower()).removeprefix("(?s:").removesuffix(")\\Z") for h in hosts)
    return re.compile(rf"^https?://(?:{alternatives})(?::\d+)?(?:[/?#]|$)", re.IGNORECASE)


class _Carrier(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


class MockApis(ContextDecorator):
    """What :func:`mock_apis` returns: a context manager and a decorator. Inside, :attr:`mock` is the active
    ``responses.RequestsMock`` (``add``, ``add_callback``, ``calls`` … are forwarded to it) and :attr:`aiohttp`
    the active ``aioresponses`` (``apis.aiohttp.post(url, ...)`` to mock an aiohttp call yourself)."""

    def __init__(self, sim: Simulator, *, hosts: Iterable[str] = DEFAULT_HOSTS, extra_hosts: Iterable[str] = (),
                 real_sleep: bool | None = None, passthrough: bool = True, app: Flask | None = None,
                 clients: Iterable[str] | None = None) -> None:
        self.sim = sim
        self.hosts = tuple(hosts) + tuple(extra_hosts)
        if not self.hosts:
            raise ValueError("mock_apis needs at least one host to simulate")
        self.host_pattern = host_pattern(self.hosts)
        self.real_sleep = real_sleep
        self.passthrough = passthrough
        self._app = app
        if clients is None:
            self.clients = installed_clients()
        else:
            self.clients = tuple(dict.fromkeys(clients))
            unknown = [c for c in self.clients if c not in CLIENTS]
            if unknown:
                raise ValueError(f"mock_apis(clients=...): unknown client {unknown[0]!r}; known: {', '.join(CLIENTS)}")
            missing = [c for c in self.clients if c not in installed_clients()]
            if missing:
                raise ValueError(f"mock_apis(clients=...): {missing[0]!r} is not installed here "
                                 f"(pip install 'rivosim[{missing[0]}]')")
        self.mock: Any = None  # responses.RequestsMock, while started with "requests"
        self.aiohttp: Any = None  # aioresponses, while started with "aiohttp"
        self._carriers: list[_Carrier] = []
        self._depth = 0

    @property
    def app(self) -> Flask:
        if self._app is None:
            self._app = app_for(self.sim)
        return self._app

    @property
    def rivo_url(self) -> str:
        """Base URL of the Rivo merchant API as clients configure it."""
        host = RIVO_HOST if RIVO_HOST in self.hosts else self.hosts[0].replace("*", "rivo")
        return f"https://{host}/merchant_api/v1"

    def shopify_url(self, domain: str, version: str | None = None) -> str:
        """Base URL of a shop's Admin REST API (``https://<domain>/admin/api/<version>``)."""
        return f"https://{domain}/admin" + (f"/api/{version}" if version else "")

    def simulates(self, url: str) -> bool:
        return self.host_pattern.match(url) is not None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> MockApis:
        if self._depth:
            self._depth += 1
            return self
        self.app  # noqa: B018 - build the app before patching, outside any test timing
        carriers: list[_Carrier] = []
        try:
            for client in self.clients:
                carrier = _carrier(client, self)
                carrier.start()
                carriers.append(carrier)
        except BaseException:
            for carrier in reversed(carriers):
                carrier.stop()
            raise
        self._carriers = carriers
        self._depth = 1
        return self

    def stop(self) -> None:
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth == 0:
            for carrier in reversed(self._carriers):
                carrier.stop()
            self._carriers = []

    def __enter__(self) -> MockApis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __getattr__(self, name: str) -> Any:
        # add, add_callback, replace, calls, registered …: the active RequestsMock's.
        mock = self.__dict__.get("mock")
        if mock is None or name.startswith("_"):
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}"
                                 + ("" if mock is not None else " (outside its with-block, or without requests)"))
        return getattr(mock, name)

    # -- one call, for every carrier ---------------------------------------------------------------------------
    def call(self, environ: dict[str, Any]) -> SimulatedCall:
        status_line, headers, body = call_app(self.app, environ)
        action = environ.get(ENVIRON_KEY)
        if not isinstance(action, TransportAction):
            return SimulatedCall(int(status_line[:3]), headers, body, RESPOND)
        shop = getattr(environ.get(REQ_KEY), "shop", None)  # whose clock the client's waiting moves
        return SimulatedCall(int(status_line[:3]), headers, body, action, shop.domain if shop is not None else None)

    def wait(self, seconds: float, shop: str | None = None, since: float | None = None) -> None:
        """A synchronous client waits ``seconds`` for a request of ``shop``, counted from ``since``
        (``time.perf_counter()`` when the request reached the simulator: the app's own time is part of the wait):
        really when asked to (``real_sleep=True``); otherwise that shop's wall clock's offset moves by the rest (a
        virtual clock already moved in the app for the server's latency; a hang's wait is the client's, not
        simulator time)."""
        if since is not None:
            seconds -= time.perf_counter() - since
        if seconds <= 0:
            return
        if self.real_sleep:
            time.sleep(seconds)
        else:
            self._move_wall_clock(seconds, shop)

    async def arrive_async(self) -> float:
        """An async request reaches the simulator: when, for :meth:`wait_async` to count from. When the client
        really awaits its waits (:meth:`sleeps_async`), the request then yields to the event loop once, so every
        request sent concurrently with it arrives before the app answers any of them, as a server accepts them
        all at once, and each one's wait overlaps the app's work on the others instead of starting after it."""
        if not self.sleeps_async():
            return time.perf_counter()  # no event loop needed: any async library's client may run here
        import asyncio  # here: importing rivosim must not import asyncio (start-up time)

        arrived = asyncio.get_running_loop().time()  # the clock asyncio.sleep() counts on
        await asyncio.sleep(0)
        return arrived

    async def wait_async(self, seconds: float, shop: str | None = None, since: float | None = None) -> None:
        """An async client waits ``seconds`` for a request of ``shop``, counted from ``since``
        (:meth:`arrive_async`): only the remainder, ``seconds - (now - since)``, is still to wait
        (:meth:`sleeps_async` says whether it is awaited, or moves the shop's wall clock's offset)."""
        if not self.sleeps_async():
            self.wait(seconds, shop, since)
            return
        import asyncio

        if since is not None:
            seconds -= asyncio.get_running_loop().time() - since
        if seconds > 0:
            await asyncio.sleep(seconds)

    def _move_wall_clock(self, seconds: float, shop: str | None) -> None:
        # Only the request's shop waited: other shops' time (and a request no shop owns) does not move.
        owner = self.sim.shops.get(shop) if shop is not None else None
        if owner is not None and owner.clock.kind == "wall":
            self.sim.advance_shop(owner.domain, seconds)

    def sleeps_async(self) -> bool:
        """Whether an async client really awaits its waits: on a wall clock unless ``real_sleep=False`` (awaiting
        does not block the event loop, so concurrent requests wait side by side, as against a server)."""
        if self.real_sleep is not None:
            return self.real_sleep
        return self.sim.clock.kind == "wall"


def _carrier(client: str, apis: MockApis) -> _Carrier:
    if client == "requests":
        from rivosim.transports.inprocess.requests_mode import RequestsCarrier

        return RequestsCarrier(apis)
    if client == "httpx":
        from rivosim.transports.inprocess.httpx_mode import HttpxCarrier

        return HttpxCarrier(apis)
    from rivosim.transports.inprocess.aiohttp_mode import AiohttpCarrier

    return AiohttpCarrier(apis)


def mock_apis(sim: Simulator, *, hosts: Iterable[str] = DEFAULT_HOSTS, extra_hosts: Iterable[str] = (),
              real_sleep: bool | None = None, passthrough: bool = True, app: Flask | None = None,
              clients: Iterable[str] | None = None) -> MockApis:
    """Route calls to the simulated hosts from ``requests``, ``httpx`` and ``aiohttp`` (``clients=``; default:
    whichever are installed) into ``create_app(sim)`` (a context manager and a decorator). See the package
    docstring for hosts, pass-through and how faults reach each client."""
    return MockApis(sim, hosts=hosts, extra_hosts=extra_hosts, real_sleep=real_sleep, passthrough=passthrough,
                    app=app, clients=clients)
