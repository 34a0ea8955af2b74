"""Shopify's official Python client (``ShopifyAPI``, over urllib) against a real rivosim server on 127.0.0.1:
create, list and page customers, update tags, write and read metafields, create and list orders, run GraphQL,
and read the call limit the way the client does. The client is pointed at the server with ``set_site``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

shopify = pytest.importorskip("shopify")

from rivosim import Simulator, create_app  # noqa: E402
from rivosim.http.shopify.blueprint import supported_versions  # noqa: E402
from rivosim.transports.server import Server  # noqa: E402

DOMAIN = "e2e-store.myshopify.com"


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Simulator, Any, str]]:
    sim = Simulator(seed=404, clock="wall")
    shop = sim.create_shop({"domain": DOMAIN, "shopify": {"vip_tier_tags": True},
                            "rate_limits": {"shopify_rest": {"enabled": True, "burst": 400, "rate": 20}}})
    version = supported_versions(sim.now())[3]  # the current stable version by today's date
    with Server(create_app(sim), tick=sim.tick) as server:
        shopify.ShopifyResource.set_site(f"{server.url}/admin/api/{version}")
        shopify.ShopifyResource.set_headers({**shopify.ShopifyResource.get_headers(),
                                             "X-Shopify-Access-Token": shop.credentials.shopify_access_token})
        try:
            yield sim, shop, version
        finally:
            shopify.ShopifyResource.clear_session()
    assert sim.bugs == []


def test_customers_create_list_page_and_search(world: tuple[Simulator, Any, str]) -> None:
    made = []
    for i in range(5):
        customer = shopify.Customer({"email": f"page{i}@example.com", "first_name": f"P{i}", "tags": "Imported"})
        assert customer.save(), customer.errors.full_messages()
        made.append(customer.id)
    page = shopify.Customer.find(limit=2)
    seen = [c.id for c in page]
    while page.has_next_page():
        page = page.next_page()
        seen += [c.id for c in page]
    # Other tests of this module may have made customers too: ours come in order, nothing twice or missing.
    assert seen == sorted(set(seen)) and [i for i in seen if i in made] == made
    assert page.has_previous_page() and len([c.id for c in page.previous_page()]) == 2
    assert shopify.Customer.count() == len(seen)
    found = shopify.Customer.search(query="email:page3@example.com")
    assert [c.id for c in found] == [made[3]]
    # The client reads X-Shopify-Shop-Api-Call-Limit from the last response.
    assert shopify.Limits.credit_limit() == 400 and 0 < shopify.Limits.credit_used() <= 400


def test_update_tags_replaces_the_set_and_invalid_saves_report_errors(world: tuple[Simulator, Any, str]) -> None:
    customer = shopify.Customer({"email": "tags@example.com", "tags": "Old"})
    assert customer.save()
    customer = shopify.Customer.find(customer.id)  # the client PUTs the whole object back on save
    customer.tags = "VIP, Newsletter"
    assert customer.save()
    assert shopify.Customer.find(customer.id).tags == "Newsletter, VIP"
    clash = shopify.Customer({"email": "tags@example.com"})
    assert not clash.save()
    assert clash.errors.full_messages() == ["email has already been taken"]  # from {"errors": {"email": [...]}}


def test_metafields_through_the_client(world: tuple[Simulator, Any, str]) -> None:
    customer = shopify.Customer({"email": "meta@example.com"})
    assert customer.save()
    metafield = customer.add_metafield(shopify.Metafield({"namespace": "loyalty", "key": "tier", "value": "Gold",
                                                          "type": "single_line_text_field"}))
    assert metafield.id and metafield.owner_resource == "customer"
    by_key = {(m.namespace, m.key): m for m in customer.metafields()}
    assert by_key[("loyalty", "tier")].value == "Gold"
    rivo = json.loads(by_key[("custom", "rivo")].value)  # Rivo's own writeback
    assert rivo["status"] == "member" and rivo["points_balance"] == 100
    shop_level = shopify.Metafield({"namespace": "my_fields", "key": "count", "value": 3, "type": "number_integer"})
    assert shop_level.save()
    assert shopify.Metafield.find(shop_level.id).value == 3


def test_orders_and_rivo_points(world: tuple[Simulator, Any, str]) -> None:
    shop = world[1]
    customer = shopify.Customer({"email": "buyer@example.com", "first_name": "Bea"})
    assert customer.save()
    order = shopify.Order({"customer": {"id": customer.id}, "financial_status": "paid",
                           "line_items": [{"title": "Jacket", "price": "450.00", "quantity": 1}]})
    assert order.save(), order.errors.full_messages()
    assert order.financial_status == "paid" and order.total_price == "450.00" and order.name.startswith("#")
    assert [o.id for o in shopify.Order.find(customer_id=customer.id)] == [order.id]
    assert shopify.Order.find(order.id).customer.id == customer.id
    member = shop.rivo.members[customer.id]
    assert member.points_tally == 550  # 100 for joining + 450 for the order: Silver
    # VIP tier tagging is on: Rivo wrote the tier tag back to Shopify.
    assert shopify.Customer.find(customer.id).tags == "Rivo VIP Tier: Silver"


def test_graphql_through_the_client(world: tuple[Simulator, Any, str]) -> None:
    customer = shopify.Customer({"email": "gql@example.com"})
    assert customer.save()
    result = json.loads(shopify.GraphQL().execute(
        "mutation($id: ID!) { tagsAdd(id: $id, tags: [\"Fan\"]) { node { ... on Customer { tags } } "
        "userErrors { message } } }", {"id": f"gid://shopify/Customer/{customer.id}"}))
    assert result["data"]["tagsAdd"]["node"]["tags"] == ["Fan", "Rivo VIP Tier: Bronze"]
    assert result["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 2000.0
