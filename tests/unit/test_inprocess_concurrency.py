"""Async in-process clients under injected latency on a wall clock: concurrent requests wait side by side (the
latency is awaited outside the simulator's lock, so one request's wait never holds up another's app call), each
answers exactly what the same request answers through a sync client, and each wait counts from when its request
arrived: the app's work on the whole batch overlaps the waits instead of adding to them, yet no answer comes
sooner than the latency after its request."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import httpx
import pytest

from rivosim import Simulator, httpx_transport, mock_apis

RIVO = "https://developer-api.rivo.io/merchant_api/v1"
CONCURRENT = 200
BOUND_S = 10.0  # generous: 200 requests one after another would take 200 s


@pytest.fixture
def world() -> tuple[Simulator, dict[str, str], list[str]]:
    sim = Simulator(seed=5, clock="wall")
    shop = sim.create_shop({"rate_limits": {"rivo": {"enabled": False}}}, customers=5)
    urls = [f"{RIVO}/customers/{member.id}" for member in shop.rivo.ordered_members()]
    sim.faults.add({"match": {"route": "rivo.customers.get"}, "action": {"type": "latency", "ms": 1000}})
    return sim, {"Authorization": shop.credentials.rivo_api_key}, urls


def sync_answers(sim: Simulator, headers: dict[str, str], urls: list[str]) -> dict[str, tuple[int, bytes]]:
    """What a sync client gets for each URL, under the same latency rule (it moves the wall clock's offset)."""
    with httpx.Client(transport=httpx_transport(sim), headers=headers) as client:
        return {url: (r.status_code, r.content) for url in urls for r in [client.get(url)]}


def check(sim: Simulator, answers: list[tuple[str, int, bytes]], expected: dict[str, tuple[int, bytes]],
          elapsed: float) -> None:
    assert len(answers) == CONCURRENT
    assert [(status, body) for url, status, body in answers] == [expected[url] for url, _, _ in answers]
    assert 1.0 <= elapsed < BOUND_S, f"{CONCURRENT} requests under a 1 s latency rule took {elapsed:.2f} s"
    served = sim.journal.calls("rivo.customers.get")
    assert len(served) == len(expected) + CONCURRENT
    assert {entry.latency_ms for entry in served} == {1000.0}


@pytest.mark.asyncio
async def test_httpx_async_requests_wait_side_by_side(world: tuple[Simulator, dict[str, str], list[str]]) -> None:
    sim, headers, urls = world
    expected = sync_answers(sim, headers, urls)

    async def one(client: httpx.AsyncClient, url: str) -> tuple[str, int, bytes]:
        response = await client.get(url)
        return url, response.status_code, response.content

    async with httpx.AsyncClient(transport=httpx_transport(sim), headers=headers, timeout=30) as client:
        t0 = time.perf_counter()
        answers = await asyncio.gather(*(one(client, urls[i % len(urls)]) for i in range(CONCURRENT)))
        elapsed = time.perf_counter() - t0
    check(sim, answers, expected, elapsed)


@pytest.mark.asyncio
async def test_aiohttp_requests_wait_side_by_side(world: tuple[Simulator, dict[str, str], list[str]]) -> None:
    sim, headers, urls = world
    expected = sync_answers(sim, headers, urls)

    async def one(session: aiohttp.ClientSession, url: str) -> tuple[str, int, bytes]:
        async with session.get(url) as response:
            return url, response.status, await response.read()

    with mock_apis(sim, clients=("aiohttp",)):
        async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=30)) as session:
            t0 = time.perf_counter()
            answers = await asyncio.gather(*(one(session, urls[i % len(urls)]) for i in range(CONCURRENT)))
            elapsed = time.perf_counter() - t0
    check(sim, answers, expected, elapsed)


SLOW_BATCH = 50
APP_S = 0.02  # each app call made this slow: the batch's app work (1 s) matches its latency (1 s)


def slowed(apis: Any, seconds: float = APP_S) -> Any:
    """``apis`` whose app call takes at least ``seconds`` more (a blocking sleep: the loop is held, as by CPU)."""
    call = apis.call

    def slow_call(environ: dict[str, Any]) -> Any:
        time.sleep(seconds)
        return call(environ)

    apis.call = slow_call
    return apis


