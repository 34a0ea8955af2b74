"""Admin REST store resources: the shop, metafields on the shop, customers and orders (shopify-api.md §1.4),
themes with the app-embed ``config/settings_data.json`` (§7) and webhook subscriptions (§1.5)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rivosim import Simulator

from .shopify_support import (
    OFFSET_RE,
    AdminApi,
    ShopifyShop,
    assert_shopify_error,
)

pytest_plugins = ["tests.contract.shopify_fixtures"]  # the Shopify fixtures


def test_shop_json(shopify: ShopifyShop) -> None:
    shop = shopify.admin.ok("GET", "shop.json")["shop"]
    assert shop["myshopify_domain"] == shopify.domain and shop["currency"] == "USD"
    assert shop["iana_timezone"] == "UTC" and shop["plan_name"] == "basic"
    assert shopify.admin.ok("GET", "shop.json?fields=id,name")["shop"].keys() == {"id", "name"}


# -- metafields ------------------------------------------------------------------------------------------------------
def test_shop_metafield_crud_with_typed_values(admin: AdminApi, sim: Simulator) -> None:
    made = admin.ok("POST", "metafields.json", 201, json={"metafield": {
        "namespace": "my_fields", "key": "my_items", "value": '{"items":["some item"]}', "type": "json"}})["metafield"]
    assert made["owner_resource"] == "shop" and made["value"] == '{"items":["some item"]}'
    assert made["admin_graphql_api_id"] == f"gid://shopify/Metafield/{made['id']}"
    assert OFFSET_RE.match(made["created_at"])
    count = admin.ok("POST", "metafields.json", 201, json={"metafield": {
        "namespace": "my_fields", "key": "count", "value": 7, "type": "number_integer"}})["metafield"]
    assert count["value"] == 7  # integers come back as JSON numbers
    flag = admin.ok("POST", "metafields.json", 201, json={"metafield": {
        "namespace": "my_fields", "key": "flag", "value": "true", "type": "boolean"}})["metafield"]
    assert flag["value"] is True
    sim.advance(5)
    updated = admin.ok("PUT", f"metafields/{count['id']}.json",
                       json={"metafield": {"id": count["id"], "value": "8"}})["metafield"]
    assert updated["value"] == 8 and updated["updated_at"] != updated["created_at"]
    listed = admin.ok("GET", "metafields.json?namespace=my_fields")["metafields"]
    assert [m["key"] for m in listed] == ["my_items", "count", "flag"]
    assert admin.ok("GET", "metafields/count.json?namespace=my_fields") == {"count": 3}
    assert admin.ok("DELETE", f"metafields/{flag['id']}.json") == {}
    assert_shopify_error(admin.get(f"metafields/{flag['id']}.json"), 404, "Not Found")


def test_rivo_writes_the_shop_metafield_rivo_loy(admin: AdminApi) -> None:
    found = admin.ok("GET", "metafields.json?namespace=rivo&key=loy")["metafields"]
    assert len(found) == 1 and found[0]["type"] == "json"
    value = json.loads(found[0]["value"])
    assert set(value) == {"points_program", "vip_program", "referral_program", "translations", "frontend"}
    assert [t["name"] for t in value["vip_program"]["tiers"]] == ["Bronze", "Silver", "Gold"]


def test_customer_metafields_are_unique_per_namespace_and_key(admin: AdminApi) -> None:
    c = admin.create_customer(email="mf@example.com")
    body = {"metafield": {"namespace": "discounts", "key": "special", "value": "yes",
                          "type": "single_line_text_field"}}
    made = admin.ok("POST", f"customers/{c['id']}/metafields.json", 201, json=body)["metafield"]
    assert (made["owner_id"], made["owner_resource"]) == (c["id"], "customer")
    assert_shopify_error(admin.post(f"customers/{c['id']}/metafields.json", json=body), 422,
                         {"key": ["must be unique within this namespace on this resource"]})
    # The same namespace and key on another owner is fine.
    other = admin.create_customer(email="other@example.com")
    assert admin.post(f"customers/{other['id']}/metafields.json", json=body).status_code == 201
    assert admin.ok("GET", f"customers/{c['id']}/metafields/count.json?namespace=discounts") == {"count": 1}
    # Rivo wrote its own customer metafield (custom.rivo) when the customer joined the program.
    assert admin.ok("GET", f"customers/{c['id']}/metafields/count.json") == {"count": 2}
    # The owner-filter form on the shop endpoint.
    via = admin.ok("GET", f"metafields.json?metafield[owner_id]={c['id']}&metafield[owner_resource]=customer")
    assert [m["id"] for m in via["metafields"] if m["namespace"] == "discounts"] == [made["id"]]
    # A nested route reaches only its owner's metafields.
    assert_shopify_error(admin.get(f"customers/{other['id']}/metafields/{made['id']}.json"), 404, "Not Found")
    assert_shopify_error(admin.get("customers/99/metafields.json"), 404, "Not Found")


@pytest.mark.parametrize(("fields", "errors"), [
    ({"namespace": "ns1", "key": "k1", "value": "x"}, {"type": ["Type can't be blank"]}),
    ({"namespace": "ns1", "key": "k1", "value": "x", "type": "colour"},
     {"type": ["Type 'colour' is not a valid type"]}),
    ({"namespace": "ns1", "key": "k1", "value": "1.5", "type": "number_integer"},
     {"value": ["Value must be an integer."]}),
    ({"namespace": "ns1", "key": "k1", "value": "{", "type": "json"}, None),
    ({"namespace": "n", "key": "k1", "value": "x", "type": "single_line_text_field"},
     {"namespace": ["Namespace is too short (minimum is 3 characters)"]}),
    ({"namespace": "ns1", "key": "bad key", "value": "x", "type": "single_line_text_field"},
     {"key": ["Key contains one or more invalid characters"]}),
    ({"namespace": "ns1", "key": "k1", "value": "", "type": "single_line_text_field"},
     {"value": ["Value can't be blank"]}),
    ({"namespace": "ns1", "key": "k1", "value": "a\nb", "type": "single_line_text_field"},
     {"value": ["Value must be a single line of text."]}),
    ({"namespace": "ns1", "key": "k1", "value": "red", "type": "color"},
     {"value": ["Value must be a hex color code like #ff0000."]}),
])
def test_invalid_metafields_are_422(admin: AdminApi, fields: dict[str, Any], errors: Any) -> None:
    got = assert_shopify_error(admin.post("metafields.json", json={"metafield": fields}), 422, errors)
    assert isinstance(got, dict) and len(got) == 1


def test_legacy_value_type_is_accepted(admin: AdminApi) -> None:
    made = admin.ok("POST", "metafields.json", 201, json={"metafield": {
        "namespace": "legacy", "key": "count", "value": 3, "value_type": "integer"}})["metafield"]
    assert made["type"] == "number_integer" and made["value"] == 3


def test_order_metafields(admin: AdminApi) -> None:
    o = admin.create_order()
    made = admin.ok("POST", f"orders/{o['id']}/metafields.json", 201, json={"metafield": {
        "namespace": "loyalty", "key": "points", "value": "40", "type": "number_integer"}})["metafield"]
    assert made["owner_resource"] == "order"
    assert admin.ok("GET", f"orders/{o['id']}/metafields.json")["metafields"] == [made]


# -- themes and assets -----------------------------------------------------------------------------------------------
def test_themes_list_publish_and_the_app_embed_asset(admin: AdminApi) -> None:
    themes = admin.ok("GET", "themes.json")["themes"]
    assert [(t["name"], t["role"]) for t in themes] == [("Dawn", "main")]
    dawn = themes[0]
    assert dawn["admin_graphql_api_id"] == f"gid://shopify/OnlineStoreTheme/{dawn['id']}"
    keys = [a["key"] for a in admin.ok("GET", f"themes/{dawn['id']}/assets.json")["assets"]]
    assert "config/settings_data.json" in keys
    asset = admin.ok("GET", f"themes/{dawn['id']}/assets.json?asset[key]=config/settings_data.json")["asset"]
    blocks = json.loads(asset["value"])["current"]["blocks"]
    embed = next(iter(blocks.values()))
    assert embed["type"].startswith("shopify://apps/rivo") and "/blocks/" in embed["type"]
    assert embed["disabled"] is False
    sense = admin.ok("POST", "themes.json", 201, json={"theme": {"name": "Sense"}})["theme"]
    assert sense["role"] == "unpublished"
    published = admin.ok("PUT", f"themes/{sense['id']}.json", json={"theme": {"role": "main"}})["theme"]
    assert published["role"] == "main"
    roles = {t["name"]: t["role"] for t in admin.ok("GET", "themes.json")["themes"]}
    assert roles == {"Dawn": "unpublished", "Sense": "main"}
    assert [t["name"] for t in admin.ok("GET", "themes.json?role=main")["themes"]] == ["Sense"]
    assert_shopify_error(admin.put(f"themes/{sense['id']}.json", json={"theme": {"role": "unpublished"}}), 422)


def test_putting_assets(admin: AdminApi) -> None:
    theme = admin.ok("GET", "themes.json")["themes"][0]
    data = {"current": {"blocks": {"1": {"type": "shopify://apps/rivo-loyalty-referrals/blocks/rivo-app-embed/x",
                                         "disabled": True, "settings": {}}}}}
    put = admin.ok("PUT", f"themes/{theme['id']}/assets.json",
                   json={"asset": {"key": "config/settings_data.json", "value": json.dumps(data)}})["asset"]
    assert put["key"] == "config/settings_data.json" and "value" not in put and put["checksum"]
    assert_shopify_error(admin.put(f"themes/{theme['id']}/assets.json",
                                   json={"asset": {"key": "config/settings_data.json", "value": "{nope"}}), 422)
    assert_shopify_error(admin.put(f"themes/{theme['id']}/assets.json",
                                   json={"asset": {"key": "../etc/passwd", "value": "x"}}), 422)
    assert_shopify_error(admin.get(f"themes/{theme['id']}/assets.json?asset[key]=templates/none.json"), 404)


# -- webhook subscriptions -------------------------------------------------------------------------------------------
def test_webhook_subscription_crud(admin: AdminApi) -> None:
    made = admin.ok("POST", "webhooks.json", 201, json={"webhook": {
        "topic": "orders/create", "address": "https://example.hostname.com/", "format": "json",
        "fields": ["id", "note"]}})["webhook"]
    assert made["api_version"] == "2025-10" and made["fields"] == ["id", "note"]
    assert made["metafield_namespaces"] == [] and made["private_metafield_namespaces"] == []
    assert admin.ok("GET", f"webhooks/{made['id']}.json")["webhook"] == made
    assert admin.ok("GET", "webhooks/count.json") == {"count": 1}
    assert admin.ok("GET", "webhooks.json?topic=orders/create")["webhooks"] == [made]
    assert admin.ok("GET", "webhooks.json?topic=orders/paid")["webhooks"] == []
    moved = admin.ok("PUT", f"webhooks/{made['id']}.json", json={"webhook": {"address": "http://127.0.0.1:9/x"}})
    assert moved["webhook"]["address"] == "http://127.0.0.1:9/x"
    assert admin.ok("DELETE", f"webhooks/{made['id']}.json") == {}
    assert admin.ok("GET", "webhooks/count.json") == {"count": 0}


@pytest.mark.parametrize(("webhook", "key"), [
    ({"topic": "products/create", "address": "https://x.example.com"}, "topic"),
    ({"address": "https://x.example.com"}, "topic"),
    ({"topic": "orders/paid"}, "address"),
    ({"topic": "orders/paid", "address": "ftp://x.example.com"}, "address"),
    ({"topic": "orders/paid", "address": "pubsub://project:topic"}, "address"),
    ({"topic": "orders/paid", "address": "https://x.example.com", "format": "xml"}, "format"),
    ({"topic": "orders/paid", "address": "https://x.example.com", "fields": "id"}, "fields"),
])
def test_invalid_webhook_subscriptions_are_422(admin: AdminApi, webhook: dict[str, Any], key: str) -> None:
    errors = assert_shopify_error(admin.post("webhooks.json", json={"webhook": webhook}), 422)
    assert list(errors) == [key]
    assert admin.ok("GET", "webhooks/count.json") == {"count": 0}


def test_one_subscription_per_topic_and_address(admin: AdminApi) -> None:
    body = {"webhook": {"topic": "orders/paid", "address": "https://x.example.com/h"}}
    admin.ok("POST", "webhooks.json", 201, json=body)
    assert_shopify_error(admin.post("webhooks.json", json=body), 422,
                         {"address": ["for this topic has already been taken"]})
