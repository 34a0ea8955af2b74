"""In-process mode for httpx (sync and async) and aiohttp, in this process:

- calls/s through each client's in-process path (``rivosim.httpx_transport`` in a ``Client`` / ``AsyncClient``;
  ``mock_apis`` for aiohttp) next to that client's own *canned* baseline in the same run (``httpx.MockTransport``
  / ``aioresponses`` returning fixed bytes; target >= 85 %), interleaved in rounds (each figure is the median of
  per-round ratios). The same rounds measure what that ratio is made of: the *app alone* (``create_app(sim)``
  called on the environ the client's request becomes, in a loop of its own), the in-process path with the app's
  answer *replayed* instead of calling the app (what the transport itself adds; target >= 85 % of canned), and a
  *bridge* (``MockTransport`` / an ``aioresponses`` callback calling the same app: information). The app costs
  about what a whole canned round trip costs, so canned / (canned + app alone) is the ceiling of the first ratio.
- 1,000 concurrent async requests under a 1 s latency rule on a wall clock (httpx async and aiohttp): each wait
  counts from when its request reached the transport, which yields to the loop once so every request of the batch
  arrives before the app answers any, and only the remainder is awaited (without blocking the loop or holding the
  simulator's lock): the app's 1,000 responses are made while the batch waits, so it takes about 1 s. Target
  ≈ 1 s (≤ 1.15 s); the floor is that client's own canned baseline awaiting the same 1 s (1,000 concurrent
  requests, no app), which already costs more than 1 s here (the client's own work on 1,000 requests), and the
  batch is measured against it (≤ 1.15x). Its CPU time is set against the floor's CPU plus the app alone making
  the 1,000 responses one after another (≤ 1.15x). All sides interleaved in the same run, each timed batch after a
  full collection (so no side pays for collecting another's garbage); medians.
"""

from __future__ import annotations

import asyncio
import gc
import re
import time
from collections.abc import Callable
from typing import Any

from ._common import Figure, median

__all__ = ["run"]

RIVO = "https://developer-api.rivo.io/merchant_api/v1"
SIDES = ("rivosim", "replayed", "canned", "bridge")


def _world(clock: str = "virtual") -> tuple[Any, str, int]:
    from rivosim import Simulator

    sim = Simulator(seed=7, clock=clock)
    shop = sim.create_shop({"rate_limits": {"rivo": {"enabled": False}}}, customers=50)
    return sim, shop.credentials.rivo_api_key, shop.rivo.ordered_members()[0].id


def _environ(url: str, key: str) -> dict[str, Any]:
    """The environ the benchmark's GET becomes (httpx's default headers included)."""
    import httpx

    from rivosim.transports.inprocess.httpx_mode import environ_for_httpx

    with httpx.Client(headers={"Authorization": key}) as client:
        return environ_for_httpx(client.build_request("GET", url), b"")


