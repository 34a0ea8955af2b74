"""Control API reads the inspector (``/_rivosim/ui/``) needs and a client may want too: customer search, one
customer's history (ledger with the running balance, tier changes, redemptions, referrals), a shop's webhook
subscriptions on both platforms, and its rate limits with the buckets' current levels.

Each ``*_data`` function builds the JSON a route answers; the inspector's pages render exactly that data, so
whatever a page shows is reachable here.
"""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.wrappers import Response

from rivosim.domain.shop import Shop
from rivosim.engine import Simulator
from rivosim.http.errors import json_response
from rivosim.http.params import path_id, whole_number
from rivosim.http.routing import ApiBlueprint, Routes, current_shop, current_sim
from rivosim.kernel.errors import NotFound, ValidationFailed
from rivosim.wire import rivo as wire
from rivosim.wire import shopify as shopify_wire

__all__ = ["blueprint", "customer_history_data", "customers_data", "rate_limits_data", "subscriptions_data"]

routes = Routes()
route = routes.route
blueprint = ApiBlueprint("control_inspect", __name__, api="control", url_prefix="/_rivosim/shops/<domain>",
                         routes=(routes,))

TIER_TOPICS = ("customer_vip_tier/upgraded", "customer_vip_tier/downgraded")


def _limit(raw: str | None, default: int, high: int) -> int:
    if raw is None:
        return default
    number = whole_number(raw)
    if number is None or not 1 <= number <= high:
        raise ValidationFailed(f"limit must be a whole number from 1 to {high}", field="limit")
    return number


# -- customers ----------------------------------------------------------------------------------------------
def customers_data(shop: Shop, query: str | None = None, limit: int = 50) -> dict[str, Any]:
    """Customers whose id is ``query`` or whose email contains it (case-insensitive), newest first."""
    customers = shop.shopify.customers
    rivo = shop.rivo
    q = (query or "").strip()
    if not q:
        found = list(customers.values())
    elif q.isdigit() and int(q) in customers:
        found = [customers[int(q)]]
    else:
        needle = q.casefold()
        found = [c for c in customers.values() if c.email and needle in c.email.casefold()]
    total = len(found)
    rows = []
    for c in reversed(found[-limit:]):
        member = rivo.members.get(c.id)
        tier = rivo.tiers.get(member.vip_tier_id) if member is not None and member.vip_tier_id else None
        rows.append({"id": c.id, "email": c.email, "first_name": c.first_name, "last_name": c.last_name,
                     "created_at": c.created_at.isoformat(), "member": member is not None,
                     "points_tally": member.points_tally if member else None,
                     "vip_tier": tier.name if tier else None})
    return {"query": q, "total": total, "customers": rows}


@route("/customers", "GET", "control.customers.list")
def customers_list(domain: str) -> Response:
    """``?q=`` an id or part of an email; ``&limit=`` (default 50, at most 1000): the newest matches."""
    shop = current_shop(domain)
    return json_response(customers_data(shop, request.args.get("q"),
                                        _limit(request.args.get("limit"), 50, 1000)))


def customer_history_data(sim: Simulator, shop: Shop, customer_id: int) -> dict[str, Any]:
    """The ledger oldest first with the balance after each entry, the balance as a series, tier changes (from
    the trigger log, which records every tier move whether or not a webhook was subscribed), redemptions and
    referrals. The simulator's view: a member the Rivo API does not show yet (its visibility delay) is shown,
    with ``visible_to_rivo_api: false``."""
    rivo = shop.rivo
    member = rivo.members.get(customer_id)
    if member is None:
        if customer_id in shop.shopify.customers:
            raise NotFound(f"customer {customer_id} has no Rivo record", resource="member")
        raise NotFound(f"no customer {customer_id} in {shop.domain}", resource="customer")
    events = sorted(rivo.ledger.get(member.id, ()), key=lambda e: (e.applied_at, e.id))
    balance = 0
    ledger, series = [], [{"at": member.created_at.isoformat(), "points": 0}]
    for event in events:
        balance += event.points_diff
        ledger.append({**wire.points_event(event), "balance_after": balance})
        series.append({"at": event.applied_at.isoformat(), "points": balance})
    series.append({"at": shop.clock.now().isoformat(), "points": member.points_tally})
    tiers = [{"at": t.at.isoformat(), "topic": t.topic, "direction": t.topic.rsplit("/", 1)[1],
              "vip_tier_id": t.payload.get("vip_tier_id"),
              "previous_vip_tier_id": t.payload.get("previous_vip_tier_id"),
              "tier": (t.payload.get("vip_tier") or {}).get("name"), "note": t.payload.get("external_note")}
             for t in sim.triggers.log(shop.domain).items if t.customer_id == member.id and t.topic in TIER_TOPICS]
    return {
        "customer": wire.customer(member, shop),
        "points_tally": member.points_tally,
        "ledger": ledger,
        "balance": series,
        "tiers": tiers,
        "visible_to_rivo_api": member.visible_at <= shop.clock.now(),
        "redemptions": [wire.redemption(r, rivo) for r in rivo.redemptions.values() if r.customer_id == member.id],
        "referrals": [wire.referral(r, rivo) for r in rivo.referrals.values()
                      if r.advocate_customer_id == member.id or r.referred_customer_id == member.id],
    }


@route("/customers/<customer_id>/history", "GET", "control.customers.history")
def customers_history(domain: str, customer_id: str) -> Response:
    shop = current_shop(domain)
    number = path_id(customer_id, "customer id", "control")
    return json_response(customer_history_data(current_sim(), shop, number))


# -- webhook subscriptions and rate limits --------------------------------------------------------------------
def subscriptions_data(shop: Shop) -> dict[str, Any]:
    tz = shop.settings.timezone
    return {"rivo": [wire.webhook(s, shop.credentials.webhook_secret) for s in shop.rivo.subscriptions.values()],
            "shopify": [shopify_wire.webhook(s, tz) for s in shop.shopify.webhook_subscriptions.values()]}


@route("/webhooks", "GET", "control.webhooks.subscriptions")
def webhooks_subscriptions(domain: str) -> Response:
    """The shop's webhook subscriptions: Rivo's (made through the merchant API) and the app's Shopify ones."""
    return json_response(subscriptions_data(current_shop(domain)))


def rate_limits_data(sim: Simulator, shop: Shop) -> dict[str, Any]:
    """The shop's rate-limit configuration and, per bucket in use, the tokens left now."""
    now = shop.clock.now()
    token = f"{shop.domain}:{shop.credentials.shopify_access_token}"
    keys = {"rivo": f"rivo:{shop.credentials.rivo_api_key}", "shopify_rest": f"shopify_rest:{token}",
            "shopify_graphql": f"shopify_graphql:{token}"}
    buckets = {}
    for name, key in keys.items():
        level = sim.limiter.peek(key, now)
        buckets[name] = None if level is None else round(level, 3)
    return {"rate_limits": shop.config.get("rate_limits", {}), "tokens_left": buckets}


@route("/rate_limits", "GET", "control.rate_limits.get")
def rate_limits(domain: str) -> Response:
    return json_response(rate_limits_data(current_sim(), current_shop(domain)))
