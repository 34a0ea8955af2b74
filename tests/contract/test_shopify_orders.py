"""Admin REST orders (shopify-api.md §1.3): create (pending, authorized, paid; attaching or creating the
customer), the order shape, list filters (``status`` defaults to ``open``), count, update, cancel, close/open,
transactions (a capture settles the order and fires ``orders/paid``), refunds — and what Rivo does with them:
paid orders earn, refunds and cancellations reverse, orders that used a Rivo code are tagged ``Rivo``."""

from __future__ import annotations

from typing import Any

import pytest

from rivosim import Simulator

from .shopify_support import (
    OFFSET_RE,
    AdminApi,
    RecordingSender,
    ShopifyShop,
    assert_shopify_error,
)

pytest_plugins = ["tests.contract.shopify_fixtures"]  # the Shopify fixtures


@pytest.fixture
def buyer(admin: AdminApi, sim: Simulator) -> dict[str, Any]:
    made = admin.create_customer(email="buyer@example.com", first_name="Bea")
    sim.advance(30)  # visible to Rivo
    return made


def _ids(body: dict[str, Any]) -> list[int]:
    return [o["id"] for o in body["orders"]]


# -- create and shape -----------------------------------------------------------------------------------------------
def test_an_order_in_shopifys_shape(admin: AdminApi, buyer: dict[str, Any]) -> None:
    o = admin.create_order(customer={"id": buyer["id"]}, line_items=[
        {"title": "IPod Nano - 8gb", "price": "199.00", "quantity": 3, "product_id": 632910392, "sku": "IPOD"}],
        discount_codes=[{"code": "SPRING", "amount": "10.00", "type": "fixed_amount"}], total_tax="11.94",
        tags="b, a", note_attributes=[{"name": "gift", "value": "yes"}])
    assert o["admin_graphql_api_id"] == f"gid://shopify/Order/{o['id']}"
    assert (o["name"], o["order_number"], o["number"]) == ("#1001", 1001, 1)
    assert o["total_line_items_price"] == "597.00" and o["subtotal_price"] == "587.00"
    assert o["total_price"] == "598.94" and o["total_tax"] == "11.94" and o["total_discounts"] == "10.00"
    assert o["total_price_set"] == {"shop_money": {"amount": "598.94", "currency_code": "USD"},
                                    "presentment_money": {"amount": "598.94", "currency_code": "USD"}}
    assert o["financial_status"] == "pending" and o["fulfillment_status"] is None and o["cancelled_at"] is None
    assert o["tags"] == "a, b" and o["discount_codes"] == [{"code": "SPRING", "amount": "10.00",
                                                             "type": "fixed_amount"}]
    assert o["note_attributes"] == [{"name": "gift", "value": "yes"}]
    line = o["line_items"][0]
    assert (line["price"], line["quantity"], line["sku"]) == ("199.00", 3, "IPOD")
    assert line["admin_graphql_api_id"] == f"gid://shopify/LineItem/{line['id']}"
    # The embedded customer has no orders_count or total_spent (the 2024-01 example).
    assert o["customer"]["id"] == buyer["id"] and "orders_count" not in o["customer"]
    assert OFFSET_RE.match(o["created_at"]) and o["refunds"] == [] and o["total_outstanding"] == "598.94"
    assert admin.ok("GET", f"orders/{o['id']}.json")["order"] == o


def test_an_email_finds_or_creates_the_customer(admin: AdminApi, buyer: dict[str, Any]) -> None:
    known = admin.create_order(email="Buyer@Example.com")
    assert known["customer"]["id"] == buyer["id"]
    new = admin.create_order(customer={"email": "new@example.com", "first_name": "Nia"})
    assert new["customer"]["email"] == "new@example.com" and new["customer"]["first_name"] == "Nia"
    assert admin.ok("GET", "customers/count.json") == {"count": 2}
    anonymous = admin.create_order()
    assert anonymous["customer"] is None


def test_a_refused_order_creates_no_customer_either(admin: AdminApi) -> None:
    resp = admin.post("orders.json", json={"order": {"email": "ghost@example.com", "line_items": []}})
    assert_shopify_error(resp, 422, {"line_items": ["must be a non-empty list"]})
    assert admin.ok("GET", "customers/count.json") == {"count": 0}
    assert admin.ok("GET", "orders/count.json?status=any") == {"count": 0}


