"""Webhooks on demand: ``rivosim trigger`` against a running server, delivered to a local receiver that checks
the signatures with its own HMAC code (not rivosim's), and ``POST /_rivosim/shops/<domain>/webhooks/trigger``
for every topic: payloads shaped like the live ones, refusals that change nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rivosim import Simulator, create_app
from rivosim.cli import main
from rivosim.transports.server import Server
from rivosim.webhooks.samples import RIVO_TOPICS, SHOPIFY_TOPICS
from rivosim.webhooks.schemas import check_delivery
from tests.receiver import PostReceiver

DOMAIN = "trigger.myshopify.com"
DOC = {"domain": DOMAIN, "plan": "plus", "webhooks": {"signing": "both"}, "rate_limits": {"rivo": {"enabled": False}},
       "api": {"new_customer_visibility_delay": 0},
       "program": {"earning_rules": [{"trigger": "customer_member_enabled", "points_amount": 100}]}}


def _hmac_b64(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


class VerifyingReceiver(PostReceiver):
    """Answers 200 to a delivery whose signatures it can check itself, 401 otherwise (``status`` overrides)."""

    def __init__(self, rivo_secret: str, shopify_secret: str) -> None:
        self.status: int | None = None
        self.received: list[dict[str, Any]] = []
        self.rivo_secret, self.shopify_secret = rivo_secret, shopify_secret
        super().__init__()

    def handle(self, path: str, raw_headers: dict[str, str], body: bytes) -> int:
        headers = {k.lower(): v for k, v in raw_headers.items()}
        checks = {}
        if "rivo-signature" in headers:
            checks["rivo-signature"] = hmac.compare_digest(headers["rivo-signature"],
                                                           _hmac_b64(self.rivo_secret, body))
        if "rivo-webhook-signature" in headers:
            signed = f"{headers['rivo-webhook-id']}.{headers['rivo-webhook-timestamp']}.".encode() + body
            checks["rivo-webhook-signature"] = headers["rivo-webhook-signature"] == \
                "v1," + _hmac_b64(self.rivo_secret, signed)
        if "x-shopify-hmac-sha256" in headers:
            checks["x-shopify-hmac-sha256"] = hmac.compare_digest(headers["x-shopify-hmac-sha256"],
                                                                  _hmac_b64(self.shopify_secret, body))
        valid = bool(checks) and all(checks.values())
        self.received.append({"path": path, "headers": headers, "body": json.loads(body), "checks": checks})
        return self.status or (200 if valid else 401)


@pytest.fixture()
def world() -> Iterator[tuple[Simulator, str, VerifyingReceiver]]:
    sim = Simulator(seed=11)
    shop = sim.create_shop(DOC, customers=3)
    receiver = VerifyingReceiver(shop.credentials.webhook_secret, shop.credentials.shopify_api_secret)
    with Server(create_app(sim), tick=sim.tick) as server:
        yield sim, server.url, receiver
    receiver.close()


def _subscribe_rivo(sim: Simulator, base: str, topic: str, url: str) -> None:
    reply = requests.post(f"{base}/merchant_api/v1/webhooks", json={"event_type": topic, "url": url},
                          headers={"Authorization": sim.shops[DOMAIN].credentials.rivo_api_key}, timeout=10)
    assert reply.status_code == 201, reply.text


def _subscribe_shopify(sim: Simulator, base: str, topic: str, url: str) -> None:
    reply = requests.post(f"{base}/admin/api/2024-10/webhooks.json",
                          json={"webhook": {"topic": topic, "address": url, "format": "json"}},
                          headers={"X-Shopify-Access-Token": sim.shops[DOMAIN].credentials.shopify_access_token},
                          timeout=10)
    assert reply.status_code == 201, reply.text


def test_trigger_a_rivo_topic_from_the_shell(world: tuple[Simulator, str, VerifyingReceiver],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    sim, base, receiver = world
    _subscribe_rivo(sim, base, "customer/birthday", receiver.url + "/rivo")
    email = "cli@example.com"
    requests.post(f"{base}/_rivosim/shops/{DOMAIN}/customers", json={"email": email, "dob": "05-17"}, timeout=10)
    code = main(["trigger", "customer/birthday", "--shop", DOMAIN, "--url", base, "--customer", email])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "customer/birthday (rivo)" in out and "delivered, attempt 1: HTTP 200" in out
    assert "rivo-signature:" in out
    [got] = receiver.received
    assert got["checks"] == {"rivo-signature": True, "rivo-webhook-signature": True}
    assert got["headers"]["rivo-webhook-topic"] == "customer/birthday"
    assert got["body"]["customer"]["email"] == email and got["body"]["dob"] == "05-17"
    [delivery] = sim.outbox.list(topic="customer/birthday")
    assert delivery.status == "delivered"  # in the delivery log like any delivery
    assert sim.triggers.log(DOMAIN).items[-1].cause == "sample"


def test_trigger_a_shopify_topic_from_the_shell(world: tuple[Simulator, str, VerifyingReceiver],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    sim, base, receiver = world
    _subscribe_shopify(sim, base, "orders/paid", receiver.url + "/shopify")
    customer_id = next(iter(sim.shops[DOMAIN].shopify.customers))
    order = requests.post(f"{base}/_rivosim/shops/{DOMAIN}/orders", timeout=10, json={
        "customer_id": customer_id, "paid": True, "line_items": [{"title": "Mug", "price": "12.00", "quantity": 2}]})
    requests.post(f"{base}/_rivosim/run_until_idle", json={"shop": DOMAIN}, timeout=30)
    receiver.received.clear()  # the live orders/paid of that order
    code = main(["trigger", "orders/paid", "--shop", DOMAIN, "--url", base])
    out = capsys.readouterr().out
    assert code == 0, out
    [got] = receiver.received
    assert got["checks"] == {"x-shopify-hmac-sha256": True}
    assert got["headers"]["x-shopify-topic"] == "orders/paid"
    assert got["body"]["id"] == order.json()["id"]


def test_a_failing_receiver_is_reported_and_retried(world: tuple[Simulator, str, VerifyingReceiver],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    sim, base, receiver = world
    _subscribe_rivo(sim, base, "points_event/created", receiver.url + "/down")
    receiver.status = 500
    code = main(["trigger", "points_event/created", "--shop", DOMAIN, "--url", base])
    out = capsys.readouterr().out
    assert code == 1
    assert "pending, attempt 1: HTTP 500" in out and "next attempt at" in out
    receiver.status = None
    requests.post(f"{base}/_rivosim/run_until_idle", json={"shop": DOMAIN}, timeout=30)
    [delivery] = sim.outbox.list(topic="points_event/created")
    assert [a.status_code for a in delivery.attempts] == [500, 200]


def test_refusals_explain_themselves_and_send_nothing(world: tuple[Simulator, str, VerifyingReceiver],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    sim, base, _ = world
    assert main(["trigger", "customer/nope", "--shop", DOMAIN, "--url", base]) == 2
    assert "unknown topic 'customer/nope'" in capsys.readouterr().err
    assert main(["trigger", "referral/completed", "--shop", DOMAIN, "--url", base]) == 2
    assert "no enabled subscription for referral/completed" in capsys.readouterr().err
    assert main(["trigger", "orders/create", "--shop", "nope.myshopify.com", "--url", base]) == 2
    assert sim.outbox.deliveries == {}
    assert all(t.cause != "sample" for t in sim.triggers.log(DOMAIN).items)


# -- every topic, in-process ------------------------------------------------------------------------------------
@pytest.fixture()
def subscribed() -> tuple[Simulator, Any]:
    sim = Simulator(seed=5)
    shop = sim.create_shop(DOC, customers=4)
    client = create_app(sim).test_client()
    for topic in RIVO_TOPICS:
        assert client.post("/merchant_api/v1/webhooks", json={"event_type": topic, "url": "http://127.0.0.1:9/r"},
                           headers={"Authorization": shop.credentials.rivo_api_key}).status_code == 201
    for topic in SHOPIFY_TOPICS:
        assert client.post("/admin/api/2024-10/webhooks.json", headers={
            "X-Shopify-Access-Token": shop.credentials.shopify_access_token},
            json={"webhook": {"topic": topic, "address": "http://127.0.0.1:9/s"}}).status_code == 201
    return sim, client


@pytest.mark.parametrize("topic", RIVO_TOPICS + SHOPIFY_TOPICS)
def test_every_topic_can_be_sampled_without_changing_the_shop(subscribed: tuple[Simulator, Any], topic: str) -> None:
    sim, client = subscribed
    shop = sim.shops[DOMAIN]
    cid = next(iter(shop.shopify.customers))
    client.post(f"/_rivosim/shops/{DOMAIN}/orders", json={"customer_id": cid, "paid": True,
                                                         "line_items": [{"title": "x", "price": "10", "quantity": 1}]})
    oid = next(iter(shop.shopify.orders))
    client.post(f"/_rivosim/shops/{DOMAIN}/orders/{oid}/refund", json={"amount": "5.00"})
    rivo = shop.rivo
    before = ({m.id: (m.points_tally, m.credits_tally, m.vip_tier_id) for m in rivo.members.values()},
              len(rivo.points_events), len(rivo.redemptions), len(rivo.referrals), len(shop.shopify.customers))
    reply = client.post(f"/_rivosim/shops/{DOMAIN}/webhooks/trigger", json={"topic": topic, "wait": False})
    assert reply.status_code == 202, reply.get_json()
    data = reply.get_json()
    assert data["api"] == ("shopify" if topic in SHOPIFY_TOPICS else "rivo")
    assert len(data["deliveries"]) == 1 and data["deliveries"][0]["topic"] == topic
    if data["api"] == "rivo":
        assert data["payload"]["event_type"] == topic
    # A sample is what the topic really carries: it meets the topic's webhook schema, headers included.
    delivery = sim.outbox.deliveries[data["deliveries"][0]["id"]]
    headers = delivery.headers_for(delivery, sim.now())
    assert check_delivery(data["api"], topic, delivery.body, headers) == []
    after = ({m.id: (m.points_tally, m.credits_tally, m.vip_tier_id) for m in rivo.members.values()},
             len(rivo.points_events), len(rivo.redemptions), len(rivo.referrals), len(shop.shopify.customers))
    assert after == before


def test_a_sample_carries_what_the_live_topic_carries() -> None:
    sim = Simulator(seed=5)
    shop = sim.create_shop(DOC)
    client = create_app(sim).test_client()
    for topic in ("customer/joined", "points_event/created"):
        client.post("/merchant_api/v1/webhooks", json={"event_type": topic, "url": "http://127.0.0.1:9/r"},
                    headers={"Authorization": shop.credentials.rivo_api_key})
    client.post(f"/_rivosim/shops/{DOMAIN}/customers", json={"email": "live@example.com"})
    live = {t.topic: t.payload for t in sim.triggers.log(DOMAIN).items}
    for topic in ("customer/joined", "points_event/created"):
        sample = client.post(f"/_rivosim/shops/{DOMAIN}/webhooks/trigger",
                             json={"topic": topic, "wait": False}).get_json()["payload"]
        assert set(sample) == set(live[topic])
        assert set(sample["customer"]) == set(live[topic]["customer"])


def test_the_request_is_checked() -> None:
    sim = Simulator(seed=5)
    sim.create_shop(DOC)
    client = create_app(sim).test_client()
    url = f"/_rivosim/shops/{DOMAIN}/webhooks/trigger"
    for body, field in (({}, "topic"), ({"topic": "customer/joined", "extra": 1}, "extra"),
                        ({"topic": "customer/joined", "wait": "yes"}, "wait"),
                        ({"topic": "customer/joined", "customer": True}, "customer")):
        reply = client.post(url, json=body)
        assert reply.status_code == 422 and reply.get_json()["error"]["field"] == field, body
    assert client.get(f"/_rivosim/shops/{DOMAIN}/webhooks/topics").get_json()["rivo"] == list(RIVO_TOPICS)
