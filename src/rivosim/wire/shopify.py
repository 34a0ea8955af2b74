"""Shopify's REST JSON shapes (shopify-api.md §1.2-§1.5, §7; the 2024-01 field lists): money as decimal
strings, ``tags`` as one ``", "``-joined string, ``admin_graphql_api_id`` GIDs, timestamps in the shop's time
zone with its offset (``2024-01-02T09:20:49-05:00``). Used by the Admin REST API and the webhook payloads.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rivosim.domain.shopify.themes import checksum

if TYPE_CHECKING:
    from rivosim.domain.shop import Shop
    from rivosim.domain.shopify.models import (
        LineItem,
        Metafield,
        Order,
        Refund,
        ShopifyCustomer,
        Theme,
        ThemeAsset,
        Transaction,
        WebhookSubscription,
    )

__all__ = [
    "asset",
    "customer",
    "gid",
    "metafield",
    "metafield_value",
    "money",
    "order",
    "refund",
    "shop",
    "theme",
    "timestamp",
    "transaction",
    "webhook",
]


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def timestamp(value: datetime | None, tz: str = "UTC") -> str | None:
    """ISO-8601 to the second in the shop's zone, with its offset."""
    if value is None:
        return None
    return value.astimezone(_zone(tz)).replace(microsecond=0).isoformat()


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def _money_set(value: Decimal, currency: str) -> dict[str, Any]:
    amount = {"amount": money(value), "currency_code": currency}
    return {"shop_money": amount, "presentment_money": dict(amount)}


def gid(kind: str, id_: int) -> str:
    return f"gid://shopify/{kind}/{id_}"


def tags(values: list[str]) -> str:
    return ", ".join(values)


def _consent(state: bool, updated: datetime | None, tz: str, *, sms: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"state": "subscribed" if state else "not_subscribed",
                           "opt_in_level": "single_opt_in" if state else None,
                           "consent_updated_at": timestamp(updated, tz) if state else None}
    if sms:
        out["consent_collected_from"] = "OTHER"
    return out


def customer(c: ShopifyCustomer, tz: str = "UTC", currency: str = "USD") -> dict[str, Any]:
    return {
        "id": c.id, "email": c.email, "created_at": timestamp(c.created_at, tz),
        "updated_at": timestamp(c.updated_at, tz), "first_name": c.first_name, "last_name": c.last_name,
        "orders_count": c.orders_count, "state": c.state, "total_spent": money(c.total_spent),
        "last_order_id": c.last_order_id, "note": c.note, "verified_email": c.verified_email,
        "multipass_identifier": None, "tax_exempt": False, "tags": tags(c.tags), "last_order_name": c.last_order_name,
        "currency": currency, "phone": c.phone, "addresses": [], "tax_exemptions": [],
        "email_marketing_consent": None if c.email is None else _consent(c.accepts_marketing, c.updated_at, tz),
        "sms_marketing_consent": None if c.phone is None else _consent(c.accepts_sms, c.updated_at, tz, sms=True),
        "accepts_marketing": c.accepts_marketing,
        "accepts_marketing_updated_at": timestamp(c.updated_at, tz),
        "marketing_opt_in_level": "single_opt_in" if c.accepts_marketing else None,
        "admin_graphql_api_id": gid("Customer", c.id), "default_address": None,
    }


def _embedded_customer(c: ShopifyCustomer, tz: str, currency: str) -> dict[str, Any]:
    """The customer inside an order: no ``orders_count``/``total_spent`` (shopify-api.md §1.3)."""
    full = customer(c, tz, currency)
    for key in ("orders_count", "total_spent", "last_order_id", "last_order_name", "addresses",
                "accepts_marketing", "accepts_marketing_updated_at", "marketing_opt_in_level"):
        full.pop(key, None)
    return full


def _line_item(li: LineItem, currency: str) -> dict[str, Any]:
    return {
        "id": li.id, "admin_graphql_api_id": gid("LineItem", li.id), "product_id": li.product_id,
        "variant_id": li.variant_id, "title": li.title, "name": li.title, "sku": li.sku, "quantity": li.quantity,
        "current_quantity": li.quantity, "fulfillable_quantity": li.quantity, "fulfillment_status": None,
        "price": money(li.price), "price_set": _money_set(li.price, currency),
        "total_discount": money(li.total_discount), "total_discount_set": _money_set(li.total_discount, currency),
        "discount_allocations": [{"amount": money(amount), "amount_set": _money_set(amount, currency),
                                  "discount_application_index": index}
                                 for index, amount in li.discount_allocations], "gift_card": False,
        "taxable": True, "tax_lines": [], "properties": [], "requires_shipping": True, "vendor": None,
        "grams": 0, "product_exists": li.product_id is not None, "variant_title": None,
    }


