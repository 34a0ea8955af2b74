"""Outbound Shopify webhooks (shopify-api.md §4): topics from the domain, the headers, an HMAC that an
independent implementation (hashlib/hmac here) verifies, one event id shared by the deliveries of an event, one
webhook id per delivery kept across retries, and removal of a subscription after 8 consecutive failures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from flask.testing import FlaskClient

from rivosim import Simulator

from .shopify_support import (
    AdminApi,
    RecordingSender,
    ShopifyShop,
)

HEADERS = {"X-Shopify-Topic", "X-Shopify-Hmac-Sha256", "X-Shopify-Shop-Domain", "X-Shopify-API-Version",
           "X-Shopify-Webhook-Id", "X-Shopify-Event-Id", "X-Shopify-Triggered-At"}

pytest_plugins = ["tests.contract.shopify_fixtures"]  # the Shopify fixtures


def subscribe(admin: AdminApi, topic: str, address: str = "https://hooks.example.com/shopify", **extra: Any
              ) -> dict[str, Any]:
    return admin.ok("POST", "webhooks.json", 201, json={"webhook": {"topic": topic, "address": address,
                                                                    **extra}})["webhook"]  # type: ignore[no-any-return]


def independent_hmac(secret: str, body: bytes) -> str:
    """shopify-api.md §4.3, written out without rivosim's code."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_a_delivery_carries_shopifys_headers_and_a_verifiable_hmac(shopify: ShopifyShop, receiver: RecordingSender,
                                                                   sim: Simulator) -> None:
    admin = shopify.admin
    subscribe(admin, "customers/create")
    made = admin.create_customer(email="hook@example.com", tags="VIP")
    sim.run_until_idle()
    [delivery] = receiver.for_topic("customers/create")
    assert set(delivery.headers) >= HEADERS
    assert delivery.headers["User-Agent"] == "Shopify-Captain-Hook"
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers["X-Shopify-Shop-Domain"] == shopify.domain
    assert delivery.headers["X-Shopify-API-Version"] == "2025-10"
    assert delivery.headers["X-Shopify-Triggered-At"].startswith("2026-01-01T00:00:00")
    secret = shopify.created["shopify_api_secret"]
    assert hmac.compare_digest(delivery.headers["X-Shopify-Hmac-Sha256"], independent_hmac(secret, delivery.body))
    assert delivery.headers["X-Shopify-Hmac-Sha256"] != independent_hmac(secret + "x", delivery.body)
    payload = json.loads(delivery.body)
    assert payload["id"] == made["id"] and payload["tags"] == "VIP" and payload["email"] == "hook@example.com"


def test_the_reference_test_vector() -> None:
    # shopify-api.md §4.3: the same bytes give the documented signature; one more space gives another.
    body = b'{"id":820982911946154508,"email":"jon@example.com","tags":"VIP-Gold"}'
    assert independent_hmac("test_client_secret", body) == "HuXKrUaVDzzZAG9OR40Iabv2kJ7+1YfThayvlvURekk="
    from rivosim.webhooks.signing import sign_shopify

    assert sign_shopify(body, "test_client_secret") == "HuXKrUaVDzzZAG9OR40Iabv2kJ7+1YfThayvlvURekk="


def test_order_topics_fire_in_order(shopify: ShopifyShop, receiver: RecordingSender, sim: Simulator) -> None:
    admin = shopify.admin
    for topic in ("orders/create", "orders/paid", "orders/cancelled", "refunds/create", "orders/updated"):
        subscribe(admin, topic)
    order = admin.create_order(financial_status="paid")
    admin.ok("POST", f"orders/{order['id']}/refunds.json", 201,
             json={"refund": {"transactions": [{"kind": "refund", "amount": "10.00"}]}})
    admin.ok("POST", f"orders/{order['id']}/cancel.json")
    sim.run_until_idle()
    topics = [r.headers["X-Shopify-Topic"] for r in receiver.requests]
    assert topics == ["orders/create", "orders/paid", "orders/updated", "refunds/create", "orders/updated",
                      "refunds/create", "orders/updated", "orders/cancelled", "orders/updated"]
    refund = json.loads(receiver.for_topic("refunds/create")[0].body)
    assert refund["order_id"] == order["id"] and refund["transactions"][0]["amount"] == "10.00"
    paid = json.loads(receiver.for_topic("orders/paid")[0].body)
    assert paid["financial_status"] == "paid" and paid["total_price"] == "40.00"


