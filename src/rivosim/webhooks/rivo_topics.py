"""Triggers: Rivo's domain events become webhook topics, each recorded in the shop's trigger log and, when the
shop has an enabled subscription for the topic, delivered through the outbox, signed as the shop chooses.

The mapping (README, "Triggers and webhook topics") is normative: one business event fires each of its
topics exactly once, in a fixed order, because the domain publishes its events in that order.
"""

from __future__ import annotations

import functools
import operator
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, SupportsIndex, overload

import orjson

from rivosim.domain.events import (
    ActionCompleted,
    CreditsExpiryWarned,
    DomainEvent,
    PointsEventCreated,
    PointsExpired,
    PointsExpiryWarned,
    RedemptionCreated,
    ReferralClaimed,
    ReferralCompleted,
    TierChanged,
)
from rivosim.domain.rivo.models import Member
from rivosim.webhooks.outbox import Delivery, Outbox
from rivosim.webhooks.signing import sign_rivo, sign_standard
from rivosim.wire import rivo as wire

if TYPE_CHECKING:
    from rivosim.domain.shop import Shop

__all__ = ["ACTION_TOPICS", "FiredTrigger", "TriggerLog", "TriggerRing", "Triggers"]

# Earning-rule trigger -> topic (and extra payload fields). Rule-based triggers fire only when their rule is
# enabled — the seed: "check that the specific earning rules for your triggers are enabled in Rivo".
ACTION_TOPICS: dict[str, tuple[str, dict[str, str]]] = {
    "customer_member_enabled": ("customer/joined", {}),
    "customer_birthday": ("customer/birthday", {}),
    "customer_anniversary": ("customer/anniversary", {}),
    "instagram_follow": ("social/followed", {"network": "instagram"}),
    "tiktok_follow": ("social/followed", {"network": "tiktok"}),
    "twitter_follow": ("social/followed", {"network": "twitter"}),
    "facebook_like": ("social/followed", {"network": "facebook"}),
    "facebook_share": ("social/shared", {"network": "facebook"}),
    "twitter_share": ("social/shared", {"network": "twitter"}),
    "email_subscribe": ("marketing/email_subscribed", {"channel": "email"}),
    "sms_subscribe": ("marketing/sms_subscribed", {"channel": "sms"}),
    "review_complete": ("review/completed", {}),
    "custom_action": ("custom_action/completed", {}),
    "visit_url": ("url/visited", {}),
    "receipt_upload": ("receipt/uploaded", {}),
    "order_placed": ("order/placed", {}),
    "product_purchased": ("product/purchased", {}),
}


Build = Callable[[], dict[str, Any]]
_EMBEDDED_CUSTOMERS = ("customer", "referrer_customer", "referred_customer")
# A member snapshot is its fields, in declaration order, passed back to the constructor (~1 µs; copy.copy
# takes ~5 µs through __reduce_ex__): taken for every trigger a busy simulation fires.
_MEMBER_FIELDS = operator.attrgetter(*Member.__slots__)


class FiredTrigger:
    """One fired topic. The payload is built from a point-in-time snapshot, but only when first read (or at
    once when a subscription needs the body): most triggers of a busy simulation are never looked at."""

    __slots__ = ("_build", "_payload", "at", "cause", "customer_id", "delivery_id", "seq", "topic")

    def __init__(self, *, seq: int, at: datetime, topic: str, customer_id: int | None, cause: str,
                 delivery_id: str | None, payload: dict[str, Any] | None = None, build: Build | None = None) -> None:
        self.seq, self.at, self.topic, self.customer_id = seq, at, topic, customer_id
        self.cause, self.delivery_id = cause, delivery_id
        self._payload, self._build = payload, build

    @property
    def payload(self) -> dict[str, Any]:
        if self._payload is None:
            assert self._build is not None
            self._payload, self._build = self._build(), None
        return self._payload

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at.isoformat(), "topic": self.topic, "customer_id": self.customer_id,
                "cause": self.cause, "delivery_id": self.delivery_id, "payload": self.payload}


