"""Signed webhook deliveries over real HTTP to a real receiver, across a simulated outage: nothing is lost,
every delivery verifies, and each webhook id is accepted exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from rivosim import Simulator, create_app
from rivosim.transports.server import Server
from rivosim.webhooks.schemas import check_delivery
from rivosim.workflows.signatures import rivo_signature_problem


class Receiver:
    """A subscriber endpoint on 127.0.0.1 that can be taken down (it answers 503) and brought back."""

    def __init__(self, secret: str, clock: Any) -> None:
        self.secret = secret
        self.clock = clock
        self.up = True
        self.accepted: dict[str, dict[str, Any]] = {}
        self.refused = 0
        self.bad_signatures = 0
        self.contract_violations: list[str] = []  # every delivery is checked against its topic's JSON Schema
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    if not receiver.up:
                        receiver.refused += 1
                        self.send_response(503)
                        self.end_headers()
                        return
                    lowered = {k.lower(): v for k, v in self.headers.items()}
                    if rivo_signature_problem(body, lowered, receiver.secret, now=receiver.clock().timestamp()):
                        receiver.bad_signatures += 1
                        self.send_response(401)
                        self.end_headers()
                        return
                    msg_id = self.headers["rivo-webhook-id"]
                    receiver.contract_violations += check_delivery("rivo", lowered["rivo-webhook-topic"], body,
                                                                   lowered)
                    entry = receiver.accepted.setdefault(msg_id, {"topic": self.headers["rivo-webhook-topic"],
                                                                  "times": 0})
                    entry["times"] += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/rivo"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(secret: str, clock: Any) -> Receiver:
        receiver = Receiver(secret, clock)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


@pytest.mark.parametrize("signing", ["rivo-signature", "standard-webhooks"])
def test_virtual_clock_outage_loses_nothing(receiver_factory: Any, signing: str) -> None:
    sim = Simulator(seed=21)
    shop = sim.create_shop({"domain": "hooks.myshopify.com", "webhooks": {"signing": signing},
                            "api": {"new_customer_visibility_delay": 0}})
    receiver = receiver_factory(shop.credentials.webhook_secret, sim.now)
    for topic in ("points_event/created", "customer/joined", "order/placed"):
        shop.rivo.create_subscription({"event_type": topic, "url": receiver.url})

    receiver.up = False
    ids = [shop.shopify.create_customer(email=f"c{i}@example.com").id for i in range(5)]
    for cid in ids:
        shop.shopify.create_order(customer_id=cid, line_items=[{"title": "x", "price": "12.00"}], paid=True)
    sim.advance("PT5M")  # first attempts and the first retries all hit the outage
    assert receiver.refused >= 20 and not receiver.accepted
    receiver.up = True
    sim.run_until_idle()

    expected = [t for t in sim.triggers.log(shop.domain).items if t.delivery_id]
    assert len(expected) == 20  # 5 x (joined, signup points, order placed, order points)
    assert set(receiver.accepted) == {t.delivery_id for t in expected}
    assert all(entry["times"] == 1 for entry in receiver.accepted.values())
    assert receiver.bad_signatures == 0
    assert receiver.contract_violations == []
    statuses = {d.status for d in sim.outbox.list(shop=shop.domain)}
    assert statuses == {"delivered"}


def test_server_mode_delivers_off_the_request_path_and_survives_an_outage(receiver_factory: Any) -> None:
    sim = Simulator(seed=22, clock="wall")
    with Server(create_app(sim), tick=sim.tick, tick_interval=0.02) as server:
        http = requests.Session()
        shop = http.post(f"{server.url}/_rivosim/shops", json={
            "domain": "live.myshopify.com", "webhooks": {"signing": "both"},
            "api": {"new_customer_visibility_delay": 0}}, timeout=5).json()
        receiver = receiver_factory(shop["webhook_secret"], sim.now)
        auth = {"Authorization": shop["rivo_api_key"]}
        created = http.post(f"{server.url}/merchant_api/v1/webhooks", headers=auth, timeout=5,
                            json={"event_type": "points_event/created", "url": receiver.url})
        assert created.status_code == 201 and created.json()["data"]["attributes"]["secret"] == shop["webhook_secret"]

        receiver.up = False
        for i in range(3):
            r = http.post(f"{server.url}/_rivosim/shops/live.myshopify.com/customers", timeout=5,
                          json={"email": f"w{i}@example.com"})
            assert r.status_code == 201
        deadline = time.monotonic() + 10
        while receiver.refused < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert receiver.refused >= 3 and not receiver.accepted

        receiver.up = True
        # Time travel past the first retry (60 s): the server's tick runs it, deliveries go out from a pool.
        assert http.post(f"{server.url}/_rivosim/clock/advance", json={"seconds": 61}, timeout=5).status_code == 200
        deadline = time.monotonic() + 10
        while len(receiver.accepted) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(receiver.accepted) == 3
        assert all(entry["times"] == 1 for entry in receiver.accepted.values())
        assert receiver.bad_signatures == 0
        assert receiver.contract_violations == []
        # The receiver has answered; the server records each outcome on its next tick (off the request path).
        deadline = time.monotonic() + 10
        while True:
            log = http.get(f"{server.url}/_rivosim/webhooks/deliveries", params={"shop": "live.myshopify.com"},
                           timeout=5).json()["deliveries"]
            if {d["status"] for d in log} == {"delivered"} or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert {d["status"] for d in log} == {"delivered"}
        assert all(len(d["attempts"]) == 2 and d["attempts"][0]["status_code"] == 503 for d in log)
        assert all(d["attempts"][0]["at"] < d["attempts"][1]["at"] for d in log)
