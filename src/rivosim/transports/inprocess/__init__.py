"""In-process mode: ``mock_apis(sim)`` routes the calls that ``requests``, ``httpx`` (sync and async) and
``aiohttp`` make to the simulated hosts into ``create_app(sim)``: no server, no sockets, no sleeping on a virtual
clock. One switch for every client library installed (``clients=`` to choose); one journal, clock and set of faults.

    with mock_apis(sim) as apis:                      # or @mock_apis(sim) on a test function
        requests.get(f"{apis.rivo_url}/customers/42", headers={"Authorization": key})
        httpx.get(...); async with aiohttp.ClientSession() as s: await s.get(...)

- Hosts: the Rivo API host (``developer-api.rivo.io``) and ``*.myshopify.com`` (``hosts=`` to change,
  ``extra_hosts=`` to add); any scheme and port. Other hosts pass through to the network (``passthrough=False``
  refuses them instead, for every client: ``requests.ConnectionError``, ``httpx.ConnectError``,
  ``aiohttp.ClientConnectionError``), so webhooks the simulator delivers reach a subscriber you mocked on ``apis``
  (``apis.add``, ``apis.add_callback``: ``responses``, since the simulator sends them with ``requests``) or, when
  it is not mocked, a real one over HTTP. What you register on ``apis`` (``responses``) or ``apis.aiohttp``
  (``aioresponses``) for a simulated host wins over the simulator.
- The pipeline decides; the carriers only carry out its transport action, the way each client meets it from a
  real server (the README's in-process table; ``tests/e2e/test_client_exceptions.py`` checks it against the
  server shell). Latency advances the simulator's clock instead of sleeping; on a wall clock the wait counts from
  the request's arrival (the app's time is part of it): a sync client moves its offset by the rest
  (``real_sleep=True`` to sleep), an async client awaits the rest without blocking the loop (``real_sleep=False``
  to move the offset instead), after yielding once so a concurrent batch all arrives before the app answers any.

- ``requests`` (``requests_mode``): a private ``responses.RequestsMock``.
- ``httpx`` (``httpx_mode``): ``SimulatorTransport`` (``rivosim.httpx_transport(sim)``), patched into httpx's
  default transports for clients built without one.
- ``aiohttp`` (``aiohttp_mode``): ``aioresponses`` answering the simulated hosts from the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rivosim.transports.inprocess.base import SimulatedCall
from rivosim.transports.inprocess.core import CLIENTS, DEFAULT_HOSTS, RIVO_HOST, MockApis, installed_clients, mock_apis

if TYPE_CHECKING:
    from flask import Flask

    from rivosim.engine import Simulator
    from rivosim.transports.inprocess.httpx_mode import SimulatorTransport

__all__ = ["CLIENTS", "DEFAULT_HOSTS", "MAX_KEPT_CALLS", "RIVO_HOST", "MockApis", "SimulatedCall", "environ_for",
           "httpx_transport", "installed_clients", "mock_apis"]


def httpx_transport(sim: Simulator, *, real_sleep: bool | None = None, app: Flask | None = None
                    ) -> SimulatorTransport:
    """A transport for ``httpx.Client(transport=...)`` or ``httpx.AsyncClient(transport=...)`` (the same object
    serves both) that answers every request from ``sim``, whatever its host: the client chose this transport.
    Transport actions reach the client as in ``mock_apis`` (see ``httpx_mode``)."""
    from rivosim.transports.inprocess.httpx_mode import SimulatorTransport

    return SimulatorTransport(MockApis(sim, real_sleep=real_sleep, app=app, clients=()))


def __getattr__(name: str) -> Any:
    # The requests carrier's names, loaded only when asked for (requests need not be imported for httpx alone).
    if name in ("environ_for", "MAX_KEPT_CALLS"):
        from rivosim.transports.inprocess import requests_mode

        return getattr(requests_mode, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
