"""Async in-process clients under injected latency on a wall clock: concurrent requests wait side by side (the
latency is awaited outside the simulator's lock, so one request's wait never holds up another's app call), and
each answers exactly what the same request answers through a sync client."""

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
