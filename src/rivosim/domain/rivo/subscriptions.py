"""Webhook subscriptions (one per event type, rivo-api.md §3.9/§4.1), widget events, and storefront actions
(follows, shares, subscribes, reviews, custom actions, URL visits, receipt uploads, birthdays, widget opens).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from rivosim.domain.context import ShopContext
from rivosim.domain.events import StorefrontActionRecorded
from rivosim.domain.rivo.ledger import Ledger
from rivosim.domain.rivo.members import Members, validate_dob
from rivosim.domain.rivo.models import Member, PointsEvent, WebhookSubscription, WidgetEvent
from rivosim.kernel.errors import AlreadyExists, NotFound, ValidationFailed

__all__ = ["STOREFRONT_ACTIONS", "TOPICS", "Storefront", "WebhookSubscriptions"]

# Real topics (rivo-api.md §4.5) first, then the ones rivosim names for seed triggers without a known topic.
TOPICS = (
    "points_event/created", "points_redemption/created", "customer_vip_tier/upgraded",
    "customer_vip_tier/downgraded", "balance_transaction/created", "referral/completed",
    "notification/points_expiry_warning", "notification/points_expiry_last_chance",
    "notification/credits_expiry_warning", "notification/credits_expiry_last_chance", "loyalty_points_earned",
    "customer_vip_tier/unlocked", "points/expired", "customer/joined", "customer/birthday",
    "customer/anniversary", "social/followed", "social/shared", "marketing/email_subscribed",
    "marketing/sms_subscribed", "review/completed", "custom_action/completed", "url/visited", "order/placed",
    "product/purchased", "receipt/uploaded", "referral/claimed",
)

# action -> the earning-rule trigger it feeds (None: recorded, earns nothing by itself)
STOREFRONT_ACTIONS: dict[str, str | None] = {
    "instagram_follow": "instagram_follow", "tiktok_follow": "tiktok_follow", "facebook_like": "facebook_like",
    "facebook_share": "facebook_share", "twitter_follow": "twitter_follow", "twitter_share": "twitter_share",
    "email_subscribe": "email_subscribe", "sms_subscribe": "sms_subscribe", "review": "review_complete",
    "visit_url": "visit_url", "custom_action": "custom_action", "receipt_upload": "receipt_upload",
    "birthday_set": None, "widget_open": None,
}
_SUB_FIELDS = {"event_type", "topic", "url", "endpoint_url", "description", "status"}


class WebhookSubscriptions:
    """The shop's Rivo webhook subscriptions: one per event type, each enabled or disabled. Owns its store and
    needs nothing but the shop context; ``RivoBackend`` composes it (as ``webhooks``)."""

    def __init__(self, ctx: ShopContext) -> None:
        self.ctx = ctx
        self.subscriptions: dict[int, WebhookSubscription] = {}

    def _subscription_fields(self, fields: dict[str, Any], *, partial: bool) -> dict[str, Any]:
        for key in fields:
            if key not in _SUB_FIELDS:
                raise ValidationFailed(f"unknown parameter {key}; accepted: event_type (or topic), url (or "
                                       "endpoint_url), description, status", field=key)
        staged: dict[str, Any] = {}
        event_type = fields.get("event_type", fields.get("topic"))
        if event_type is not None or not partial:
            if event_type not in TOPICS:
                raise ValidationFailed(f"event_type {event_type!r} is not a webhook event type; known: "
                                       f"{', '.join(TOPICS)}", field="event_type")
            staged["event_type"] = event_type
        url = fields.get("url", fields.get("endpoint_url"))
        if url is not None or not partial:
            try:
                parts = urlsplit(url) if isinstance(url, str) else None
            except ValueError:  # e.g. "http://[::1": an unclosed IPv6 bracket
                parts = None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2048:
                raise ValidationFailed("url must be an http(s) URL", field="url")
            refusal = self.ctx.webhook_url_refusal(url)
            if refusal is not None:
                raise ValidationFailed(f"url: {refusal}", field="url")
            staged["url"] = url
        if "description" in fields:
            desc = fields["description"]
            if desc is not None and (not isinstance(desc, str) or len(desc) > 1000):
                raise ValidationFailed("description must be a string of at most 1000 characters", field="description")
            staged["description"] = desc
        if "status" in fields:
            if fields["status"] not in ("enabled", "disabled"):
                raise ValidationFailed("status must be enabled or disabled", field="status")
            staged["status"] = fields["status"]
        return staged

    def create_subscription(self, fields: dict[str, Any]) -> WebhookSubscription:
        staged = self._subscription_fields(fields, partial=False)
        self._ensure_unique_topic(staged["event_type"], None)
        now = self.ctx.now()
        sub = WebhookSubscription(id=self.ctx.ids.next("webhook"), created_at=now, updated_at=now, **staged)
        self.subscriptions[sub.id] = sub
        return sub

    def _ensure_unique_topic(self, event_type: str, own_id: int | None) -> None:
        for sub in self.subscriptions.values():
            if sub.event_type == event_type and sub.id != own_id:
                # rivo-api.md §4.1 (CONFIRMED): only one webhook per event type.
                raise AlreadyExists(f"a webhook for {event_type} already exists (id {sub.id}); only one webhook "
                                    "per event type is allowed — update or delete it instead", field="event_type")

    def get_subscription(self, sub_id: int) -> WebhookSubscription:
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            raise NotFound(f"webhook {sub_id} not found", resource="webhook", id=sub_id)
        return sub

    def update_subscription(self, sub_id: int, fields: dict[str, Any]) -> WebhookSubscription:
        sub = self.get_subscription(sub_id)
        staged = self._subscription_fields(fields, partial=True)
        if "event_type" in staged:
            self._ensure_unique_topic(staged["event_type"], sub.id)
        for key, value in staged.items():
            setattr(sub, key, value)
        sub.updated_at = self.ctx.now()
        return sub

    def delete_subscription(self, sub_id: int) -> WebhookSubscription:
        return self.subscriptions.pop(self.get_subscription(sub_id).id)

    def subscription_for(self, topic: str) -> WebhookSubscription | None:
        for sub in self.subscriptions.values():
            if sub.event_type == topic and sub.status == "enabled":
                return sub
        return None

class Storefront:
    """Storefront actions and the widget events they leave. Collaborators: the members (who acts, their birthday) and
    the ledger (what the action earns)."""

    def __init__(self, ctx: ShopContext, members: Members, ledger: Ledger) -> None:
        self.ctx = ctx
        self.members = members
        self.ledger = ledger
        self.widget_events: dict[int, WidgetEvent] = {}

    def record_action(self, customer_id: int, action: Any, details: dict[str, Any]) -> tuple[WidgetEvent | None,
                                                                                              PointsEvent | None]:
        """A customer does something on the storefront; earns through the matching rule when allowed."""
        if not isinstance(action, str) or action not in STOREFRONT_ACTIONS:
            raise ValidationFailed(f"action must be one of {', '.join(STOREFRONT_ACTIONS)}", field="action")
        member = self.members.members.get(customer_id)
        if member is None:
            raise NotFound(f"customer {customer_id} not found", resource="customer")
        name = details.get("custom_action_name") if action == "custom_action" else details.get("url")
        if action in ("custom_action", "visit_url") and not isinstance(name, str):
            key = "custom_action_name" if action == "custom_action" else "url"
            raise ValidationFailed(f"{key} is required for {action}", field=key)
        if action == "birthday_set":
            self.members.set_dob(member, validate_dob(details.get("dob")))
        now = self.ctx.now()
        widget = None
        if action == "widget_open":
            widget = self.record_widget_event(member, "widget_open", details)
        self.ctx.bus.publish(StorefrontActionRecorded(shop=self.ctx.domain, at=now, customer_id=member.id,
                                                      action=action, details=dict(details)))
        trigger = STOREFRONT_ACTIONS[action]
        extra = {k: v for k, v in details.items() if k not in ("custom_action_name", "url")
                 and isinstance(v, str | int | float | bool)}
        earned = self.ledger.earn(member, trigger, name=name, details=extra) if trigger else None
        return widget, earned

    def record_widget_event(self, member: Member | None, name: str, details: dict[str, Any]) -> WidgetEvent:
        event = WidgetEvent(id=self.ctx.ids.next("widget_event"), name=name, occurred_at=self.ctx.now(),
                            customer_id=member.id if member else None, details=dict(details))
        self.widget_events[event.id] = event
        return event

    def list_widget_events(self) -> list[WidgetEvent]:
        return list(self.widget_events.values())
