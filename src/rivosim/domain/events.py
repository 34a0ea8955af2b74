"""Domain events (past-tense facts) and the synchronous per-shop bus that carries them.

Cross-API effects travel only as events: the Shopify backend publishes ``OrderPaid``; the Rivo backend
subscribes and awards points; later the outbox turns Rivo events into signed webhook deliveries.
Neither backend imports the other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

__all__ = [
    "ActionCompleted",
    "AppUninstalled",
    "CustomerCreated",
    "CustomerDeleted",
    "CustomerJoinedProgram",
    "CustomerUpdated",
    "DomainEvent",
    "EventBus",
    "OrderCancelled",
    "OrderCreated",
    "OrderPaid",
    "OrderRefunded",
    "OrderUpdated",
    "PointsEventCreated",
    "PointsExpired",
    "PointsExpiryWarned",
    "RedemptionCreated",
    "ReferralClaimed",
    "ReferralCompleted",
    "StorefrontActionRecorded",
    "ThemeAssetUpdated",
    "ThemePublished",
    "TierChanged",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    shop: str
    at: datetime


# -- Shopify side -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerCreated(DomainEvent):
    customer_id: int
    email: str | None
    first_name: str | None
    last_name: str | None
    accepts_marketing: bool
    verified_email: bool
    tags: tuple[str, ...]
    joins_program: bool = True
    dob: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerUpdated(DomainEvent):
    customer_id: int
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerDeleted(DomainEvent):
    customer_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderLine:
    product_id: int | None
    variant_id: int | None
    title: str
    quantity: int
    price: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCreated(DomainEvent):
    order_id: int
    customer_id: int | None
    subtotal: Decimal
    lines: tuple[OrderLine, ...]
    discount_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPaid(DomainEvent):
    order_id: int
    customer_id: int | None
    subtotal: Decimal
    total: Decimal
    lines: tuple[OrderLine, ...]
    discount_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRefunded(DomainEvent):
    order_id: int
    customer_id: int | None
    amount: Decimal
    refund_id: int
    fully_refunded: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelled(DomainEvent):
    order_id: int
    customer_id: int | None
    was_paid: bool


# -- Rivo side ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerJoinedProgram(DomainEvent):
    customer_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PointsEventCreated(DomainEvent):
    customer_id: int
    points_event_id: int
    source: str
    points_diff: int
    credits_diff: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class RedemptionCreated(DomainEvent):
    customer_id: int
    redemption_id: int
    reward_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TierChanged(DomainEvent):
    customer_id: int
    from_tier_id: int | None
    to_tier_id: int | None
    direction: str  # "upgraded" | "downgraded"
    first_time: bool
    manual: bool
    change_id: int = 0
    internal_note: str | None = None
    external_note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionCompleted(DomainEvent):
    """A customer completed an earning-rule action that Rivo accepted (rule enabled, program active, customer
    allowed to earn). Published *before* the points it earns, so triggers fire in the documented order."""

    customer_id: int
    trigger: str
    rule_id: int | None
    action_id: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PointsExpiryWarned(DomainEvent):
    """Points will expire soon: ``kind`` is ``warning`` (30 days before) or ``last_chance`` (3 days before)."""

    customer_id: int
    kind: str
    points: int
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditsExpiryWarned(DomainEvent):
    """Store credit will expire soon: ``kind`` is ``warning`` (30 days before) or ``last_chance`` (3 days)."""

    customer_id: int
    kind: str
    credits: Decimal
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PointsExpired(DomainEvent):
    """Points expired (published before the negative ledger event that removes them)."""

    customer_id: int
    points: int
    mode: str  # per_event | inactivity


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferralClaimed(DomainEvent):
    referral_id: int
    advocate_customer_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferralCompleted(DomainEvent):
    referral_id: int
    advocate_customer_id: int
    referred_customer_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StorefrontActionRecorded(DomainEvent):
    customer_id: int
    action: str
    details: dict[str, Any] = field(default_factory=dict)


# -- Shopify side, added with the Admin API surface -----------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUpdated(DomainEvent):
    """An order's tags, note, email, note attributes or open/closed state changed (``orders/updated``)."""

    order_id: int
    customer_id: int | None
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ThemePublished(DomainEvent):
    """A theme became the shop's live (``main``) theme (``themes/publish``)."""

    theme_id: int
    previous_theme_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ThemeAssetUpdated(DomainEvent):
    """A theme asset was created or changed, e.g. ``config/settings_data.json`` when an app embed is toggled."""

    theme_id: int
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AppUninstalled(DomainEvent):
    """The merchant uninstalled the loyalty app from the shop (``app/uninstalled``)."""


E = TypeVar("E", bound=DomainEvent)


class EventBus:
    """Synchronous publish/subscribe. Handlers for the event's type run first, in subscription order, then the
    ``subscribe_all`` handlers. Delivery is depth-first: an event a handler publishes reaches every handler
    before the event that caused it reaches the ``subscribe_all`` ones."""

    def __init__(self) -> None:
        self._handlers: dict[type[DomainEvent], list[Callable[[Any], None]]] = defaultdict(list)
        self._any: list[Callable[[DomainEvent], None]] = []

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> None:
        self._handlers[event_type].append(handler)

    def subscribe_all(self, handler: Callable[[DomainEvent], None]) -> None:
        self._any.append(handler)

    def publish(self, event: DomainEvent) -> None:
        for handler in self._handlers.get(type(event), ()):
            handler(event)
        for handler in self._any:
            handler(event)
