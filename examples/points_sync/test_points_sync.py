"""The points-sync worker, tested with rivosim's pytest plugin: in-process (``rivosim_mock``: plain ``requests``
calls land in the simulator, the virtual clock stands in for waiting) and against a real server
(``rivosim_server``). A happy path, then each troubleshooting case the worker must survive."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from points_sync import PointsSync, RivoClient, Store

HOOK = "https://sync.example.test/rivo/webhooks"


class Receiver:
    """The worker's webhook endpoint as ``responses`` calls it; ``down`` simulates an outage."""

    def __init__(self, sync: PointsSync) -> None:
        self.sync = sync
        self.down = False
        self.calls = 0

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.calls += 1
        if self.down:
            return 503, {}, "down for maintenance"
        return self.sync.handle(request.body, request.headers), {}, ""


@pytest.fixture
def rivosim_config() -> dict[str, Any]:
    # Both signature schemes on every delivery: the worker checks whichever it finds.
    return {"webhooks": {"signing": "both"}}


@pytest.fixture
def sync(rivosim: Any, rivosim_shop: Any, rivosim_mock: Any) -> PointsSync:
    # Waiting (Retry-After, backoff) moves the simulator's virtual clock instead of sleeping.
    client = RivoClient(rivosim_mock.rivo_url, rivosim_shop.rivo_api_key, sleep=rivosim.advance, timeout=2)
    worker = PointsSync(client, Store(), rivosim_shop.webhook_secret, now=lambda: rivosim.now().timestamp())
    worker.receiver = Receiver(worker)  # type: ignore[attr-defined]
    rivosim_mock.add_callback("POST", HOOK, callback=worker.receiver)  # type: ignore[attr-defined]
    worker.subscribe(HOOK)
    return worker


def sign_up(rivosim: Any, shop: Any, email: str, *, visible_now: bool = True) -> int:
    """A shopper signs up on the storefront (the control API plays the outside world)."""
    body: dict[str, Any] = {"email": email}
    if visible_now:
        body["visibility_delay"] = 0
    r = rivosim.client.post(f"/_rivosim/shops/{shop.domain}/customers", json=body)
    assert r.status_code == 201, r.json
    return int(r.json["id"])


def buy(rivosim: Any, shop: Any, customer_id: int, price: str) -> int:
    r = rivosim.client.post(f"/_rivosim/shops/{shop.domain}/orders", json={
        "customer_id": customer_id, "paid": True, "line_items": [{"title": "Hoodie", "price": price}]})
    assert r.status_code == 201, r.json
    return int(r.json["id"])


def assert_in_sync(sync: PointsSync) -> None:
    """The local store agrees with Rivo on every customer's points, credits and tier."""
    store = sync.store.all()
    for customer in sync.client.customers():
        local = store.get(customer["id"])
        assert local is not None, f"customer {customer['id']} is missing locally"
        tier = (customer["vip_tier"] or {}).get("name")
        assert (local["points"], local["tier"]) == (customer["points_tally"], tier), (local, customer)
        assert float(local["credits"]) == float(customer["credits_tally"])


# -- the happy path ------------------------------------------------------------------------------------------------
def test_balances_and_tiers_follow_rivo(rivosim: Any, rivosim_shop: Any, sync: PointsSync) -> None:
    ann = sign_up(rivosim, rivosim_shop, "ann@example.com")
    bob = sign_up(rivosim, rivosim_shop, "bob@example.com")
    buy(rivosim, rivosim_shop, ann, "480.00")              # 100 + 480 points: Silver
    sync.client.add_points(bob, 250, reason="support goodwill")
    rivosim.run_until_idle()                                # deliveries go out on the virtual clock

    assert_in_sync(sync)
    assert sync.store.get(ann)["tier"] == "Silver"  # type: ignore[index]
    rivosim.webhooks.assert_delivered("points_event/created", times=4, to=HOOK)
    rivosim.webhooks.assert_delivered("customer_vip_tier/upgraded", times=1, payload={"vip_tier": {"name": "Silver"}})
    rivosim.journal.assert_called("rivo.points_events.create", times=1, json={"points_amount": 250})
    assert sync.duplicates == 0 and sync.store.pending() == []


# -- troubleshooting ---------------------------------------------------------------------------------------------
@pytest.mark.rivosim(config={"rate_limits": {"rivo": {"rate": 2, "burst": 3}}})
def test_429_from_the_rate_limit_waits_retry_after(rivosim: Any, rivosim_shop: Any, sync: PointsSync) -> None:
    for n in range(8):
        sign_up(rivosim, rivosim_shop, f"shopper{n}@example.com")
    rivosim.advance(10)                                     # a quiet moment: the bucket refills
    assert sync.reconcile(page_size=2) == 8                 # five pages of two against a bucket of three
    throttled = rivosim.journal.calls("rivo.customers.list", status=429)
    assert throttled, "the reconcile never met the rate limit"
    assert sync.client.waited > 0
    assert_in_sync(sync)