def _canned_body(app: Any, url: str, key: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """What the app answers for the benchmark's GET, captured once: the canned baselines return these bytes."""
    from rivosim.transports.wsgi import call_app

    status, headers, body = call_app(app, _environ(url, key))
    return int(status[:3]), headers, body


def _replaying(apis: Any, answer: tuple[int, list[tuple[str, str]], bytes]) -> Any:
    """``apis`` answering every call with ``answer`` instead of calling the app: the transport's own cost."""
    from rivosim.kernel.transport_action import RESPOND
    from rivosim.transports.inprocess import SimulatedCall

    apis.call = lambda environ: SimulatedCall(*answer, RESPOND)
    return apis


def _app_alone(app: Any, url: str, key: str, n: int) -> float:
    """Calls/s of the app by itself, on the environ the benchmark's GET becomes."""
    from rivosim.transports.wsgi import call_app

    environ = _environ(url, key)
    t0 = time.perf_counter()
    for _ in range(n):
        call_app(app, dict(environ))
    return n / (time.perf_counter() - t0)


# -- httpx ---------------------------------------------------------------------------------------------------------
def _httpx_transports(sim: Any, app: Any, url: str, key: str) -> dict[str, Any]:
    import httpx

    from rivosim import httpx_transport
    from rivosim.transports.inprocess.httpx_mode import environ_for_httpx
    from rivosim.transports.wsgi import call_app

    def bridge(request: httpx.Request) -> httpx.Response:
        status, headers, body = call_app(app, environ_for_httpx(request, request.read()))
        return httpx.Response(int(status[:3]), headers=headers, content=body)

    answer = status, headers, body = _canned_body(app, url, key)
    replayed = httpx_transport(sim, app=app)
    _replaying(replayed.apis, answer)
    return {"rivosim": httpx_transport(sim, app=app), "replayed": replayed, "bridge": httpx.MockTransport(bridge),
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
PATTERN = re.compile(r"https://developer-api\.rivo\.io/.*")


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

    answer = status, headers, body = _canned_body(app, url, key)

    def bridge() -> Any:
        mock = aioresponses()
        mock.__enter__()
        mock.get(PATTERN, callback=bridge_callback, repeat=True)
        return mock

    def canned() -> Any:
        mock = aioresponses()
        mock.__enter__()
        mock.get(PATTERN, status=status, body=body, headers=dict(headers), repeat=True,
                 response_class=CompatibleResponse)
        return mock

    def ours() -> Any:
        return mock_apis(sim, app=app, clients=("aiohttp",)).start()

    def replayed() -> Any:
        return _replaying(mock_apis(sim, app=app, clients=("aiohttp",)), answer).start()

    return {"rivosim": ours, "replayed": replayed, "bridge": bridge, "canned": canned}


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


def _start() -> tuple[float, float]:
    """Wall and CPU time at the start of a timed batch, after a full collection: each side starts from a clean
    heap, so no side pays for collecting what an earlier one left (the world it built, an earlier run's garbage)."""
    gc.collect()
    return time.perf_counter(), time.process_time()


# -- the figures ---------------------------------------------------------------------------------------------------
def _us(rate: float) -> str:
    return f"{1e6 / rate:,.0f} µs"


def _pairs(name: str, measure: Callable[[str], float], alone: Callable[[], float], rounds: int,
           say: Callable[[str], None]) -> tuple[list[Figure], float]:
    """The rounds for one client; returns its figures and the app-alone calls/s (median)."""
    got: dict[str, list[float]] = {side: [] for side in (*SIDES, "app")}
    for i in range(rounds):  # interleaved, alternating the order
        for side in (SIDES if i % 2 == 0 else SIDES[::-1]):
            got[side].append(measure(side))
        got["app"].append(alone())
        say(f"  {name} round {i + 1}/{rounds}: in-process {got['rivosim'][-1]:,.0f}/s, replayed "
            f"{got['replayed'][-1]:,.0f}/s, canned {got['canned'][-1]:,.0f}/s, bridge {got['bridge'][-1]:,.0f}/s, "
            f"app alone {got['app'][-1]:,.0f}/s")
    mid = {side: median(values) for side, values in got.items()}

    def ratios(a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(got[a], got[b], strict=True)]

    def listed(values: list[float]) -> str:
        return ", ".join(f"{r:.0%}" for r in values)

    # canned / (canned + app alone), per round: what the first ratio could reach if the transport cost nothing.
    ceilings = [1 / (1 + c / a) for c, a in zip(got["canned"], got["app"], strict=True)]
    ceiling = median(ceilings)
    bare = "MockTransport" if "httpx" in name else "aioresponses"
    figures = []
    ratio = median(ratios("rivosim", "canned"))
    figures.append(Figure(f"in-process calls/s, {name}: rivosim / canned ({bare} returning fixed bytes)",
                          f"{mid['rivosim']:,.0f}/s", f"{mid['canned']:,.0f}/s", f"{ratio:.0%}",
                          f"≥ 85 % (ceiling with this app {ceiling:.0%})", ratio >= 0.85,
                          f"per round: {listed(ratios('rivosim', 'canned'))}; the app alone costs "
                          f"{_us(mid['app'])} a call, a canned round trip {_us(mid['canned'])}, so canned / "
                          f"(canned + app) = {ceiling:.0%}"))
    ratio = median(ratios("replayed", "canned"))
    figures.append(Figure(f"in-process calls/s, {name}: the transport alone (the app's answer replayed) / canned",
                          f"{mid['replayed']:,.0f}/s", f"{mid['canned']:,.0f}/s", f"{ratio:.0%}", "≥ 85 %",
                          ratio >= 0.85, f"what in-process mode adds besides the app; per round: "
                          f"{listed(ratios('replayed', 'canned'))}"))
    ratio = median(ratios("rivosim", "bridge"))
    figures.append(Figure(f"in-process calls/s, {name}: rivosim / bridge (the same app from a bare {bare})",
                          f"{mid['rivosim']:,.0f}/s", f"{mid['bridge']:,.0f}/s", f"{ratio:.0%}", "info", None,
                          f"per round: {listed(ratios('rivosim', 'bridge'))}"))
    return figures, mid["app"]


def _concurrent(client: str, n: int, side: str = "rivosim") -> tuple[float, float]:
    """Wall and CPU seconds for ``n`` concurrent GETs under a 1 s latency rule on a wall clock: through rivosim,
    through the client's canned baseline that awaits the same second before answering fixed bytes
    (``side="canned"``), or the app alone answering the ``n`` requests one after another under that rule
    (``side="app"``). The CPU time is this process's: on a loaded machine the wall time also holds whatever share
    of the cores other processes took."""
    import aiohttp
    import httpx
    from aioresponses import CallbackResult, aioresponses

    from rivosim import httpx_transport
    from rivosim.transports.inprocess import mock_apis
    from rivosim.transports.inprocess.aiohttp_mode import CompatibleResponse
    from rivosim.transports.wsgi import call_app

    sim, key, cid = _world("wall")
    sim.faults.add({"match": {"route": "rivo.customers.get"}, "action": {"type": "latency", "ms": 1000}})
    url = f"{RIVO}/customers/{cid}"
    app = mock_apis(sim).app
    status, headers, body = _canned_body(app, url, key)
    if side == "app":
        environ = _environ(url, key)
        t0, c0 = _start()
        for _ in range(n):
            call_app(app, dict(environ))
        return time.perf_counter() - t0, time.process_time() - c0

    async def canned_httpx(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(1.0)
        return httpx.Response(status, headers=headers, content=body)

    async def canned_aiohttp(request_url: Any, **kwargs: Any) -> CallbackResult:
        await asyncio.sleep(1.0)
        return CallbackResult(status=status, body=body, headers=dict(headers), response_class=CompatibleResponse)

    async def with_httpx() -> tuple[float, float, list[tuple[int, float]]]:
        transport = httpx_transport(sim) if side == "rivosim" else httpx.MockTransport(canned_httpx)
        loop = asyncio.get_running_loop()

        async def one(c: httpx.AsyncClient) -> tuple[int, float]:
            sent = loop.time()
            response = await c.get(url, headers={"Authorization": key})
            return response.status_code, loop.time() - sent

        async with httpx.AsyncClient(transport=transport, timeout=60) as c:
            t0, c0 = _start()
            answers = await asyncio.gather(*(one(c) for _ in range(n)))
            return time.perf_counter() - t0, time.process_time() - c0, list(answers)

    async def with_aiohttp() -> tuple[float, float, list[tuple[int, float]]]:
        loop = asyncio.get_running_loop()

        async def one(session: aiohttp.ClientSession) -> tuple[int, float]:
            sent = loop.time()
            async with session.get(url, headers={"Authorization": key}) as response:
                await response.read()
                return response.status, loop.time() - sent

        async with aiohttp.ClientSession() as session:
            t0, c0 = _start()
            answers = await asyncio.gather(*(one(session) for _ in range(n)))
            return time.perf_counter() - t0, time.process_time() - c0, list(answers)

    mock: Any = mock_apis(sim, clients=("aiohttp",)) if side == "rivosim" else aioresponses()
    with mock:
        if side != "rivosim":
            mock.get(PATTERN, callback=canned_aiohttp, repeat=True)
        elapsed, cpu, answers = asyncio.run(with_httpx() if client == "httpx" else with_aiohttp())
    if [status for status, _ in answers] != [200] * n:
        raise RuntimeError(f"{client}: not every request answered 200")
    soonest = min(took for _, took in answers)
    if soonest < 1.0 - 1e-6:  # the latency is kept: no answer sooner than 1 s after its own request
        raise RuntimeError(f"{client} ({side}): an answer came {soonest:.3f} s after its request, under the rule's 1 s")
    return elapsed, cpu


def _concurrency(client: str, count: int, rounds: int, say: Callable[[str], None]) -> list[Figure]:
    wall: dict[str, list[float]] = {"rivosim": [], "canned": [], "app": []}
    cpu: dict[str, list[float]] = {"rivosim": [], "canned": [], "app": []}
    for i in range(rounds):
        for side in (("rivosim", "canned", "app") if i % 2 == 0 else ("app", "canned", "rivosim")):
            elapsed, spent = _concurrent(client, count, side)
            wall[side].append(elapsed)
            cpu[side].append(spent)
        say(f"  {client} async: {count:,} concurrent GETs under a 1 s latency rule (wall clock): rivosim "
            f"{wall['rivosim'][-1]:.2f} s ({cpu['rivosim'][-1]:.2f} s CPU), canned + the same 1 s "
            f"{wall['canned'][-1]:.2f} s ({cpu['canned'][-1]:.2f} s CPU), the app alone for {count:,} "
            f"{wall['app'][-1]:.2f} s ({cpu['app'][-1]:.2f} s CPU)")
    elapsed, canned, app_time = (median(wall[side]) for side in ("rivosim", "canned", "app"))
    against = median([r / c for r, c in zip(wall["rivosim"], wall["canned"], strict=True)])
    work = median([r / (c + a) for r, c, a in zip(cpu["rivosim"], cpu["canned"], cpu["app"], strict=True)])
    name = f"{client} async in-process: {count:,} concurrent GETs, 1 s latency rule, wall clock"
    # ≈ 1 s is the target while the client itself can get there; when its own canned batch takes longer, the
    # absolute figure is information and the next row (against that floor) is the verdict.
    reachable = canned <= 1.15
    return [Figure(name, f"{elapsed:.2f} s", "1.00 s", f"{elapsed:.2f}x",
                   "≈ 1 s (≤ 1.15 s)" if reachable else "≈ 1 s: info (the client's floor is above)",
                   elapsed <= 1.15 if reachable else None,
                   f"medians of {rounds} interleaved runs; the app's {count:,} responses ({app_time:.2f} s one after "
                   f"another) are made while the batch waits; the client itself needs {canned:.2f} s for {count:,} "
                   "canned requests awaiting 1 s (next row)"),
            Figure(name + ", against its floor", f"{elapsed:.2f} s", f"{canned:.2f} s", f"{against:.2f}x",
                   "≤ 1.15x", against <= 1.15,
                   f"floor = the client's canned baseline awaiting the same 1 s ({count:,} concurrent requests, no "
                   "app): the client's own cost; ratio = median of per-round ratios"),
            Figure(name + ", CPU against its floor's CPU", f"{median(cpu['rivosim']):.2f} s",
                   f"{median(cpu['canned']) + median(cpu['app']):.2f} s", f"{work:.2f}x", "≤ 1.15x", work <= 1.15,
                   "this process's CPU time against the canned baseline's plus the app alone making the "
                   f"{count:,} responses: what the batch costs whatever share of the cores other processes take")]


def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from rivosim.http.app import create_app

    sim, key, cid = _world()
    app = create_app(sim)
    url = f"{RIVO}/customers/{cid}"
    rounds, n = (3, 400) if quick else (5, 1500)
    figures: list[Figure] = []

    def alone() -> float:
        return _app_alone(app, url, key, n)

    transports = _httpx_transports(sim, app, url, key)
    rows, _ = _pairs("httpx sync", lambda side: _httpx_sync(transports[side], url, key, n), alone, rounds, say)
    figures += rows
    rows, _ = _pairs("httpx async", lambda side: _httpx_async(transports[side], url, key, n),
                                      alone, rounds, say)
    figures += rows
    mocks = _aiohttp_mocks(sim, app, url, key)
    rows, _ = _pairs("aiohttp", lambda side: _aiohttp(mocks[side], url, key, n), alone, rounds,
                                        say)
    figures += rows
    for client in ("httpx", "aiohttp"):
        figures += _concurrency(client, 1000, 3 if quick else 5, say)
    return figures
