"""Webhooks on demand (``POST /_rivosim/shops/<domain>/webhooks/trigger``, ``rivosim trigger``): one sample event
for any Rivo or Shopify topic, sent through the real pipeline — the trigger log, the shop's subscription, the
outbox (signed, retried, in the delivery log) — like Stripe's ``stripe trigger``.

A sample is built the way the topic's real event is: a domain event about the shop's real records (the
customer, their latest points event, redemption, referral, tier, order, refund, the published theme), handed to
the same payload builders the live triggers use, so the body is what that topic really carries. Where a Rivo
topic needs a record the customer does not have yet (no redemption, say), a sample record is made from the
shop's real program (its first reward, its tiers) for the payload only: it is never stored, and nothing about
the shop changes except what any delivery changes (the trigger log, the delivery log, the shop's id stream).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from rivosim.domain.events import (
    ActionCompleted,
    AppUninstalled,
    CreditsExpiryWarned,
    CustomerCreated,
    CustomerDeleted,
    CustomerUpdated,
    DomainEvent,
    OrderCancelled,
    OrderCreated,
    OrderPaid,
    OrderRefunded,
    OrderUpdated,
    PointsEventCreated,
    PointsExpired,
    PointsExpiryWarned,
    RedemptionCreated,
    ReferralClaimed,
    ReferralCompleted,
    ThemePublished,
    TierChanged,
)
from rivosim.domain.rivo.models import Member, PointsEvent, Redemption, Referral
from rivosim.domain.rivo.subscriptions import TOPICS as RIVO_TOPICS
from rivosim.domain.shop import Shop
from rivosim.domain.shopify.webhooks import WEBHOOK_TOPICS as SHOPIFY_TOPICS
from rivosim.kernel.errors import Conflict, NotFound, ValidationFailed
from rivosim.webhooks import shopify_topics
from rivosim.webhooks.outbox import Delivery, Outbox
from rivosim.webhooks.rivo_topics import ACTION_TOPICS, Triggers

__all__ = ["RIVO_TOPICS", "SHOPIFY_TOPICS", "Sample", "sample_stream", "send_sample"]

def sample_stream(shop: Shop) -> random.Random:
    """The shop's own stream for sample ids (kept by the shop's id source, ``IdSource.stream``): the same seed and
    calls give the same samples, and sampling never shifts the ids of the shop's real records. A new shop object
    (after a reset) starts a new stream; a snapshot of the shop carries its position."""
    return shop.ids.stream("webhook-samples")


@dataclass(slots=True)
class Sample:
    api: str  # rivo | shopify
    topic: str
    customer_id: int | None
    payload: dict[str, Any]
    deliveries: list[Delivery]


def send_sample(shop: Shop, topic: Any, *, customer: Any = None, triggers: Triggers, outbox: Outbox,
                rng: random.Random) -> Sample:
    """Queue one sample delivery of ``topic`` to each of the shop's subscriptions for it (a Rivo topic has at
    most one). Refused, changing nothing, for an unknown topic, a topic nobody subscribed to, or a customer the
    shop does not have. ``rng``: the stream sample ids come from (never the shop's own)."""
    if not isinstance(topic, str) or topic not in RIVO_TOPICS + SHOPIFY_TOPICS:
        raise ValidationFailed(f"unknown topic {topic!r}; Rivo topics: {', '.join(RIVO_TOPICS)}; Shopify topics: "
                               f"{', '.join(SHOPIFY_TOPICS)}", field="topic")
    if customer is not None and (isinstance(customer, bool) or not isinstance(customer, int | str) or customer == ""):
        raise ValidationFailed("customer must be a customer id or an email", field="customer")
    if topic in SHOPIFY_TOPICS:
        return _shopify(shop, topic, customer, outbox, rng)
    return _rivo(shop, topic, customer, triggers, rng)


# -- Rivo -------------------------------------------------------------------------------------------------------
def _member(shop: Shop, customer: Any) -> Member:
    rivo = shop.rivo
    if customer is not None:
        ref: Any = int(customer) if isinstance(customer, str) and customer.isdigit() else customer
        return rivo.find_member(ref)
    if not rivo.members:
        raise Conflict(f"{shop.domain} has no Rivo members yet: create a customer first "
                       f"(POST /_rivosim/shops/{shop.domain}/customers)", field="customer")
    return next(reversed(rivo.members.values()))


def _rivo(shop: Shop, topic: str, customer: Any, triggers: Triggers, rng: random.Random) -> Sample:
    rivo = shop.rivo
    sub = rivo.subscription_for(topic)
    if sub is None:
        raise Conflict(f"{shop.domain} has no enabled subscription for {topic}: subscribe first (POST "
                       f'/merchant_api/v1/webhooks {{"event_type": "{topic}", "url": …}})', field="topic")
    member = _member(shop, customer)
    now = shop.clock.now()
    payload = _rivo_payload(shop, topic, member, now, triggers, rng)
    fired = triggers.fire(shop, topic, member.id, payload, cause="sample")
    delivery = triggers.outbox.deliveries.get(fired.delivery_id) if fired.delivery_id else None
    return Sample("rivo", topic, member.id, fired.payload, [delivery] if delivery is not None else [])


def _sample_id(rng: random.Random) -> int:
    return rng.randrange(10**6, 10**7)


def _rivo_payload(shop: Shop, topic: str, member: Member, now: datetime, triggers: Triggers,
                  rng: random.Random) -> dict[str, Any]:
    rivo = shop.rivo
    at = dict(shop=shop.domain, at=now, customer_id=member.id)
    temporary: tuple[dict[int, Any], int] | None = None  # a sample record shown to the payload builder only
    event: DomainEvent
    if topic in ("points_event/created", "loyalty_points_earned", "balance_transaction/created"):
        credits = topic == "balance_transaction/created"
        record = next((e for e in reversed(rivo.ledger.get(member.id, ()))
                       if (e.credits_diff != 0 if credits else e.points_diff > 0)), None)
        if record is None:
            record = PointsEvent(id=_sample_id(rng), customer_id=member.id, source="manual",
                                 points_diff=0 if credits else 100,
                                 credits_diff=Decimal("5.00") if credits else Decimal("0.00"),
                                 title="Sample adjustment", applied_at=now, created_at=now)
            temporary = (rivo.points_events, record.id)
            rivo.points_events[record.id] = record
        event = PointsEventCreated(**at, points_event_id=record.id, source=record.source,
                                   points_diff=record.points_diff, credits_diff=record.credits_diff)
    elif topic == "points_redemption/created":
        found = [r for r in rivo.redemptions.values() if r.customer_id == member.id]
        if found:
            redemption = found[-1]
        else:
            reward = next(iter(rivo.rewards.values()), None)
            redemption = Redemption(id=_sample_id(rng), customer_id=member.id, reward_id=reward.id if reward else 0,
                                    name=reward.name if reward else "$5 off coupon",
                                    code=f"SAMPLE-{rng.randrange(10**5, 10**6)}",
                                    points_amount=reward.points_amount if reward else 500,
                                    credits_amount=Decimal("0.00"), applied_at=now, source="points",
                                    expires_at=now + timedelta(days=365))
            temporary = (rivo.redemptions, redemption.id)
            rivo.redemptions[redemption.id] = redemption
        event = RedemptionCreated(**at, redemption_id=redemption.id, reward_id=redemption.reward_id)
    elif topic in ("referral/claimed", "referral/completed"):
        found_refs = [r for r in rivo.referrals.values() if r.advocate_customer_id == member.id]
        if found_refs:
            referral = found_refs[-1]
        else:
            completed = topic == "referral/completed"
            referral = Referral(id=_sample_id(rng), advocate_customer_id=member.id,
                                referred_email="friend@example.com", signup_ip="203.0.113.7", created_at=now,
                                status="completed" if completed else "pending", status_last_changed_at=now,
                                claimed_at=now, completed_at=now if completed else None,
                                referred_discount_code="FRIEND-" + str(rng.randrange(10**5, 10**6)),
                                advocate_reward_status="completed" if completed else "pending")
            temporary = (rivo.referrals, referral.id)
            rivo.referrals[referral.id] = referral
        kind = ReferralClaimed if topic == "referral/claimed" else ReferralCompleted
        extra = {} if kind is ReferralClaimed else {"referred_customer_id": referral.referred_customer_id}
        event = kind(shop=shop.domain, at=now, referral_id=referral.id,
                     advocate_customer_id=referral.advocate_customer_id, **extra)
    elif topic.startswith("customer_vip_tier/"):
        tiers = sorted(rivo.tiers.values(), key=lambda t: t.threshold)
        current = rivo.tiers.get(member.vip_tier_id) if member.vip_tier_id else None
        upward = topic != "customer_vip_tier/downgraded"
        higher = [t for t in tiers if current is None or t.threshold > current.threshold]
        lower = [t for t in tiers if current is not None and t.threshold < current.threshold]
        to_tier = (higher[0] if higher else current) if upward else (lower[-1] if lower else None)
        event = TierChanged(**at, from_tier_id=current.id if current else None,
                            to_tier_id=to_tier.id if to_tier else None,
                            direction="upgraded" if upward else "downgraded",
                            first_time=topic == "customer_vip_tier/unlocked", manual=False,
                            change_id=_sample_id(rng))
    elif topic.startswith("notification/points_expiry_"):
        event = PointsExpiryWarned(**at, kind=topic.rsplit("points_expiry_", 1)[1],
                                   points=max(member.points_tally, 100), expires_at=now + timedelta(days=30))
    elif topic.startswith("notification/credits_expiry_"):
        event = CreditsExpiryWarned(**at, kind=topic.rsplit("credits_expiry_", 1)[1],
                                    credits=member.credits_tally if member.credits_tally > 0 else Decimal("5.00"),
                                    expires_at=now + timedelta(days=30))
    elif topic == "points/expired":
        event = PointsExpired(**at, points=max(member.points_tally, 100), mode="per_event")
    else:  # an earning action's topic
        # The first trigger that fires the topic (social/followed: instagram_follow); its extra fields
        # (network, channel) are added by the payload builder.
        trigger = next(t for t, (name, _) in ACTION_TOPICS.items() if name == topic)
        rule = rivo.find_rule(trigger)
        details: dict[str, Any] = {}
        if trigger == "customer_birthday":
            details = {"date": now.date().isoformat(), "dob": member.dob or now.strftime("%m-%d")}
        elif trigger == "customer_anniversary":
            details = {"date": now.date().isoformat(), "years": max(now.year - member.created_at.year, 1)}
        elif trigger == "custom_action":
            details = {"custom_action_name": rule.custom_action_name if rule and rule.custom_action_name
                       else "sample_action"}
        elif trigger == "visit_url":
            details = {"url": rule.url if rule and rule.url else "https://example.com/"}
        elif trigger in ("order_placed", "product_purchased"):
            # The order fields the live topic carries (its webhook schema requires them): the customer's latest
            # order, else a sample one.
            order = next((o for o in reversed(shop.shopify.orders.values()) if o.customer_id == member.id), None)
            order_id = order.id if order is not None else _sample_id(rng)
            if trigger == "order_placed":
                amount = order.subtotal_price if order is not None else Decimal("25.00")
                details = {"order_id": order_id, "subtotal": f"{amount:.2f}",
                           "total": f"{order.total_price if order is not None else amount:.2f}"}
            else:
                products = sorted(rule.product_ids) if rule and rule.product_ids else [_sample_id(rng)]
                details = {"order_id": order_id, "product_ids": products}
        event = ActionCompleted(**at, trigger=trigger, rule_id=rule.id if rule else None,
                                action_id=_sample_id(rng), details=details)
    try:
        # The live triggers' own payload builders (rivo_topics.Triggers), for this one topic.
        builds = [build for name, _, build in triggers._topics_for(shop, event) if name == topic]
        if not builds:
            raise Conflict(f"{topic} cannot be sampled for customer {member.id} now", field="topic")
        return dict(builds[0]())
    finally:
        if temporary is not None:
            del temporary[0][temporary[1]]


# -- Shopify ----------------------------------------------------------------------------------------------------
def _shopify(shop: Shop, topic: str, customer: Any, outbox: Outbox, rng: random.Random) -> Sample:
    sf = shop.shopify
    subs = sf.subscriptions_for(topic)
    if not subs:
        raise Conflict(f"{shop.domain} has no Shopify subscription for {topic}: the app subscribes with POST "
                       f"/admin/api/<version>/webhooks.json", field="topic")
    customer_id = None
    if customer is not None:
        found = [c for c in sf.customers.values()
                 if str(c.id) == str(customer) or (c.email or "").casefold() == str(customer).casefold()]
        if not found:
            raise NotFound(f"no customer {customer!r} in {shop.domain}", resource="customer")
        customer_id = found[0].id
    now = shop.clock.now()
    event = _shopify_event(shop, topic, customer_id, now)
    payload = shopify_topics.ShopifyWebhooks._payload(shop, event, topic)
    if payload is None:
        raise Conflict(f"{topic} cannot be sampled in {shop.domain} now", field="topic")
    # As shopify_topics.ShopifyWebhooks does for a live event: one event id, one webhook id per subscription.
    event_id = shopify_topics._uuid(rng)
    deliveries = []
    for sub in subs:
        body_obj = {k: v for k, v in payload.items() if k in sub.fields} if sub.fields else payload
        body = orjson.dumps(body_obj)
        webhook_id = shopify_topics._uuid(rng)
        deliveries.append(outbox.enqueue(
            delivery_id=webhook_id, shop=shop.domain, api="shopify", topic=topic, url=sub.address, body=body,
            headers_for=shopify_topics._headers(shop, topic, sub.api_version, webhook_id, event_id, now, body),
            max_attempts=shopify_topics.MAX_ATTEMPTS, timeout=shopify_topics.TIMEOUT_SECONDS, event_id=event_id,
            subscription_id=sub.id))
    return Sample("shopify", topic, getattr(event, "customer_id", None), payload, deliveries)


def _shopify_event(shop: Shop, topic: str, customer_id: int | None, now: datetime) -> DomainEvent:
    sf = shop.shopify
    if topic.startswith("customers/"):
        if customer_id is None:
            if not sf.customers:
                raise Conflict(f"{shop.domain} has no customers yet", field="customer")
            customer_id = next(reversed(sf.customers.values())).id
        c = sf.customers[customer_id]
        if topic == "customers/create":
            return CustomerCreated(shop=shop.domain, at=now, customer_id=c.id, email=c.email, first_name=c.first_name,
                                   last_name=c.last_name, accepts_marketing=c.accepts_marketing,
                                   verified_email=c.verified_email, tags=tuple(c.tags))
        if topic == "customers/update":
            return CustomerUpdated(shop=shop.domain, at=now, customer_id=c.id)
        return CustomerDeleted(shop=shop.domain, at=now, customer_id=c.id)
    if topic == "themes/publish":
        theme = next((t for t in sf.themes.values() if t.role == "main"), None)
        if theme is None:
            raise Conflict(f"{shop.domain} has no published theme", field="topic")
        return ThemePublished(shop=shop.domain, at=now, theme_id=theme.id, previous_theme_id=None)
    if topic == "app/uninstalled":
        return AppUninstalled(shop=shop.domain, at=now)
    orders = [o for o in sf.orders.values() if customer_id is None or o.customer_id == customer_id]
    if topic == "refunds/create":
        orders = [o for o in orders if o.refunds]
    if not orders:
        refund = topic == "refunds/create"
        what, how = ("a refunded order", "orders/<id>/refund") if refund else ("an order", "orders")
        raise Conflict(f"{topic} needs {what}{'' if customer_id is None else f' of customer {customer_id}'} in "
                       f"{shop.domain}: POST /_rivosim/shops/{shop.domain}/{how} first", field="topic")
    o = orders[-1]
    common = dict(shop=shop.domain, at=now, order_id=o.id, customer_id=o.customer_id)
    if topic == "refunds/create":
        refund = o.refunds[-1]
        return OrderRefunded(**common, amount=refund.amount, refund_id=refund.id, fully_refunded=False)
    if topic == "orders/paid":
        return OrderPaid(**common, subtotal=o.subtotal_price, total=o.total_price, lines=())
    if topic == "orders/cancelled":
        return OrderCancelled(**common, was_paid=o.financial_status == "paid")
    if topic == "orders/create":
        return OrderCreated(**common, subtotal=o.subtotal_price, lines=())
    return OrderUpdated(**common)