class TriggerRing(deque[FiredTrigger]):
    """A trigger log's entries, oldest first: a deque bounded by the log's cap, so trimming the oldest is O(1)
    (deleting from the front of a list at the cap moved all 100,000 entries on every trigger). It still answers
    what the list it replaced answered: indexes, slices (as lists) and equality with a list of the same items."""

    __hash__ = None  # type: ignore[assignment]  # mutable, like the list it replaced

    @overload
    def __getitem__(self, index: SupportsIndex) -> FiredTrigger: ...

    @overload
    def __getitem__(self, index: slice) -> list[FiredTrigger]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> FiredTrigger | list[FiredTrigger]:
        if isinstance(index, slice):
            return list(self)[index]
        return super().__getitem__(index)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            return len(self) == len(other) and list(self) == other
        return super().__eq__(other)


class TriggerLog:
    """Every trigger a shop fired, in order (the newest ``cap``; the oldest are dropped first, in O(1))."""

    def __init__(self, cap: int = 100_000) -> None:
        self.items = TriggerRing((), cap)
        self._seq = 0

    @property
    def cap(self) -> int:
        return self.items.maxlen or 0

    def append(self, **fields: Any) -> FiredTrigger:
        self._seq += 1
        item = FiredTrigger(seq=self._seq, **fields)
        self.items.append(item)  # past the cap, the deque drops the oldest itself
        return item

    def settle(self) -> None:
        """Build every payload not built yet and keep it as its JSON, read back when asked for (as a delivered
        trigger's is): a seeded shop's history, fixed as it was when seeded, and a few objects per trigger
        instead of a graph of closures — a shop's reset copies its log (engine ``reset_shop``)."""
        for item in self.items:
            if item._payload is None and not isinstance(item._build, functools.partial):
                item._build = functools.partial(orjson.loads, orjson.dumps(item.payload))
                item._payload = None

    def topics(self, customer_id: int | None = None) -> list[str]:
        return [t.topic for t in self.items if customer_id is None or t.customer_id == customer_id]


