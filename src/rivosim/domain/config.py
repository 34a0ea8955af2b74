"""The shop configuration document: defaults, JSON Schema validation and merge-patch.

The domain reads it typed, as :class:`rivosim.domain.settings.ShopSettings`. One format everywhere:
``POST /_rivosim/shops`` takes it, ``PATCH`` merges into it (RFC 7386: objects merge,
lists and scalars replace), ``rivosim serve --config`` loads a list of them, scenarios and pytest fixtures
build shops from it. The schema ships at ``rivosim/schema/shop-config.schema.json``.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rivosim.kernel.clock import parse_duration, parse_instant
from rivosim.kernel.errors import InvalidConfig

__all__ = [
    "DEFAULT_CONFIG", "clock_start", "default_config", "merge_patch", "resolve_config", "schema", "validate_config",
    "with_defaults",
]

DEFAULT_CONFIG: dict[str, Any] = {
    "plan": "scale",
    "timezone": "UTC",
    "currency": "USD",
    "shopify_plan": "basic",
    "api": {
        "accept_bearer": False,
        # The seed files "Invalid API Key Error" under "ensure you're on the Plus plan": a key on a plan
        # without API access looks like a bad key to the client, so 401 by default (403 selectable).
        "plan_refusal_status": 401,
        "allow_negative_balance": False,
        # rivo-api.md §1.4: a new Shopify customer can take ~30 s to reach Rivo. Control-API sign-ups and
        # seeded customers are visible at once; Shopify-side creations wait this long (issue 4).
        "new_customer_visibility_delay": "PT30S",
        "max_body_bytes": 1_048_576,
    },
    "program": {
        "active": True,
        "points_name": "Points",
        "earning_rules": [
            {"trigger": "order_placed", "name": "Place an order", "points_amount": 1, "currency_base_amount": 1},
            {"trigger": "customer_member_enabled", "name": "Sign up", "points_amount": 100},
            {"trigger": "customer_birthday", "name": "Celebrate a birthday", "points_amount": 200},
            {"trigger": "instagram_follow", "name": "Follow on Instagram", "points_amount": 50},
            {"trigger": "facebook_share", "name": "Share on Facebook", "points_amount": 50},
            {"trigger": "review_complete", "name": "Write a review", "points_amount": 100},
        ],
        "rewards": [
            {"name": "$5 off coupon", "points_amount": 500, "reward_type": "fixed_amount", "reward_value": 5},
            {"name": "$10 off coupon", "points_amount": 1000, "reward_type": "fixed_amount", "reward_value": 10},
            {"name": "10% off coupon", "points_amount": 800, "reward_type": "percentage", "reward_value": 10},
            {"name": "Free shipping", "points_amount": 400, "reward_type": "free_shipping", "reward_value": 0},
        ],
        "vip": {
            "enabled": True,
            "entry_method": "points_earned",
            "period": "lifetime",
            "start_date": None,
            "tiers": [
                {"name": "Bronze", "threshold": 0},
                {"name": "Silver", "threshold": 500, "perks": ["5% bonus points"]},
                {"name": "Gold", "threshold": 1250, "perks": ["10% bonus points", "Early access"]},
            ],
        },
        "referrals": {
            "enabled": True,
            "complete_on": "paid",
            "advocate_points": 500,
            "friend_discount": "$10 off first order",
            "new_customers_only": True,
            "weekly_ip_threshold": 10,
        },
        "expiry": {"enabled": False, "mode": "per_event", "months": 12, "exclude_redemptions_from_activity": False},
        "credits_expiry": {"enabled": False, "months": 12},
    },
    # occurred_at_precision: live captures (ks-tg-bot fixtures) carry occurred_at in whole seconds
    # ("2026-09-16T13:42:34Z") next to applied_at with milliseconds; "milliseconds" keeps the fraction.
    "webhooks": {"signing": "rivo-signature", "timeout_seconds": 5, "max_attempts": 9,
                 "occurred_at_precision": "seconds"},
    "rate_limits": {
        # rivo-api.md §1.7: integrators quote 15 requests/s per store.
        "rivo": {"enabled": True, "rate": 15, "burst": 15},
        # shopify-api.md §3: 40-request bucket leaking 2/s (Plus x10), GraphQL 2000 points restoring 100/s
        # (Plus 1000/s). Leave rate/burst out to get the numbers of the shop's shopify_plan; set them to
        # override (see rivosim.http.shopify.blueprint.rest_bucket).
        "shopify_rest": {"enabled": True},
        "shopify_graphql": {"enabled": True},
    },
    # How long the APIs take to answer, from the work a request does (rivosim.faults.service_time). Off: every
    # answer is instant. INFERRED figures (neither Rivo nor Shopify publishes any): a request costs base_ms,
    # plus read_item_ms per item it returns (a list page), plus write_item_ms per item it writes (a batch's
    # events, an order's line items). With them a 10-event batch takes 2.55 s and a single grant 0.3 s.
    "service_time": {"enabled": False, "base_ms": 50, "read_item_ms": 1, "write_item_ms": 250, "max_ms": 60000},
    "shopify": {
        "vip_tier_tags": False,
        "vip_tier_tag_format": "Rivo VIP Tier: {tier}",
        "order_tags": True,
        "customer_metafield": True,
        "customer_metafields_v2": False,
        "shop_metafield": True,
        "tags_case_sensitive": False,
        "sort_tags": True,
        # The published theme's Rivo app embed when the shop is created: enabled | disabled | missing.
        "app_embed": "enabled",
        # Scopes granted to the loyalty app; a call needing another is refused with 403 (shopify-api.md §1.6).
        "access_scopes": ["read_customers", "write_customers", "read_orders", "write_orders", "read_themes",
                          "write_themes"],
        # active | frozen (402 "Unavailable Shop") | locked (423 "This shop is unavailable").
        "shop_status": "active",
    },
    "integrations": [],
    "faults": [],
    # The embedded admin: Rivo opened inside Shopify admin (domain/admin.py).
    "admin": {
        # INFERRED: the seed's "direct login link" (outside the embedded admin) carries the full myshopify
        # domain, but its URL was stripped from the seed; {shop} is replaced with the shop's domain.
        "login_url": "https://app.rivo.io/login?shop={shop}",
        # false: the app's authorisation was revoked or its OAuth never finished; Rivo's back end answers with
        # X-Shopify-API-Request-Failure-Reauthorize-Url until the app is re-authenticated.
        "app_authorised": True,
        # The Admin API scopes the Rivo app asks for; one missing from shopify.access_scopes (the app was
        # updated to ask for more) also needs a re-authentication.
        "app_scopes": ["read_customers", "write_customers", "read_orders", "write_orders", "read_themes",
                       "write_themes"],
        # Staff accounts besides the account owner (who always exists), read when the shop is created; later
        # changes go through the control API (/_rivosim/shops/<domain>/admin/staff).
        "staff": [],
    },
}


def clock_start(clock: Any) -> datetime | None:
    """The start instant a shop document's ``clock`` names (None for ``"wall"`` or no clock); ``ValueError``
    when it is not an ISO-8601 instant with a date from year 1 to 9998."""
    if not isinstance(clock, dict):
        return None
    raw = clock["start"]
    try:
        start = parse_instant(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not an ISO-8601 instant such as '2026-12-24T00:00:00Z'") from None
    if start.year > 9998:  # leave room to advance
        raise ValueError(f"{raw!r} is too far in the future")
    return start


def default_config() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_CONFIG)


@cache
def schema() -> dict[str, Any]:
    text = resources.files("rivosim").joinpath("schema/shop-config.schema.json").read_text("utf-8")
    return json.loads(text)


if TYPE_CHECKING:
    from jsonschema import Draft202012Validator


@cache
def _validator() -> Draft202012Validator:
    # Imported on first use: jsonschema costs 50-130 ms of start-up, and a server without shops never needs it.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def validate_config(doc: Any) -> None:
    """Raise :class:`InvalidConfig` naming the path of the first bad field (schema and cross-field rules)."""
    if not isinstance(doc, dict):
        raise InvalidConfig("the shop configuration document must be a JSON object", field="(document)")
    errors = sorted(_validator().iter_errors(doc),
                    key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        err = errors[0]
        where = _path(err.absolute_path)
        raise InvalidConfig(f"{where}: {err.message}", field=where)
    tz = doc.get("timezone")
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise InvalidConfig(f"timezone: {tz!r} is not an IANA time zone", field="timezone") from exc
    clock = doc.get("clock")
    if isinstance(clock, dict) and isinstance(clock.get("start"), str):
        try:
            clock_start(clock)
        except ValueError as exc:
            raise InvalidConfig(f"clock.start: {exc}", field="clock.start") from exc
    delay = (doc.get("api") or {}).get("new_customer_visibility_delay")
    if delay is not None:
        # The schema only checks the leading "P"; a string the clock cannot parse would fail much later,
        # as a 500 on the first customer created.
        try:
            parse_duration(delay)
        except ValueError as exc:
            where = "api.new_customer_visibility_delay"
            raise InvalidConfig(f"{where}: {exc}", field=where) from exc
    program = doc.get("program") or {}
    tiers = (program.get("vip") or {}).get("tiers") or []
    names = [t["name"].casefold() for t in tiers]
    if len(set(names)) != len(names):
        raise InvalidConfig("program.vip.tiers: tier names must be unique", field="program.vip.tiers")
    thresholds = [t["threshold"] for t in tiers]
    if len(set(thresholds)) != len(thresholds):
        raise InvalidConfig("program.vip.tiers: tier thresholds must be unique", field="program.vip.tiers")
    for i, rule in enumerate(program.get("earning_rules") or []):
        trigger = rule["trigger"]
        if trigger == "custom_action" and not rule.get("custom_action_name"):
            where = f"program.earning_rules[{i}].custom_action_name"
            raise InvalidConfig(f"{where}: a custom_action rule needs a custom_action_name", field=where)
        if trigger == "visit_url" and not rule.get("url"):
            where = f"program.earning_rules[{i}].url"
            raise InvalidConfig(f"{where}: a visit_url rule needs a url", field=where)
        if trigger == "product_purchased" and not rule.get("product_ids"):
            where = f"program.earning_rules[{i}].product_ids"
            raise InvalidConfig(f"{where}: a product_purchased rule needs product_ids", field=where)
    for where, items in (("program.earning_rules", program.get("earning_rules") or []),
                         ("program.rewards", program.get("rewards") or []), ("program.vip.tiers", tiers)):
        ids = [item["id"] for item in items if "id" in item]
        if len(set(ids)) != len(ids):
            raise InvalidConfig(f"{where}: ids must be unique", field=where)
    for i, reward in enumerate(program.get("rewards") or []):
        if reward.get("reward_type") == "percentage" and reward.get("reward_value", 0) > 100:
            where = f"program.rewards[{i}].reward_value"
            raise InvalidConfig(f"{where}: a percentage reward_value cannot exceed 100", field=where)
    # The ``faults`` rules are checked rule by rule by the faults layer, which parses them (the domain does not
    # reach up to it): ``rivosim.engine.validate_shop_document`` is the whole check.
    integrations = [i["name"] for i in doc.get("integrations") or []]
    if len(set(integrations)) != len(integrations):
        raise InvalidConfig("integrations: each integration may be connected once", field="integrations")
    _validate_admin(doc.get("admin") or {})


def _validate_admin(admin: dict[str, Any]) -> None:
    """The embedded admin's cross-field rules: one account owner at most, who keeps every permission, and one
    staff account per email."""
    staff = admin.get("staff") or []
    owners = [i for i, s in enumerate(staff) if s.get("account_owner")]
    if len(owners) > 1:
        raise InvalidConfig("admin.staff: a store has one account owner", field="admin.staff")
    for i in owners:
        if staff[i].get("app_permission") is False:
            where = f"admin.staff[{i}].app_permission"
            raise InvalidConfig(f"{where}: the account owner always has every permission", field=where)
    emails = [s["email"].casefold() for s in staff]
    if len(set(emails)) != len(emails):
        raise InvalidConfig("admin.staff: each staff account needs its own email", field="admin.staff")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def with_defaults(doc: dict[str, Any], defaults: dict[str, Any] = DEFAULT_CONFIG) -> dict[str, Any]:
    """``doc`` with every key the defaults have and it lacks filled in (objects recursively; lists and scalars
    in ``doc`` win)."""
    out = copy.deepcopy(doc)
    for key, value in defaults.items():
        if key not in out:
            out[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = with_defaults(out[key], value)
    return out


def resolve_config(doc: dict[str, Any] | None, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate ``doc`` as given, lay it over ``base`` (the defaults when None), fill in any default the
    result lacks (a ``null`` in a patch deletes a key: the setting returns to its default) and validate it."""
    doc = {} if doc is None else doc
    validate_config(doc)
    merged = with_defaults(merge_patch(base if base is not None else DEFAULT_CONFIG, doc))
    validate_config(merged)
    return merged
