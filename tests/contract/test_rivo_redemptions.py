"""Points redemptions (rivo-api.md §3.4): 201 with a ``REDEEM-`` code and embedded compact customer and reward,
the balance guard, the ``points_purchase`` ledger event, non-idempotency, and the list filters."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import CREDITS_RE, ISO_MS_RE, ShopHandle, assert_rivo_error, unchanged

CODE_RE = re.compile(r"^REDEEM-[0-9a-f]{12}$")
COMPACT_CUSTOMER = {"id", "email", "first_name", "last_name", "total_spent", "orders_count", "points_tally",
                    "credits_tally", "loyalty_status"}
# Kodif's example (rivo-api.md §3.4) plus the live reward fields a storefront reads (§3.2, issue 18).
EMBEDDED_REWARD = {"id", "name", "source", "enabled", "reward_type", "reward_value", "points_amount", "points_type",
                   "icon_url", "product_id", "variant_ids", "min_order_value_in_cents"}


@pytest.fixture
def rich(shop: ShopHandle, member: dict[str, Any]) -> dict[str, Any]:
    """The member with 1,200 points (100 sign-up + 1,100)."""
    shop.give(member["id"], 1100)
    return member


def redeem(shop: ShopHandle, customer: Any, reward_id: Any, **extra: Any) -> Any:
    return shop.api.post("/points_redemptions", json={"customer_identifier": customer, "reward_id": reward_id,
                                                      **extra})


def test_redeem_returns_201_with_code_and_embedded_objects(shop: ShopHandle, rich: dict[str, Any]) -> None:
    reward = shop.reward_named("$5 off coupon")
    resp = redeem(shop, rich["id"], reward["id"])
    assert resp.status_code == 201
    data = resp.get_json()["data"]
    assert data["type"] == "points_redemption"
    attrs = data["attributes"]
    assert attrs["id"] == data["id"] and isinstance(data["id"], int)
    assert CODE_RE.match(attrs["code"])
    assert attrs["name"] == "$5 off coupon"
    assert attrs["points_amount"] == 500 and attrs["points_diff"] == -500
    assert attrs["credits_amount"] == "0.0" and CREDITS_RE.match(attrs["credits_amount"])
    assert attrs["reward_id"] == reward["id"] and attrs["customer_identifier"] == str(rich["id"])
    assert attrs["used_at"] is None and attrs["expires_at"] is None
    assert attrs["refunded_at"] is None and attrs["revoked_at"] is None
    assert ISO_MS_RE.match(attrs["applied_at"])
    assert set(attrs["customer"]) == COMPACT_CUSTOMER
    assert attrs["customer"]["id"] == rich["id"] and attrs["customer"]["points_tally"] == 700
    assert attrs["customer"]["credits_tally"] == "0.0"
    assert set(attrs["reward"]) == EMBEDDED_REWARD
    assert attrs["reward"]["id"] == reward["id"] and attrs["reward"]["reward_value"] == 5.0


def test_redeem_deducts_and_writes_a_points_purchase_event(shop: ShopHandle, rich: dict[str, Any]) -> None:
    reward = shop.reward_named("$10 off coupon")
    redemption = redeem(shop, rich["id"], reward["id"]).get_json()["data"]
    assert shop.points(rich["id"]) == 200
    purchases = shop.api.data("/points_events", query_string={"filters[source]": "points_purchase"})
    assert len(purchases) == 1
    event = purchases[0]["attributes"]
    assert event["points_diff"] == -1000 and event["points_amount"] == 1000
    assert event["points_purchases_id"] == redemption["id"]
    assert event["customer_identifier"] == str(rich["id"])
    assert shop.reward_named("$10 off coupon")["redeemed_count"] == 1


def test_redeem_by_email_and_form_encoded(shop: ShopHandle, rich: dict[str, Any]) -> None:
    reward = shop.reward_named("Free shipping")
    resp = shop.api.post("/points_redemptions", data={"customer_identifier": "ada.lovelace@example.com",
                                                      "reward_id": str(reward["id"])})
    assert resp.status_code == 201
    assert resp.get_json()["data"]["attributes"]["name"] == "Free shipping"
    assert shop.points(rich["id"]) == 800


def test_redeem_is_not_idempotent(shop: ShopHandle, rich: dict[str, Any]) -> None:
    # rivo-api.md §3.4 (OBSERVED): repeating the call creates a second redemption.
    reward = shop.reward_named("$5 off coupon")
    first = redeem(shop, rich["id"], reward["id"]).get_json()["data"]
    second = redeem(shop, rich["id"], reward["id"]).get_json()["data"]
    assert first["id"] != second["id"]
    assert first["attributes"]["code"] != second["attributes"]["code"]
    assert shop.points(rich["id"]) == 200
    assert len(shop.api.data("/points_redemptions")) == 2


def test_insufficient_points_is_422_and_changes_nothing(shop: ShopHandle, member: dict[str, Any]) -> None:
    reward = shop.reward_named("$5 off coupon")
    with unchanged(shop):
        err = assert_rivo_error(redeem(shop, member["id"], reward["id"]), 422, code="insufficient_points")
        assert err["meta"] == {"balance": 100, "required": 500}
    assert shop.api.data("/points_redemptions") == []


def test_reward_expiry_sets_expires_at(shop: ShopHandle, rich: dict[str, Any]) -> None:
    created = shop.api.post("/rewards", json={"name": "Expiring", "points_amount": 100, "reward_value": 1,
                                              "expiry_months": 3}).get_json()["data"]
    attrs = redeem(shop, rich["id"], created["id"]).get_json()["data"]["attributes"]
    assert attrs["applied_at"].startswith("2026-01-01")
    assert attrs["expires_at"].startswith("2026-04-01")


@pytest.mark.parametrize(("body", "status", "parameter"), [
    ({"reward_id": 1}, 404, None),
    ({"reward_id": "abc"}, 422, "reward_id"),
    ({"reward_id": 2.5}, 422, "reward_id"),
    ({"reward_id": None}, 422, "reward_id"),  # None: the parameter is left out
    ({"reward_id": ""}, 422, "reward_id"),
    ({"customer_identifier": None}, 422, "customer_identifier"),
    ({"customer_identifier": 42}, 404, None),
    ({"customer_identifier": "ghost@example.com"}, 404, None),
    ({"quantity": 2}, 422, "quantity"),
])
def test_errors_change_nothing(shop: ShopHandle, rich: dict[str, Any], body: dict[str, Any], status: int,
                               parameter: str | None) -> None:
    reward = shop.reward_named("$5 off coupon")
    full = {"customer_identifier": rich["id"], "reward_id": reward["id"], **body}
    full = {k: v for k, v in full.items() if not (k in body and v is None)}
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/points_redemptions", json=full), status, parameter=parameter)


def test_unreadable_bodies_are_400(shop: ShopHandle, rich: dict[str, Any]) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/points_redemptions", data="{", content_type="application/json"), 400)
        assert_rivo_error(shop.api.post("/points_redemptions", data="", content_type="application/json"), 400)


def test_disabled_reward_is_422(shop: ShopHandle, rich: dict[str, Any]) -> None:
    reward = shop.reward_named("$5 off coupon")
    assert shop.api.put(f"/rewards/{reward['id']}", json={"enabled": False}).status_code == 200
    with unchanged(shop):
        assert_rivo_error(redeem(shop, rich["id"], reward["id"]), 422, parameter="reward_id")


def test_deleted_reward_is_404(shop: ShopHandle, rich: dict[str, Any]) -> None:
    reward = shop.reward_named("$5 off coupon")
    assert shop.api.delete(f"/rewards/{reward['id']}").status_code == 200
    with unchanged(shop):
        assert_rivo_error(redeem(shop, rich["id"], reward["id"]), 404)


def test_excluded_customer_cannot_redeem(shop: ShopHandle) -> None:
    cust = shop.add_customer(email="x@example.com", tags="Rivo Excluded")
    reward = shop.reward_named("Free shipping")
    with unchanged(shop):
        assert_rivo_error(redeem(shop, cust["id"], reward["id"]), 422, code="customer_excluded")


def test_inactive_program_cannot_redeem(shop: ShopHandle, rich: dict[str, Any]) -> None:
    shop.patch({"program": {"active": False}})
    reward = shop.reward_named("Free shipping")
    with unchanged(shop):
        assert_rivo_error(redeem(shop, rich["id"], reward["id"]), 422, code="program_inactive")


def test_incremental_reward(shop: ShopHandle, rich: dict[str, Any]) -> None:
    reward = shop.api.post("/rewards", json={
        "name": "Points for dollars", "points_type": "incremental", "reward_value": 1, "increment_points_value": 100,
        "min_points_to_redeem_value": 200, "max_points_to_spend_value": 1000}).get_json()["data"]
    resp = redeem(shop, rich["id"], reward["id"], points_amount=300)
    assert resp.status_code == 201
    attrs = resp.get_json()["data"]["attributes"]
    assert attrs["points_amount"] == 300 and attrs["name"] == "$3 off coupon"
    assert shop.points(rich["id"]) == 900
    for bad in (250, 100, 1100, None):
        with unchanged(shop):
            body = {} if bad is None else {"points_amount": bad}
            assert_rivo_error(redeem(shop, rich["id"], reward["id"], **body), 422, parameter="points_amount")


def test_store_credit_reward(shop: ShopHandle, member: dict[str, Any]) -> None:
    shop.give(member["id"], 0, "30.00")
    reward = shop.api.post("/rewards", json={"name": "Store Credit", "source": "credits", "reward_value": 1,
                                             "points_amount": 1}).get_json()["data"]
    resp = redeem(shop, member["id"], reward["id"], credits_amount="25.50")
    assert resp.status_code == 201
    attrs = resp.get_json()["data"]["attributes"]
    assert attrs["code"] is None  # store credit: no discount code
    assert attrs["credits_amount"] == "25.50" and attrs["points_amount"] == 0
    assert attrs["customer"]["credits_tally"] == "4.50"
    assert shop.customer(member["id"])["credits_tally"] == "4.50"
    with unchanged(shop):
        assert_rivo_error(redeem(shop, member["id"], reward["id"], credits_amount="5"), 422,
                          code="insufficient_balance")
        assert_rivo_error(redeem(shop, member["id"], reward["id"], credits_amount="-1"), 422,
                          parameter="credits_amount")


# -- list ---------------------------------------------------------------------------------------------------------
def test_list_filters(shop: ShopHandle, rich: dict[str, Any]) -> None:
    other = shop.add_customer(email="other@example.com")
    shop.give(other["id"], 900)
    five = shop.reward_named("$5 off coupon")
    mine = redeem(shop, rich["id"], five["id"]).get_json()["data"]
    theirs = redeem(shop, other["id"], five["id"]).get_json()["data"]
    assert {r["id"] for r in shop.api.data("/points_redemptions")} == {mine["id"], theirs["id"]}
    filtered = shop.api.data("/points_redemptions", query_string={"filters[customer_identifier]": str(rich["id"])})
    assert [r["id"] for r in filtered] == [mine["id"]]
    by_email = shop.api.data("/points_redemptions",
                             query_string={"filters[customer_identifier]": "OTHER@example.com"})
    assert [r["id"] for r in by_email] == [theirs["id"]]
    for name in ("refunded_at", "revoked_at"):
        assert len(shop.api.data("/points_redemptions", query_string={f"filters[{name}]": "null"})) == 2


def test_used_filter_follows_the_code_being_used(shop: ShopHandle, rich: dict[str, Any]) -> None:
    five = shop.reward_named("$5 off coupon")
    first = redeem(shop, rich["id"], five["id"]).get_json()["data"]
    second = redeem(shop, rich["id"], five["id"]).get_json()["data"]
    # The customer uses the first code in a paid order.
    shop.add_order(rich["id"], price="50.00", discount_codes=[first["attributes"]["code"]], total_discounts="5.00")
    unused = shop.api.data("/points_redemptions", query_string={"filters[used]": "false"})
    used = shop.api.data("/points_redemptions", query_string={"filters[used]": "true"})
    assert [r["id"] for r in unused] == [second["id"]]
    assert [r["id"] for r in used] == [first["id"]]
    assert ISO_MS_RE.match(used[0]["attributes"]["used_at"])


@pytest.mark.parametrize(("query", "parameter"), [
    ({"filters[used]": "maybe"}, "filters[used]"),
    ({"filters[refunded_at]": "2026-01-01"}, "filters[refunded_at]"),
    ({"filters[revoked_at]": "yes"}, "filters[revoked_at]"),
    ({"filters[reward_id]": "1"}, "filters[reward_id]"),
    ({"sort[order_type]": "points_amount"}, "sort[order_type]"),
])
def test_list_bad_query_is_422(shop: ShopHandle, query: dict[str, str], parameter: str) -> None:
    assert_rivo_error(shop.api.get("/points_redemptions", query_string=query), 422, parameter=parameter)


def test_list_sorted_by_applied_at_desc(shop: ShopHandle, rich: dict[str, Any], client: Any) -> None:
    five = shop.reward_named("$5 off coupon")
    first = redeem(shop, rich["id"], five["id"]).get_json()["data"]
    client.post("/_rivosim/clock/advance", json={"duration": "PT1H"})
    second = redeem(shop, rich["id"], five["id"]).get_json()["data"]
    data = shop.api.data("/points_redemptions", query_string={"sort[order_type]": "applied_at",
                                                              "sort[order_direction]": "desc"})
    assert [r["id"] for r in data] == [second["id"], first["id"]]


def test_list_filter_unknown_customer_is_404(shop: ShopHandle) -> None:
    assert_rivo_error(shop.api.get("/points_redemptions", query_string={"filters[customer_identifier]": "7"}), 404)


def test_credits_reward_made_in_config(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"program": {"rewards": [{"name": "$1 credit", "source": "credits", "reward_value": 1,
                                               "points_amount": 0}]}})
    cust = shop.add_customer(email="c@example.com")
    shop.give(cust["id"], 0, "3")
    reward = shop.reward_named("$1 credit")
    resp = redeem(shop, cust["id"], reward["id"])
    assert resp.status_code == 201
    assert shop.customer(cust["id"])["credits_tally"] == "2.0"


def test_superscript_digit_reward_id_is_422(shop: ShopHandle, rich: dict[str, Any]) -> None:
    with unchanged(shop):
        assert_rivo_error(redeem(shop, rich["id"], "²"), 422, parameter="reward_id")


def test_a_free_product_reward_is_created_and_redeemed_with_its_product_and_variants(
        shop: ShopHandle, rich: dict[str, Any]) -> None:
    # A storefront's add-the-free-item path (issue 18): the reward names its product and variants, and the
    # redemption carries them, so the storefront knows which item to add to the cart for the code.
    created = shop.api.post("/rewards", json={"name": "Free tote", "points_amount": 300, "reward_type": "free_product",
                                              "product_id": 632910392, "variant_ids": [808950810, 808950811],
                                              "icon_url": "https://cdn.example.com/tote.png"})
    assert created.status_code == 201, created.get_json()
    reward = created.get_json()["data"]["attributes"]
    assert (reward["product_id"], reward["variant_ids"]) == (632910392, [808950810, 808950811])
    assert reward["icon_url"] == "https://cdn.example.com/tote.png"
    resp = redeem(shop, rich["id"], reward["id"])
    assert resp.status_code == 201
    attrs = resp.get_json()["data"]["attributes"]
    assert attrs["reward_type"] == "free_product" and attrs["variant_ids"] == [808950810, 808950811]
    assert attrs["reward"]["product_id"] == 632910392 and CODE_RE.match(attrs["code"])


@pytest.mark.parametrize(("body", "field"), [
    ({"reward_type": "free_product", "product_id": 0}, "product_id"),
    ({"reward_type": "free_product", "product_id": 1, "variant_ids": ["x"]}, "variant_ids"),
    ({"icon_url": "ftp://x"}, "icon_url"),
])
def test_free_product_fields_are_validated(shop: ShopHandle, body: dict[str, Any], field: str) -> None:
    resp = shop.api.post("/rewards", json={"name": "Bad", "points_amount": 1, **body})
    assert resp.status_code == 422 and field in str(resp.get_json()), resp.get_json()