def check_overlap(sent: list[float], answered: list[float]) -> None:
    # Not sooner than the rule: each answer at least 1 s after its own request (the event loop's clock).
    assert min(a - s for s, a in zip(sent, answered, strict=True)) >= 1.0 - 1e-6
    # The waits overlap the app: 50 app calls of 20 ms run while the batch waits its 1 s, so the batch takes about
    # 1 s; were each wait to start once its app call was done, the last answer would come >= 1 s + 50 x 20 ms after
    # the first request (2 s).
    elapsed = max(answered) - min(sent)
    assert elapsed < 1.0 + SLOW_BATCH * APP_S * 0.8, f"the batch took {elapsed:.2f} s"


@pytest.mark.asyncio
async def test_httpx_waits_count_from_arrival_so_the_app_overlaps_them(
        world: tuple[Simulator, dict[str, str], list[str]]) -> None:
    sim, headers, urls = world
    transport = httpx_transport(sim)
    slowed(transport.apis)
    loop = asyncio.get_running_loop()

    async def one(client: httpx.AsyncClient, url: str) -> tuple[float, float]:
        sent = loop.time()
        response = await client.get(url)
        assert response.status_code == 200
        return sent, loop.time()

    async with httpx.AsyncClient(transport=transport, headers=headers, timeout=30) as client:
        times = await asyncio.gather(*(one(client, urls[i % len(urls)]) for i in range(SLOW_BATCH)))
    check_overlap([s for s, _ in times], [a for _, a in times])
    assert len(sim.journal.calls("rivo.customers.get")) == SLOW_BATCH


@pytest.mark.asyncio
async def test_aiohttp_waits_count_from_arrival_so_the_app_overlaps_them(
        world: tuple[Simulator, dict[str, str], list[str]]) -> None:
    sim, headers, urls = world
    loop = asyncio.get_running_loop()

    async def one(session: aiohttp.ClientSession, url: str) -> tuple[float, float]:
        sent = loop.time()
        async with session.get(url) as response:
            assert response.status == 200
            await response.read()
        return sent, loop.time()

    with mock_apis(sim, clients=("aiohttp",)) as apis:
        slowed(apis)
        async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=30)) as session:
            times = await asyncio.gather(*(one(session, urls[i % len(urls)]) for i in range(SLOW_BATCH)))
    check_overlap([s for s, _ in times], [a for _, a in times])
    assert len(sim.journal.calls("rivo.customers.get")) == SLOW_BATCH


def test_a_sync_client_waits_the_latency_counted_from_its_request(
        world: tuple[Simulator, dict[str, str], list[str]]) -> None:
    """The same rule for a sync client sleeping for real: the app's time is part of the latency, not added."""
    sim, headers, urls = world
    transport = httpx_transport(sim, real_sleep=True)
    slowed(transport.apis, 0.5)
    with httpx.Client(transport=transport, headers=headers) as client:
        t0 = time.perf_counter()
        assert client.get(urls[0]).status_code == 200
        elapsed = time.perf_counter() - t0
    assert 1.0 <= elapsed < 1.4, f"took {elapsed:.2f} s (1 s after its 0.5 s app call would be 1.5 s)"


def test_the_latency_is_awaited_outside_the_simulators_lock(world: Any) -> None:
    """While one async request awaits its latency, the simulator's lock is free: another thread gets it."""
    sim, headers, urls = world
    got_lock: list[float] = []

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx_transport(sim), headers=headers, timeout=30) as client:
            task = asyncio.ensure_future(client.get(urls[0]))
            await asyncio.sleep(0.3)  # the request is answered and is now awaiting its 1 s

            def take() -> None:
                t0 = time.perf_counter()
                with sim.lock:
                    got_lock.append(time.perf_counter() - t0)

            await asyncio.to_thread(take)
            assert not task.done()
            assert (await task).status_code == 200

    asyncio.run(main())
    assert got_lock and got_lock[0] < 0.5