@pytest.mark.rivosim(faults=[{"match": {"route": "rivo.customers.get"}, "times": 2,
                              "action": {"type": "error", "status": 429, "retry_after": 7}}])
def test_429_retry_after_is_honoured_exactly(rivosim: Any, rivosim_shop: Any, sync: PointsSync) -> None:
    before = rivosim.now()
    ann = sign_up(rivosim, rivosim_shop, "ann@example.com")
    rivosim.run_until_idle()                                # customer/joined: the worker fetches the profile
    assert sync.store.get(ann)["email"] == "ann@example.com"  # type: ignore[index]
    assert sync.client.waited == 14
    assert (rivosim.now() - before).total_seconds() >= 14
    assert [e.status for e in rivosim.journal.calls("rivo.customers.get")] == [429, 429, 200]


@pytest.mark.rivosim(faults=[{"match": {"route": "rivo.customers.get"}, "times": 1, "action": {"type": "timeout"}},
                             {"match": {"route": "rivo.customers.list"}, "times": 1, "action": {"type": "reset"}}])
def test_timeouts_and_resets_are_retried(rivosim: Any, rivosim_shop: Any, sync: PointsSync) -> None:
    ann = sign_up(rivosim, rivosim_shop, "ann@example.com")
    rivosim.run_until_idle()
    assert sync.store.get(ann)["email"] == "ann@example.com"  # type: ignore[index]
    assert sync.reconcile() == 1
    assert [e.status for e in rivosim.journal.calls("rivo.customers.get")] == [0, 200]  # 0: no response at all
    assert_in_sync(sync)


@pytest.mark.rivosim(faults=[{"match": {"route": "rivo.points_events.create"}, "times": 1,
                              "action": {"type": "commit_then_fail", "status": 503}}])
def test_a_grant_whose_answer_was_lost_is_not_made_twice(rivosim: Any, rivosim_shop: Any,
                                                         sync: PointsSync) -> None:
    ann = sign_up(rivosim, rivosim_shop, "ann@example.com")
    event = sync.client.add_points(ann, 75, reason="survey", key="survey-2026-01")
    assert event["points_diff"] == 75
    grants = [e for e in sync.client.points_events(ann) if e["source"] == "manual"]
    assert len(grants) == 1                                 # the 503 came after the grant landed
    rivosim.journal.assert_called("rivo.points_events.create", times=1, status=503)
    rivosim.run_until_idle()
    assert_in_sync(sync)


def test_duplicate_deliveries_are_handled_once(rivosim: Any, rivosim_shop: Any, sync: PointsSync) -> None:
    ann = sign_up(rivosim, rivosim_shop, "ann@example.com")
    sync.client.add_points(ann, 40, reason="welcome back")
    rivosim.run_until_idle()
    delivered = rivosim.webhooks.deliveries(status="delivered")
    for d in delivered:                                     # Rivo (or an operator) sends them all again
        assert rivosim.client.post(f"/_rivosim/webhooks/deliveries/{d.id}/redeliver").status_code == 202
    rivosim.run_until_idle()
    assert sync.duplicates == len(delivered) and sync.handled == len(delivered)
    assert_in_sync(sync)


def test_an_outage_and_out_of_order_deliveries(rivosim: Any, rivosim_shop: Any, sync: PointsSync) -> None:
    ann = sign_up(rivosim, rivosim_shop, "ann@example.com")
    rivosim.run_until_idle()
    sync.receiver.down = True  # type: ignore[attr-defined]
    sync.client.add_points(ann, 100, reason="first")
    rivosim.advance(1)                                      # attempt 1 fails; Rivo retries in a minute
    sync.receiver.down = False  # type: ignore[attr-defined]
    sync.client.add_points(ann, 200, reason="second")
    rivosim.advance(1)                                      # the newer event arrives first...
    rivosim.run_until_idle()                                # ...then the retry of the older one
    [first] = rivosim.webhooks.assert_delivered("points_event/created",
                                                       payload={"points_diff": 100, "source": "manual"})
    assert len(first.attempts) == 2 and first.attempts[0].status_code == 503
    assert sync.store.get(ann)["points"] == 400  # type: ignore[index]   # not the older 200
    assert_in_sync(sync)


