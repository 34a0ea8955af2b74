"""GraphQL Admin API (shopify-api.md §2): tagsAdd/tagsRemove, metafieldsSet (≤ 25, atomic, userErrors with
codes), customer(id:) with tags and metafields, connections, webhook subscriptions, access scopes, and cost
throttling (``extensions.cost`` on every response, THROTTLED and MAX_COST_EXCEEDED at HTTP 200)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from rivosim import Simulator

from .shopify_support import (
    INVALID_TOKEN,
    AdminApi,
    ShopifyShop,
    assert_shopify_error,
)

TAGS_ADD = """mutation tagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) {
    node { id ... on Customer { tags } ... on Order { tags } } userErrors { field message }
  }
}"""
TAGS_REMOVE = """mutation($id: ID!, $tags: [String!]!) {
  tagsRemove(id: $id, tags: $tags) { node { id } userErrors { field message } }
}"""
SET = """mutation($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { id namespace key value type jsonValue compareDigest }
    userErrors { field message code elementIndex }
  }
}"""
CUSTOMER = """query($id: ID!) {
  customer(id: $id) {
    id legacyResourceId email tags numberOfOrders amountSpent { amount currencyCode } state
    metafield(namespace: "custom", key: "rivo") { value type jsonValue }
    loyalty: metafield(namespace: "loyalty", key: "tier") { value }
    metafields(first: 10) { nodes { namespace key } }
  }
}"""

pytest_plugins = ["tests.contract.shopify_fixtures"]  # the Shopify fixtures


def gid(kind: str, id_: int) -> str:
    return f"gid://shopify/{kind}/{id_}"


@pytest.fixture
def customer(admin: AdminApi) -> dict[str, Any]:
    return admin.create_customer(email="gql@example.com", first_name="Gia", tags="Existing")


# -- tags ------------------------------------------------------------------------------------------------------------
def test_tags_add_merges_and_tags_remove_removes(admin: AdminApi, customer: dict[str, Any]) -> None:
    cid = gid("Customer", customer["id"])
    body = admin.graphql(TAGS_ADD, {"id": cid, "tags": "one, two, three"})  # the official string form
    assert body["data"]["tagsAdd"] == {"node": {"id": cid, "tags": ["Existing", "one", "three", "two"]},
                                       "userErrors": []}
    admin.graphql(TAGS_ADD, {"id": cid, "tags": ["Four", "one"]})
    assert admin.ok("GET", f"customers/{customer['id']}.json")["customer"]["tags"] == \
        "Existing, Four, one, three, two"
    removed = admin.graphql(TAGS_REMOVE, {"id": cid, "tags": ["ONE", "Existing"]})
    assert removed["data"]["tagsRemove"]["userErrors"] == []
    assert admin.ok("GET", f"customers/{customer['id']}.json")["customer"]["tags"] == "Four, three, two"
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 10 and cost["actualQueryCost"] == 10


def test_tags_on_orders_and_unknown_ids(admin: AdminApi, customer: dict[str, Any]) -> None:
    order = admin.create_order(customer={"id": customer["id"]})
    got = admin.graphql(TAGS_ADD, {"id": gid("Order", order["id"]), "tags": ["Wholesale"]})["data"]["tagsAdd"]
    assert got["node"]["tags"] == ["Wholesale"]
    for bad in (gid("Customer", 1), gid("Product", 5), "not-a-gid"):
        result = admin.graphql(TAGS_ADD, {"id": bad, "tags": ["x"]})["data"]["tagsAdd"]
        assert result == {"node": None, "userErrors": [{"field": ["id"], "message": "Resource not found"}]}
    too_long = admin.graphql(TAGS_ADD, {"id": gid("Order", order["id"]), "tags": ["y" * 41]})["data"]["tagsAdd"]
    assert too_long["node"] is None and too_long["userErrors"][0]["field"] == ["tags"]


# -- metafieldsSet ---------------------------------------------------------------------------------------------------
def test_metafields_set_upserts_and_the_customer_query_reads_them(admin: AdminApi, customer: dict[str, Any]) -> None:
    cid = gid("Customer", customer["id"])
    entries = [{"ownerId": cid, "namespace": "loyalty", "key": "tier", "type": "single_line_text_field",
                "value": "Gold"},
               {"ownerId": cid, "namespace": "loyalty", "key": "profile", "type": "json", "value": '{"a": 1}'}]
    first = admin.graphql(SET, {"metafields": entries})["data"]["metafieldsSet"]
    assert first["userErrors"] == [] and [m["key"] for m in first["metafields"]] == ["tier", "profile"]
    assert first["metafields"][1]["jsonValue"] == {"a": 1}
    entries[0]["value"] = "Platinum"
    second = admin.graphql(SET, {"metafields": entries[:1]})["data"]["metafieldsSet"]
    assert second["metafields"][0]["id"] == first["metafields"][0]["id"]  # an upsert, same metafield
    data = admin.graphql(CUSTOMER, {"id": cid})["data"]["customer"]
    assert data["loyalty"] == {"value": "Platinum"} and data["tags"] == ["Existing"]
    assert data["numberOfOrders"] == "0" and data["amountSpent"] == {"amount": "0.00", "currencyCode": "USD"}
    rivo = json.loads(data["metafield"]["value"])  # Rivo's own customer metafield
    assert rivo["points_balance"] == 100 and rivo["vip_tier"] == "Bronze" and data["metafield"]["type"] == "json"
    assert {(m["namespace"], m["key"]) for m in data["metafields"]["nodes"]} == {
        ("custom", "rivo"), ("loyalty", "tier"), ("loyalty", "profile")}


def test_metafields_set_is_atomic_with_coded_user_errors(admin: AdminApi, customer: dict[str, Any]) -> None:
    cid = gid("Customer", customer["id"])
    result = admin.graphql(SET, {"metafields": [
        {"ownerId": cid, "namespace": "loyalty", "key": "ok", "type": "single_line_text_field", "value": "fine"},
        {"ownerId": cid, "namespace": "lo", "key": "short_ns", "type": "single_line_text_field", "value": "x"},
        {"ownerId": cid, "namespace": "loyalty", "key": "n", "type": "number_integer", "value": "1"},
        {"ownerId": cid, "namespace": "loyalty", "key": "count", "type": "number_integer", "value": "one"},
        {"ownerId": gid("Customer", 1), "namespace": "loyalty", "key": "who", "type": "boolean", "value": "true"},
        {"ownerId": cid, "namespace": "loyalty", "key": "typeless", "value": "x"},
    ]})["data"]["metafieldsSet"]
    assert result["metafields"] == []
    errors = {(e["elementIndex"], e["code"]) for e in result["userErrors"]}
    assert errors == {(1, "TOO_SHORT"), (2, "TOO_SHORT"), (3, "INVALID_VALUE"), (4, "INVALID"), (5, "BLANK")}
    assert result["userErrors"][0]["field"] == ["metafields", "1", "namespace"]
    # Nothing was saved, not even the valid first entry.
    assert admin.ok("GET", f"customers/{customer['id']}/metafields/count.json?namespace=loyalty") == {"count": 0}


def test_more_than_25_metafields_is_refused_whole(admin: AdminApi, customer: dict[str, Any]) -> None:
    cid = gid("Customer", customer["id"])
    many = [{"ownerId": cid, "namespace": "bulk", "key": f"k{i:02d}", "type": "number_integer", "value": str(i)}
            for i in range(26)]
    body = admin.graphql(SET, {"metafields": many})
    assert body["data"]["metafieldsSet"] is None
    assert body["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
    assert "26" in body["errors"][0]["message"] and "25" in body["errors"][0]["message"]
    assert admin.graphql(SET, {"metafields": many[:25]})["data"]["metafieldsSet"]["userErrors"] == []


def test_shop_metafields_and_compare_digest(admin: AdminApi) -> None:
    shop_id = admin.graphql("{ shop { id myshopifyDomain } }")["data"]["shop"]["id"]
    entry = {"ownerId": shop_id, "namespace": "settings", "key": "mode", "type": "single_line_text_field",
             "value": "a"}
    digest = admin.graphql(SET, {"metafields": [entry]})["data"]["metafieldsSet"]["metafields"][0]["compareDigest"]
    stale = admin.graphql(SET, {"metafields": [{**entry, "value": "b", "compareDigest": "0" * 64}]})
    assert stale["data"]["metafieldsSet"]["userErrors"][0]["code"] == "INVALID_COMPARE_DIGEST"
    fresh = admin.graphql(SET, {"metafields": [{**entry, "value": "b", "compareDigest": digest}]})
    assert fresh["data"]["metafieldsSet"]["metafields"][0]["value"] == "b"
    found = admin.ok("GET", "metafields.json?namespace=settings")["metafields"]
    assert [(m["key"], m["value"]) for m in found] == [("mode", "b")]


def test_the_app_namespace_resolves(admin: AdminApi, customer: dict[str, Any]) -> None:
    cid = gid("Customer", customer["id"])
    made = admin.graphql(SET, {"metafields": [{"ownerId": cid, "key": "secret", "type": "boolean",
                                               "value": "true"}]})["data"]["metafieldsSet"]["metafields"][0]
    assert made["namespace"].startswith("app--")
    read = admin.graphql('query($id: ID!) { customer(id: $id) { metafield(key: "secret") { value } } }',
                         {"id": cid})
    assert read["data"]["customer"]["metafield"] == {"value": "true"}


# -- queries ---------------------------------------------------------------------------------------------------------
def test_customers_connection_pages_and_searches(admin: AdminApi) -> None:
    ids = [admin.create_customer(email=f"c{i}@example.com", tags="VIP" if i % 2 else "")["id"] for i in range(5)]
    query = """query($after: String) { customers(first: 2, after: $after) {
        edges { cursor node { legacyResourceId } } pageInfo { hasNextPage hasPreviousPage endCursor } } }"""
    seen: list[int] = []
    after = None
    while True:
        conn = admin.graphql(query, {"after": after})["data"]["customers"]
        seen += [int(e["node"]["legacyResourceId"]) for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert seen == ids
    vip = admin.graphql('{ customers(first: 10, query: "tag:VIP") { nodes { email } } }')
    assert [n["email"] for n in vip["data"]["customers"]["nodes"]] == ["c1@example.com", "c3@example.com"]
    last = admin.graphql("{ customers(last: 2) { nodes { email } pageInfo { hasPreviousPage } } }")
    assert last["data"]["customers"]["pageInfo"]["hasPreviousPage"] is True
    assert [n["email"] for n in last["data"]["customers"]["nodes"]] == ["c3@example.com", "c4@example.com"]
    missing = admin.graphql("{ customers { nodes { id } } }")
    assert missing["errors"][0]["message"] == "you must provide one of first or last"


def test_node_order_and_themes(admin: AdminApi, customer: dict[str, Any]) -> None:
    order = admin.create_order(customer={"id": customer["id"]}, financial_status="paid")
    data = admin.graphql("""query($id: ID!) { order(id: $id) { name displayFinancialStatus
        totalPriceSet { shopMoney { amount currencyCode } } customer { email } } }""",
                         {"id": gid("Order", order["id"])})["data"]["order"]
    assert data == {"name": "#1001", "displayFinancialStatus": "PAID",
                    "totalPriceSet": {"shopMoney": {"amount": "40.00", "currencyCode": "USD"}},
                    "customer": {"email": "gql@example.com"}}
    node = admin.graphql('query($id: ID!) { node(id: $id) { __typename id } }', {"id": gid("Customer", customer["id"])})
    assert node["data"]["node"]["__typename"] == "Customer"
    themes = admin.graphql("{ themes(first: 5, roles: [MAIN]) { nodes { name role } } }")["data"]["themes"]
    assert themes["nodes"] == [{"name": "Dawn", "role": "MAIN"}]
    assert admin.graphql('{ customer(id: "gid://shopify/Customer/1") { id } }')["data"]["customer"] is None


def test_customer_update_overwrites_tags(admin: AdminApi, customer: dict[str, Any]) -> None:
    query = """mutation($input: CustomerInput!) { customerUpdate(input: $input) {
        customer { tags firstName } userErrors { field message } } }"""
    got = admin.graphql(query, {"input": {"id": gid("Customer", customer["id"]), "tags": ["Only"],
                                          "firstName": "Gina"}})["data"]["customerUpdate"]
    assert got == {"customer": {"tags": ["Only"], "firstName": "Gina"}, "userErrors": []}
    admin.create_customer(email="taken@example.com")
    taken = admin.graphql(query, {"input": {"id": gid("Customer", customer["id"]), "email": "taken@example.com"}})
    assert taken["data"]["customerUpdate"]["userErrors"] == [{"field": ["email"],
                                                             "message": "Email has already been taken"}]


def test_webhook_subscriptions_through_graphql(admin: AdminApi) -> None:
    create = """mutation($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
      webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
        webhookSubscription { id topic endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } } }
        userErrors { field message } } }"""
    made = admin.graphql(create, {"topic": "ORDERS_PAID", "sub": {"callbackUrl": "https://h.example.com/paid",
                                                                   "format": "JSON"}})
    sub = made["data"]["webhookSubscriptionCreate"]["webhookSubscription"]
    assert sub["topic"] == "ORDERS_PAID" and sub["endpoint"]["callbackUrl"] == "https://h.example.com/paid"
    again = admin.graphql(create, {"topic": "ORDERS_PAID", "sub": {"callbackUrl": "https://h.example.com/paid"}})
    assert again["data"]["webhookSubscriptionCreate"]["userErrors"] == [
        {"field": ["webhookSubscription", "callbackUrl"], "message": "Address for this topic has already been taken"}]
    assert admin.ok("GET", "webhooks.json")["webhooks"][0]["topic"] == "orders/paid"
    listed = admin.graphql("{ webhookSubscriptions(first: 10) { nodes { id topic } } }")
    assert listed["data"]["webhookSubscriptions"]["nodes"] == [{"id": sub["id"], "topic": "ORDERS_PAID"}]
    deleted = admin.graphql('mutation($id: ID!) { webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId '
                            "userErrors { message } } }", {"id": sub["id"]})
    assert deleted["data"]["webhookSubscriptionDelete"]["deletedWebhookSubscriptionId"] == sub["id"]
    assert admin.ok("GET", "webhooks/count.json") == {"count": 0}


# -- errors ----------------------------------------------------------------------------------------------------------
def test_graphql_errors_still_carry_the_cost(admin: AdminApi) -> None:
    unknown = admin.graphql("{ shop { id nonsense } }")
    assert unknown["errors"][0]["message"] == "Field 'nonsense' doesn't exist on type 'Shop'"
    assert unknown["errors"][0]["extensions"] == {"code": "undefinedField", "typeName": "Shop", "fieldName": "nonsense"}
    syntax = admin.graphql("{ shop { id ")
    assert syntax["errors"][0]["locations"] and "extensions" not in syntax["errors"][0]


def test_http_level_errors(client: FlaskClient, admin: AdminApi) -> None:
    assert_shopify_error(AdminApi(client, "shpat_wrong").post("graphql.json", json={"query": "{ shop { id } }"}),
                         401, INVALID_TOKEN)
    assert_shopify_error(admin.post("graphql.json", json={}), 400, {"query": "Required parameter missing or invalid"})
    assert_shopify_error(admin.post("graphql.json", data=b"not json", content_type="application/json"), 400)
    raw = admin.post("graphql.json", data=b"{ shop { myshopifyDomain } }", content_type="application/graphql")
    assert raw.status_code == 200 and raw.get_json()["data"]["shop"]["myshopifyDomain"]
    assert_shopify_error(admin.post("/admin/api/2025-13/graphql.json", json={"query": "{ shop { id } }"}), 404)


def test_access_denied_for_a_scope_not_granted(make_shopify: Callable[..., ShopifyShop]) -> None:
    admin = make_shopify(shopify={"access_scopes": ["read_customers"]}).admin
    body = admin.graphql("{ orders(first: 1) { nodes { id } } customers(first: 1) { nodes { id } } }")
    error = body["errors"][0]
    assert error["extensions"]["code"] == "ACCESS_DENIED" and error["path"] == ["orders"]
    assert body["data"] is None or body["data"].get("orders") is None


# -- cost and throttling ---------------------------------------------------------------------------------------------
def test_a_query_over_1000_points_is_max_cost_exceeded(admin: AdminApi) -> None:
    body = admin.graphql("{ customers(first: 250) { nodes { id orders(first: 250) { nodes { id } } } } }")
    error = body["errors"][0]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED" and error["extensions"]["maxCost"] == 1000
    assert error["message"].startswith(f"Query cost is {error['extensions']['cost']}, which exceeds the single query "
                                       "max cost limit (1000).")
    assert body["extensions"]["cost"]["actualQueryCost"] is None and "data" not in body


def test_throttled_at_200_then_restored_on_the_clock(sim: Simulator, make_shopify: Callable[..., ShopifyShop]) -> None:
    admin = make_shopify(rate_limits={"shopify_graphql": {"enabled": True, "burst": 100, "rate": 10}}).admin
    query = "{ customers(first: 49) { nodes { id } } }"  # 2 + 49 = 51 points
    first = admin.graphql(query)
    status = first["extensions"]["cost"]["throttleStatus"]
    assert status == {"maximumAvailable": 100.0, "currentlyAvailable": 49, "restoreRate": 10.0}
    throttled = admin.graphql(query)
    assert throttled["errors"] == [{"message": "Throttled", "extensions": {
        "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}]
    assert throttled["extensions"]["cost"]["requestedQueryCost"] == 51
    assert throttled["extensions"]["cost"]["actualQueryCost"] is None
    sim.advance(1)  # 49 + 10 = 59 points available again
    assert "errors" not in admin.graphql(query)


def test_default_graphql_bucket_is_2000_restoring_100(make_shopify: Callable[..., ShopifyShop]) -> None:
    admin = make_shopify(rate_limits={"shopify_graphql": {"enabled": True}}).admin
    status = admin.graphql("{ shop { id } }")["extensions"]["cost"]["throttleStatus"]
    assert status == {"maximumAvailable": 2000.0, "currentlyAvailable": 1999, "restoreRate": 100.0}
    plus = make_shopify(domain="plus.myshopify.com", shopify_plan="plus",
                        rate_limits={"shopify_graphql": {"enabled": True}}).admin
    assert plus.graphql("{ shop { id } }")["extensions"]["cost"]["throttleStatus"]["restoreRate"] == 1000.0
