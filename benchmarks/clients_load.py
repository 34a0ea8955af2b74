"""In-process mode for httpx (sync and async) and aiohttp, in this process:

- calls/s through each client's in-process path (``rivosim.httpx_transport`` in a ``Client`` / ``AsyncClient``;
  ``mock_apis`` for aiohttp) next to that client's own baselines in the same run, interleaved in pairs (the figure
  is the median of per-pair ratios): a *bridge* (``httpx.MockTransport`` / an ``aioresponses`` callback that builds
  the environ and calls the same Flask app; target >= 85 %) and a *canned* response (``httpx.MockTransport`` /
  ``aioresponses`` returning fixed bytes, no app at all: information, it shows what the app itself costs);
- 1,000 concurrent async requests under a 1 s latency rule on a wall clock (httpx async and aiohttp): the waits
  are awaited side by side without blocking the loop, so the batch takes about 1 s plus the app's own time for
  1,000 requests, which runs one at a time (as in the server shell: the latency starts once the response is made).
  The baseline is that: 1 s + 1,000 / the calls/s measured above for the same client.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

from ._common import Figure, median

__all__ = ["run"]

RIVO = "https://developer-api.rivo.io/merchant_api/v1"


def _world(clock: str = "virtual") -> tuple[Any, str, int]:
    from rivosim import Simulator

    sim = Simulator(seed=7, clock=clock)
    shop = sim.create_shop({"rate_limits": {"rivo": {"enabled": False}}}, customers=50)
    return sim, shop.credentials.rivo_api_key, shop.rivo.ordered_members()[0].id


def _canned_body(app: Any, url: str, key: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """What the app answers for the benchmark's GET, captured once: the canned baselines return these bytes."""
    import httpx

    from rivosim.transports.inprocess.httpx_mode import environ_for_httpx
    from rivosim.transports.wsgi import call_app

    status, headers, body = call_app(app, environ_for_httpx(httpx.Request("GET", url, headers={"Authorization": key}),
                                                             b""))
    return int(status[:3]), headers, body


# -- httpx ---------------------------------------------------------------------------------------------------------
def _httpx_transports(sim: Any, app: Any, url: str, key: str) -> dict[str, Any]:
    import httpx

    from rivosim import httpx_transport
    from rivosim.transports.inprocess.httpx_mode import environ_for_httpx
    from rivosim.transports.wsgi import call_app

    def bridge(request: httpx.Request) -> httpx.Response:
        status, headers, body = call_app(app, environ_for_httpx(request, request.read()))
        return httpx.Response(int(status[:3]), headers=headers, content=body)

    status, headers, body = _canned_body(app, url, key)
    return {"rivosim": httpx_transport(sim, app=app), "bridge": httpx.MockTransport(bridge),
            "canned": httpx.MockTransport(lambda request: httpx.Response(status, headers=headers, content=body))}


def _httpx_sync(transport: Any, url: str, key: str, n: int) -> float:
    import httpx

    with httpx.Client(transport=transport, headers={"Authorization": key}) as client:
        for _ in range(50):
            client.get(url)
        t0 = time.perf_counter()
        for _ in range(n):
            response = client.get(url)
        elapsed = time.perf_counter() - t0
    if response.status_code != 200:
        raise RuntimeError(f"GET answered {response.status_code}")
    return n / elapsed


def _httpx_async(transport: Any, url: str, key: str, n: int) -> float:
    import httpx

    async def go() -> float:
        async with httpx.AsyncClient(transport=transport, headers={"Authorization": key}) as client:
            for _ in range(50):
                await client.get(url)
            t0 = time.perf_counter()
            for _ in range(n):
                response = await client.get(url)
            elapsed = time.perf_counter() - t0
        if response.status_code != 200:
            raise RuntimeError(f"GET answered {response.status_code}")
        return n / elapsed

    return asyncio.run(go())


# -- aiohttp -------------------------------------------------------------------------------------------------------
def _aiohttp_mocks(sim: Any, app: Any, url: str, key: str) -> dict[str, Callable[[], Any]]:
    from aioresponses import CallbackResult, aioresponses

    from rivosim.transports.inprocess import mock_apis
    from rivosim.transports.inprocess.aiohttp_mode import CompatibleResponse
    from rivosim.transports.wsgi import call_app, wsgi_environ

    def bridge_callback(request_url: Any, **kwargs: Any) -> CallbackResult:
        environ = wsgi_environ("GET", request_url.raw_path, request_url.raw_query_string, kwargs.get("headers"),
                               scheme=request_url.scheme, host=request_url.raw_host)
        status, headers, body = call_app(app, environ)
        return CallbackResult(status=int(status[:3]), body=body, headers=dict(headers),
                              response_class=CompatibleResponse)

    status, headers, body = _canned_body(app, url, key)
    pattern = re.compile(r"https://developer-api\.rivo\.io/.*")

    def bridge() -> Any:
        mock = aioresponses()
        mock.__enter__()
        mock.get(pattern, callback=bridge_callback, repeat=True)
        return mock

    def canned() -> Any:
        mock = aioresponses()
        mock.__enter__()
        mock.get(pattern, status=status, body=body, headers=dict(headers), repeat=True,
                 response_class=CompatibleResponse)
        return mock

    def ours() -> Any:
        return mock_apis(sim, app=app, clients=("aiohttp",)).start()

    return {"rivosim": ours, "bridge": bridge, "canned": canned}