def transaction(t: Transaction, o: Order, tz: str = "UTC") -> dict[str, Any]:
    return {
        "id": t.id, "admin_graphql_api_id": gid("OrderTransaction", t.id), "order_id": o.id, "kind": t.kind,
        "gateway": t.gateway, "status": t.status, "message": None, "created_at": timestamp(t.created_at, tz),
        "processed_at": timestamp(t.created_at, tz), "test": o.test, "authorization": None,
        "parent_id": t.parent_id, "amount": money(t.amount), "currency": o.currency, "source_name": o.source_name,
        "error_code": None, "receipt": {}, "location_id": None, "user_id": None, "device_id": None,
        "payment_id": f"{o.name}.{o.transactions.index(t) + 1}" if t in o.transactions else None,
    }


def refund(r: Refund, o: Order, tz: str = "UTC") -> dict[str, Any]:
    txns = [t for t in o.transactions if t.id == r.transaction_id]
    return {
        "id": r.id, "admin_graphql_api_id": gid("Refund", r.id), "order_id": o.id,
        "created_at": timestamp(r.created_at, tz), "processed_at": timestamp(r.created_at, tz), "note": r.note,
        "restock": False, "user_id": None, "refund_line_items": [], "order_adjustments": [], "duties": [],
        "transactions": [transaction(t, o, tz) for t in txns],
    }


def order(o: Order, shop: Shop) -> dict[str, Any]:
    tz = shop.settings.timezone
    cur = o.currency
    refunded = o.refunded_amount
    current_total = max(Decimal("0.00"), o.total_price - refunded)
    current_subtotal = max(Decimal("0.00"), o.subtotal_price - refunded)
    line_total = sum((li.price * li.quantity for li in o.line_items), Decimal("0.00"))
    buyer = shop.shopify.customers.get(o.customer_id) if o.customer_id is not None else None
    outstanding = Decimal("0.00") if o.financial_status in ("voided",) or o.cancelled_at else max(
        Decimal("0.00"), o.total_price - o.captured_amount)
    return {
        "id": o.id, "admin_graphql_api_id": gid("Order", o.id), "app_id": None, "browser_ip": None,
        "buyer_accepts_marketing": bool(buyer and buyer.accepts_marketing), "cancel_reason": o.cancel_reason,
        "cancelled_at": timestamp(o.cancelled_at, tz), "cart_token": None, "checkout_token": None,
        "client_details": None, "closed_at": timestamp(o.closed_at, tz), "company": None,
        "confirmation_number": f"R{o.id % 10**9:09d}"[:10], "confirmed": True, "contact_email": o.email,
        "created_at": timestamp(o.created_at, tz), "currency": cur,
        "current_subtotal_price": money(current_subtotal),
        "current_subtotal_price_set": _money_set(current_subtotal, cur),
        "current_total_discounts": money(o.total_discounts),
        "current_total_discounts_set": _money_set(o.total_discounts, cur),
        "current_total_price": money(current_total), "current_total_price_set": _money_set(current_total, cur),
        "current_total_tax": money(o.total_tax), "current_total_tax_set": _money_set(o.total_tax, cur),
        "customer_locale": None,
        "discount_codes": [{"code": d.code, "amount": money(d.amount), "type": d.type} for d in o.discount_details],
        "discount_applications": [dict(d.application) for d in o.discount_details if d.application is not None],
        "email": o.email, "estimated_taxes": False,
        "financial_status": o.financial_status, "fulfillment_status": o.fulfillment_status, "fulfillments": [],
        "gateway": "bogus" if o.transactions else None, "landing_site": None, "location_id": None, "name": o.name,
        "note": o.note, "note_attributes": [dict(a) for a in o.note_attributes], "number": o.number - 1000,
        "order_number": o.number,
        "order_status_url": f"https://{shop.domain}/{shop.id}/orders/{o.id:x}/authenticate",
        "payment_gateway_names": ["bogus"] if o.transactions else [], "phone": None, "po_number": None,
        "presentment_currency": cur, "processed_at": timestamp(o.processed_at, tz), "reference": None,
        "referring_site": None, "refunds": [refund(r, o, tz) for r in o.refunds], "shipping_lines": [],
        "billing_address": None, "shipping_address": None, "source_identifier": None, "source_name": o.source_name,
        "source_url": None, "subtotal_price": money(o.subtotal_price),
        "subtotal_price_set": _money_set(o.subtotal_price, cur), "tags": tags(o.tags), "tax_lines": [],
        "taxes_included": False, "test": o.test, "token": f"{o.id:032x}"[-32:],
        "total_discounts": money(o.total_discounts), "total_discounts_set": _money_set(o.total_discounts, cur),
        "total_line_items_price": money(line_total), "total_line_items_price_set": _money_set(line_total, cur),
        "total_outstanding": money(outstanding), "total_price": money(o.total_price),
        "total_price_set": _money_set(o.total_price, cur),
        "total_shipping_price_set": _money_set(Decimal(0), cur), "total_tax": money(o.total_tax),
        "total_tax_set": _money_set(o.total_tax, cur), "total_tip_received": "0.00", "total_weight": 0,
        "updated_at": timestamp(o.updated_at, tz), "user_id": None,
        "customer": _embedded_customer(buyer, tz, cur) if buyer is not None else None,
        "line_items": [_line_item(li, cur) for li in o.line_items],
    }


