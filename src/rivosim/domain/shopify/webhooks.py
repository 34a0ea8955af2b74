"""The app's Shopify webhook subscriptions made through the Admin API (shopify-api.md §1.5, §2.4, §4): one per
(topic, address), visible only to the app, removed after 8 consecutive failed delivery attempts (§4.4).
"""

from __future__ import annotations

import re
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.shopify.models import WebhookSubscription
from rivosim.domain.shopify.state import ShopifyResource
from rivosim.kernel.errors import AlreadyExists, NotFound, ValidationFailed

__all__ = ["MAX_CONSECUTIVE_FAILURES", "WEBHOOK_TOPICS", "WebhookSubscriptions", "topic_enum"]

# The topics the simulator fires (shopify-api.md §4.1); subscribing to any other is refused, as Shopify refuses
# an unknown topic, rather than accepted and never delivered.
WEBHOOK_TOPICS = ("app/uninstalled", "customers/create", "customers/delete", "customers/update", "orders/cancelled",
                  "orders/create", "orders/paid", "orders/updated", "refunds/create", "themes/publish")
MAX_CONSECUTIVE_FAILURES = 8
_ADDRESS_RE = re.compile(r"^https?://[^\s/?#]+[^\s]*$")


def topic_enum(topic: str) -> str:
    """``orders/paid`` -> ``ORDERS_PAID`` (app-js ``topicForStorage``)."""
    return topic.upper().replace("/", "_").replace(".", "_")


class WebhookSubscriptions(ShopifyResource):
    """The app's webhook subscriptions, and the consecutive failures that remove one."""

    def __init__(self, ctx: ShopContext) -> None:
        super().__init__(ctx)
        self.webhook_subscriptions: dict[int, WebhookSubscription] = {}

    def _check_subscription(self, fields: dict[str, Any], existing: WebhookSubscription | None = None
                            ) -> dict[str, Any]:
        topic = fields.get("topic", existing.topic if existing else None)
        if not isinstance(topic, str) or not topic:
            raise ValidationFailed("can't be blank", field="topic")
        if topic not in WEBHOOK_TOPICS:
            raise ValidationFailed(f"Invalid topic specified: {topic}. Valid topics are: {', '.join(WEBHOOK_TOPICS)}",
                                   field="topic")
        address = fields.get("address", existing.address if existing else None)
        if not isinstance(address, str) or not address:
            raise ValidationFailed("can't be blank", field="address")
        if address.startswith(("pubsub://", "arn:aws:events:")):
            raise ValidationFailed("Pub/Sub and EventBridge addresses are not emulated: use an http(s) URL",
                                   field="address")
        if not _ADDRESS_RE.match(address) or len(address) > 2048:
            raise ValidationFailed(f"{address!r} is not a valid http(s) URL", field="address")
        fmt = fields.get("format", existing.format if existing else "json")
        if fmt != "json":
            raise ValidationFailed("format must be json (XML deliveries are not emulated)", field="format")
        out: dict[str, Any] = {"topic": topic, "address": address, "format": fmt}
        for name in ("fields", "metafield_namespaces"):
            value = fields.get(name, getattr(existing, name) if existing else [])
            if value is None:
                value = []
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) or len(value) > 250:
                raise ValidationFailed(f"{name} must be a list of at most 250 non-empty strings", field=name)
            out[name] = list(value)
        for other in self.webhook_subscriptions.values():
            if other is not existing and (other.topic, other.address) == (topic, address):
                raise AlreadyExists("for this topic has already been taken", field="address")
        return out

    def create_webhook_subscription(self, fields: dict[str, Any], api_version: str) -> WebhookSubscription:
        checked = self._check_subscription(fields)
        now = self.ctx.now()
        sub = WebhookSubscription(id=self.ctx.ids.next("shopify_webhook"), created_at=now, updated_at=now,
                                  api_version=api_version, **checked)
        self.webhook_subscriptions[sub.id] = sub
        return sub

    def get_webhook_subscription(self, sub_id: int) -> WebhookSubscription:
        sub = self.webhook_subscriptions.get(sub_id)
        if sub is None:
            raise NotFound(f"no webhook subscription {sub_id}", resource="webhook", id=sub_id)
        return sub

    def update_webhook_subscription(self, sub_id: int, fields: dict[str, Any]) -> WebhookSubscription:
        sub = self.get_webhook_subscription(sub_id)
        checked = self._check_subscription(fields, existing=sub)
        for key, value in checked.items():
            setattr(sub, key, value)
        sub.updated_at = self.ctx.now()
        return sub

    def delete_webhook_subscription(self, sub_id: int) -> WebhookSubscription:
        sub = self.get_webhook_subscription(sub_id)
        del self.webhook_subscriptions[sub_id]
        return sub

    def subscriptions_for(self, topic: str) -> list[WebhookSubscription]:
        return [s for s in self.webhook_subscriptions.values() if s.topic == topic]

    def note_delivery_attempt(self, sub_id: int, ok: bool) -> bool:
        """Count consecutive failed attempts; True when this one removed the subscription (§4.4: after 8)."""
        sub = self.webhook_subscriptions.get(sub_id)
        if sub is None:
            return False
        if ok:
            sub.consecutive_failures = 0
            return False
        sub.consecutive_failures += 1
        if sub.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
            del self.webhook_subscriptions[sub_id]
            return True
        return False
