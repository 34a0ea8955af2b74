"""Control API for outbound webhooks: the delivery log, redelivery and the trigger log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rivosim import Simulator
from rivosim.webhooks.senders import AttemptResult, OutgoingRequest

from .conftest import ShopHandle, assert_control_error


class FlakySender:
    """Refuses the first ``failures`` attempts with 503, then accepts everything."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[OutgoingRequest] = []

    def send(self, request: OutgoingRequest, done: Callable[[AttemptResult], None]) -> None:
        self.sent.append(request)
        status = 503 if len(self.sent) <= self.failures else 200
        done(AttemptResult(status, None, 1.0))

    def close(self) -> None:
        pass


def subscribe(shop: ShopHandle, topic: str = "points_event/created") -> None:
    resp = shop.api.post("/webhooks", json={"event_type": topic, "url": "https://hooks.example/in"})
    assert resp.status_code == 201, resp.get_json()


def deliveries(client: Any, **query: str) -> list[dict[str, Any]]:
    resp = client.get("/_rivosim/webhooks/deliveries", query_string=query)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["deliveries"]  # type: ignore[no-any-return]


def test_the_delivery_log_lists_every_attempt(sim: Simulator, client: Any, shop: ShopHandle) -> None:
    sender = FlakySender(failures=2)
    sim.use_sender(sender)
    subscribe(shop)
    member = shop.add_customer(email="log@example.com")
    assert deliveries(client, shop=shop.domain)[0]["status"] == "pending"  # not sent on the request path
    client.post("/_rivosim/run_until_idle")
    (delivery,) = deliveries(client, shop=shop.domain)
    assert delivery["status"] == "delivered" and delivery["topic"] == "points_event/created"
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 503, 200]
    assert delivery["headers"]["rivo-webhook-id"] == delivery["id"]
    assert f'"id":{member["id"]}' in delivery["body"]
    assert "body" not in deliveries(client, shop=shop.domain, body="false")[0]
    single = client.get(f"/_rivosim/webhooks/deliveries/{delivery['id']}").get_json()
    assert single["attempts"] == delivery["attempts"]


def test_filters_and_their_errors(sim: Simulator, client: Any, shop: ShopHandle) -> None:
    sim.use_sender(FlakySender())
    subscribe(shop)
    subscribe(shop, "customer/joined")
    shop.add_customer(email="f@example.com")
    client.post("/_rivosim/run_until_idle")
    assert [d["topic"] for d in deliveries(client, topic="customer/joined")] == ["customer/joined"]
    assert len(deliveries(client, status="delivered", api="rivo")) == 2
    assert deliveries(client, status="failed") == []
    assert_control_error(client.get("/_rivosim/webhooks/deliveries?status=lost"), 422, field="status")
    assert_control_error(client.get("/_rivosim/webhooks/deliveries?api=stripe"), 422, field="api")
    assert_control_error(client.get("/_rivosim/webhooks/deliveries?colour=red"), 422, field="colour")
    assert_control_error(client.get("/_rivosim/webhooks/deliveries?shop=nope.myshopify.com"), 404)
    assert_control_error(client.get("/_rivosim/webhooks/deliveries/msg_nope"), 404)


def test_redeliver_sends_again_with_the_same_id(sim: Simulator, client: Any, shop: ShopHandle) -> None:
    sender = FlakySender(failures=100)
    sim.use_sender(sender)
    subscribe(shop)
    shop.add_customer(email="r@example.com")
    client.post("/_rivosim/run_until_idle")
    (delivery,) = deliveries(client, shop=shop.domain)
    assert delivery["status"] == "failed" and len(delivery["attempts"]) == 9
    sender.failures = 0
    resp = client.post(f"/_rivosim/webhooks/deliveries/{delivery['id']}/redeliver")
    assert resp.status_code == 202 and resp.get_json()["status"] == "pending"
    client.post("/_rivosim/run_until_idle")
    (again,) = deliveries(client, shop=shop.domain)
    assert again["status"] == "delivered" and len(again["attempts"]) == 10
    assert {r.headers["rivo-webhook-id"] for r in sender.sent} == {delivery["id"]}
    assert_control_error(client.post("/_rivosim/webhooks/deliveries/msg_nope/redeliver"), 404)


def test_the_trigger_log_records_every_topic_subscribed_or_not(client: Any, shop: ShopHandle) -> None:
    member = shop.add_customer(email="t@example.com")
    shop.add_order(member["id"], price="600.00")
    resp = client.get(f"/_rivosim/shops/{shop.domain}/triggers")
    topics = [t["topic"] for t in resp.get_json()["triggers"]]
    assert topics == ["customer/joined", "points_event/created", "order/placed", "points_event/created",
                      "customer_vip_tier/upgraded", "customer_vip_tier/unlocked"]
    items = resp.get_json()["triggers"]
    assert all(t["delivery_id"] is None for t in items)
    since = items[1]["seq"]
    later = client.get(f"/_rivosim/shops/{shop.domain}/triggers", query_string={"since": since}).get_json()
    assert [t["topic"] for t in later["triggers"]] == topics[2:]
    only = client.get(f"/_rivosim/shops/{shop.domain}/triggers",
                      query_string={"topic": "order/placed", "customer_id": member["id"]}).get_json()
    assert [t["payload"]["customer"]["id"] for t in only["triggers"]] == [member["id"]]
    assert_control_error(client.get(f"/_rivosim/shops/{shop.domain}/triggers?since=x"), 422, field="since")
    assert_control_error(client.get(f"/_rivosim/shops/{shop.domain}/triggers?customer_id=x"), 422,
                         field="customer_id")
    assert_control_error(client.get("/_rivosim/shops/nope.myshopify.com/triggers"), 404)


def test_a_custom_sender_lasts_until_the_next_reset(sim: Simulator) -> None:
    sender = FlakySender()
    sim.use_sender(sender)
    assert sim.outbox.sender is sender
    sim.reset()
    assert sim.outbox.sender is not sender


def test_an_advance_can_stop_at_the_first_delivery_on_the_way(sim: Simulator, client: Any, shop: ShopHandle) -> None:
    sender = FlakySender(failures=1)  # the first attempt fails: its retry is the next delivery on the clock
    sim.use_sender(sender)
    subscribe(shop)
    shop.add_customer(email="stop@example.com")
    start = sim.now()
    first = client.post("/_rivosim/clock/advance", json={"duration": "P30D", "stop_on_delivery": True}).get_json()
    assert first["stopped_on_delivery"] is True and first["now"] == start.isoformat()  # the first attempt: now
    assert len(sender.sent) == 1
    second = client.post("/_rivosim/clock/advance", json={"duration": "P30D", "stop_on_delivery": True}).get_json()
    retry_at = deliveries(client, shop=shop.domain)[0]["attempts"][1]["at"]
    assert second["stopped_on_delivery"] is True and second["now"] == retry_at and len(sender.sent) == 2
    last = client.post("/_rivosim/clock/advance", json={"duration": "P1D", "stop_on_delivery": True}).get_json()
    assert last["stopped_on_delivery"] is False  # nothing more to deliver: the whole day passed
    assert last["now"] > second["now"]


def test_stop_on_delivery_must_be_a_flag(client: Any) -> None:
    before = client.get("/_rivosim/clock").get_json()
    assert_control_error(client.post("/_rivosim/clock/advance", json={"seconds": 5, "stop_on_delivery": "yes"}),
                         422)
    assert client.get("/_rivosim/clock").get_json() == before
