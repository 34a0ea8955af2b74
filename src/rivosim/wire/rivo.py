"""Rivo's JSON shapes (rivo-api.md §1.3, §3): the JSON:API-like ``{"data": {"type", "id", "attributes"}}``
envelope, with related objects embedded in ``attributes``. Used by the HTTP layer and by webhooks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rivosim.domain.rivo.backend import RivoBackend
    from rivosim.domain.rivo.models import (
        EarningRule,
        Member,
        PointsEvent,
        Redemption,
        Referral,
        Reward,
        VipTier,
        WebhookSubscription,
        WidgetEvent,
    )
    from rivosim.domain.shop import Shop

__all__ = [
    "credits",
    "customer",
    "customer_compact",
    "earning_rule",
    "envelope",
    "guest_customer",
    "points_event",
    "redemption",
    "referral",
    "reward",
    "reward_nested",
    "shop_settings",
    "timestamp",
    "vip_tier",
    "webhook",
    "widget_event",
]


_LAST_TIMESTAMP: tuple[datetime | None, str | None] = (None, None)


def timestamp(value: datetime | None) -> str | None:
    """``2022-07-31T13:47:32.841Z``: UTC with milliseconds, as Rivo's examples show."""
    global _LAST_TIMESTAMP
    if value is None:
        return None
    # One request writes the same instant several times (applied_at, created_at, updated_at, the journal's): the
    # last answer is kept, as one tuple (swapped whole, so a thread never sees a value with another's text). Equal
    # datetimes are the same instant (naive never equals aware), so their text is the same.
    last, text = _LAST_TIMESTAMP
    if last is not None and value == last:
        return text
    text = value.isoformat(timespec="milliseconds")  # ~4x cheaper than strftime
    if text.endswith("+00:00"):
        text = text[:-6] + "Z"
    elif value.tzinfo is None:
        text = text + "Z"
    else:
        text = value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    _LAST_TIMESTAMP = (value, text)
    return text


def credits(value: Decimal) -> str:
    """Store credit as Rivo sends it: a decimal string, ``"0.0"`` / ``"1000.0"`` when whole, ``"25.50"``."""
    if value == value.to_integral_value():
        return f"{int(value)}.0"
    return f"{value:.2f}"


def envelope(type_: str, id_: Any, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"type": type_, "id": id_, "attributes": attributes}


def human_date(value: datetime | None) -> str | None:
    """``December 31, 2024``: how webhook payloads format ``points_expire_at``."""
    return value.strftime("%B %d, %Y") if value else None


# -- customers ------------------------------------------------------------------------------------------
def vip_tier_rewards(rivo: RivoBackend) -> list[dict[str, Any]]:
    return [{"id": r.id, "name": r.name} for r in rivo.list_rewards() if r.source == "vip_tier"]