def test_one_event_id_per_event_one_webhook_id_per_delivery(shopify: ShopifyShop, receiver: RecordingSender,
                                                            sim: Simulator) -> None:
    admin = shopify.admin
    subscribe(admin, "orders/create", "https://a.example.com/h")
    subscribe(admin, "orders/create", "https://b.example.com/h", fields=["id", "name"])
    order = admin.create_order()
    sim.run_until_idle()
    a, b = receiver.requests
    assert a.headers["X-Shopify-Event-Id"] == b.headers["X-Shopify-Event-Id"]
    assert a.headers["X-Shopify-Webhook-Id"] != b.headers["X-Shopify-Webhook-Id"]
    assert json.loads(b.body) == {"id": order["id"], "name": "#1001"}  # the subscription's fields only
    assert {a.url, b.url} == {"https://a.example.com/h", "https://b.example.com/h"}


def test_retries_keep_the_webhook_id_and_body(shopify: ShopifyShop, sim: Simulator) -> None:
    sender = RecordingSender([500, 503, 200])
    sim.use_sender(sender)
    subscribe(shopify.admin, "customers/create")
    shopify.admin.create_customer(email="retry@example.com")
    sim.run_until_idle()
    assert len(sender.requests) == 3
    assert len({r.headers["X-Shopify-Webhook-Id"] for r in sender.requests}) == 1
    assert len({r.body for r in sender.requests}) == 1
    assert shopify.admin.ok("GET", "webhooks/count.json") == {"count": 1}


def test_eight_consecutive_failures_remove_the_subscription(shopify: ShopifyShop, sim: Simulator,
                                                            client: FlaskClient) -> None:
    sender = RecordingSender([500])
    sim.use_sender(sender)
    sub = subscribe(shopify.admin, "customers/create")
    shopify.admin.create_customer(email="down@example.com")
    sim.run_until_idle()
    # The first attempt plus 8 retries over 4 hours of simulator time; after the 8th failure the app's
    # subscription is gone (the 9th attempt still goes to the address configured when the event fired).
    assert len(sender.requests) == 9
    assert shopify.admin.ok("GET", "webhooks/count.json") == {"count": 0}
    assert sim.now().isoformat() >= "2026-01-01T04:00"
    deliveries = client.get(f"/_rivosim/shops/{shopify.domain}/shopify/webhooks/deliveries").get_json()["deliveries"]
    assert [(d["topic"], d["status"], d["subscription_id"], len(d["attempts"])) for d in deliveries] == [
        ("customers/create", "failed", sub["id"], 9)]


def test_a_success_resets_the_failure_count(shopify: ShopifyShop, sim: Simulator) -> None:
    sender = RecordingSender([500] * 7 + [200] + [500] * 7 + [200])
    sim.use_sender(sender)
    subscribe(shopify.admin, "customers/create")
    shopify.admin.create_customer(email="flaky1@example.com")
    sim.run_until_idle()
    shopify.admin.create_customer(email="flaky2@example.com")
    sim.run_until_idle()
    assert len(sender.requests) == 16
    assert shopify.admin.ok("GET", "webhooks/count.json") == {"count": 1}


def test_theme_publish_and_app_uninstalled(shopify: ShopifyShop, receiver: RecordingSender, sim: Simulator,
                                           client: FlaskClient) -> None:
    admin = shopify.admin
    subscribe(admin, "themes/publish")
    subscribe(admin, "app/uninstalled")
    theme = admin.ok("POST", "themes.json", 201, json={"theme": {"name": "Sense"}})["theme"]
    admin.ok("PUT", f"themes/{theme['id']}.json", json={"theme": {"role": "main"}})
    client.post(f"/_rivosim/shops/{shopify.domain}/shopify/app/uninstall")
    sim.run_until_idle()
    published = json.loads(receiver.for_topic("themes/publish")[0].body)
    assert (published["id"], published["role"]) == (theme["id"], "main")
    uninstalled = json.loads(receiver.for_topic("app/uninstalled")[0].body)
    assert uninstalled["myshopify_domain"] == shopify.domain
    # Uninstalling removes the app's subscriptions.
    client.post(f"/_rivosim/shops/{shopify.domain}/shopify/app/install")
    assert admin.ok("GET", "webhooks/count.json") == {"count": 0}


def test_customer_updates_including_rivos_tag_writeback_fire_customers_update(
        make_shopify: Any, receiver: RecordingSender, sim: Simulator) -> None:
    shop = make_shopify(shopify={"vip_tier_tags": True})
    admin = shop.admin
    subscribe(admin, "customers/update")
    c = admin.create_customer(email="tiered@example.com")
    sim.advance(30)
    receiver.requests.clear()
    shop.handle.give(c["id"], 500)  # Bronze -> Silver: Rivo retags the customer
    sim.run_until_idle()
    [update] = receiver.for_topic("customers/update")
    assert json.loads(update.body)["tags"] == "Rivo VIP Tier: Silver"
