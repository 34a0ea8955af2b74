"""Business events fire their topics exactly once, in the README's order; refused or ineligible events fire
nothing; subscribed topics are delivered signed, with the shape the shop's signing era implies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from rivosim.domain.shop import Shop
from rivosim.engine import Simulator
from rivosim.webhooks import verify
from rivosim.webhooks.senders import AttemptResult, OutgoingRequest

PRODUCT = 4242


class RecordingSender:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.sent: list[OutgoingRequest] = []

    def send(self, request: OutgoingRequest, done: Callable[[AttemptResult], None]) -> None:
        self.sent.append(request)
        done(AttemptResult(self.status, None, 0.5))

    def close(self) -> None:
        pass


def make(config: dict[str, Any] | None = None, seed: int = 5) -> tuple[Simulator, Shop]:
    sim = Simulator(seed=seed)
    doc = {"domain": "t.myshopify.com", "api": {"new_customer_visibility_delay": 0}, **(config or {})}
    return sim, sim.create_shop(doc)


def topics(sim: Simulator, shop: Shop, since: int = 0) -> list[str]:
    return [t.topic for t in sim.triggers.log(shop.domain).items if t.seq > since]


def last_seq(sim: Simulator, shop: Shop) -> int:
    items = sim.triggers.log(shop.domain).items
    return items[-1].seq if items else 0


def join(shop: Shop, email: str = "ann@example.com", **kw: Any) -> int:
    return shop.shopify.create_customer(email=email, first_name="Ann", **kw).id


def pay(shop: Shop, cid: int, price: str, product_id: int | None = None) -> int:
    line: dict[str, Any] = {"title": "Thing", "price": price}
    if product_id is not None:
        line["product_id"] = product_id
    return shop.shopify.create_order(customer_id=cid, line_items=[line], paid=True).id


def test_sign_up_fires_joined_then_its_points() -> None:
    sim, shop = make()
    join(shop)
    assert topics(sim, shop) == ["customer/joined", "points_event/created"]


def test_a_paid_order_fires_the_normative_sequence() -> None:
    sim, shop = make({"program": {"earning_rules": [
        {"trigger": "order_placed", "points_amount": 1, "currency_base_amount": 1},
        {"trigger": "product_purchased", "points_amount": 50, "product_ids": [PRODUCT]},
    ]}})
    cid = join(shop)
    mark = last_seq(sim, shop)
    pay(shop, cid, "600.00", PRODUCT)
    assert topics(sim, shop, mark) == [
        "order/placed", "product/purchased", "points_event/created", "points_event/created",
        "customer_vip_tier/upgraded", "customer_vip_tier/unlocked",
    ]
    log = sim.triggers.log(shop.domain).items
    assert [t.payload["source"] for t in log if t.topic == "points_event/created"][-2:] == [
        "order_placed", "product_purchased"]
    upgraded = next(t for t in log if t.topic == "customer_vip_tier/upgraded")
    assert upgraded.payload["vip_tier"]["name"] == "Silver"
    assert upgraded.payload["id"][0] == shop.id  # composite [shop_id, id] as in the real payload
    assert upgraded.payload["external_note"] == "Upgraded to Silver"
    # A second Silver-level order does not unlock again.
    mark = last_seq(sim, shop)
    pay(shop, cid, "10.00")
    assert topics(sim, shop, mark) == ["order/placed", "points_event/created"]


def test_redemption_fires_redemption_then_negative_points_event() -> None:
    sim, shop = make({"program": {"vip": {"enabled": False}}})
    cid = join(shop)
    pay(shop, cid, "600.00")
    reward = shop.rivo.list_rewards()[0]
    mark = last_seq(sim, shop)
    shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": reward.id})
    assert topics(sim, shop, mark) == ["points_redemption/created", "points_event/created"]
    event = sim.triggers.log(shop.domain).items[-1].payload
    assert event["source"] == "points_purchase" and event["points_diff"] == -reward.points_amount


def test_refund_reversal_fires_negative_points_and_a_downgrade() -> None:
    sim, shop = make()
    cid = join(shop)
    order = pay(shop, cid, "600.00")
    mark = last_seq(sim, shop)
    shop.shopify.refund_order(order)
    assert topics(sim, shop, mark) == ["points_event/created", "customer_vip_tier/downgraded"]
    assert sim.triggers.log(shop.domain).items[-2].payload["points_diff"] == -600


@pytest.mark.parametrize("config", [
    {"program": {"active": False}},
    {"program": {"earning_rules": [{"trigger": "order_placed", "points_amount": 1, "enabled": False}]}},
])
def test_disabled_rule_or_inactive_program_fires_nothing_for_an_order(config: dict[str, Any]) -> None:
    sim, shop = make(config)
    cid = join(shop)
    mark = last_seq(sim, shop)
    pay(shop, cid, "600.00")
    assert topics(sim, shop, mark) == []


def test_an_excluded_customer_fires_nothing() -> None:
    sim, shop = make()
    cid = join(shop, tags="Rivo Excluded")
    pay(shop, cid, "600.00")
    shop.rivo.record_action(cid, "instagram_follow", {})
    assert topics(sim, shop) == []


def test_storefront_actions_map_to_their_topics_once() -> None:
    sim, shop = make({"program": {"earning_rules": [
        {"trigger": "instagram_follow", "points_amount": 10},
        {"trigger": "facebook_share", "points_amount": 10},
        {"trigger": "sms_subscribe", "points_amount": 10},
        {"trigger": "review_complete", "points_amount": 10},
        {"trigger": "custom_action", "custom_action_name": "quiz", "points_amount": 10},
        {"trigger": "visit_url", "url": "https://x.example/blog", "points_amount": 10},
        {"trigger": "receipt_upload", "points_amount": 10},
    ]}})
    cid = join(shop)
    for action, details in [("instagram_follow", {}), ("instagram_follow", {}), ("facebook_share", {}),
                            ("sms_subscribe", {}), ("review", {}), ("custom_action", {"custom_action_name": "quiz"}),
                            ("visit_url", {"url": "https://x.example/blog"}), ("receipt_upload", {"receipt": "r1"})]:
        shop.rivo.record_action(cid, action, details)
    fired = [t for t in sim.triggers.log(shop.domain).items if t.topic != "points_event/created"]
    assert [t.topic for t in fired] == ["social/followed", "social/shared", "marketing/sms_subscribed",
                                        "review/completed", "custom_action/completed", "url/visited",
                                        "receipt/uploaded"]
    assert fired[0].payload["network"] == "instagram" and fired[1].payload["network"] == "facebook"
    assert fired[4].payload["custom_action_name"] == "quiz"
    assert fired[5].payload["url"] == "https://x.example/blog"
    assert fired[6].payload["receipt"] == "r1"
    assert topics(sim, shop).count("points_event/created") == 7  # the second follow earned nothing


def test_api_points_events_fire_the_rule_topic_or_a_manual_adjustment() -> None:
    sim, shop = make({"program": {"earning_rules": [
        {"trigger": "custom_action", "custom_action_name": "quiz", "points_amount": 25}]}})
    cid = join(shop)
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "custom_action",
                                   "custom_action_name": "quiz"})
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": -5,
                                   "credits_amount": 0})
    assert topics(sim, shop) == ["custom_action/completed", "points_event/created", "points_event/created"]
    assert sim.triggers.log(shop.domain).items[-1].payload["source"] == "manual"


def test_a_manual_tier_change_fires_upgraded_and_unlocked_once() -> None:
    sim, shop = make()
    cid = join(shop)
    gold = next(t for t in shop.rivo.list_tiers() if t.name == "Gold")
    mark = last_seq(sim, shop)
    shop.rivo.set_member_tier(cid, gold.id, external_note="VIP by hand")
    assert topics(sim, shop, mark) == ["customer_vip_tier/upgraded", "customer_vip_tier/unlocked"]
    payload = sim.triggers.log(shop.domain).items[-1].payload
    assert payload["manual"] is True and payload["external_note"] == "VIP by hand"


def test_referral_claim_and_completion() -> None:
    sim, shop = make({"program": {"vip": {"enabled": False}}})
    advocate = join(shop, "adv@example.com")
    code = shop.rivo.referral_code(advocate)
    shop.rivo.create_referral({"email": "friend@example.com", "referral_code": code, "remote_ip": "10.0.0.1"})
    assert topics(sim, shop)[-1] == "referral/claimed"
    friend = join(shop, "friend@example.com")
    mark = last_seq(sim, shop)
    pay(shop, friend, "20.00")
    assert topics(sim, shop, mark) == ["order/placed", "points_event/created", "points_event/created",
                                       "referral/completed"]
    completed = sim.triggers.log(shop.domain).items[-1].payload
    assert completed["status"] == "completed"
    assert completed["referrer_customer"]["id"] == advocate and completed["referred_customer"]["id"] == friend


# -- deliveries -----------------------------------------------------------------------------------------
def subscribe(shop: Shop, topic: str, url: str = "https://hooks.example/rivo") -> None:
    shop.rivo.create_subscription({"event_type": topic, "url": url})


@pytest.mark.parametrize("signing", ["rivo-signature", "standard-webhooks", "both"])
def test_subscribed_topics_are_delivered_signed(signing: str) -> None:
    sim, shop = make({"webhooks": {"signing": signing}})
    sender = RecordingSender()
    sim.use_sender(sender)
    subscribe(shop, "points_event/created")
    cid = join(shop)
    assert sender.sent == []  # off the request path
    sim.run_until_idle()
    assert len(sender.sent) == 1
    request = sender.sent[0]
    assert request.headers["rivo-webhook-topic"] == "points_event/created"
    assert request.headers["rivo-webhook-id"].startswith("msg_")
    assert ("rivo-signature" in request.headers) == (signing != "standard-webhooks")
    assert ("rivo-webhook-signature" in request.headers) == (signing != "rivo-signature")
    assert verify(request.body, request.headers, shop.credentials.webhook_secret,
                  now=sim.now().timestamp())
    body = orjson.loads(request.body)
    assert body["customer"]["id"] == cid and body["points_diff"] == 100
    # The documented era carries event_type; live (Standard-Webhooks) deliveries omit it.
    assert ("event_type" in body) == (signing != "standard-webhooks")


def test_unsubscribed_or_disabled_topics_are_logged_but_not_delivered() -> None:
    sim, shop = make()
    sender = RecordingSender()
    sim.use_sender(sender)
    subscribe(shop, "customer/joined")
    sub = next(iter(shop.rivo.subscriptions.values()))
    shop.rivo.update_subscription(sub.id, {"status": "disabled"})
    join(shop)
    sim.run_until_idle()
    assert sender.sent == []
    assert topics(sim, shop) == ["customer/joined", "points_event/created"]
    assert all(t.delivery_id is None for t in sim.triggers.log(shop.domain).items)


def test_legacy_loyalty_points_earned_only_when_subscribed() -> None:
    sim, shop = make()
    join(shop, "a@example.com")
    assert "loyalty_points_earned" not in topics(sim, shop)
    subscribe(shop, "loyalty_points_earned")
    join(shop, "b@example.com")
    assert topics(sim, shop).count("loyalty_points_earned") == 1


def test_same_seed_same_delivery_ids_and_bodies() -> None:
    def run() -> list[tuple[str, bytes]]:
        sim, shop = make(seed=11)
        sender = RecordingSender()
        sim.use_sender(sender)
        subscribe(shop, "points_event/created")
        cid = join(shop)
        pay(shop, cid, "30.00")
        sim.run_until_idle()
        return [(r.headers["rivo-webhook-id"], r.body) for r in sender.sent]

    first = run()
    assert len(first) == 2 and first == run()


def test_payloads_read_later_show_the_customer_as_they_were_when_the_topic_fired() -> None:
    sim, shop = make()
    cid = join(shop)  # +100
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": 900,
                                   "credits_amount": 0})  # +900 -> Silver
    shop.shopify.update_customer(cid, {"first_name": "Renamed"})
    events = [t for t in sim.triggers.log(shop.domain).items if t.topic == "points_event/created"]
    assert [e.payload["customer"]["points_tally"] for e in events] == [100, 1000]
    # The points event fires before the upgrade it causes (the normative order), so it still shows Bronze.
    assert [e.payload["customer"]["vip_tier"]["name"] for e in events] == ["Bronze", "Bronze"]
    upgrade = next(t for t in sim.triggers.log(shop.domain).items if t.topic == "customer_vip_tier/upgraded")
    assert upgrade.payload["customer"]["vip_tier"]["name"] == "Silver"
    assert {e.payload["customer"]["first_name"] for e in events} == {"Ann"}


def test_member_snapshots_copy_every_field() -> None:
    # Trigger snapshots rebuild a Member from its slots in order: that must stay the constructor's order.
    import dataclasses

    from rivosim.domain.rivo.models import Member

    assert tuple(f.name for f in dataclasses.fields(Member)) == Member.__slots__


def test_both_webhook_pipelines_work_the_same_after_resets() -> None:
    """The engine builds Rivo's triggers and Shopify's webhooks anew with each reset's outbox: after two resets a
    new shop still gets both kinds of delivery, each once, and Shopify's failure count still removes a
    subscription after 8 consecutive failures (its outcome hook is on the live outbox, once)."""
    sim = Simulator(seed=5)
    sim.reset()
    sim.reset()
    sender = RecordingSender(status=500)
    sim.use_sender(sender)
    shop = sim.create_shop({"domain": "t.myshopify.com", "api": {"new_customer_visibility_delay": 0}})
    shop.rivo.create_subscription({"event_type": "customer/joined", "url": "https://hooks.example.test/rivo"})
    shop.shopify.create_webhook_subscription({"topic": "customers/create", "address": "https://hooks.example.test/s"},
                                             "2025-01")
    shop.shopify.create_customer(email="after-reset@example.com")
    sim.run_until_idle()
    by_api: dict[str, int] = {}
    for request in sender.sent:
        api = "shopify" if "X-Shopify-Topic" in request.headers else "rivo"
        by_api[api] = by_api.get(api, 0) + 1
    assert by_api["shopify"] == 9  # the first attempt and 8 retries, once each (not once per reset)
    assert shop.shopify.webhook_subscriptions == {}
    assert by_api["rivo"] >= 1
