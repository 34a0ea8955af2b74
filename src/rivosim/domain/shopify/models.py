"""Shopify-side records of one shop: customers, orders, line items, refunds, metafields, themes and the
app's webhook subscriptions.

Plain slotted classes (a million customers must stay small); money is ``Decimal``, time aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

__all__ = [
    "DiscountCode",
    "LineItem",
    "Metafield",
    "Order",
    "Refund",
    "ShopifyCustomer",
    "Theme",
    "ThemeAsset",
    "Transaction",
    "WebhookSubscription",
]


@dataclass(slots=True, eq=False)
class ShopifyCustomer:
    id: int
    email: str | None
    first_name: str | None
    last_name: str | None
    created_at: datetime
    updated_at: datetime
    phone: str | None = None
    tags: list[str] = field(default_factory=list)
    accepts_marketing: bool = False
    accepts_sms: bool = False
    verified_email: bool = True
    state: str = "enabled"
    note: str | None = None
    orders_count: int = 0
    total_spent: Decimal = Decimal("0.00")
    last_order_id: int | None = None
    last_order_name: str | None = None


@dataclass(slots=True, eq=False)
class LineItem:
    id: int
    product_id: int | None
    variant_id: int | None
    title: str
    quantity: int
    price: Decimal
    sku: str | None = None
    # What discount applications took off this line: (index into the order's discount applications, amount).
    discount_allocations: list[tuple[int, Decimal]] = field(default_factory=list)

    @property
    def total_discount(self) -> Decimal:
        return sum((amount for _, amount in self.discount_allocations), Decimal("0.00"))


@dataclass(slots=True, eq=False)
class Transaction:
    id: int
    kind: str  # authorization | capture | sale | refund | void
    status: str  # success | failure | pending
    amount: Decimal
    created_at: datetime
    parent_id: int | None = None
    gateway: str = "bogus"


@dataclass(slots=True, eq=False)
class Refund:
    id: int
    amount: Decimal
    created_at: datetime
    note: str | None = None
    transaction_id: int | None = None


@dataclass(slots=True, eq=False)
class DiscountCode:
    code: str
    amount: Decimal
    type: str = "fixed_amount"  # fixed_amount | percentage | shipping
    # The order's discount application for a code Shopify priced from its price rule (value, value_type,
    # allocation_method, target_selection, target_type); None for a code whose amount the order states.
    application: dict[str, str] | None = None


@dataclass(slots=True, eq=False)
class Order:
    id: int
    number: int
    customer_id: int | None
    email: str | None
    line_items: list[LineItem]
    currency: str
    subtotal_price: Decimal
    total_discounts: Decimal
    total_tax: Decimal
    total_price: Decimal
    created_at: datetime
    updated_at: datetime
    processed_at: datetime
    financial_status: str = "pending"
    fulfillment_status: str | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    closed_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    note: str | None = None
    note_attributes: list[dict[str, str]] = field(default_factory=list)
    discount_codes: list[str] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)
    source_name: str = "web"
    # Code, amount and type of each discount code as the order carries them (``discount_codes`` above keeps
    # the bare codes the domain events use).
    discount_details: list[DiscountCode] = field(default_factory=list)
    test: bool = False

    @property
    def name(self) -> str:
        return f"#{self.number}"

    @property
    def refunded_amount(self) -> Decimal:
        return sum((r.amount for r in self.refunds), Decimal("0.00"))

    @property
    def captured_amount(self) -> Decimal:
        return sum((t.amount for t in self.transactions if t.kind in ("sale", "capture") and t.status == "success"),
                   Decimal("0.00"))

    @property
    def authorized_amount(self) -> Decimal:
        return sum((t.amount for t in self.transactions if t.kind == "authorization" and t.status == "success"),
                   Decimal("0.00"))


@dataclass(slots=True, eq=False)
class Metafield:
    id: int
    owner_resource: str  # shop | customer | order
    owner_id: int
    namespace: str
    key: str
    type: str
    value: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None


@dataclass(slots=True, eq=False)
class ThemeAsset:
    key: str
    value: str
    content_type: str
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True, eq=False)
class Theme:
    id: int
    name: str
    role: str  # main | unpublished | demo | development
    created_at: datetime
    updated_at: datetime
    theme_store_id: int | None = None
    assets: dict[str, ThemeAsset] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class WebhookSubscription:
    """A Shopify webhook subscription the app made through the Admin API (shop-specific)."""

    id: int
    topic: str
    address: str
    created_at: datetime
    updated_at: datetime
    api_version: str
    format: str = "json"
    fields: list[str] = field(default_factory=list)
    metafield_namespaces: list[str] = field(default_factory=list)
    consecutive_failures: int = 0