@pytest.mark.parametrize(("order", "key"), [
    ({"line_items": [{"title": "x", "price": "-1"}]}, "line_items[0].price"),
    ({"line_items": [{"title": "x", "quantity": 0}]}, "line_items[0].quantity"),
    ({"customer": {"id": 42}}, "customer"),
    ({"financial_status": "refunded"}, "financial_status"),
    ({"discount_codes": ["CODE"]}, "discount_codes"),
    ({"tags": "x" * 41}, "tags"),
    ({"transactions": [{"kind": "refund", "amount": "1"}]}, "transactions"),
])
def test_invalid_orders_are_422(admin: AdminApi, order: dict[str, Any], key: str) -> None:
    order.setdefault("line_items", [{"title": "Tee", "price": "5.00"}])
    errors = assert_shopify_error(admin.post("orders.json", json={"order": order}), 422)
    assert list(errors) == [key]
    assert admin.ok("GET", "orders/count.json?status=any") == {"count": 0}


def test_a_missing_order_object_is_400(admin: AdminApi) -> None:
    assert_shopify_error(admin.post("orders.json", json={"line_items": []}), 400,
                         {"order": "Required parameter missing or invalid"})


# -- Rivo reacts -----------------------------------------------------------------------------------------------------
def test_a_paid_order_earns_points_and_a_refund_reverses_them(shopify: ShopifyShop, buyer: dict[str, Any]) -> None:
    admin = shopify.admin
    before = shopify.handle.points(buyer["id"])
    o = admin.create_order(customer={"id": buyer["id"]}, financial_status="paid",
                           line_items=[{"title": "Coat", "price": "120.00"}])
    assert o["financial_status"] == "paid" and o["total_outstanding"] == "0.00"
    assert shopify.handle.points(buyer["id"]) == before + 120
    refund = admin.ok("POST", f"orders/{o['id']}/refunds.json", 201,
                      json={"refund": {"note": "damaged", "transactions": [{"kind": "refund", "amount": "60.00"}]}})
    assert refund["refund"]["transactions"][0]["amount"] == "60.00" and refund["refund"]["note"] == "damaged"
    assert shopify.handle.points(buyer["id"]) == before + 60
    got = admin.ok("GET", f"orders/{o['id']}.json")["order"]
    assert got["financial_status"] == "partially_refunded" and got["current_total_price"] == "60.00"


def test_a_capture_settles_an_authorized_order_and_fires_orders_paid(shopify: ShopifyShop, buyer: dict[str, Any],
                                                                     receiver: RecordingSender, sim: Simulator
                                                                     ) -> None:
    admin = shopify.admin
    admin.ok("POST", "webhooks.json", 201, json={"webhook": {"topic": "orders/paid",
                                                             "address": "https://hooks.example.com/paid"}})
    o = admin.create_order(customer={"id": buyer["id"]}, financial_status="authorized")
    assert o["financial_status"] == "authorized"
    before = shopify.handle.points(buyer["id"])
    partial = admin.ok("POST", f"orders/{o['id']}/transactions.json", 201,
                       json={"transaction": {"kind": "capture", "amount": "10.00"}})["transaction"]
    assert partial["kind"] == "capture" and partial["parent_id"] is not None and partial["amount"] == "10.00"
    assert admin.ok("GET", f"orders/{o['id']}.json")["order"]["financial_status"] == "partially_paid"
    sim.run_until_idle()
    assert receiver.for_topic("orders/paid") == []
    admin.ok("POST", f"orders/{o['id']}/transactions.json", 201, json={"transaction": {"kind": "capture"}})
    assert admin.ok("GET", f"orders/{o['id']}.json")["order"]["financial_status"] == "paid"
    assert shopify.handle.points(buyer["id"]) == before + 40
    sim.run_until_idle()
    assert len(receiver.for_topic("orders/paid")) == 1
    kinds = [t["kind"] for t in admin.ok("GET", f"orders/{o['id']}/transactions.json")["transactions"]]
    assert kinds == ["authorization", "capture", "capture"]
    assert admin.ok("GET", f"orders/{o['id']}/transactions/count.json") == {"count": 3}


