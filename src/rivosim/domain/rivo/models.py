"""Rivo records of one shop: earning rules, rewards, VIP tiers, members, the points ledger, redemptions,
referrals, webhook subscriptions and widget events. Field names follow rivo-api.md so ``wire/`` stays thin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

__all__ = [
    "EarningRule",
    "Member",
    "PointsEvent",
    "Redemption",
    "Referral",
    "Reward",
    "VipTier",
    "WebhookSubscription",
    "WidgetEvent",
]

ZERO = Decimal("0.00")


@dataclass(slots=True, eq=False)
class EarningRule:
    id: int
    trigger: str
    name: str
    enabled: bool = True
    points_amount: int = 0
    credits_amount: Decimal = ZERO
    points_type: str = "fixed"
    currency_base_amount: Decimal | None = None
    custom_action_name: str | None = None
    url: str | None = None
    product_ids: tuple[int, ...] = ()
    once_per_customer: bool = False


@dataclass(slots=True, eq=False)
class Reward:
    id: int
    name: str
    created_at: datetime
    updated_at: datetime
    enabled: bool = True
    points_amount: int = 0
    points_type: str = "fixed"  # fixed | incremental
    reward_type: str = "fixed_amount"
    reward_value: Decimal = ZERO
    source: str = "points"
    expiry_months: int | None = None
    min_order_value_in_cents: int | None = None
    min_points_to_redeem_value: int | None = None
    max_points_to_spend_value: int | None = None
    increment_points_value: int | None = None
    redeemed_count: int = 0
    deleted: bool = False
    # rivo-api.md §3.2 (OBSERVED live attributes): a free-product reward names its product and variants.
    icon_url: str | None = None
    product_id: int | None = None
    variant_ids: tuple[int, ...] = ()


@dataclass(slots=True, eq=False)
class VipTier:
    id: int
    name: str
    threshold: Decimal
    created_at: datetime
    updated_at: datetime
    perks: tuple[str, ...] = ()
    desc: str | None = None
    icon_url: str | None = None


@dataclass(slots=True, eq=False)
class Member:
    """Rivo's mirror of a Shopify customer plus its loyalty state. ``id`` is the Shopify customer id."""

    id: int
    email: str | None
    first_name: str | None
    last_name: str | None
    created_at: datetime
    visible_at: datetime
    accepts_marketing: bool = False
    verified_email: bool = True
    orders_count: int = 0
    total_spent: Decimal = ZERO
    shopify_tags: tuple[str, ...] = ()
    loyalty_status: str = "member"  # member | guest
    loyalty_status_last_changed_at: datetime | None = None
    points_tally: int = 0
    credits_tally: Decimal = ZERO
    lifetime_points: int = 0
    dob: str | None = None
    dob_last_updated_at: datetime | None = None
    vip_tier_id: int | None = None
    vip_tier_started_at: datetime | None = None
    tier_override_until: datetime | None = None
    tier_override_earned_id: int | None = None  # the tier earned when the override was set
    tiers_reached: set[int] | None = None
    completed_rule_ids: set[int] | None = None
    remote_updated_at: datetime | None = None
    last_activity_at: datetime | None = None


@dataclass(slots=True, eq=False)
class PointsEvent:
    id: int
    customer_id: int
    source: str
    points_diff: int
    credits_diff: Decimal
    title: str
    applied_at: datetime
    created_at: datetime
    internal_note: str | None = None
    external_note: str | None = None
    order_id: int | None = None
    earning_rule_id: int | None = None
    points_purchase_id: int | None = None
    custom_action_name: str | None = None
    skip_email: bool = False
    hidden: bool = False
    revoked_at: datetime | None = None
    expires_at: datetime | None = None

    @property
    def points_amount(self) -> int:
        return abs(self.points_diff)

    @property
    def credits_amount(self) -> Decimal:
        return abs(self.credits_diff)


@dataclass(slots=True, eq=False)
class Redemption:
    id: int
    customer_id: int
    reward_id: int
    name: str
    code: str | None
    points_amount: int
    credits_amount: Decimal
    applied_at: datetime
    source: str
    expires_at: datetime | None = None
    used_at: datetime | None = None
    refunded_at: datetime | None = None
    revoked_at: datetime | None = None
    points_event_id: int | None = None


@dataclass(slots=True, eq=False)
class Referral:
    id: int
    advocate_customer_id: int
    referred_email: str
    signup_ip: str
    created_at: datetime
    status: str = "pending"  # pending | completed | blocked
    status_last_changed_at: datetime | None = None
    claimed_at: datetime | None = None
    completed_at: datetime | None = None
    referred_customer_id: int | None = None
    referred_discount_code: str | None = None
    referred_order_id: int | None = None
    advocate_reward_status: str = "pending"
    block_reason: str | None = None


@dataclass(slots=True, eq=False)
class WebhookSubscription:
    id: int
    event_type: str
    url: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    status: str = "enabled"  # enabled | disabled


@dataclass(slots=True, eq=False)
class WidgetEvent:
    id: int
    name: str
    occurred_at: datetime
    customer_id: int | None = None
    details: dict[str, object] = field(default_factory=dict)
