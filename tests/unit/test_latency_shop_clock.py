"""Injected latency (a fault's, and the service-time model's) is the waiting of one shop's client: it moves that
shop's virtual clock by exactly the latency and no other clock — not another shop's time, timers or webhook
retries, nor the simulator's own clock — in the app (Flask's test client), in-process (``mock_apis``) and through
the scenario runner's transport. A request no shop owns (an unknown key) moves no clock. And a scenario's 500
check counts its own shop's bugs, not a neighbour's on a shared server."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests

from rivosim import Simulator, create_app
from rivosim.transports.inprocess import RIVO_HOST, mock_apis
from rivosim.transports.runner import InProcessTransport
from rivosim.webhooks.senders import AttemptResult, Done, OutgoingRequest

A, B = "slow-a.myshopify.com", "calm-b.myshopify.com"
SHOP = {"plan": "plus", "rate_limits": {"rivo": {"enabled": False}}, "api": {"new_customer_visibility_delay": 0}}


class Failing:
    """A receiver that answers 500: every delivery is retried on its shop's clock (60 s, then 120 s, …)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, request: OutgoingRequest, done: Done) -> None:
        self.sent.append(request.shop)
        done(AttemptResult(500, None, 1.0))

    def close(self) -> None:
        pass


def world() -> tuple[Simulator, Failing]:
    sim = Simulator(seed=5)
    failing = Failing()
    sim.use_sender(failing)
    for domain in (A, B):
        shop = sim.create_shop({**SHOP, "domain": domain}, customers=1)
        client = create_app(sim).test_client()
        assert client.post("/merchant_api/v1/webhooks", headers={"Authorization": shop.credentials.rivo_api_key},
                           json={"event_type": "customer/joined", "url": "https://hooks.test/x"}).status_code == 201
        shop.shopify.create_customer(email=f"ann@{domain}", first_name="Ann")
    sim.advance_shop(B, 0)  # B's first attempt fails: its retry waits 60 s on B's clock
    assert failing.sent == [B]
    # 90 s on every Rivo call of shop A.
    sim.faults.add({"id": "slow", "match": {"route": "rivo.shop.get", "shop": A},
                    "action": {"type": "latency", "ms": 90_000}})
    return sim, failing


def snapshot(sim: Simulator) -> dict[str, Any]:
    b = sim.shop(B)
    return {"server": sim.now(), "b": b.now(), "b_next": b.clock.next_due(), "b_pending": len(b.clock.pending()),
            "b_attempts": [len(d.attempts) for d in sim.outbox.list(shop=B)]}


def via_test_client(sim: Simulator) -> None:
    key = sim.shop(A).credentials.rivo_api_key
    assert create_app(sim).test_client().get("/merchant_api/v1/shop", headers={"Authorization": key}).status_code \
        == 200


def via_mock_apis(sim: Simulator) -> None:
    with mock_apis(sim):
        response = requests.get(f"https://{RIVO_HOST}/merchant_api/v1/shop", timeout=120,
                                headers={"Authorization": sim.shop(A).credentials.rivo_api_key})
    assert response.status_code == 200


def via_runner_transport(sim: Simulator) -> None:
    transport = InProcessTransport(sim)
    transport.clock_shop = A
    before = transport.now()
    reply = transport.request("GET", "/merchant_api/v1/shop", timeout=120,
                              headers={"Authorization": sim.shop(A).credentials.rivo_api_key})
    assert reply.status == 200 and transport.now() - before == timedelta(seconds=90)  # the runner sees it


@pytest.mark.parametrize("call", [via_test_client, via_mock_apis, via_runner_transport])
def test_latency_on_one_shop_moves_that_shops_clock_by_exactly_the_latency_and_nothing_else(call: Any) -> None:
    sim, failing = world()
    a_before, others = sim.shop(A).now(), snapshot(sim)
    call(sim)
    assert sim.shop(A).now() - a_before == timedelta(seconds=90)
    assert snapshot(sim) == others  # B's time, timers and retry, and the server's clock: untouched
    # A's work ran on the way (its first attempt and the retry 60 s later); B's retry did not.
    assert failing.sent == [B, A, A]
    sim.advance_shop(B, 60)  # B's retry falls due on B's clock, when B's time gets there
    assert failing.sent == [B, A, A, B]


def test_service_time_moves_only_the_shop_that_modelled_it() -> None:
    sim = Simulator(seed=6)
    slow = sim.create_shop({**SHOP, "domain": A, "service_time": {"enabled": True}}, customers=3)
    calm = sim.create_shop({**SHOP, "domain": B}, customers=3)
    client = create_app(sim).test_client()
    slow_before, calm_before, server_before = slow.now(), calm.now(), sim.now()
    assert client.get("/merchant_api/v1/customers", headers={"Authorization": slow.credentials.rivo_api_key}) \
        .status_code == 200
    latency = sim.journal.calls("rivo.customers.list")[-1].latency_ms
    assert latency > 0 and slow.now() - slow_before == timedelta(milliseconds=latency)
    assert (calm.now(), sim.now()) == (calm_before, server_before)


def test_a_request_no_shop_owns_moves_no_clock() -> None:
    sim, _ = world()
    sim.faults.add({"id": "slow-everyone", "match": {"api": "rivo"}, "action": {"type": "latency", "ms": 5_000}})
    clocks = [sim.now(), sim.shop(A).now(), sim.shop(B).now()]
    response = create_app(sim).test_client().get("/merchant_api/v1/shop", headers={"Authorization": "not-a-key"})
    assert response.status_code == 401
    assert [sim.now(), sim.shop(A).now(), sim.shop(B).now()] == clocks


def test_the_global_advance_still_moves_every_clock() -> None:
    sim, failing = world()
    before = [sim.now(), sim.shop(A).now(), sim.shop(B).now()]
    sim.advance(60)
    assert [sim.now(), sim.shop(A).now(), sim.shop(B).now()] == [t + timedelta(seconds=60) for t in before]
    assert failing.sent.count(B) == 2  # B's retry ran


# -- a scenario's 500 check counts its own shop's bugs ----------------------------------------------------------
def test_a_bug_is_recorded_with_the_shop_whose_request_met_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from rivosim.http.control import clock as control_clock

    sim = Simulator(seed=1)
    sim.create_shop({"domain": A})

    def boom(shop: Any) -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(control_clock, "shop_clock_json", boom)
    assert create_app(sim).test_client().get(f"/_rivosim/shops/{A}/clock").status_code == 500
    assert [b.get("shop") for b in sim.bugs] == [A]


def test_the_runner_counts_only_its_shops_bugs_and_the_servers_own() -> None:
    from rivosim.scenarios.runner import _new_bugs
    from rivosim.transports.runner import Reply

    class Canned:
        def request(self, method: str, path: str, **kwargs: Any) -> Reply:
            bugs = [{"where": "old"}, {"where": "mine", "shop": A}, {"where": "neighbour's", "shop": B},
                    {"where": "the server's"}]
            return Reply(200, json.dumps({"bugs": bugs, "total": 4}).encode())

    assert [b["where"] for b in _new_bugs(Canned(), 1, A)] == ["mine", "the server's"]  # type: ignore[arg-type]
    assert _new_bugs(Canned(), 4, A) == []  # type: ignore[arg-type]
