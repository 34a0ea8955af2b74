"""Service time (the shop document's ``service_time``): an answer takes longer the more work the request does, so
a client with a short timeout meets a timeout on a heavy request (a batch, a long list page, a large order) and
none on a light one, with no fault rule anywhere; in-process the wait is simulated time, in server mode real."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rivosim import Simulator, create_app
from rivosim.transports.inprocess import mock_apis
from rivosim.transports.server import Server

RIVO = "https://developer-api.rivo.io/merchant_api/v1"
MODEL = {"enabled": True}  # the inferred defaults: 50 ms a request, 1 ms per item read, 250 ms per item written


def grant(customer: str) -> dict[str, Any]:
    return {"customer_identifier": customer, "source": "manual", "points_amount": 20, "credits_amount": 0}


@pytest.fixture
def inprocess() -> Iterator[tuple[Simulator, dict[str, str]]]:
    sim = Simulator(seed=3)
    shop = sim.create_shop({"domain": "slow.myshopify.com", "rate_limits": {"rivo": {"enabled": False}},
                            "service_time": MODEL}, customers=4)
    with mock_apis(sim):
        yield sim, {"Authorization": shop.credentials.rivo_api_key}


def latency(sim: Simulator, route: str) -> float:
    return sim.journal.calls(route)[-1].latency_ms


def test_the_answer_time_follows_the_work(inprocess: tuple[Simulator, dict[str, str]]) -> None:
    sim, auth = inprocess
    listed = requests.get(RIVO + "/customers", headers=auth, timeout=1)
    ids = [c["id"] for c in listed.json()["data"]]
    assert len(ids) == 4 and latency(sim, "rivo.customers.list") == 54  # 50 + 4 rows x 1
    entry = sim.journal.calls("rivo.customers.list")[-1]
    assert entry.fault is None and "service time 54 ms: 50 ms + 4 read x 1 ms" in entry.notes
    requests.get(RIVO + "/customers", headers=auth, params={"pagination[per_page]": "1"}, timeout=1)
    assert latency(sim, "rivo.customers.list") == 51
    clock = sim.shop("slow.myshopify.com").clock
    before = clock.now()
    assert requests.post(RIVO + "/points_events", json=grant(ids[0]), headers=auth, timeout=1).status_code == 201
    assert latency(sim, "rivo.points_events.create") == 300  # 50 + 1 write x 250
    assert (clock.now() - before).total_seconds() == pytest.approx(0.3)  # the client waited in the shop's time
    batch = {"points_events": [grant(i) for i in ids[:2]]}
    assert requests.post(RIVO + "/points_events/batch", json=batch, headers=auth, timeout=1).status_code == 201
    assert latency(sim, "rivo.points_events.batch") == 550


def test_a_short_timeout_meets_the_heavy_request_only(inprocess: tuple[Simulator, dict[str, str]]) -> None:
    sim, auth = inprocess
    def tallies() -> dict[str, int]:
        page = requests.get(RIVO + "/customers", headers=auth, timeout=1).json()["data"]
        return {c["id"]: c["attributes"]["points_tally"] for c in page}

    before = tallies()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(RIVO + "/points_events/batch", json={"points_events": [grant(i) for i in before]},
                      headers=auth, timeout=1)
    # The server did the work; it only answered after the client gave up (1050 ms).
    assert latency(sim, "rivo.points_events.batch") == 1050
    assert sim.journal.calls("rivo.points_events.batch")[-1].status == 201
    for customer in before:  # smaller steps: each well inside the same 1 s
        assert requests.post(RIVO + "/points_events", json=grant(customer), headers=auth, timeout=1).status_code == 201
    assert tallies() == {customer: points + 40 for customer, points in before.items()}


def test_a_large_order_takes_longer_than_a_small_one() -> None:
    sim = Simulator(seed=5)
    shop = sim.create_shop({"domain": "orders.myshopify.com", "service_time": MODEL,
                            "rate_limits": {"shopify_rest": {"enabled": False}}})
    token = {"X-Shopify-Access-Token": shop.credentials.shopify_access_token}

    def order(lines: int) -> None:
        items = [{"title": f"Item {i}", "price": "5.00", "quantity": 1, "product_id": 100 + i} for i in range(lines)]
        resp = requests.post(url + "/api/2024-07/orders.json", json={"order": {"email": "o@example.com",
                                                                             "line_items": items}},
                             headers=token, timeout=1)
        assert resp.status_code == 201, resp.text

    with mock_apis(sim) as apis:
        url = apis.shopify_url("orders.myshopify.com")
        order(1)
        assert latency(sim, "shopify.orders.create") == 300
        order(3)
        assert latency(sim, "shopify.orders.create") == 800
        with pytest.raises(requests.exceptions.ReadTimeout):  # 50 + 4 line items x 250 ms
            order(4)
        requests.get(url + "/api/2024-07/orders.json", headers=token, timeout=1)
        assert latency(sim, "shopify.orders.list") == 53  # three orders read: the timed-out one was made too
        assert sim.journal.calls("shopify.orders.create")[-1].status == 201


def test_off_by_default_and_capped(inprocess: tuple[Simulator, dict[str, str]]) -> None:
    sim, auth = inprocess
    plain = sim.create_shop({"domain": "fast.myshopify.com", "rate_limits": {"rivo": {"enabled": False}}},
                            customers=2)
    fast = {"Authorization": plain.credentials.rivo_api_key}
    requests.get(RIVO + "/customers", headers=fast, timeout=1)
    assert latency(sim, "rivo.customers.list") == 0
    assert not sim.journal.calls("rivo.customers.list")[-1].notes
    capped = sim.create_shop({"domain": "capped.myshopify.com", "rate_limits": {"rivo": {"enabled": False}},
                              "service_time": {"enabled": True, "base_ms": 0, "read_item_ms": 400, "max_ms": 700}},
                             customers=3)
    requests.get(RIVO + "/customers", headers={"Authorization": capped.credentials.rivo_api_key}, timeout=5)
    assert latency(sim, "rivo.customers.list") == 700
    # A refusal does no work: it answers at once.
    assert requests.get(RIVO + "/customers/nobody@example.com", headers=auth, timeout=1).status_code == 404
    assert latency(sim, "rivo.customers.get") == 0


def test_a_bad_model_is_refused(inprocess: tuple[Simulator, dict[str, str]]) -> None:
    sim, _ = inprocess
    client = create_app(sim).test_client()
    for bad in ({"base_ms": -1}, {"write_item_ms": "fast"}, {"per_item_ms": 3}, {"enabled": "yes"}):
        resp = client.post("/_rivosim/shops", json={"service_time": bad})
        assert resp.status_code == 422, bad
        assert "service_time" in str(resp.get_json())


def test_server_mode_really_waits() -> None:
    sim = Simulator(seed=4, clock="wall")
    shop = sim.create_shop({"rate_limits": {"rivo": {"enabled": False}},
                            "service_time": {"enabled": True, "base_ms": 0, "read_item_ms": 0,
                                             "write_item_ms": 200}}, customers=3)
    auth = {"Authorization": shop.credentials.rivo_api_key}
    with Server(create_app(sim)) as server:
        base = server.url + "/merchant_api/v1"
        ids = [c["id"] for c in requests.get(base + "/customers", headers=auth, timeout=5).json()["data"]]
        with pytest.raises(requests.exceptions.ReadTimeout):  # 3 events x 200 ms
            requests.post(base + "/points_events/batch", json={"points_events": [grant(i) for i in ids]},
                          headers=auth, timeout=0.4)
        started = time.perf_counter()
        assert requests.post(base + "/points_events", json=grant(ids[0]), headers=auth, timeout=5).status_code == 201
        assert time.perf_counter() - started >= 0.19
