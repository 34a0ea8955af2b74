"""Shopify's outbound webhooks: a shop's Shopify-side events become topics (``orders/create``, ``orders/paid``,
``orders/cancelled``, ``refunds/create``, ``customers/create``, ``customers/update``, ``themes/publish``,
``app/uninstalled`` and a few more), delivered to each subscription the app made, through the simulator's
outbox (api ``shopify``: the first attempt plus 8 retries over 4 hours on the simulator clock).

Each delivery is the REST resource as JSON, signed ``X-Shopify-Hmac-Sha256 = base64(HMAC-SHA256(app secret,
raw body))``, with the headers of shopify-api.md §4.2: one ``X-Shopify-Event-Id`` per event shared by its
deliveries, one ``X-Shopify-Webhook-Id`` per delivery kept across retries. A subscription is removed after 8
consecutive failed attempts (§4.4).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from rivosim.domain.events import (
    AppUninstalled,
    CustomerCreated,
    CustomerDeleted,
    CustomerUpdated,
    DomainEvent,
    OrderCancelled,
    OrderCreated,
    OrderPaid,
    OrderRefunded,
    OrderUpdated,
    ThemePublished,
)
from rivosim.webhooks.outbox import Delivery, Outbox
from rivosim.webhooks.signing import sign_shopify
from rivosim.wire import shopify as wire

if TYPE_CHECKING:
    from rivosim.domain.shop import Shop
    from rivosim.kernel.ids import Randomness

__all__ = ["MAX_ATTEMPTS", "TIMEOUT_SECONDS", "ShopifyWebhooks"]

MAX_ATTEMPTS = 9  # the first attempt plus 8 retries (shopify-api.md §4.4)
TIMEOUT_SECONDS = 5.0  # 1 s to connect, 5 s in all (§4.4)

# Events -> topics, in the order they fire. Shopify also fires orders/updated whenever an order changes.
TOPICS: dict[type[DomainEvent], tuple[str, ...]] = {
    OrderCreated: ("orders/create",),
    OrderPaid: ("orders/paid", "orders/updated"),
    OrderCancelled: ("orders/cancelled", "orders/updated"),
    OrderRefunded: ("refunds/create", "orders/updated"),
    OrderUpdated: ("orders/updated",),
    CustomerCreated: ("customers/create",),
    CustomerUpdated: ("customers/update",),
    CustomerDeleted: ("customers/delete",),
    ThemePublished: ("themes/publish",),
    AppUninstalled: ("app/uninstalled",),
}


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


class ShopifyWebhooks:
    """Built by the engine with its outbox, as :class:`~rivosim.webhooks.rivo_topics.Triggers` is (a reset builds
    both anew with the new outbox); ``attach``/``detach`` follow the shops the engine creates and deletes."""

    def __init__(self, outbox: Outbox, randomness: Randomness) -> None:
        self.outbox = outbox
        self._randomness = randomness
        self._shops: dict[str, Shop] = {}
        self._streams: dict[str, random.Random] = {}
        # A subscription's failed attempts count towards its removal (§4.4).
        outbox.on_outcome.append(self._on_outcome)

    def attach(self, shop: Shop) -> None:
        self._shops[shop.domain] = shop
        # Its own stream: webhook ids never shift the shop's other ids, codes or secrets.
        self._streams[shop.domain] = self._randomness.stream(shop.domain, "shopify-webhooks")
        shop.bus.subscribe_all(lambda event: self._on_event(shop, event))

    def adopt(self, shop: Shop) -> None:
        """Take in a shop copied from a template (its bus already holds the subscription): a fresh stream, as a
        freshly created shop has (nothing draws from it before the shop has a subscription)."""
        self._shops[shop.domain] = shop
        self._streams[shop.domain] = self._randomness.stream(shop.domain, "shopify-webhooks")

    def detach(self, domain: str) -> None:
        self._shops.pop(domain, None)
        self._streams.pop(domain, None)

    # -- one shop's share, for its snapshot ----------------------------------------------------------------
    def export_state(self, domain: str) -> dict[str, Any]:
        """Where the shop's webhook-id stream stands."""
        return {"shopify_stream": self._streams.get(domain)}

    def import_state(self, shop: Shop, state: dict[str, Any]) -> None:
        """Take ``shop`` back (a restored one: its bus already holds this service's subscription) with its share
        as ``export_state`` gave it."""
        self._shops[shop.domain] = shop
        if state.get("shopify_stream") is not None:
            self._streams[shop.domain] = state["shopify_stream"]

    # -- events -> deliveries ------------------------------------------------------------------------------
    def _on_event(self, shop: Shop, event: DomainEvent) -> None:
        topics = TOPICS.get(type(event))
        if not topics or self._shops.get(shop.domain) is not shop:
            return
        sf = shop.shopify
        rng = self._streams[shop.domain]
        for topic in topics:
            subs = sf.subscriptions_for(topic)
            if not subs:
                continue
            payload = self._payload(shop, event, topic)
            if payload is None:
                continue
            event_id = _uuid(rng)
            for sub in subs:
                body_obj = {k: v for k, v in payload.items() if k in sub.fields} if sub.fields else payload
                body = bytes(memoryview(orjson.dumps(body_obj)))  # right-sized: see Outbox.enqueue
                webhook_id = _uuid(rng)
                self.outbox.enqueue(
                    delivery_id=webhook_id, shop=shop.domain, api="shopify", topic=topic, url=sub.address,
                    body=body, headers_for=_headers(shop, topic, sub.api_version, webhook_id, event_id, event.at,
                                                    body),
                    max_attempts=MAX_ATTEMPTS, timeout=TIMEOUT_SECONDS, event_id=event_id, subscription_id=sub.id)

    @staticmethod
    def _payload(shop: Shop, event: DomainEvent, topic: str) -> dict[str, Any] | None:
        sf = shop.shopify
        tz, currency = shop.settings.timezone, shop.settings.currency
        if isinstance(event, OrderRefunded):
            order = sf.orders.get(event.order_id)
            if order is None:
                return None
            if topic == "refunds/create":
                refund = next((r for r in order.refunds if r.id == event.refund_id), None)
                return wire.refund(refund, order, tz) if refund is not None else None
            return wire.order(order, shop)
        if isinstance(event, OrderCreated | OrderPaid | OrderCancelled | OrderUpdated):
            order = sf.orders.get(event.order_id)
            return wire.order(order, shop) if order is not None else None
        if isinstance(event, CustomerCreated | CustomerUpdated):
            customer = sf.customers.get(event.customer_id)
            return wire.customer(customer, tz, currency) if customer is not None else None
        if isinstance(event, CustomerDeleted):
            return {"id": event.customer_id, "phone": None, "addresses": [], "tax_exemptions": [],
                    "email_marketing_consent": None, "sms_marketing_consent": None,
                    "admin_graphql_api_id": wire.gid("Customer", event.customer_id)}
        if isinstance(event, ThemePublished):
            theme = sf.themes.get(event.theme_id)
            return wire.theme(theme, tz) if theme is not None else None
        if isinstance(event, AppUninstalled):
            return wire.shop(shop)
        return None

    # -- outcomes -> subscription removal -------------------------------------------------------------------
    def _on_outcome(self, delivery: Delivery, ok: bool) -> None:
        if delivery.api != "shopify" or delivery.subscription_id is None:
            return
        shop = self._shops.get(delivery.shop)
        if shop is not None:
            shop.shopify.note_delivery_attempt(delivery.subscription_id, ok)


def _headers(shop: Shop, topic: str, api_version: str, webhook_id: str, event_id: str, at: datetime,
             body: bytes) -> Callable[[Delivery, datetime], dict[str, str]]:
    # The body never changes between attempts (a retry sends the original payload), so neither do these.
    fixed = {
        "Content-Type": "application/json", "User-Agent": "Shopify-Captain-Hook",
        "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": sign_shopify(body, shop.credentials.shopify_api_secret),
        "X-Shopify-Shop-Domain": shop.domain, "X-Shopify-API-Version": api_version,
        "X-Shopify-Webhook-Id": webhook_id, "X-Shopify-Event-Id": event_id,
        "X-Shopify-Triggered-At": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    return lambda delivery, when: dict(fixed)

