"""What the ``LoyaltyMachine``'s model keeps: a record per customer, order and referral, the program's tiers,
the bundles the rules fill with ids, and the constants rules and invariants share (the README's topics, which
ledger sources earn). Plain data: the program rules that change it live in ``machine_program``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from hypothesis.stateful import Bundle

__all__ = ["API", "IPS", "KNOWN_DEVIATIONS", "MEMBERS", "NON_EARNING", "ORDERS", "REFERRALS", "REVERSALS", "TOPICS",
           "MemberModel", "OrderModel", "ReferralModel", "Tier", "Topic"]

API = "/merchant_api/v1"
NON_EARNING = frozenset({"points_purchase", "order_refund", "order_cancelled", "points_expired"})
REVERSALS = frozenset({"order_refund", "order_cancelled"})
TOPICS = (
    "points_event/created", "points_redemption/created", "customer_vip_tier/upgraded",
    "customer_vip_tier/downgraded", "balance_transaction/created", "referral/completed",
    "notification/points_expiry_warning", "notification/points_expiry_last_chance", "loyalty_points_earned",
    "customer_vip_tier/unlocked", "points/expired", "customer/joined", "customer/birthday",
    "customer/anniversary", "custom_action/completed", "order/placed", "product/purchased", "referral/claimed",
)
IPS = ("203.0.113.7", "203.0.113.8", "198.51.100.20")

KNOWN_DEVIATIONS: frozenset[str] = frozenset()
"""Places where the simulator is known to differ from the README, which the machine tolerates so it can keep
looking past them (each with a strict-xfail test). Empty: the five the machine found are fixed and pinned by
regression tests in ``tests/property/test_known_bugs.py``."""


Topic = tuple[str, int | None]

# The bundles of ids the base rules create. Module-level because the rules are spread over mixins whose class
# bodies cannot see each other's attributes; hypothesis knows a bundle by its name, and the machine exposes these
# same objects as ``members``, ``orders`` and ``referrals`` for subclasses' rules.
MEMBERS = Bundle("members")
ORDERS = Bundle("orders")
REFERRALS = Bundle("referrals")


@dataclass
class MemberModel:
    """What the model knows about one customer."""

    id: int
    email: str
    status: str  # member | guest
    excluded: bool
    visible_at: datetime
    referral_code: str
    points: int = 0
    credits: Decimal = Decimal("0.00")
    lifetime: int = 0
    earn_log: list[tuple[datetime, int]] = field(default_factory=list)  # what counts towards points_earned
    purchases: list[tuple[datetime, Decimal]] = field(default_factory=list)
    paid_orders: int = 0
    tier: int | None = None
    override_until: datetime | None = None
    override_floor: int | None = None
    reached: set[int] = field(default_factory=set)
    signup_done: bool = False
    evaluated: bool = False
    touched: list[datetime] = field(default_factory=list)  # when ledger events and paid orders happened


@dataclass
class OrderModel:
    id: int
    customer_id: int
    total: Decimal
    status: str = "pending"  # pending | paid | partially_refunded | refunded | voided
    cancelled: bool = False
    refunded: Decimal = Decimal("0.00")
    earned: int = 0
    reversed: int = 0
    products: set[int] = field(default_factory=set)


@dataclass
class ReferralModel:
    id: int
    advocate_id: int
    email: str
    ip: str
    created_at: datetime
    status: str  # pending | blocked | completed


@dataclass(frozen=True)
class Tier:
    id: int
    name: str
    threshold: Decimal
