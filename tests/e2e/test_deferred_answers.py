"""A control request that waits for a webhook delivery (``clock/advance`` with ``stop_on_delivery``,
``run_until_idle``) waits without holding the server's event loop (issue 14): while the receiver sits on the
delivery, every other client is served; the waiting caller is answered once the delivery is made."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rivosim import Simulator, create_app
from rivosim.transports.server import Server
from rivosim.webhooks.senders import ThreadedSender
from tests.receiver import PostReceiver

T = 10.0


class HeldReceiver(PostReceiver):
    """Holds every delivery until ``release`` is set (at most 20 s): a slow receiver, without timing."""

    path = "/held"

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        super().__init__()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        self.arrived.set()
        self.release.wait(20)
        return 200


@pytest.fixture
def held() -> Iterator[HeldReceiver]:
    made = HeldReceiver()
    yield made
    made.release.set()
    made.close()


def _served_while_held(held: HeldReceiver, path: str, body: dict[str, Any]) -> requests.Response:
    """Fire one delivery at the held receiver, then ``POST path`` on another thread; check that other clients are
    served while that request waits on the receiver; release it and return its answer."""
    sim = Simulator(seed=5)  # a virtual clock, with serve's threaded sender
    sim.use_sender(ThreadedSender())
    # No tick: the delivery's first attempt starts inside the control request under test, not before it.
    with Server(create_app(sim)) as server:
        base = server.url
        shop = requests.post(f"{base}/_rivosim/shops", timeout=T, json={
            "domain": "held.myshopify.com", "api": {"new_customer_visibility_delay": 0},
            "webhooks": {"timeout_seconds": 30, "max_attempts": 1}}).json()
        created = requests.post(f"{base}/merchant_api/v1/webhooks", headers={"Authorization": shop["rivo_api_key"]},
                                json={"event_type": "points_event/created", "url": held.url}, timeout=T)
        assert created.status_code == 201, created.text
        r = requests.post(f"{base}/_rivosim/shops/held.myshopify.com/customers", json={"email": "h@x.io"},
                          timeout=T)
        assert r.status_code == 201, r.text
        answers: dict[str, requests.Response] = {}
        waiting = threading.Thread(target=lambda: answers.setdefault(
            "waiting", requests.post(f"{base}{path}", json=body, timeout=30)), daemon=True)
        waiting.start()
        assert held.arrived.wait(T), "the delivery never reached the receiver"
        # The receiver holds the delivery, so the control request is still waiting; the others are served.
        for _ in range(3):
            assert requests.get(f"{base}/_rivosim/clock", timeout=T).status_code == 200
            customers = requests.get(f"{base}/merchant_api/v1/customers",
                                     headers={"Authorization": shop["rivo_api_key"]}, timeout=T)
            assert customers.status_code == 200
        assert "waiting" not in answers  # it answers only once the delivery is made
        held.release.set()
        waiting.join(T)
        assert "waiting" in answers
        statuses = [d["status"] for d in
                    requests.get(f"{base}/_rivosim/webhooks/deliveries", timeout=T).json()["deliveries"]]
        assert statuses == ["delivered"], statuses
        sim.outbox.close()
        return answers["waiting"]


def test_an_advance_stopped_at_a_slow_delivery_does_not_stall_other_clients(held: HeldReceiver) -> None:
    answer = _served_while_held(held, "/_rivosim/clock/advance", {"seconds": 60, "stop_on_delivery": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["stopped_on_delivery"] is True


def test_run_until_idle_waiting_on_a_slow_delivery_does_not_stall_other_clients(held: HeldReceiver) -> None:
    answer = _served_while_held(held, "/_rivosim/run_until_idle", {})
    assert answer.status_code == 200, answer.text
    assert answer.json()["pending"] == 0 or answer.json()["next_due"] is not None