def test_transaction_refusals(admin: AdminApi, buyer: dict[str, Any]) -> None:
    pending = admin.create_order(customer={"id": buyer["id"]})
    assert_shopify_error(admin.post(f"orders/{pending['id']}/transactions.json",
                                    json={"transaction": {"kind": "capture"}}), 422)
    assert_shopify_error(admin.post(f"orders/{pending['id']}/transactions.json",
                                    json={"transaction": {"kind": "sale", "amount": "1.00"}}), 422,
                         {"amount": ["a sale must be for the order's total 40.00"]})
    assert_shopify_error(admin.post(f"orders/{pending['id']}/transactions.json",
                                    json={"transaction": {"kind": "teleport"}}), 422,
                         {"kind": ["must be capture, sale, void or refund"]})
    sale = admin.ok("POST", f"orders/{pending['id']}/transactions.json", 201,
                    json={"transaction": {"kind": "sale"}})["transaction"]
    assert sale["kind"] == "sale" and sale["status"] == "success"
    assert_shopify_error(admin.post(f"orders/{pending['id']}/refunds.json",
                                    json={"refund": {"transactions": [{"amount": "99.00"}]}}), 422,
                         {"amount": ["the refund amount 99.00 exceeds the refundable 40.00"]})
    authorized = admin.create_order(customer={"id": buyer["id"]}, financial_status="authorized")
    void = admin.ok("POST", f"orders/{authorized['id']}/transactions.json", 201,
                    json={"transaction": {"kind": "void"}})["transaction"]
    assert void["kind"] == "void"
    assert admin.ok("GET", f"orders/{authorized['id']}.json")["order"]["financial_status"] == "voided"


def test_refunds_by_line_items_and_reading_them_back(admin: AdminApi, buyer: dict[str, Any]) -> None:
    o = admin.create_order(customer={"id": buyer["id"]}, financial_status="paid",
                           line_items=[{"title": "Sock", "price": "5.00", "quantity": 4}])
    line = o["line_items"][0]["id"]
    made = admin.ok("POST", f"orders/{o['id']}/refunds.json", 201,
                    json={"refund": {"refund_line_items": [{"line_item_id": line, "quantity": 2}]}})["refund"]
    assert made["transactions"][0]["amount"] == "10.00"
    assert admin.ok("GET", f"orders/{o['id']}/refunds.json")["refunds"] == [made]
    assert admin.ok("GET", f"orders/{o['id']}/refunds/{made['id']}.json")["refund"] == made
    assert_shopify_error(admin.get(f"orders/{o['id']}/refunds/1.json"), 404, "Not Found")
    assert_shopify_error(admin.post(f"orders/{o['id']}/refunds.json", json={"refund": {}}), 422,
                         ["send transactions (with amounts) or refund_line_items to refund"])


def test_cancel_reverses_points_and_cannot_repeat(shopify: ShopifyShop, buyer: dict[str, Any]) -> None:
    admin = shopify.admin
    before = shopify.handle.points(buyer["id"])
    o = admin.create_order(customer={"id": buyer["id"]}, financial_status="paid")
    assert shopify.handle.points(buyer["id"]) == before + 40
    assert_shopify_error(admin.post(f"orders/{o['id']}/cancel.json", json={"reason": "boredom"}), 422,
                         {"reason": ["must be one of customer, fraud, inventory, declined, other, staff"]})
    cancelled = admin.ok("POST", f"orders/{o['id']}/cancel.json", json={"reason": "customer"})["order"]
    assert cancelled["cancel_reason"] == "customer" and cancelled["cancelled_at"] is not None
    assert cancelled["financial_status"] == "refunded"
    assert shopify.handle.points(buyer["id"]) == before
    assert_shopify_error(admin.post(f"orders/{o['id']}/cancel.json"), 422, [f"order {o['name']} is already cancelled"])


def test_an_order_using_a_rivo_reward_code_is_tagged_rivo(shopify: ShopifyShop, buyer: dict[str, Any]) -> None:
    shopify.handle.give(buyer["id"], 500)
    reward = shopify.handle.reward_named("$5 off coupon")
    code = shopify.handle.api.post("/points_redemptions", json={"customer_identifier": buyer["id"],
                                                                "reward_id": reward["id"]}).get_json()
    code = code["data"]["attributes"]["code"]
    admin = shopify.admin
    tagged = admin.create_order(customer={"id": buyer["id"]}, tags="Gift",
                                discount_codes=[{"code": code, "amount": "5.00"}])
    assert tagged["tags"] == "Gift, Rivo"
    plain = admin.create_order(customer={"id": buyer["id"]}, discount_codes=[{"code": "SUMMER", "amount": "1.00"}])
    assert plain["tags"] == ""


