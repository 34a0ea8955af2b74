"""A free-product reward end to end over the APIs: redeeming it (Rivo ``POST /points_redemptions``) makes the
Shopify discount the code stands for — 100 % off one unit of the reward's product, for that customer, once — and
an order placed with the code (Shopify ``POST orders.json``) gets that line free, the discount shown as Shopify
shows one (``discount_codes``, ``discount_applications``, the line's ``discount_allocations``), and Rivo marks the
redemption used. A code used up, used by someone else or on an order without the product is refused (422) and
no order is placed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import ShopHandle
from .shopify_support import ShopifyShop, assert_shopify_error

pytest_plugins = ["tests.contract.shopify_fixtures"]

TOTE, TOTE_RED, TOTE_BLUE, MUG = 632910392, 808950810, 808950811, 921728736


def free_tote(handle: ShopHandle, **fields: Any) -> dict[str, Any]:
    resp = handle.api.post("/rewards", json={"name": "Free tote", "points_amount": 300, "reward_type": "free_product",
                                             "product_id": TOTE, **fields})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["data"]["attributes"]  # type: ignore[no-any-return]


def redeem(handle: ShopHandle, customer_id: int, reward_id: int) -> str:
    resp = handle.api.post("/points_redemptions", json={"customer_identifier": str(customer_id),
                                                        "reward_id": reward_id})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["data"]["attributes"]["code"]  # type: ignore[no-any-return]


def order(store: ShopifyShop, customer_id: int, code: str, lines: list[dict[str, Any]]) -> Any:
    return store.admin.post("orders.json", json={"order": {
        "customer": {"id": customer_id}, "financial_status": "paid", "line_items": lines,
        "discount_codes": [{"code": code}]}})


TOTE_LINE = {"title": "Tote", "price": "25.00", "quantity": 2, "product_id": TOTE, "variant_id": TOTE_RED}
MUG_LINE = {"title": "Mug", "price": "12.00", "quantity": 1, "product_id": MUG}


@pytest.fixture
def store(make_shopify: Callable[..., ShopifyShop]) -> ShopifyShop:
    return make_shopify({"rate_limits": {"rivo": {"enabled": False}}})


@pytest.fixture
def ada(store: ShopifyShop) -> dict[str, Any]:
    member = store.handle.add_customer(email="ada@example.com", first_name="Ada")
    store.handle.give(member["id"], 1000)
    return member


def test_the_order_placed_with_the_code_gets_one_unit_free(store: ShopifyShop, ada: dict[str, Any]) -> None:
    reward = free_tote(store.handle, variant_ids=[TOTE_RED, TOTE_BLUE])
    code = redeem(store.handle, ada["id"], reward["id"])
    placed = order(store, ada["id"], code.lower(), [MUG_LINE, TOTE_LINE])  # checkout matches codes in any case
    assert placed.status_code == 201, placed.get_data(as_text=True)
    o = placed.get_json()["order"]
    assert o["total_discounts"] == "25.00" and o["subtotal_price"] == "37.00"  # 12 + 2 x 25 - one tote
    assert o["discount_codes"] == [{"code": code.lower(), "amount": "25.00", "type": "percentage"}]
    assert o["discount_applications"] == [{
        "type": "discount_code", "code": code.lower(), "value": "100.0", "value_type": "percentage",
        "allocation_method": "each", "target_selection": "entitled", "target_type": "line_item"}]
    mug, tote = o["line_items"]
    assert mug["total_discount"] == "0.00" and mug["discount_allocations"] == []
    assert tote["total_discount"] == "25.00"
    assert [(a["amount"], a["discount_application_index"]) for a in tote["discount_allocations"]] == [("25.00", 0)]
    # Rivo saw the code used on the order and earns points on what was paid.
    mine = {"filters[customer_identifier]": ada["id"]}
    (redemption,) = store.handle.api.data("/points_redemptions", query_string=mine)
    assert redemption["attributes"]["used_at"] is not None
    events = store.handle.api.data("/points_events", query_string=mine)
    assert any(e["attributes"]["source"] == "order_placed" and e["attributes"]["points_diff"] == 37 for e in events)


def test_the_code_is_once_and_for_its_customer_and_product(store: ShopifyShop, ada: dict[str, Any]) -> None:
    code = redeem(store.handle, ada["id"], free_tote(store.handle, variant_ids=[TOTE_RED])["id"])
    bob = store.handle.add_customer(email="bob@example.com")
    before = len(store.admin.ok("GET", "orders.json")["orders"])
    errors = assert_shopify_error(order(store, bob["id"], code, [TOTE_LINE]), 422)
    assert f"belongs to customer {ada['id']}" in str(errors)
    errors = assert_shopify_error(order(store, ada["id"], code, [MUG_LINE]), 422)
    assert f"makes product {TOTE} (variant {TOTE_RED}) free; no line item" in str(errors)
    blue = {**TOTE_LINE, "variant_id": TOTE_BLUE}
    assert_shopify_error(order(store, ada["id"], code, [blue]), 422)
    assert len(store.admin.ok("GET", "orders.json")["orders"]) == before  # nothing was placed
    assert order(store, ada["id"], code, [TOTE_LINE]).status_code == 201
    errors = assert_shopify_error(order(store, ada["id"], code, [TOTE_LINE]), 422)
    assert "has already been used" in str(errors)


def test_other_codes_keep_the_amount_the_order_states(store: ShopifyShop, ada: dict[str, Any]) -> None:
    resp = store.handle.api.post("/points_redemptions", json={"customer_identifier": str(ada["id"]),
                                                              "reward_id": store.handle.api.data("/rewards")[0]["id"]})
    code = resp.get_json()["data"]["attributes"]["code"]  # "$5 off coupon": not a free product
    placed = store.admin.post("orders.json", json={"order": {
        "customer": {"id": ada["id"]}, "line_items": [MUG_LINE],
        "discount_codes": [{"code": code, "amount": "5.00", "type": "fixed_amount"}]}})
    o = placed.get_json()["order"]
    assert o["total_discounts"] == "5.00" and o["discount_applications"] == []