def _aiohttp(start: Callable[[], Any], url: str, key: str, n: int) -> float:
    import aiohttp

    async def go() -> float:
        async with aiohttp.ClientSession(headers={"Authorization": key}) as session:
            for _ in range(50):
                async with session.get(url) as response:
                    await response.read()
            t0 = time.perf_counter()
            for _ in range(n):
                async with session.get(url) as response:
                    await response.read()
            elapsed = time.perf_counter() - t0
        if response.status != 200:
            raise RuntimeError(f"GET answered {response.status}")
        return n / elapsed

    mock = start()
    try:
        return asyncio.run(go())
    finally:
        mock.stop() if hasattr(mock, "stop") else mock.__exit__(None, None, None)


# -- the figures ---------------------------------------------------------------------------------------------------
def _pairs(name: str, measure: Callable[[str], float], rounds: int, say: Callable[[str], None]) -> list[Figure]:
    got: dict[str, list[float]] = {"rivosim": [], "bridge": [], "canned": []}
    for i in range(rounds):  # interleaved, alternating the order
        order = ["rivosim", "bridge", "canned"] if i % 2 == 0 else ["canned", "bridge", "rivosim"]
        for side in order:
            got[side].append(measure(side))
        say(f"  {name} round {i + 1}/{rounds}: in-process {got['rivosim'][-1]:,.0f}/s, bridge "
            f"{got['bridge'][-1]:,.0f}/s, canned {got['canned'][-1]:,.0f}/s")
    ours = got["rivosim"]
    figures = []
    for base, target in (("bridge", 0.85), ("canned", None)):
        ratios = [a / b for a, b in zip(ours, got[base], strict=True)]
        ratio = median(ratios)
        bare = "MockTransport" if "httpx" in name else "aioresponses callback"
        what = f"the same Flask app called from a bare {bare}" if base == "bridge" else "fixed bytes, no app"
        figures.append(Figure(f"in-process calls/s, {name}: rivosim / {base} ({what})", f"{median(ours):,.0f}/s",
                              f"{median(got[base]):,.0f}/s", f"{ratio:.0%}", "≥ 85 %" if target else "info",
                              (ratio >= target) if target else None,
                              "median of per-pair ratios: " + ", ".join(f"{r:.0%}" for r in ratios)))
    return figures


def _concurrent(client: str, n: int) -> float:
    """Seconds for ``n`` concurrent GETs under a 1 s latency rule, on a wall clock."""
    import aiohttp
    import httpx

    from rivosim import httpx_transport
    from rivosim.transports.inprocess import mock_apis

    sim, key, cid = _world("wall")
    sim.faults.add({"match": {"route": "rivo.customers.get"}, "action": {"type": "latency", "ms": 1000}})
    url = f"{RIVO}/customers/{cid}"

    async def with_httpx() -> list[int]:
        async with httpx.AsyncClient(transport=httpx_transport(sim), timeout=30) as c:
            return [r.status_code for r in await asyncio.gather(*(c.get(url, headers={"Authorization": key})
                                                                  for _ in range(n)))]

    async def with_aiohttp() -> list[int]:
        async def one(session: aiohttp.ClientSession) -> int:
            async with session.get(url, headers={"Authorization": key}) as response:
                await response.read()
                return response.status

        async with aiohttp.ClientSession() as session:
            return list(await asyncio.gather(*(one(session) for _ in range(n))))

    with mock_apis(sim, clients=("aiohttp",)):
        t0 = time.perf_counter()
        statuses = asyncio.run(with_httpx() if client == "httpx" else with_aiohttp())
        elapsed = time.perf_counter() - t0
    if statuses != [200] * n:
        raise RuntimeError(f"{client}: not every request answered 200")
    return elapsed


def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from rivosim.http.app import create_app

    sim, key, cid = _world()
    app = create_app(sim)
    url = f"{RIVO}/customers/{cid}"
    rounds, n = (3, 400) if quick else (5, 1500)
    figures: list[Figure] = []
    transports = _httpx_transports(sim, app, url, key)
    figures += _pairs("httpx sync", lambda side: _httpx_sync(transports[side], url, key, n), rounds, say)
    async_rates = {"httpx": _pairs("httpx async", lambda side: _httpx_async(transports[side], url, key, n),
                                   rounds, say)}
    mocks = _aiohttp_mocks(sim, app, url, key)
    async_rates["aiohttp"] = _pairs("aiohttp", lambda side: _aiohttp(mocks[side], url, key, n), rounds, say)
    figures += async_rates["httpx"] + async_rates["aiohttp"]
    count = 1000
    for client, rows in async_rates.items():
        rate = float(rows[0].rivosim.rstrip("/s").replace(",", ""))  # this client's in-process calls/s, above
        elapsed = _concurrent(client, count)
        expected = 1.0 + count / rate
        say(f"  {client} async: {count:,} concurrent GETs under a 1 s latency rule (wall clock) in {elapsed:.2f} s "
            f"(1 s + {count:,} requests at {rate:,.0f}/s = {expected:.2f} s)")
        figures.append(Figure(f"{client} async in-process: {count:,} concurrent GETs, 1 s latency rule, wall clock",
                              f"{elapsed:.2f} s", f"{expected:.2f} s", f"{elapsed / expected:.2f}x", "≤ 1.15x",
                              elapsed <= 1.15 * expected,
                              f"baseline: 1 s + {count:,} / {rate:,.0f} calls/s (the app's time, one request at a "
                              "time); the 1 s waits overlap"))
    return figures