def vip_tier(tier: VipTier | None, rivo: RivoBackend | None = None, *, full: bool = False,
             rewards: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """A tier as Rivo embeds it; ``rewards`` (from :func:`vip_tier_rewards`) saves listing the rewards again."""
    if tier is None:
        return None
    if rewards is None and rivo is not None:
        rewards = vip_tier_rewards(rivo)
    rewards = list(rewards or ())
    out: dict[str, Any] = {"id": tier.id, "name": tier.name, "threshold": _number(tier.threshold),
                           "perks": list(tier.perks), "icon_url": tier.icon_url, "desc": tier.desc,
                           "rewards": rewards}
    if full:
        out["created_at"] = timestamp(tier.created_at)
        out["updated_at"] = timestamp(tier.updated_at)
    return out


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def customer(member: Member, shop: Shop) -> dict[str, Any]:
    """The full customer attributes (doc fields plus the newer live ones, rivo-api.md §3.1)."""
    rivo = shop.rivo
    tier = rivo.tiers.get(member.vip_tier_id) if member.vip_tier_id and rivo.vip_available() else None
    nxt = rivo.next_tier(member) if rivo.vip_available() else None
    code = rivo.referral_code(member.id)
    changed = timestamp(member.loyalty_status_last_changed_at)
    tier_rewards = vip_tier_rewards(rivo) if tier is not None or nxt is not None else []
    return {
        "id": member.id,
        "email": member.email,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "accepts_marketing": member.accepts_marketing,
        "orders_count": member.orders_count,
        "verified_email": member.verified_email,
        "total_spent": float(member.total_spent),
        "shopify_tags": list(member.shopify_tags),
        "loyalty_points_tally": member.points_tally,
        "points_tally": member.points_tally,
        "credits_tally": credits(member.credits_tally),
        "lifetime_earnings_tally": member.lifetime_points,
        "loyalty_status": member.loyalty_status,
        "loyalty_status_last_updated_at": changed,
        "loyalty_status_last_changed_at": changed,
        "dob": member.dob,
        "dob_last_updated_at": timestamp(member.dob_last_updated_at),
        "referral_code": code,
        "referral_url": f"https://{shop.domain}?referral_code={code}",
        "vip_tier": vip_tier(tier, rivo, rewards=tier_rewards),
        "next_vip_tier": vip_tier(nxt, rivo, rewards=tier_rewards) if nxt and nxt is not tier else None,
        "completed_earning_rule_ids": sorted(member.completed_rule_ids or ()),
        "points_expire_at": timestamp(rivo.points_expire_at(member)),
        "credits_expire_at": timestamp(rivo.lifecycle.credits.expire_at(member)),
        "remote_updated_at": timestamp(member.remote_updated_at),
        "shop_id": shop.id,
        "shopify_domain": shop.domain,
    }


def customer_compact(member: Member) -> dict[str, Any]:
    """The compact customer embedded in a redemption (rivo-api.md §3.1, OBSERVED: Kodif)."""
    return {"id": member.id, "email": member.email, "first_name": member.first_name, "last_name": member.last_name,
            "total_spent": float(member.total_spent), "orders_count": member.orders_count,
            "points_tally": member.points_tally, "credits_tally": credits(member.credits_tally),
            "loyalty_status": member.loyalty_status}


# -- program --------------------------------------------------------------------------------------------
def reward(r: Reward, points_name: str = "Points") -> dict[str, Any]:
    value = _number(r.reward_value)
    return {
        "id": r.id, "name": r.name, "enabled": r.enabled, "points_amount": r.points_amount,
        "points_type": r.points_type, "reward_type": r.reward_type, "source": r.source,
        "pretty_display_rewards": f"{r.points_amount} {points_name} = {r.name}",
        "min_order_value_in_cents": r.min_order_value_in_cents, "expiry_months": r.expiry_months,
        "reward_value": float(value), "redeemed_count": r.redeemed_count,
        "min_points_to_redeem_value": r.min_points_to_redeem_value,
        "max_points_to_spend_value": r.max_points_to_spend_value,
        "increment_points_value": r.increment_points_value,
        "created_at": timestamp(r.created_at), "updated_at": timestamp(r.updated_at),
        "terms_of_service": {"reward_type": r.reward_type, "applies_to": "entire", "show_tos": False},
        # OBSERVED live attributes (rivo-api.md §3.2, pack-hydrogen)
        "icon_url": r.icon_url, "product_id": r.product_id, "variant_ids": list(r.variant_ids),
        "min_order_quantity": None, "purchase_type": "one_time", "recurring_cycle_limit": None,
    }


def reward_nested(r: Reward) -> dict[str, Any]:
    """The reward embedded in a redemption (rivo-api.md §3.4, Kodif example, plus the live reward fields)."""
    return {"id": r.id, "name": r.name, "source": r.source, "enabled": r.enabled, "reward_type": r.reward_type,
            "reward_value": float(r.reward_value), "points_amount": r.points_amount, "points_type": r.points_type,
            "icon_url": r.icon_url, "product_id": r.product_id, "variant_ids": list(r.variant_ids),
            "min_order_value_in_cents": r.min_order_value_in_cents}


def earning_rule(rule: EarningRule, currency: str = "USD") -> dict[str, Any]:
    if rule.trigger == "order_placed":
        base = rule.currency_base_amount or Decimal(1)
        pretty = f"{rule.points_amount} Points for every {_money_text(base, currency)} spent"
    else:
        pretty = f"{rule.points_amount} Points"
    return {
        "id": rule.id, "title": rule.name, "name": rule.name, "description": None,
        "status": "active" if rule.enabled else "inactive", "enabled": rule.enabled, "trigger": rule.trigger,
        "points_amount": rule.points_amount, "credits_amount": float(rule.credits_amount),
        "balance_amount": rule.points_amount, "points_type": rule.points_type,
        "currency_base_amount": float(rule.currency_base_amount) if rule.currency_base_amount else None,
        "pretty_earnings_text": pretty, "url": rule.url, "custom_action_name": rule.custom_action_name,
        "product_ids": list(rule.product_ids), "button_text": None, "card_click_method": None,
        "hidden_from_ui": False, "multipliers": [], "multi_balance_settings_by_tiers": [],
    }


def _money_text(amount: Decimal, currency: str) -> str:
    symbol = {"USD": "$", "CAD": "$", "AUD": "$", "EUR": "€", "GBP": "£"}.get(currency, "")
    text = f"{amount:.2f}".rstrip("0").rstrip(".") if amount == amount.to_integral_value() else f"{amount:.2f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


# -- ledger ---------------------------------------------------------------------------------------------
def points_event(e: PointsEvent, member: Member | None = None) -> dict[str, Any]:
    applied, created = timestamp(e.applied_at), timestamp(e.created_at)  # each appears twice
    expires = timestamp(e.expires_at)
    return {
        "id": e.id, "customer_id": e.customer_id, "customer_identifier": str(e.customer_id),
        "points_amount": e.points_amount, "points_diff": e.points_diff,
        "credits_amount": credits(e.credits_amount), "credits_diff": float(e.credits_diff),
        "source": e.source, "title": e.title, "internal_note": e.internal_note, "external_note": e.external_note,
        "applied_at": applied, "approved_at": created, "occurred_at": applied, "created_at": created,
        "revoked_at": timestamp(e.revoked_at), "expires_at": expires,
        "per_event_expiration_at": expires, "hidden": e.hidden, "order_id": e.order_id,
        "earning_rule_id": e.earning_rule_id, "points_purchases_id": e.points_purchase_id,
        "sourceable_id": e.order_id or e.points_purchase_id, "custom_action_name": e.custom_action_name,
    }


def redemption(r: Redemption, rivo: RivoBackend) -> dict[str, Any]:
    rew = rivo.rewards.get(r.reward_id)
    member = rivo.members.get(r.customer_id)
    return {
        "id": r.id, "code": r.code, "name": r.name, "customer_identifier": str(r.customer_id),
        "reward_id": r.reward_id, "source": r.source,
        "reward": None if rew is None else reward_nested(rew),
        "reward_type": rew.reward_type if rew is not None else None,
        "variant_ids": list(rew.variant_ids) if rew is not None else [], "referred_email": None,
        "customer": customer_compact(member) if member else None,
        "applied_at": timestamp(r.applied_at), "expires_at": timestamp(r.expires_at),
        "used_at": timestamp(r.used_at), "refunded_at": timestamp(r.refunded_at),
        "revoked_at": timestamp(r.revoked_at), "points_amount": r.points_amount, "points_diff": -r.points_amount,
        "credits_amount": credits(r.credits_amount),
        "formatted_store_credit_amount": f"${r.credits_amount:.2f}" if r.source == "credits" else None,
        "purchase_type": "one_time",
    }


def referral(r: Referral, rivo: RivoBackend) -> dict[str, Any]:
    advocate = rivo.members.get(r.advocate_customer_id)
    referred = rivo.members.get(r.referred_customer_id) if r.referred_customer_id else None
    return {
        "id": r.id, "status": r.status, "status_last_changed_at": timestamp(r.status_last_changed_at),
        "advocate_email": advocate.email if advocate else None, "referred_email": r.referred_email,
        "created_at": timestamp(r.created_at), "updated_at": timestamp(r.status_last_changed_at),
        "occurred_at": timestamp(r.created_at), "claimed_at": timestamp(r.claimed_at),
        "completed_at": timestamp(r.completed_at), "advocate_reward_status": r.advocate_reward_status,
        "block_reason": r.block_reason, "referrer_customer_id": r.advocate_customer_id,
        "referrer_customer": customer_compact(advocate) if advocate else None,
        "referred_customer_id": r.referred_customer_id,
        "referred_customer": customer_compact(referred) if referred else None,
        "referred_discount_code": r.referred_discount_code, "referred_order_id": r.referred_order_id,
        "signup_ip": r.signup_ip,
        # The rest of the live record (rivo-api.md §3.6, ks-tg-bot capture). rivosim has no referral campaigns,
        # visitor tracking or advocate discount codes (its advocates earn points): those are null (inferred).
        "advocate_reward_status_last_updated_at": timestamp(r.completed_at or r.status_last_changed_at),
        "additional_details": None, "referral_campaign_id": None,
        "referred_discount_code_used_at": timestamp(r.completed_at) if r.referred_order_id else None,
        "referrer_discount_code": None, "referrer_discount_code_used_at": None, "referrer_order_id": None,
        "visitor_token": None,
    }


def guest_customer(email: str | None) -> dict[str, Any]:
    """A referred friend who has not signed up: the live referral/completed payload carries a guest customer
    rather than null (issue 18, seen by a public webhook consumer); its id is null until the friend signs up."""
    return {"id": None, "email": email, "first_name": None, "last_name": None, "total_spent": 0.0,
            "orders_count": 0, "points_tally": 0, "credits_tally": "0.0", "loyalty_status": "guest"}


def webhook(sub: WebhookSubscription, secret: str) -> dict[str, Any]:
    return {"id": sub.id, "event_type": sub.event_type, "topic": sub.event_type, "url": sub.url,
            "endpoint_url": sub.url, "description": sub.description, "status": sub.status, "secret": secret,
            "created_at": timestamp(sub.created_at), "updated_at": timestamp(sub.updated_at)}


def widget_event(w: WidgetEvent) -> dict[str, Any]:
    return {"id": w.id, "name": w.name, "customer_id": w.customer_id, "occurred_at": timestamp(w.occurred_at),
            "details": w.details}


def shop_settings(shop: Shop) -> dict[str, Any]:
    """``GET /shop``: the program settings ("Get Program Settings" in MESA)."""
    cfg = shop.settings
    program, expiry, referrals = cfg.program, cfg.program.expiry, cfg.program.referrals
    return {
        "id": shop.id, "shopify_domain": shop.domain, "plan": cfg.plan, "currency": cfg.currency,
        "timezone": cfg.timezone,
        "points_program": {"enabled": program.active, "points_name": program.points_name,
                           "points_expiry_enabled": expiry.enabled,
                           "points_expiry": {"enabled": expiry.enabled, "mode": expiry.mode, "months": expiry.months,
                                             "exclude_redemptions_from_activity":
                                                 expiry.exclude_redemptions_from_activity}},
        "vip_program": {"enabled": shop.rivo.vip_available(), "tier_type": program.vip.entry_method,
                        "program_period": program.vip.period, "start_date": program.vip.start_date,
                        "tiers": [vip_tier(t) for t in shop.rivo.list_tiers()]},
        "referral_program": {"enabled": referrals.enabled, "complete_on": referrals.complete_on,
                             "advocate_points": referrals.advocate_points,
                             "friend_discount": referrals.friend_discount},
    }
