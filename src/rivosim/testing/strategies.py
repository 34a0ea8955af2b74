"""Hypothesis strategies for Rivo workflows: customers (faker's name pools, shrinking towards simple names),
orders, refunds, earning-rule programs, tier structures, points events, time steps, fault plans and whole
shop configuration documents. Every value is plain JSON-ready data for the control API and the Rivo REST API.

>>> from hypothesis import given
>>> from rivosim.testing import strategies as rs
>>> @given(rs.shop_configs(), rs.customers())
... def test_sign_up(config, customer): ...
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from rivosim.domain.seeding import name_pools

__all__ = [
    "PRODUCT_IDS",
    "ROUTES",
    "TIMEZONES",
    "credits",
    "customers",
    "earning_rules",
    "emails",
    "fault_plans",
    "fault_rules",
    "line_items",
    "manual_points_events",
    "money",
    "orders",
    "points_events",
    "programs",
    "refunds",
    "shop_configs",
    "tier_structures",
    "time_steps",
]

PRODUCT_IDS = (1001, 1002, 1003, 1004)
TIMEZONES = ("UTC", "America/New_York", "Europe/Paris", "Asia/Tokyo", "Pacific/Auckland")
# Stable route names fault rules can match (see ``rivosim.http``); a glob such as ``rivo.customers.*`` also works.
ROUTES = (
    "rivo.customers.get", "rivo.customers.list", "rivo.customers.update", "rivo.customers.vip_tier.update",
    "rivo.points_events.create", "rivo.points_events.list", "rivo.points_redemptions.create",
    "rivo.rewards.list", "rivo.referrals.create", "rivo.vip_tiers.list", "rivo.*",
)
_TIER_NAMES = ("Bronze", "Silver", "Gold", "Platinum", "Diamond", "Obsidian")
_CLEAN = re.compile(r"[^a-z]")


def _pools() -> tuple[tuple[str, ...], tuple[str, ...]]:
    firsts, lasts = name_pools()
    # Faker's pools, in order: hypothesis shrinks a sampled value towards the first one ("Aaron", "Abbott").
    return firsts, lasts


# -- people ----------------------------------------------------------------------------------------------------
def emails(first: str = "customer", last: str = "example") -> st.SearchStrategy[str]:
    """``first.last<n>@example.com`` (lower case ASCII), with a number that shrinks towards 0."""
    local = f"{_CLEAN.sub('', first.lower()) or 'x'}.{_CLEAN.sub('', last.lower()) or 'x'}"
    return st.builds(lambda n, host: f"{local}{n}@{host}", st.integers(0, 99_999),
                     st.sampled_from(("example.com", "example.org", "example.net")))


@st.composite
def customers(draw: st.DrawFn, *, tags: st.SearchStrategy[list[str]] | None = None,
              joins_program: st.SearchStrategy[bool] | None = None) -> dict[str, Any]:
    """A Shopify sign-up for ``POST /_rivosim/shops/<d>/customers``: faker-backed names, an email made from
    them, marketing consent, and optionally tags and whether the customer joins the loyalty program."""
    firsts, lasts = _pools()
    first = draw(st.sampled_from(firsts))
    last = draw(st.sampled_from(lasts))
    out: dict[str, Any] = {"first_name": first, "last_name": last, "email": draw(emails(first, last)),
                           "accepts_marketing": draw(st.booleans())}
    if tags is not None:
        out["tags"] = draw(tags)
    if joins_program is not None:
        out["joins_program"] = draw(joins_program)
    return out


# -- money and orders ------------------------------------------------------------------------------------------
def money(low: str = "0.01", high: str = "500.00") -> st.SearchStrategy[str]:
    """A price as Shopify writes it (``"12.50"``), shrinking towards ``low``."""
    lo, hi = int(Decimal(low) * 100), int(Decimal(high) * 100)
    return st.integers(lo, hi).map(lambda cents: f"{Decimal(cents) / 100:.2f}")


def credits(limit: int = 50) -> st.SearchStrategy[str]:
    """A store-credit amount with two decimals, either sign (``"-2.50"``), shrinking towards ``"0.00"``."""
    return st.integers(-limit * 100, limit * 100).map(lambda cents: f"{Decimal(cents) / 100:.2f}")


def line_items(products: tuple[int, ...] = PRODUCT_IDS, max_size: int = 3) -> st.SearchStrategy[list[dict[str, Any]]]:
    item = st.fixed_dictionaries({
        "title": st.sampled_from(("Classic Tee", "Hoodie", "Cap", "Sneakers", "Socks")),
        "price": money("1.00", "400.00"),
        "quantity": st.integers(1, 3),
        "product_id": st.sampled_from(products),
    })
    return st.lists(item, min_size=1, max_size=max_size)


def orders(*, paid: st.SearchStrategy[bool] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """An order body for ``POST /_rivosim/shops/<d>/orders`` without ``customer_id`` (add the buyer's)."""
    return st.fixed_dictionaries({"line_items": line_items(), "paid": paid if paid is not None else st.booleans()})


def refunds(total: Decimal | str | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """A refund body: ``{}`` (everything left) or ``{"amount": "x.yy"}`` up to ``total`` when given (else a
    fraction-free amount the caller caps)."""
    if total is None:
        return st.one_of(st.just({}), money("0.01", "200.00").map(lambda a: {"amount": a}))
    cap = Decimal(str(total))
    if cap < Decimal("0.01"):
        return st.just({})
    return st.one_of(st.just({}), money("0.01", f"{cap:.2f}").map(lambda a: {"amount": a}))


# -- programs ----------------------------------------------------------------------------------------------------
@st.composite
def earning_rules(draw: st.DrawFn, *, products: bool = True, custom_actions: bool = True,
                  max_points: int = 600) -> list[dict[str, Any]]:
    """An earning-rule list: always an order rule and a sign-up rule (each maybe disabled), sometimes product
    rules and a custom action; amounts shrink towards small numbers."""
    rules: list[dict[str, Any]] = [
        {"trigger": "order_placed", "name": "Place an order", "enabled": draw(st.booleans()),
         "points_amount": draw(st.integers(1, 5)), "currency_base_amount": draw(st.sampled_from((1, 5, 10)))},
        {"trigger": "customer_member_enabled", "name": "Sign up", "enabled": draw(st.booleans()),
         "points_amount": draw(st.integers(0, max_points))},
    ]
    if products:
        for pid in draw(st.lists(st.sampled_from(PRODUCT_IDS), unique=True, max_size=2)):
            rules.append({"trigger": "product_purchased", "name": f"Buy product {pid}", "product_ids": [pid],
                          "points_amount": draw(st.integers(1, 100)), "enabled": draw(st.booleans())})
    if custom_actions and draw(st.booleans()):
        rules.append({"trigger": "custom_action", "custom_action_name": "quiz", "name": "Take the quiz",
                      "points_amount": draw(st.integers(1, 100)), "enabled": draw(st.booleans())})
    return rules


@st.composite
def tier_structures(draw: st.DrawFn, *, entry_methods: tuple[str, ...] = ("points_earned", "amount_spent",
                                                                           "orders_placed"),
                    periods: tuple[str, ...] = ("lifetime", "calendar_year", "rolling_year"),
                    max_tiers: int = 4) -> dict[str, Any]:
    """The ``program.vip`` section: an entry method, a period and 1..max_tiers tiers with distinct names and
    thresholds in the entry method's unit (with or without a threshold-0 entry tier)."""
    method = draw(st.sampled_from(entry_methods))
    period = draw(st.sampled_from(periods))
    count = draw(st.integers(1, max_tiers))
    top = {"points_earned": 3000, "amount_spent": 2000, "orders_placed": 12}[method]
    thresholds = sorted(draw(st.lists(st.integers(1, top), min_size=count, max_size=count, unique=True)))
    if draw(st.booleans()):
        thresholds = [0, *thresholds[:-1]]
    tiers = [{"name": _TIER_NAMES[i], "threshold": t} for i, t in enumerate(thresholds)]
    return {"enabled": True, "entry_method": method, "period": period, "tiers": tiers}


@st.composite
def programs(draw: st.DrawFn, *, vip: st.SearchStrategy[dict[str, Any]] | None = None,
             rules: st.SearchStrategy[list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """A ``program`` section: earning rules, the default rewards, a tier structure and referral settings."""
    return {
        "active": True,
        "earning_rules": draw(rules if rules is not None else earning_rules()),
        "vip": draw(vip if vip is not None else tier_structures()),
        "referrals": {"enabled": draw(st.booleans() | st.just(True)), "advocate_points": draw(st.integers(0, 800)),
                      "new_customers_only": draw(st.booleans()), "weekly_ip_threshold": draw(st.integers(1, 4))},
        "expiry": {"enabled": False},
    }


@st.composite
def shop_configs(draw: st.DrawFn, *, program: st.SearchStrategy[dict[str, Any]] | None = None,
                 rate_limits: bool = True) -> dict[str, Any]:
    """A whole shop configuration document (valid for ``POST /_rivosim/shops``), without a domain."""
    doc: dict[str, Any] = {
        "plan": "scale",
        "timezone": draw(st.sampled_from(TIMEZONES)),
        "api": {"allow_negative_balance": draw(st.booleans()), "new_customer_visibility_delay": "PT30S"},
        "program": draw(program if program is not None else programs()),
        "webhooks": {"signing": draw(st.sampled_from(("rivo-signature", "standard-webhooks", "both"))),
                     "max_attempts": draw(st.integers(1, 4))},
    }
    if rate_limits:
        doc["rate_limits"] = {"rivo": draw(st.sampled_from((
            {"enabled": False}, {"enabled": True, "rate": 15, "burst": 15}, {"enabled": True, "rate": 2, "burst": 4},
        )))}
    return doc


# -- points ------------------------------------------------------------------------------------------------------
def manual_points_events(limit: int = 1500) -> st.SearchStrategy[dict[str, Any]]:
    """A ``POST /points_events`` body with ``source=manual`` (add ``customer_identifier``): points of either
    sign and credits (never both zero, which the API refuses)."""
    body = st.fixed_dictionaries({"source": st.just("manual"), "points_amount": st.integers(-limit, limit),
                                  "credits_amount": st.one_of(st.just("0"), credits())})
    return body.filter(lambda b: b["points_amount"] != 0 or Decimal(b["credits_amount"]) != 0)


def points_events(limit: int = 1500) -> st.SearchStrategy[dict[str, Any]]:
    """Manual adjustments and rule-based events (``custom_action`` "quiz", ``instagram_follow`` …)."""
    rule_based = st.one_of(
        st.just({"source": "custom_action", "custom_action_name": "quiz"}),
        st.sampled_from(("instagram_follow", "facebook_share", "twitter_follow")).map(lambda s: {"source": s}),
    )
    return st.one_of(manual_points_events(limit), rule_based)


# -- time ----------------------------------------------------------------------------------------------------------
def time_steps(*, max_days: int = 400) -> st.SearchStrategy[int | str]:
    """A clock step for ``sim.advance`` / ``POST /_rivosim/clock/advance``: whole seconds (shrinking towards 1)
    or an ISO-8601 duration, from a second to ``max_days`` days (crossing midnights, months and years)."""
    iso = st.sampled_from(("PT1S", "PT30S", "PT1H", "PT12H", "P1D", "P7D", "P30D", "P1M", "P90D", "P1Y"))
    return st.one_of(st.integers(1, max_days * 86_400), iso.filter(lambda d: d != "P1Y" or max_days >= 366))


# -- faults --------------------------------------------------------------------------------------------------------
_ACTIONS = {
    "error": st.fixed_dictionaries({"type": st.just("error"), "status": st.sampled_from((500, 502, 503, 504))}),
    "rate": st.fixed_dictionaries({"type": st.just("error"), "status": st.just(429),
                                   "retry_after": st.integers(1, 10)}),
    "latency": st.fixed_dictionaries({"type": st.just("latency"), "ms": st.integers(0, 3000)}),
    "timeout": st.fixed_dictionaries({"type": st.just("timeout")}),
    "reset": st.fixed_dictionaries({"type": st.just("reset")}),
    "empty_reply": st.fixed_dictionaries({"type": st.just("empty_reply")}),
    "lag": st.fixed_dictionaries({"type": st.just("read_after_write_lag"), "seconds": st.integers(1, 120)}),
}


def fault_rules(*, kinds: tuple[str, ...] = tuple(_ACTIONS), shop: str | None = None,
                routes: tuple[str, ...] = ROUTES) -> st.SearchStrategy[dict[str, Any]]:
    """One fault rule, valid for ``FaultSet.add`` / ``POST /_rivosim/faults`` / the pytest marker: a match on
    the Rivo API (a route name or glob, sometimes a method), an action, and limits (times, probability)."""
    match = st.fixed_dictionaries({"api": st.just("rivo"), "route": st.sampled_from(routes)},
                                  optional={"method": st.sampled_from(("GET", "POST"))})
    if shop is not None:
        match = match.map(lambda m: {**m, "shop": shop})
    return st.fixed_dictionaries(
        {"match": match, "action": st.sampled_from(kinds).flatmap(lambda k: _ACTIONS[k])},
        optional={"times": st.integers(1, 3), "probability": st.sampled_from((1.0, 0.5, 0.25))},
    )


def fault_plans(*, max_rules: int = 3, **kwargs: Any) -> st.SearchStrategy[list[dict[str, Any]]]:
    """A list of fault rules with distinct ids (``plan-1``, ``plan-2`` …)."""
    return st.lists(fault_rules(**kwargs), max_size=max_rules).map(
        lambda rules: [{"id": f"plan-{i + 1}", **r} for i, r in enumerate(rules)])