def test_a_referred_friends_first_order_is_tagged_rivo(shopify: ShopifyShop, buyer: dict[str, Any],
                                                       sim: Simulator) -> None:
    api = shopify.handle.api
    code = shopify.handle.customer(buyer["id"])["referral_code"]
    assert api.post("/referrals", json={"email": "friend@example.com", "referral_code": code,
                                        "remote_ip": "203.0.113.9"}).status_code == 201
    friend = shopify.admin.create_customer(email="friend@example.com")
    sim.advance(30)
    order = shopify.admin.create_order(customer={"id": friend["id"]}, financial_status="paid")
    assert shopify.admin.ok("GET", f"orders/{order['id']}.json")["order"]["tags"] == "Rivo"


# -- list, count, update, close --------------------------------------------------------------------------------------
def test_status_defaults_to_open_and_filters(admin: AdminApi, buyer: dict[str, Any]) -> None:
    open_ = admin.create_order(customer={"id": buyer["id"]})
    paid = admin.create_order(customer={"id": buyer["id"]}, financial_status="paid")
    closed = admin.create_order(customer={"id": buyer["id"]}, financial_status="paid")
    admin.ok("POST", f"orders/{closed['id']}/close.json")
    cancelled = admin.create_order(customer={"id": buyer["id"]})
    admin.ok("POST", f"orders/{cancelled['id']}/cancel.json")
    assert _ids(admin.ok("GET", "orders.json")) == [open_["id"], paid["id"]]
    assert _ids(admin.ok("GET", "orders.json?status=closed")) == [closed["id"], cancelled["id"]]
    assert _ids(admin.ok("GET", "orders.json?status=cancelled")) == [cancelled["id"]]
    assert len(_ids(admin.ok("GET", "orders.json?status=any"))) == 4
    assert _ids(admin.ok("GET", "orders.json?status=any&financial_status=paid")) == [paid["id"], closed["id"]]
    assert _ids(admin.ok("GET", "orders.json?status=any&financial_status=unpaid")) == [open_["id"]]
    assert _ids(admin.ok("GET", f"orders.json?status=any&since_id={paid['id']}")) == [closed["id"], cancelled["id"]]
    assert admin.ok("GET", "orders/count.json") == {"count": 2}
    assert admin.ok("GET", "orders/count.json?status=any&financial_status=voided") == {"count": 1}
    assert _ids(admin.ok("GET", f"customers/{buyer['id']}/orders.json?status=any")) == [
        open_["id"], paid["id"], closed["id"], cancelled["id"]]
    reopened = admin.ok("POST", f"orders/{closed['id']}/open.json")["order"]
    assert reopened["closed_at"] is None
    assert_shopify_error(admin.get("orders.json?status=shipped"), 400,
                         {"status": "status must be one of open, closed, cancelled, any"})


def test_orders_paginate(admin: AdminApi, buyer: dict[str, Any]) -> None:
    ids = [admin.create_order(customer={"id": buyer["id"]})["id"] for _ in range(3)]
    first = admin.get("orders.json?limit=2")
    assert _ids(first.get_json()) == ids[:2]
    nxt = first.headers["Link"].split("<", 1)[1].split(">", 1)[0]
    assert _ids(admin.ok("GET", nxt)) == ids[2:]
    assert_shopify_error(admin.get(nxt + "&status=any"), 400)


def test_update_replaces_tags_and_note(admin: AdminApi, buyer: dict[str, Any]) -> None:
    o = admin.create_order(customer={"id": buyer["id"]}, tags="Inbound")
    # The official example: {"order":{"id":450789469,"tags":"External, Inbound, Outbound"}}
    got = admin.ok("PUT", f"orders/{o['id']}.json",
                   json={"order": {"id": o["id"], "tags": "External, Inbound, Outbound", "note": "hi"}})["order"]
    assert got["tags"] == "External, Inbound, Outbound" and got["note"] == "hi"
    assert_shopify_error(admin.put(f"orders/{o['id']}.json", json={"order": {"tags": "y" * 41}}), 422)
    assert_shopify_error(admin.put("orders/5.json", json={"order": {"note": "x"}}), 404, "Not Found")
