"""Server mode over a real socket: a ``timeout`` fault really reaches a ``requests`` client with a short timeout,
as do latency beyond the client's timeout, a hang that the server ends, and a body dribbled slower than the
client reads; and a delayed or hung request never holds up anyone else."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rivosim import Simulator, create_app
from rivosim.transports.server import Server


@pytest.fixture
def world() -> Iterator[tuple[Simulator, str, dict[str, str]]]:
    sim = Simulator(seed=5, clock="wall")
    shop = sim.create_shop({"rate_limits": {"rivo": {"enabled": False}}})
    with Server(create_app(sim)) as server:
        yield sim, server.url + "/merchant_api/v1", {"Authorization": shop.credentials.rivo_api_key}


def rule(sim: Simulator, route: str, action: dict[str, Any]) -> None:
    sim.faults.add({"match": {"route": route}, "action": action})


def test_a_timeout_reaches_the_client(world: tuple[Simulator, str, dict[str, str]]) -> None:
    sim, base, auth = world
    rule(sim, "rivo.rewards.list", {"type": "timeout"})
    started = time.perf_counter()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(base + "/rewards", headers=auth, timeout=0.3)
    waited = time.perf_counter() - started
    assert 0.25 < waited < 3
    assert requests.get(base + "/vip_tiers", headers=auth, timeout=2).status_code == 200
    entry = sim.journal.calls("rivo.rewards.list")[-1]
    assert entry.status == 0 and entry.action == "hang"


def test_latency_beyond_the_clients_timeout(world: tuple[Simulator, str, dict[str, str]]) -> None:
    sim, base, auth = world
    rule(sim, "rivo.rewards.list", {"type": "latency", "ms": 1500})
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(base + "/rewards", headers=auth, timeout=0.3)


def test_a_hang_the_server_ends_and_a_slow_body(world: tuple[Simulator, str, dict[str, str]]) -> None:
    sim, base, auth = world
    rule(sim, "rivo.rewards.list", {"type": "timeout", "seconds": 0.2})
    with pytest.raises(requests.exceptions.ConnectionError) as info:
        requests.get(base + "/rewards", headers=auth, timeout=5)
    assert not isinstance(info.value, requests.exceptions.ReadTimeout)
    rule(sim, "rivo.vip_tiers.list", {"type": "slow_body", "chunk_size": 4096, "interval_ms": 800})
    with pytest.raises(requests.exceptions.ConnectionError, match="Read timed out"):
        requests.get(base + "/vip_tiers", headers=auth, timeout=0.3)


def test_delayed_requests_do_not_hold_each_other_up(world: tuple[Simulator, str, dict[str, str]]) -> None:
    sim, base, auth = world
    rule(sim, "rivo.rewards.list", {"type": "latency", "ms": 1000})
    rule(sim, "rivo.earning_rules.list", {"type": "timeout"})
    results: list[float] = []

    def slow() -> None:
        t0 = time.perf_counter()
        requests.get(base + "/rewards", headers=auth, timeout=10)
        results.append(time.perf_counter() - t0)

    def hung() -> None:
        with contextlib.suppress(requests.exceptions.ReadTimeout):
            requests.get(base + "/earning_rules", headers=auth, timeout=2)

    threads = [threading.Thread(target=slow) for _ in range(16)] + [threading.Thread(target=hung) for _ in range(4)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(0.1)
    fast = time.perf_counter()
    assert requests.get(base + "/vip_tiers", headers=auth, timeout=2).status_code == 200
    assert time.perf_counter() - fast < 1.0  # undelayed requests keep their normal latency meanwhile
    for t in threads:
        t.join(10)
    assert len(results) == 16 and max(results) < 3
    assert time.perf_counter() - started < 4  # 16 x 1 s concurrently, not one after another