def test_a_new_customer_is_fetched_once_visible(rivosim: Any, rivosim_shop: Any, sync: PointsSync) -> None:
    ann = sign_up(rivosim, rivosim_shop, "ann@example.com", visible_now=False)   # the shop's 30 s delay
    rivosim.run_until_idle()
    assert sync.store.pending() == [ann]                    # the API said 404: not visible yet
    assert sync.store.get(ann)["points"] == 100  # type: ignore[index]  # the webhook carried the balance
    rivosim.journal.assert_called("rivo.customers.get", times=1, status=404)
    rivosim.advance("PT30S")
    assert sync.retry_pending() == 0
    assert sync.store.get(ann)["email"] == "ann@example.com"  # type: ignore[index]


def test_forged_deliveries_are_refused(rivosim: Any, rivosim_shop: Any, sync: PointsSync) -> None:
    body = b'{"id": 1, "customer": {"id": 1, "points_tally": 1000000, "credits_tally": "0.0"}}'
    assert sync.handle(body, {"rivo-webhook-id": "msg_x", "rivo-webhook-topic": "points_event/created",
                              "rivo-signature": "bm9wZQ=="}) == 401
    assert sync.handle(body, {"rivo-webhook-id": "msg_x"}) == 401
    assert sync.store.get(1) is None


# -- against a real server ---------------------------------------------------------------------------------------
@pytest.fixture
def http_receiver() -> Iterator[tuple[str, list[PointsSync]]]:
    """A real HTTP endpoint for the worker on 127.0.0.1 (the worker is plugged in by the test)."""
    worker: list[PointsSync] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = worker[0].handle(body, dict(self.headers)) if worker else 503
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/rivo/webhooks", worker
    finally:
        server.shutdown()
        server.server_close()


def test_against_a_real_server(rivosim_server: Any, http_receiver: tuple[str, list[PointsSync]]) -> None:
    url, slot = http_receiver
    client = RivoClient(rivosim_server.rivo_url, rivosim_server.shop.rivo_api_key, timeout=5)
    sync = PointsSync(client, Store(), rivosim_server.shop.webhook_secret)
    slot.append(sync)
    sync.subscribe(url)
    r = requests.post(rivosim_server.shop_url + "/customers", json={"email": "ann@example.com"}, timeout=5)
    ann = r.json()["id"]
    rivosim_server.webhooks.assert_delivered("customer/joined", times=1, timeout=10)
    assert sync.store.pending() == [ann]                    # still inside the 30 s visibility delay
    rivosim_server.advance(30)                              # the server's clock jumps; no need to wait
    assert sync.retry_pending() == 0
    client.add_points(ann, 500, reason="launch party")
    rivosim_server.webhooks.assert_delivered("points_event/created", times=2, timeout=10)
    rivosim_server.webhooks.assert_delivered("customer_vip_tier/upgraded", times=1, timeout=10)
    assert sync.store.get(ann)["points"] == 600  # type: ignore[index]
    assert sync.store.get(ann)["tier"] == "Silver"  # type: ignore[index]


def test_orders_placed_through_shopifys_official_client(rivosim_server: Any,
                                                        http_receiver: tuple[str, list[PointsSync]]) -> None:
    """The Shopify side driven by Shopify's own Python package (``ShopifyAPI``): a customer and a paid order made
    through the Admin REST API earn Rivo points, and the worker hears of them by webhook."""
    shopify = pytest.importorskip("shopify")
    url, slot = http_receiver
    sync = PointsSync(RivoClient(rivosim_server.rivo_url, rivosim_server.shop.rivo_api_key, timeout=5), Store(),
                      rivosim_server.shop.webhook_secret)
    slot.append(sync)
    sync.subscribe(url)
    shopify.ShopifyResource.set_site(f"{rivosim_server.url}/admin/api/unstable")
    shopify.ShopifyResource.set_headers({**shopify.ShopifyResource.get_headers(),
                                         "X-Shopify-Access-Token": rivosim_server.shop.shopify_access_token})
    try:
        customer = shopify.Customer({"email": "bea@example.com", "first_name": "Bea"})
        assert customer.save(), customer.errors.full_messages()
        order = shopify.Order({"customer": {"id": customer.id}, "financial_status": "paid",
                               "line_items": [{"title": "Jacket", "price": "450.00", "quantity": 1}]})
        assert order.save(), order.errors.full_messages()
    finally:
        shopify.ShopifyResource.clear_session()
    rivosim_server.webhooks.assert_delivered("points_event/created", times=2, timeout=10)
    assert sync.store.get(customer.id)["points"] == 550  # type: ignore[index]   # 100 joining + 450 the order
    rivosim_server.advance(60)                               # past the new customer's visibility delay
    assert sync.retry_pending() == 0
    assert sync.store.get(customer.id)["tier"] == "Silver"  # type: ignore[index]