def metafield_value(mf: Metafield) -> Any:
    """REST ``value`` is typed by ``type``: integers and booleans as JSON values, the rest as strings."""
    if mf.type in ("number_integer", "integer"):
        try:
            return int(mf.value)
        except ValueError:
            return mf.value
    if mf.type == "boolean":
        return mf.value == "true"
    return mf.value


def metafield(mf: Metafield, tz: str = "UTC") -> dict[str, Any]:
    return {
        "id": mf.id, "namespace": mf.namespace, "key": mf.key, "value": metafield_value(mf),
        "description": mf.description, "owner_id": mf.owner_id, "created_at": timestamp(mf.created_at, tz),
        "updated_at": timestamp(mf.updated_at, tz), "owner_resource": mf.owner_resource, "type": mf.type,
        "admin_graphql_api_id": gid("Metafield", mf.id),
    }


def theme(t: Theme, tz: str = "UTC") -> dict[str, Any]:
    return {
        "id": t.id, "name": t.name, "created_at": timestamp(t.created_at, tz),
        "updated_at": timestamp(t.updated_at, tz), "role": t.role, "theme_store_id": t.theme_store_id,
        "previewable": True, "processing": False, "admin_graphql_api_id": gid("OnlineStoreTheme", t.id),
    }


def asset(a: ThemeAsset, theme_id: int, tz: str = "UTC", *, with_value: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": a.key, "public_url": None, "created_at": timestamp(a.created_at, tz),
        "updated_at": timestamp(a.updated_at, tz), "content_type": a.content_type,
        "size": len(a.value.encode("utf-8")), "checksum": checksum(a.value), "theme_id": theme_id,
    }
    if with_value:
        out["value"] = a.value
    return out


def webhook(w: WebhookSubscription, tz: str = "UTC") -> dict[str, Any]:
    return {
        "id": w.id, "address": w.address, "topic": w.topic, "created_at": timestamp(w.created_at, tz),
        "updated_at": timestamp(w.updated_at, tz), "format": w.format, "fields": list(w.fields),
        "metafield_namespaces": list(w.metafield_namespaces), "api_version": w.api_version,
        "private_metafield_namespaces": [],
    }


def _gmt_offset(tz: str, at: datetime) -> str:
    offset = at.astimezone(_zone(tz)).strftime("%z") or "+0000"
    return f"(GMT{offset[:3]}:{offset[3:]}) {tz}"


def shop(s: Shop) -> dict[str, Any]:
    """``GET /shop.json`` and the ``app/uninstalled`` payload."""
    cfg = s.settings
    tz = cfg.timezone
    name = cfg.name or s.domain.split(".", 1)[0].replace("-", " ").title()
    plan = cfg.shopify_plan
    return {
        "id": s.id, "name": name, "email": f"owner@{s.domain}", "domain": s.domain, "province": None,
        "country": "US", "address1": None, "zip": None, "city": None, "source": None, "phone": None,
        "latitude": None, "longitude": None, "primary_locale": "en", "address2": None,
        "created_at": timestamp(s.created_at, tz), "updated_at": timestamp(s.created_at, tz),
        "country_code": "US", "country_name": "United States", "currency": cfg.currency,
        "customer_email": f"owner@{s.domain}", "timezone": _gmt_offset(tz, s.created_at), "iana_timezone": tz,
        "shop_owner": f"{name} Owner", "money_format": "${{amount}}", "money_with_currency_format":
        f"${{{{amount}}}} {cfg.currency}", "weight_unit": "kg", "province_code": None, "taxes_included": False,
        "auto_configure_tax_inclusivity": None, "tax_shipping": None, "county_taxes": True,
        "plan_display_name": {"plus": "Shopify Plus", "basic": "Basic", "shopify": "Shopify",
                              "advanced": "Advanced"}[plan],
        "plan_name": {"plus": "shopify_plus", "basic": "basic", "shopify": "professional",
                      "advanced": "unlimited"}[plan],
        "has_discounts": True, "has_gift_cards": False, "myshopify_domain": s.domain, "google_apps_domain": None,
        "google_apps_login_enabled": None, "money_in_emails_format": "${{amount}}",
        "money_with_currency_in_emails_format": f"${{{{amount}}}} {cfg.currency}",
        "eligible_for_payments": True, "requires_extra_payments_agreement": False, "password_enabled": False,
        "has_storefront": True, "finances": True, "primary_location_id": None, "checkout_api_supported": True,
        "multi_location_enabled": True, "setup_required": False, "pre_launch_enabled": False,
        "enabled_presentment_currencies": [cfg.currency], "transactional_sms_disabled": False,
        "marketing_sms_consent_enabled_at_checkout": False,
    }
