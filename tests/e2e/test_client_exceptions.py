"""What each HTTP client meets for each transport action, over a socket (the server shell) and in-process
(``mock_apis``): the same outcome, exception type and message. This pins the README's in-process table: each row
is observed against the real server first, and in-process mode must give the same."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pytest
import requests

from rivosim import Simulator, create_app, mock_apis
from rivosim.transports.server import Server

ROUTE = "rivo.vip_tiers.list"
PATH = "/merchant_api/v1/vip_tiers"
# name: (fault action, the client's read timeout in seconds)
CASES: dict[str, tuple[dict[str, Any], float]] = {
    "latency_within": ({"type": "latency", "ms": 100}, 1.0),
    "latency_past_timeout": ({"type": "latency", "ms": 600}, 0.3),
    "hang": ({"type": "timeout"}, 0.3),
    "hang_server_closes": ({"type": "timeout", "seconds": 0.1}, 1.0),
    "reset": ({"type": "reset"}, 1.0),
    "empty_reply": ({"type": "empty_reply"}, 1.0),
    "dribble": ({"type": "slow_body", "chunk_size": 256, "interval_ms": 5}, 1.0),
    "dribble_past_timeout": ({"type": "slow_body", "chunk_size": 64, "interval_ms": 500}, 0.3),
    "cut": ({"type": "malformed_body", "mode": "cut"}, 1.0),
}
CLIENTS = ("requests", "httpx", "httpx_async", "aiohttp_sock_read", "aiohttp_total")


def described(exc: BaseException, with_message: bool = True) -> list[Any]:
    return ["raised", f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc) if with_message else None]


def call_requests(url: str, headers: dict[str, str], timeout: float) -> list[Any]:
    try:
        response = requests.get(url, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        return described(exc, with_message=False)  # urllib3's messages name the host and port
    return [response.status_code, len(response.content)]


def call_httpx(url: str, headers: dict[str, str], timeout: float) -> list[Any]:
    try:
        with httpx.Client(timeout=timeout) as client:
            response = client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        return described(exc)
    return [response.status_code, len(response.content)]


async def call_httpx_async(url: str, headers: dict[str, str], timeout: float) -> list[Any]:
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        return described(exc)
    return [response.status_code, len(response.content)]


async def call_aiohttp(url: str, headers: dict[str, str], timeout: aiohttp.ClientTimeout) -> list[Any]:
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url, headers=headers) as response:
            body = await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return described(exc)
    return [response.status, len(body)]


def observe(client: str, url: str, headers: dict[str, str], timeout: float) -> list[Any]:
    if client == "requests":
        return call_requests(url, headers, timeout)
    if client == "httpx":
        return call_httpx(url, headers, timeout)
    if client == "httpx_async":
        return asyncio.run(call_httpx_async(url, headers, timeout))
    limits = aiohttp.ClientTimeout(total=None, sock_read=timeout) if client == "aiohttp_sock_read" \
        else aiohttp.ClientTimeout(total=timeout)
    return asyncio.run(call_aiohttp(url, headers, limits))


class World:
    """A simulator with one shop, and a fault rule set afresh for each call."""

    def __init__(self) -> None:
        self.sim = Simulator(seed=5)
        shop = self.sim.create_shop({"rate_limits": {"rivo": {"enabled": False}}}, customers=2)
        self.headers = {"Authorization": shop.credentials.rivo_api_key}

    def arm(self, action: dict[str, Any], times: int | None = None) -> None:
        self.sim.faults.clear()
        rule: dict[str, Any] = {"match": {"route": ROUTE}, "action": action}
        if times is not None:
            rule["times"] = times
        self.sim.faults.add(rule, self.sim.now())

    def statuses(self) -> list[int]:
        return [e.status for e in self.sim.journal.calls(ROUTE)]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[World, str]]:
    world = World()
    with Server(create_app(world.sim)) as server:
        yield world, server.url + PATH


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("case", list(CASES))
def test_in_process_meets_what_the_socket_gives(served: tuple[World, str], client: str, case: str) -> None:
    action, timeout = CASES[case]
    world, url = served
    world.arm(action)
    over_socket = observe(client, url, world.headers, timeout)

    local = World()
    local.arm(action)
    with mock_apis(local.sim, hosts=["127.0.0.1"]):  # the same URL, so the same links in the same bodies
        in_process = observe(client, url, local.headers, timeout)
    assert in_process == over_socket


@pytest.mark.parametrize("action", [{"type": "reset"}, {"type": "empty_reply"}])
def test_aiohttp_sends_a_get_once_more_after_a_dropped_connection_in_both_modes(
        served: tuple[World, str], action: dict[str, Any]) -> None:
    world, url = served
    world.arm(action, times=1)
    before = len(world.statuses())
    over_socket = observe("aiohttp_total", url, world.headers, 2.0)
    local = World()
    local.arm(action, times=1)
    with mock_apis(local.sim, clients=("aiohttp",), hosts=["127.0.0.1"]):
        in_process = observe("aiohttp_total", url, local.headers, 2.0)
    assert in_process == over_socket and in_process[0] == 200
    assert local.statuses() == world.statuses()[before:] == [0, 200]


def test_the_explicit_httpx_transport_sync_and_async() -> None:
    from rivosim import httpx_transport

    world = World()
    world.arm({"type": "reset"}, times=1)
    transport = httpx_transport(world.sim)
    with httpx.Client(transport=transport, base_url="http://anything.test") as client:
        with pytest.raises(httpx.ReadError):
            client.get(PATH, headers=world.headers)
        assert client.get(PATH, headers=world.headers).status_code == 200

    async def go() -> int:
        async with httpx.AsyncClient(transport=transport, base_url="http://anything.test") as client:
            return (await client.get(PATH, headers=world.headers)).status_code

    assert asyncio.run(go()) == 200
    assert world.statuses() == [0, 200, 200]
