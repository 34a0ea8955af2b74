"""``rivosim_mock`` intercepts every installed client (requests, httpx sync and async, aiohttp) into the one
simulator, and unsimulated hosts pass through or are refused alike for each of them."""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
import pytest
import requests

REFUSED = "http://not-simulated.invalid/anything"


def test_every_client_reaches_the_same_simulator(rivosim: Any, rivosim_shop: Any, rivosim_mock: Any) -> None:
    url = f"{rivosim_mock.rivo_url}/customers"
    headers = rivosim_shop.rivo_headers
    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    assert httpx.get(url, headers=headers).status_code == 200
    with httpx.Client() as client:
        assert client.get(url, headers=headers).status_code == 200
    assert [e.status for e in rivosim.journal.calls("rivo.customers.list")] == [200, 200, 200]


@pytest.mark.asyncio
async def test_async_clients_under_pytests_event_loop(rivosim: Any, rivosim_shop: Any, rivosim_mock: Any) -> None:
    url = f"{rivosim_mock.rivo_url}/points_events"
    body = {"customer_identifier": "nobody@example.com", "source": "manual", "points_amount": 5, "credits_amount": 0}
    async with httpx.AsyncClient() as client:
        assert (await client.post(url, headers=rivosim_shop.rivo_headers, json=body)).status_code == 404
    async with aiohttp.ClientSession(headers=rivosim_shop.rivo_headers) as session, \
            session.post(url, json=body) as response:
        assert response.status == 404
        assert (await response.json())["error"]
    rivosim.journal.assert_called("rivo.points_events.create", times=2, status=404, json={"points_amount": 5})


@pytest.mark.rivosim(faults=[{"match": {"route": "rivo.customers.list"}, "action": {"type": "timeout"}}])
@pytest.mark.asyncio
async def test_faults_reach_async_clients(rivosim_shop: Any, rivosim_mock: Any) -> None:
    url = f"{rivosim_mock.rivo_url}/customers"
    async with httpx.AsyncClient(timeout=3) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(url, headers=rivosim_shop.rivo_headers)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=3)) as session:
        with pytest.raises(aiohttp.ServerTimeoutError):
            await session.get(url, headers=rivosim_shop.rivo_headers)


@pytest.mark.rivosim(passthrough=False)
@pytest.mark.asyncio
async def test_unsimulated_hosts_are_refused_by_every_client_when_asked(rivosim_mock: Any) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.get(REFUSED, timeout=1)
    with pytest.raises(httpx.ConnectError, match="not a simulated host"):
        httpx.get(REFUSED)
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(REFUSED)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(REFUSED)


def test_your_own_aiohttp_mocks_win_over_the_simulator(rivosim_shop: Any, rivosim_mock: Any) -> None:
    import asyncio

    url = f"{rivosim_mock.rivo_url}/shop"
    rivosim_mock.aiohttp.get(url, status=418, body=b"teapot")

    async def go() -> tuple[int, bytes]:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status, await response.read()

    assert asyncio.run(go()) == (418, b"teapot")
    assert asyncio.run(go())[0] == 401  # used up: the simulator answers (no key given)
