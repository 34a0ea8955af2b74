"""Writes src/rivosim/schema/webhooks/**: one JSON Schema per webhook topic (payload) and one per API (headers),
from the field lists of the public references summarised in docs/fidelity.md. Run once when the reference
changes (``python tools/gen_webhook_schemas.py``); the JSON files are what the simulator and tests load, and
they are reviewed as files. Each property says where it comes from (``x-source``): ``confirmed`` (Rivo's or
Shopify's own docs), ``observed`` (captured from live stores by third parties), ``inferred`` (rivosim's choice
where the reference is silent) or ``rivosim`` (a field rivosim adds beyond the reference). Fields from the
first three are required; ``rivosim`` fields are optional and listed in ``x-rivosim-additions``."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "rivosim" / "schema" / "webhooks"
BASE = "https://rivosim.dev/schema/webhooks"

TS = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"}
TS_NULL = {"type": ["string", "null"], "pattern": TS["pattern"]}
INT = {"type": "integer"}
INT_NULL = {"type": ["integer", "null"]}
NUM = {"type": "number"}
STR = {"type": "string"}
STR_NULL = {"type": ["string", "null"]}
BOOL = {"type": "boolean"}
DECIMAL_STR = {"type": "string", "pattern": r"^-?\d+\.\d+$"}
HUMAN_DATE = {"type": ["string", "null"], "pattern": r"^[A-Z][a-z]+ \d{2}, \d{4}$"}
STR_LIST = {"type": "array", "items": {"type": "string"}}
INT_LIST = {"type": "array", "items": {"type": "integer"}}
COMPOSITE_ID = {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2,
                "description": "[shop_id, id] (rivo-api.md §1.4, §4.5)"}


def ref(name: str, nullable: bool = False) -> dict:
    target = {"$ref": f"definitions.json#/$defs/{name}"}
    return {"anyOf": [target, {"type": "null"}]} if nullable else target


def obj(fields: dict[str, tuple[str, dict]], *, title: str, source: str, closed: bool = True,
        description: str = "") -> dict:
    """``fields``: name -> (x-source, schema)."""
    props = {name: {**schema, "x-source": src} for name, (src, schema) in fields.items()}
    out: dict = {"title": title, "type": "object", "x-source": source}
    if description:
        out["description"] = description
    out["properties"] = props
    out["required"] = sorted(n for n, (src, _) in fields.items() if src != "rivosim")
    additions = sorted(n for n, (src, _) in fields.items() if src == "rivosim")
    if additions:
        out["x-rivosim-additions"] = additions
    out["additionalProperties"] = not closed
    return out


# -- Rivo ----------------------------------------------------------------------------------------------------
C, O, I, R = "confirmed", "observed", "inferred", "rivosim"  # noqa: E741

VIP_TIER = {"id": (C, INT), "name": (C, STR), "threshold": (C, NUM), "perks": (C, STR_LIST),
            "icon_url": (C, STR_NULL), "desc": (C, STR_NULL),
            "rewards": (C, {"type": "array", "items": {"type": "object", "required": ["id", "name"]}})}
VIP_TIER_FULL = {**VIP_TIER, "created_at": (C, TS), "updated_at": (C, TS)}

# The customer embedded in webhook payloads: the doc example of points_event/created, the downgraded example,
# and the referral/completed capture (rivo-api.md §3.1, §4.5). Every field is one the reference records.
CUSTOMER = {
    "id": (C, INT), "email": (C, STR_NULL), "first_name": (C, STR_NULL), "last_name": (C, STR_NULL),
    "accepts_marketing": (C, BOOL), "orders_count": (C, INT), "verified_email": (C, BOOL), "total_spent": (C, NUM),
    "shopify_tags": (C, STR_LIST), "loyalty_points_tally": (C, INT), "points_tally": (C, INT),
    "credits_tally": (O, DECIMAL_STR), "lifetime_earnings_tally": (O, NUM),
    "loyalty_status": (C, {"type": "string", "enum": ["member", "guest"]}),
    "loyalty_status_last_updated_at": (C, TS_NULL), "loyalty_status_last_changed_at": (C, TS_NULL),
    "dob": (C, {"type": ["string", "null"], "pattern": r"^\d{2}-\d{2}$"}), "dob_last_updated_at": (C, TS_NULL),
    "referral_code": (C, STR), "referral_url": (C, STR), "vip_tier": (C, ref("vip_tier", True)),
    "next_vip_tier": (O, ref("vip_tier", True)), "completed_earning_rule_ids": (O, INT_LIST),
    "points_expire_at": (C, HUMAN_DATE), "credits_expire_at": (O, HUMAN_DATE), "remote_updated_at": (C, TS_NULL),
    "shop_id": (O, INT), "shopify_domain": (O, {"type": "string", "pattern": r"\.myshopify\.com$"}),
    "event_type": (C, STR),
}
# A friend who has not signed up yet: a guest customer (the live referral/completed payload carries one).
CUSTOMER_COMPACT = {
    "id": (O, INT), "email": (O, STR_NULL), "first_name": (O, STR_NULL), "last_name": (O, STR_NULL),
    "total_spent": (O, NUM), "orders_count": (O, INT), "points_tally": (O, INT), "credits_tally": (O, DECIMAL_STR),
    "loyalty_status": (O, {"type": "string", "enum": ["member", "guest"]}),
}
REWARD_NESTED = {
    "id": (O, INT), "name": (O, STR), "source": (O, STR), "enabled": (O, BOOL), "reward_type": (O, STR),
    "reward_value": (O, NUM), "points_amount": (O, INT), "points_type": (O, STR), "icon_url": (O, STR_NULL),
    "product_id": (O, INT_NULL), "variant_ids": (O, INT_LIST), "min_order_value_in_cents": (C, INT_NULL),
}

DEFINITIONS = {
    "vip_tier": obj(VIP_TIER, title="VIP tier (embedded)", source=C, closed=False),
    "vip_tier_full": obj(VIP_TIER_FULL, title="VIP tier (tier webhooks)", source=C, closed=False),
    "customer": obj(CUSTOMER, title="Customer (webhook)", source=C),
    "customer_compact": obj(CUSTOMER_COMPACT, title="Customer (compact, in redemptions)", source=O),
    "guest_customer": obj({**CUSTOMER_COMPACT, "id": (O, INT_NULL), "loyalty_status": (O, {"const": "guest"})},
                          title="Guest customer (a referred friend who has not signed up)", source=O,
                          closed=False),
    "reward": obj(REWARD_NESTED, title="Reward (nested in a redemption)", source=O),
}

POINTS_EVENT = {
    "id": (O, COMPOSITE_ID), "points_amount": (C, INT), "points_diff": (C, INT),
    "credits_amount": (C, NUM), "credits_diff": (C, NUM), "applied_at": (C, TS), "internal_note": (C, STR_NULL),
    "external_note": (C, STR_NULL), "source": (C, STR), "order_id": (C, INT_NULL), "customer": (C, ref("customer")),
    "approved_at": (O, TS_NULL), "custom_action_name": (O, STR_NULL), "earning_rule_id": (O, INT_NULL),
    "hidden": (O, BOOL), "occurred_at": (O, TS_NULL), "per_event_expiration_at": (O, TS_NULL),
    "points_purchases_id": (O, INT_NULL), "revoked_at": (O, TS_NULL), "sourceable_id": (O, INT_NULL),
    "title": (O, STR_NULL), "created_at": (O, TS_NULL), "expires_at": (O, TS_NULL),
    "customer_identifier": (O, STR), "customer_id": (R, INT),
    "event_type": (C, STR),
}
REDEMPTION = {
    "id": (O, INT), "code": (O, STR_NULL), "name": (O, STR), "reward": (O, ref("reward", True)),
    "customer": (O, ref("customer_compact", True)), "applied_at": (O, TS), "expires_at": (O, TS_NULL),
    "points_amount": (O, INT), "credits_amount": (O, DECIMAL_STR), "customer_identifier": (O, STR),
    "source": (O, STR), "reward_id": (O, INT), "reward_type": (O, STR), "used_at": (O, TS_NULL),
    "refunded_at": (O, TS_NULL), "revoked_at": (O, TS_NULL), "referred_email": (O, STR_NULL),
    "purchase_type": (O, STR), "points_diff": (O, INT), "variant_ids": (O, INT_LIST),
    "formatted_store_credit_amount": (O, STR_NULL), "event_type": (C, STR),
}
VIP_CHANGE = {
    "id": (C, COMPOSITE_ID), "vip_tier_id": (C, INT_NULL), "started_at": (C, TS), "internal_note": (C, STR_NULL),
    "external_note": (C, STR_NULL), "customer": (C, ref("customer")), "vip_tier": (C, ref("vip_tier_full", True)),
    "previous_vip_tier_id": (R, INT_NULL), "manual": (R, BOOL), "event_type": (C, STR),
}
REFERRAL = {
    "id": (O, INT), "status": (O, {"type": "string", "enum": ["pending", "completed", "blocked", "unclaimed"]}),
    "status_last_changed_at": (O, TS_NULL), "created_at": (O, TS), "updated_at": (O, TS_NULL),
    "occurred_at": (O, TS_NULL), "claimed_at": (O, TS_NULL), "completed_at": (O, TS_NULL),
    "advocate_reward_status": (O, STR_NULL), "advocate_reward_status_last_updated_at": (O, TS_NULL),
    "block_reason": (O, STR_NULL), "additional_details": (O, {"type": ["object", "null"]}),
    "referral_campaign_id": (O, INT_NULL), "advocate_email": (O, STR_NULL),
    "referred_customer_id": (O, INT_NULL),
    "referred_customer": (O, {"anyOf": [ref("customer"), ref("guest_customer")]}),
    "referred_email": (O, STR_NULL), "referred_discount_code": (O, STR_NULL),
    "referred_discount_code_used_at": (O, TS_NULL), "referred_order_id": (O, INT_NULL),
    "referrer_customer_id": (O, INT), "referrer_customer": (O, ref("customer")),
    "referrer_discount_code": (O, STR_NULL), "referrer_discount_code_used_at": (O, TS_NULL),
    "referrer_order_id": (O, INT_NULL), "signup_ip": (O, STR_NULL), "visitor_token": (O, STR_NULL),
    "event_type": (O, STR),
}
NOTIFICATION = {"points_amount": (I, INT), "expires_at": (I, TS), "points_expire_at": (I, HUMAN_DATE),
                "customer": (I, ref("customer")), "event_type": (C, STR)}
CREDITS_NOTIFICATION = {"credits_amount": (I, DECIMAL_STR), "expires_at": (I, TS), "credits_expire_at": (I, HUMAN_DATE),
                        "customer": (I, ref("customer")), "event_type": (C, STR)}
EXPIRED = {"points_amount": (I, INT), "expired_at": (I, TS), "mode": (I, {"enum": ["per_event", "inactivity"]}),
           "customer": (I, ref("customer")), "event_type": (C, STR)}
ACTION = {"id": (I, INT), "trigger": (I, STR), "earning_rule_id": (I, INT_NULL), "occurred_at": (I, TS),
          "customer": (I, ref("customer")), "event_type": (C, STR)}
ACTION_EXTRA = {
    "customer/joined": {}, "customer/birthday": {"date": (I, STR), "dob": (I, STR)},
    "customer/anniversary": {"date": (I, STR), "years": (I, INT)},
    "social/followed": {"network": (I, {"enum": ["instagram", "tiktok", "twitter", "facebook"]})},
    "social/shared": {"network": (I, {"enum": ["facebook", "twitter"]})},
    "marketing/email_subscribed": {"channel": (I, {"const": "email"})},
    "marketing/sms_subscribed": {"channel": (I, {"const": "sms"})},
    "review/completed": {}, "custom_action/completed": {"custom_action_name": (I, STR)},
    "url/visited": {"url": (I, STR)}, "receipt/uploaded": {},
    "order/placed": {"order_id": (I, INT), "subtotal": (I, DECIMAL_STR), "total": (I, DECIMAL_STR)},
    "product/purchased": {"order_id": (I, INT), "product_ids": (I, INT_LIST)},
}

RIVO_TOPICS: dict[str, tuple[str, dict, str, bool]] = {
    # topic: (x-source of the topic, fields, where the shape comes from, closed)
    "points_event/created": (C, POINTS_EVENT, "rivo-api.md §3.3, §4.5: /reference/event-types example and the "
                             "ks-tg-bot capture", True),
    "loyalty_points_earned": (C, POINTS_EVENT, "legacy topic (/reference/loyalty-points-earned); rivosim sends "
                              "the points_event/created payload (inferred)", True),
    "balance_transaction/created": (O, POINTS_EVENT, "topic observed (ks-tg-bot); payload inferred to be the "
                                    "points event that changed the credit balance", True),
    "points_redemption/created": (C, REDEMPTION, "topic confirmed (sidebar); payload inferred from the "
                                  "redemption object (rivo-api.md §3.4)", True),
    "customer_vip_tier/upgraded": (C, VIP_CHANGE, "payload inferred identical to downgraded", True),
    "customer_vip_tier/downgraded": (C, VIP_CHANGE, "/reference/customer-vip-tier-downgraded example", True),
    "customer_vip_tier/unlocked": (I, VIP_CHANGE, "rivosim topic for a first-time upgrade (inferred)", True),
    "referral/completed": (O, {**REFERRAL, "event_type": (O, STR)}, "ks-tg-bot capture (rivo-api.md §3.6); "
                           "event_type kept even in the Standard-Webhooks mode, as the capture has it", True),
    "referral/claimed": (I, REFERRAL, "rivosim topic for a friend's claim; the referral record (inferred)", True),
    "notification/points_expiry_warning": (O, NOTIFICATION, "topic observed; payload inferred", True),
    "notification/points_expiry_last_chance": (O, NOTIFICATION, "topic observed; payload inferred", True),
    "notification/credits_expiry_warning": (O, CREDITS_NOTIFICATION, "topic observed; payload inferred (rivosim "
                                            "fires it only as a sample: credits do not expire)", True),
    "notification/credits_expiry_last_chance": (O, CREDITS_NOTIFICATION, "topic observed; payload inferred (rivosim "
                                                "fires it only as a sample: credits do not expire)", True),
    "points/expired": (I, EXPIRED, "rivosim topic (inferred)", True),
}
for _topic, _extra in ACTION_EXTRA.items():
    # Storefront actions pass their own details through (a review's rating, a product id): open objects.
    RIVO_TOPICS[_topic] = (I, {**ACTION, **_extra}, "rivosim topic for a seed trigger with no known Rivo topic "
                           "(inferred)", False)

RIVO_HEADERS = {
    "title": "Rivo webhook request headers (names lower-cased)",
    "description": "rivo-api.md §4.2 (documented rivo-signature, CONFIRMED) and §4.3 (Standard-Webhooks headers "
                   "seen on live deliveries, OBSERVED). A delivery carries one scheme or both.",
    "type": "object",
    "properties": {
        "content-type": {"const": "application/json", "x-source": I},
        "user-agent": {"type": "string", "x-source": R},
        "rivo-signature": {"type": "string", "pattern": r"^[A-Za-z0-9+/]{43}=$", "x-source": C,
                           "description": "base64(HMAC-SHA256(secret, raw body))"},
        "rivo-webhook-id": {"type": "string", "pattern": r"^msg_[A-Za-z0-9]+$", "x-source": O},
        "rivo-webhook-timestamp": {"type": "string", "pattern": r"^\d{9,11}$", "x-source": O},
        "rivo-webhook-signature": {"type": "string", "pattern": r"^v1,[A-Za-z0-9+/]{43}=( v1,[A-Za-z0-9+/]{43}=)*$",
                                   "x-source": O,
                                   "description": "v1,base64(HMAC-SHA256(secret as UTF-8, id.timestamp.body))"},
        "rivo-webhook-topic": {"type": "string", "x-source": O},
    },
    "required": ["content-type", "rivo-webhook-id", "rivo-webhook-topic"],
    "anyOf": [{"required": ["rivo-signature"]},
              {"required": ["rivo-webhook-signature", "rivo-webhook-timestamp"]}],
    "additionalProperties": True,
}

# -- Shopify -------------------------------------------------------------------------------------------------
MONEY = {"type": "string", "pattern": r"^-?\d+\.\d{2}$"}
MONEY_SET = {"type": "object", "required": ["shop_money", "presentment_money"]}
S_TS = TS
S_TS_NULL = TS_NULL
SHOPIFY_CUSTOMER = {  # shopify-api.md §1.2, the 2024-01 field list [C]
    "id": (C, INT), "email": (C, STR_NULL), "first_name": (C, STR_NULL), "last_name": (C, STR_NULL),
    "phone": (C, STR_NULL), "state": (C, STR), "note": (C, STR_NULL), "tags": (C, STR),
    "orders_count": (C, INT), "total_spent": (C, MONEY), "last_order_id": (C, INT_NULL),
    "last_order_name": (C, STR_NULL), "currency": (C, STR), "verified_email": (C, BOOL),
    "multipass_identifier": (C, STR_NULL), "tax_exempt": (C, BOOL), "tax_exemptions": (C, {"type": "array"}),
    "addresses": (C, {"type": "array"}), "default_address": (C, {"type": ["object", "null"]}),
    "email_marketing_consent": (C, {"type": ["object", "null"]}),
    "sms_marketing_consent": (C, {"type": ["object", "null"]}), "created_at": (C, S_TS), "updated_at": (C, S_TS),
    "accepts_marketing": (C, BOOL), "marketing_opt_in_level": (C, STR_NULL),
    "admin_graphql_api_id": (C, {"type": "string", "pattern": "^gid://shopify/Customer/\\d+$"}),
    "accepts_marketing_updated_at": (R, S_TS_NULL),
}
ORDER_C = [
    "app_id", "billing_address", "browser_ip", "buyer_accepts_marketing", "cancel_reason", "cancelled_at",
    "cart_token", "checkout_token", "client_details", "closed_at", "company", "confirmation_number", "created_at",
    "currency", "current_subtotal_price", "current_subtotal_price_set", "current_total_discounts",
    "current_total_discounts_set", "current_total_price", "current_total_price_set", "current_total_tax",
    "current_total_tax_set", "customer", "customer_locale", "discount_applications", "discount_codes", "email",
    "estimated_taxes", "financial_status", "fulfillment_status", "fulfillments", "gateway", "id", "landing_site",
    "line_items", "location_id", "name", "note", "note_attributes", "number", "order_number", "order_status_url",
    "payment_gateway_names", "phone", "po_number", "presentment_currency", "processed_at", "referring_site",
    "refunds", "shipping_address", "shipping_lines", "source_identifier", "source_name", "source_url",
    "subtotal_price", "subtotal_price_set", "tags", "tax_lines", "taxes_included", "test", "token",
    "total_discounts", "total_discounts_set", "total_line_items_price", "total_line_items_price_set",
    "total_outstanding", "total_price", "total_price_set", "total_shipping_price_set", "total_tax",
    "total_tax_set", "total_tip_received", "total_weight", "updated_at", "user_id", "admin_graphql_api_id"
]
ORDER_TYPES = {"id": INT, "name": STR, "order_number": INT, "total_price": MONEY, "subtotal_price": MONEY,
               "total_price_set": MONEY_SET, "financial_status": STR_NULL, "created_at": S_TS, "updated_at": S_TS,
               "tags": STR, "test": BOOL, "line_items": {"type": "array", "items": {
                   "type": "object", "required": ["id", "product_id", "variant_id", "title", "quantity", "price"]}},
               "refunds": {"type": "array"}, "customer": {"type": ["object", "null"]}, "currency": STR,
               "cancelled_at": S_TS_NULL, "processed_at": S_TS_NULL, "discount_codes": {"type": "array"},
               "note_attributes": {"type": "array"}, "total_discounts": MONEY,
               "admin_graphql_api_id": {"type": "string", "pattern": "^gid://shopify/Order/\\d+$"}}
ORDER = {name: (C, ORDER_TYPES.get(name, {})) for name in ORDER_C}
ORDER.update({name: (R, {}) for name in ("confirmed", "contact_email", "reference")})
REFUND = {"id": (C, INT), "order_id": (C, INT), "created_at": (C, S_TS), "processed_at": (C, S_TS_NULL),
          "note": (C, STR_NULL), "restock": (C, BOOL), "refund_line_items": (C, {"type": "array"}),
          "transactions": (C, {"type": "array", "items": {"type": "object", "required": [
              "id", "kind", "status", "amount", "currency", "gateway", "parent_id"]}}),
          "order_adjustments": (C, {"type": "array"}), "admin_graphql_api_id": (R, STR), "user_id": (R, INT_NULL),
          "duties": (R, {"type": "array"})}
THEME = {"id": (C, INT), "name": (C, STR), "role": (C, STR), "created_at": (R, S_TS), "updated_at": (R, S_TS),
         "theme_store_id": (R, INT_NULL), "previewable": (R, BOOL), "processing": (R, BOOL),
         "admin_graphql_api_id": (R, STR)}
SHOP = {n: (C if n in ("id", "name", "email", "shop_owner", "currency", "plan_name", "myshopify_domain", "domain")
            else R, {}) for n in ("id", "name", "email", "shop_owner", "currency", "plan_name", "myshopify_domain",
                                  "domain")}
SHOP["id"] = (C, INT)
SHOP["myshopify_domain"] = (C, {"type": "string", "pattern": r"\.myshopify\.com$"})
CUSTOMER_DELETE = {"id": (C, INT), "admin_graphql_api_id": (R, STR), "phone": (R, STR_NULL),
                   "addresses": (R, {"type": "array"}), "tax_exemptions": (R, {"type": "array"}),
                   "email_marketing_consent": (R, {}), "sms_marketing_consent": (R, {})}

SHOPIFY_TOPICS = {
    "orders/create": (ORDER, "Order, REST shape of the subscription's version (shopify-api.md §1.3, §4.1)"),
    "orders/paid": (ORDER, "Order (§4.1)"), "orders/updated": (ORDER, "Order (§4.1)"),
    "orders/cancelled": (ORDER, "Order (§4.1)"), "refunds/create": (REFUND, "Refund (§1.3 refunds[], §4.1)"),
    "customers/create": (SHOPIFY_CUSTOMER, "Customer (§1.2, §4.1)"),
    "customers/update": (SHOPIFY_CUSTOMER, "Customer (§1.2, §4.1)"),
    "customers/delete": (CUSTOMER_DELETE, "{id} plus empty collections (§4.1 lists Customer; the deleted "
                         "customer's id is what is known, inferred)"),
    "themes/publish": (THEME, "Theme (id, name, role, …) (§4.1)"),
    "app/uninstalled": (SHOP, "Shop resource (§4.1, C2 sample)"),
}
SHOPIFY_HEADERS = {
    "title": "Shopify webhook request headers (names lower-cased)",
    "description": "shopify-api.md §4.2: the headers shopify-api's validate() requires, and the optional ones.",
    "type": "object",
    "properties": {
        "content-type": {"const": "application/json", "x-source": C},
        "user-agent": {"const": "Shopify-Captain-Hook", "x-source": O},
        "x-shopify-topic": {"type": "string", "x-source": C},
        "x-shopify-hmac-sha256": {"type": "string", "pattern": r"^[A-Za-z0-9+/]{43}=$", "x-source": C},
        "x-shopify-shop-domain": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$",
                                  "x-source": C},
        "x-shopify-api-version": {"type": "string", "pattern": r"^(\d{4}-(01|04|07|10)|unstable)$", "x-source": C},
        "x-shopify-webhook-id": {"type": "string", "x-source": C},
        "x-shopify-triggered-at": {"type": "string", "x-source": C},
        "x-shopify-event-id": {"type": "string", "x-source": C},
    },
    "required": ["content-type", "x-shopify-topic", "x-shopify-hmac-sha256", "x-shopify-shop-domain",
                 "x-shopify-api-version", "x-shopify-webhook-id"],
    "additionalProperties": True,
}


def file_name(topic: str) -> str:
    return topic.replace("/", ".") + ".json"


def write(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    write(ROOT / "rivo" / "definitions.json", {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"{BASE}/rivo/definitions.json",
        "title": "Objects embedded in Rivo webhook payloads", "$defs": DEFINITIONS})
    for topic, (source, fields, origin, closed) in RIVO_TOPICS.items():
        doc = obj(fields, title=f"Rivo webhook {topic}", source=source, closed=closed, description=origin)
        doc["required"] = [n for n in doc["required"] if n != "event_type" or topic == "referral/completed"]
        doc["properties"]["event_type"]["description"] = (
            "the topic; omitted in the Standard-Webhooks mode (rivo-api.md §4.3)"
            if topic != "referral/completed" else "the topic; carried in every mode (ks-tg-bot capture)")
        write(ROOT / "rivo" / file_name(topic), {"$schema": "https://json-schema.org/draft/2020-12/schema",
                                                 "$id": f"{BASE}/rivo/{file_name(topic)}", "x-topic": topic, **doc})
    write(ROOT / "rivo" / "headers.json", {"$schema": "https://json-schema.org/draft/2020-12/schema",
                                           "$id": f"{BASE}/rivo/headers.json", **RIVO_HEADERS})
    for topic, (fields, origin) in SHOPIFY_TOPICS.items():
        # Shopify payloads are open: a subscription's include_fields trims them, newer versions add fields.
        doc = obj(fields, title=f"Shopify webhook {topic}", source=C, closed=False, description=origin)
        write(ROOT / "shopify" / file_name(topic), {"$schema": "https://json-schema.org/draft/2020-12/schema",
                                                    "$id": f"{BASE}/shopify/{file_name(topic)}", "x-topic": topic,
                                                    **doc})
    write(ROOT / "shopify" / "headers.json", {"$schema": "https://json-schema.org/draft/2020-12/schema",
                                              "$id": f"{BASE}/shopify/headers.json", **SHOPIFY_HEADERS})


if __name__ == "__main__":
    main()