class Triggers:
    """Attach to a shop's bus; map events to ``(topic, payload)``; log; deliver."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.logs: dict[str, TriggerLog] = {}
        self._shops: dict[str, Shop] = {}

    def attach(self, shop: Shop) -> None:
        self.logs[shop.domain] = TriggerLog()
        self._shops[shop.domain] = shop
        shop.bus.subscribe_all(lambda event: self._on_event(shop, event))

    def adopt(self, shop: Shop, log: TriggerLog) -> None:
        """Take in a shop copied from a template (engine ``reset_shop``) with its log: its bus already holds the
        subscription ``attach`` made on the original (copied along with the shop)."""
        self.logs[shop.domain] = log
        self._shops[shop.domain] = shop

    def detach(self, domain: str) -> None:
        self.logs.pop(domain, None)
        self._shops.pop(domain, None)

    def export_state(self, domain: str) -> dict[str, Any]:
        """One shop's share, for its snapshot: its trigger log."""
        return {"trigger_log": self.logs.get(domain)}

    def import_state(self, shop: Shop, state: dict[str, Any]) -> None:
        """Take ``shop`` back (a restored one: its bus already holds this service's subscription) with its share
        as ``export_state`` gave it."""
        if state.get("trigger_log") is not None:
            self.logs[shop.domain] = state["trigger_log"]
        self._shops[shop.domain] = shop

    def log(self, domain: str) -> TriggerLog:
        return self.logs[domain]

    # -- mapping ---------------------------------------------------------------------------------------
    def _on_event(self, shop: Shop, event: DomainEvent) -> None:
        if self._shops.get(shop.domain) is not shop:
            return  # a deleted shop (perhaps replaced by a new one with the same domain) fires nothing
        for topic, customer_id, build in self._topics_for(shop, event):
            self.fire(shop, topic, customer_id, build, cause=type(event).__name__)

    def _topics_for(self, shop: Shop, event: DomainEvent) -> Iterator[tuple[str, int | None, Build]]:
        """``(topic, customer_id, build)``: snapshots are taken now, serialisation happens in ``build``."""
        rivo = shop.rivo
        if isinstance(event, ActionCompleted):
            mapped = ACTION_TOPICS.get(event.trigger)
            if mapped is not None:
                topic, extra = mapped
                customer = self._customer(shop, event.customer_id)
                yield topic, event.customer_id, lambda: {
                    "id": event.action_id, "trigger": event.trigger, "earning_rule_id": event.rule_id,
                    **extra, **event.details, "occurred_at": wire.timestamp(event.at), "customer": customer()}
        elif isinstance(event, PointsEventCreated):
            points_event = rivo.points_events[event.points_event_id]
            customer = self._customer(shop, event.customer_id)
            cache: list[dict[str, Any]] = []

            def build() -> dict[str, Any]:
                if not cache:  # one payload shared by the topics this event fires
                    # In webhooks the id is the composite [shop_id, event_id] (rivo-api.md §1.4, §3.3).
                    cache.append({**wire.points_event(points_event), "id": [shop.id, points_event.id],
                                  "credits_amount": float(points_event.credits_amount), "customer": customer()})
                return cache[0]

            yield "points_event/created", event.customer_id, build
            if event.points_diff > 0 and rivo.subscription_for("loyalty_points_earned") is not None:
                # The legacy topic (/reference/loyalty-points-earned) goes only to a subscription that asks.
                yield "loyalty_points_earned", event.customer_id, build
            if event.credits_diff != 0:
                yield "balance_transaction/created", event.customer_id, build
        elif isinstance(event, RedemptionCreated):
            # A redemption changes later (used_at): serialise it as it is now.
            redemption_payload = wire.redemption(rivo.redemptions[event.redemption_id], rivo)
            yield "points_redemption/created", event.customer_id, lambda: redemption_payload
        elif isinstance(event, TierChanged):
            yield from self._tier_topics(shop, event)
        elif isinstance(event, ReferralClaimed | ReferralCompleted):
            referral = rivo.referrals[event.referral_id]
            referral_payload = wire.referral(referral, rivo)
            referrer = self._customer(shop, referral.advocate_customer_id)
            referred = self._customer(shop, referral.referred_customer_id)
            topic = "referral/claimed" if isinstance(event, ReferralClaimed) else "referral/completed"
            guest = wire.guest_customer(referral.referred_email)  # the friend has not signed up (yet)
            yield topic, event.advocate_customer_id, lambda: {
                **referral_payload, "referrer_customer": referrer(), "referred_customer": referred() or guest}
        elif isinstance(event, PointsExpiryWarned):
            customer = self._customer(shop, event.customer_id)
            yield (f"notification/points_expiry_{event.kind}", event.customer_id, lambda: {
                "points_amount": event.points, "expires_at": wire.timestamp(event.expires_at),
                "points_expire_at": wire.human_date(event.expires_at), "customer": customer()})
        elif isinstance(event, CreditsExpiryWarned):
            customer = self._customer(shop, event.customer_id)
            # The topic is listed (rivo-api.md §4.5, OBSERVED) without a payload: the points notification's
            # shape, in credits (INFERRED).
            yield (f"notification/credits_expiry_{event.kind}", event.customer_id, lambda: {
                "credits_amount": wire.credits(event.credits), "expires_at": wire.timestamp(event.expires_at),
                "credits_expire_at": wire.human_date(event.expires_at), "customer": customer()})
        elif isinstance(event, PointsExpired):
            customer = self._customer(shop, event.customer_id)
            yield ("points/expired", event.customer_id, lambda: {
                "points_amount": event.points, "expired_at": wire.timestamp(event.at), "mode": event.mode,
                "customer": customer()})

    def _tier_topics(self, shop: Shop, event: TierChanged) -> Iterator[tuple[str, int | None, Build]]:
        rivo = shop.rivo
        tier = rivo.tiers.get(event.to_tier_id) if event.to_tier_id is not None else None
        name = tier.name if tier else "no tier"
        verb = "Upgraded" if event.direction == "upgraded" else "Downgraded"
        payload = {
            # rivo-api.md §4.5 (CONFIRMED for downgraded): a composite [shop_id, id].
            "id": [shop.id, event.change_id], "vip_tier_id": event.to_tier_id,
            "previous_vip_tier_id": event.from_tier_id, "started_at": wire.timestamp(event.at),
            "internal_note": event.internal_note, "external_note": event.external_note or f"{verb} to {name}",
            "manual": event.manual, "vip_tier": wire.vip_tier(tier, rivo, full=True),
        }
        customer = self._customer(shop, event.customer_id)
        cache: list[dict[str, Any]] = []

        def build() -> dict[str, Any]:
            if not cache:
                cache.append({**payload, "customer": customer()})
            return cache[0]

        yield f"customer_vip_tier/{event.direction}", event.customer_id, build
        if event.first_time and event.direction == "upgraded":
            yield "customer_vip_tier/unlocked", event.customer_id, build

    @staticmethod
    def _customer(shop: Shop, customer_id: int | None) -> Callable[[], dict[str, Any] | None]:
        """The embedded customer as it is *now*, serialised later: a shallow copy of the member (its one
        mutable collection copied too) and its expiry date, taken at once (a few microseconds)."""
        member = shop.rivo.members.get(customer_id) if customer_id is not None else None
        if member is None:
            return lambda: None
        snapshot = Member(*_MEMBER_FIELDS(member))
        if snapshot.completed_rule_ids is not None:
            snapshot.completed_rule_ids = set(snapshot.completed_rule_ids)
        expires = shop.rivo.lifecycle.points_expire_at(member)
        credits_expire = shop.rivo.lifecycle.credits.expire_at(member)

        def build() -> dict[str, Any]:
            out = wire.customer(snapshot, shop)
            out["points_expire_at"] = wire.human_date(expires)
            out["credits_expire_at"] = wire.human_date(credits_expire)
            return out

        return build

    # -- firing ----------------------------------------------------------------------------------------
    def fire(self, shop: Shop, topic: str, customer_id: int | None, payload: dict[str, Any] | Build, *,
             cause: str = "manual") -> FiredTrigger:
        with_event_type = shop.settings.webhooks.signing != "standard-webhooks"
        whole_seconds = shop.settings.webhooks.occurred_at_precision == "seconds"

        def build() -> dict[str, Any]:
            body_obj = dict(payload() if callable(payload) else payload)
            # Older API versions (and the doc examples) carry event_type; live deliveries (the Standard-Webhooks
            # era) omit it and name the topic in the rivo-webhook-topic header (rivo-api.md §4.3).
            # The referral/completed capture keeps it in every mode (rivo-api.md §3.6).
            if with_event_type or topic == "referral/completed":
                body_obj["event_type"] = topic
            # Live captures write occurred_at in whole seconds ("2026-09-16T13:42:34Z") while applied_at and
            # status_last_changed_at keep milliseconds (ks-tg-bot fixtures; docs/fidelity.md).
            occurred = body_obj.get("occurred_at")
            if whole_seconds and isinstance(occurred, str) and len(occurred) == 24 and occurred[19] == ".":
                body_obj["occurred_at"] = occurred[:19] + "Z"
            # Embedded customers carry the topic too (the doc's points_event/created example, §4.5).
            for key in _EMBEDDED_CUSTOMERS:
                embedded = body_obj.get(key)
                if isinstance(embedded, dict) and "shopify_domain" in embedded:
                    body_obj[key] = {**embedded, "event_type": topic}
            return body_obj

        sub = shop.rivo.subscription_for(topic)
        delivery = None
        body_obj: dict[str, Any] | None = None
        if sub is not None:
            body_obj = build()
            body = orjson.dumps(body_obj)
            delivery = self.outbox.enqueue(
                delivery_id="msg_" + shop.ids.hex(24), shop=shop.domain, api="rivo", topic=topic, url=sub.url,
                body=body, headers_for=_rivo_headers(shop, topic), subscription_id=sub.id,
                max_attempts=shop.settings.webhooks.max_attempts,
                timeout=shop.settings.webhooks.timeout_seconds)
        # A delivered trigger's payload is read back from the delivery's body when first asked for: keeping the
        # dict as well doubled what a pending delivery costs (issue 14: ≤ 4 KB each).
        return self.logs[shop.domain].append(at=shop.clock.now(), topic=topic, customer_id=customer_id,
                                             cause=cause, build=build if delivery is None
                                             else functools.partial(orjson.loads, delivery.body),
                                             delivery_id=delivery.id if delivery else None)


def _rivo_headers(shop: Shop, topic: str) -> Callable[[Delivery, datetime], dict[str, str]]:
    signing = shop.settings.webhooks.signing
    secret = shop.credentials.webhook_secret

    def headers(delivery: Delivery, at: datetime) -> dict[str, str]:
        out = {"Content-Type": "application/json", "User-Agent": "Rivo-Webhooks/1.0 (rivosim)",
               "rivo-webhook-id": delivery.id, "rivo-webhook-topic": topic}
        if signing in ("rivo-signature", "both"):
            out["rivo-signature"] = sign_rivo(delivery.body, secret)
        if signing in ("standard-webhooks", "both"):
            stamp = int(at.timestamp())
            out["rivo-webhook-timestamp"] = str(stamp)
            out["rivo-webhook-signature"] = sign_standard(delivery.id, stamp, delivery.body, secret)
        return out

    return headers
