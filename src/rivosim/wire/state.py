"""A JSON dump of one shop's state (``GET /_rivosim/state``, ``Simulator.snapshot``): configuration, customers
with their loyalty state, ledger, redemptions, referrals, webhook subscriptions and orders."""

from __future__ import annotations

from typing import Any

from rivosim.domain.shop import Shop
from rivosim.wire import rivo as wire

__all__ = ["snapshot"]


def snapshot(shop: Shop, limit: int = 1000) -> dict[str, Any]:
    """Everything about ``shop``; collections are cut at ``limit`` items (``truncated`` says where)."""
    rivo, shopify = shop.rivo, shop.shopify
    members = list(rivo.members.values())
    events = list(rivo.points_events.values())
    orders = list(shopify.orders.values())
    return {
        "domain": shop.domain,
        "now": shop.clock.now().isoformat(),
        "config": shop.public_config(),
        "credentials": shop.credentials_dict(),
        "counts": {"customers": len(members), "points_events": len(events), "orders": len(orders),
                   "redemptions": len(rivo.redemptions), "referrals": len(rivo.referrals)},
        "truncated": any(n > limit for n in (len(members), len(events), len(orders))),
        "customers": [wire.customer(m, shop) | {"visible_at": wire.timestamp(m.visible_at)} for m in members[:limit]],
        "points_events": [wire.points_event(e) for e in events[:limit]],
        "redemptions": [wire.redemption(r, rivo) for r in list(rivo.redemptions.values())[:limit]],
        "referrals": [wire.referral(r, rivo) for r in list(rivo.referrals.values())[:limit]],
        "webhooks": [wire.webhook(s, shop.credentials.webhook_secret) for s in rivo.subscriptions.values()],
        "earning_rules": [wire.earning_rule(r, shop.settings.currency) for r in rivo.list_earning_rules()],
        "rewards": [wire.reward(r) for r in rivo.list_rewards()],
        "vip_tiers": [wire.vip_tier(t, rivo, full=True) for t in rivo.list_tiers()],
        "orders": [{"id": o.id, "name": o.name, "customer_id": o.customer_id, "financial_status": o.financial_status,
                    "total_price": f"{o.total_price:.2f}", "tags": list(o.tags)} for o in orders[:limit]],
    }
