"""Rewards (rivo-api.md §3.2): the ``"rewards"`` type string, the documented attributes, and create / update /
delete with their validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import ISO_MS_RE, ShopHandle, assert_rivo_error, unchanged

REWARD_FIELDS = {"id", "name", "enabled", "points_amount", "points_type", "reward_type", "source",
                 "pretty_display_rewards", "min_order_value_in_cents", "expiry_months", "reward_value",
                 "redeemed_count", "created_at", "updated_at", "terms_of_service"}


def test_list_envelope_and_types(shop: ShopHandle) -> None:
    resp = shop.api.get("/rewards")
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"links", "data"}
    assert [d["attributes"]["name"] for d in body["data"]] == ["$5 off coupon", "$10 off coupon", "10% off coupon",
                                                              "Free shipping"]
    for item in body["data"]:
        assert item["type"] == "rewards"  # plural, per the Reward Object doc
        attrs = item["attributes"]
        assert attrs["id"] == item["id"]
        assert set(attrs) >= REWARD_FIELDS
        assert isinstance(attrs["points_amount"], int) and isinstance(attrs["enabled"], bool)
        assert isinstance(attrs["reward_value"], float)
        assert attrs["points_type"] == "fixed" and attrs["source"] == "points"
        assert set(attrs["terms_of_service"]) == {"reward_type", "applies_to", "show_tos"}
        assert ISO_MS_RE.match(attrs["created_at"]) and ISO_MS_RE.match(attrs["updated_at"])
    first = body["data"][0]["attributes"]
    assert first["pretty_display_rewards"] == "500 Points = $5 off coupon"
    assert first["reward_type"] == "fixed_amount" and first["reward_value"] == 5.0


def test_points_name_appears_in_pretty_display(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"program": {"points_name": "Stars"}})
    assert shop.rewards()[0]["pretty_display_rewards"] == "500 Stars = $5 off coupon"


def test_create_returns_201_and_lists_it(shop: ShopHandle) -> None:
    resp = shop.api.post("/rewards", json={"name": "$20 off", "points_amount": 2000, "reward_type": "fixed_amount",
                                           "reward_value": 20, "expiry_months": 6, "min_order_value_in_cents": 5000})
    assert resp.status_code == 201
    data = resp.get_json()["data"]
    assert data["type"] == "rewards"
    attrs = data["attributes"]
    assert (attrs["name"], attrs["points_amount"], attrs["reward_value"]) == ("$20 off", 2000, 20.0)
    assert (attrs["expiry_months"], attrs["min_order_value_in_cents"]) == (6, 5000)
    assert attrs["enabled"] is True and attrs["redeemed_count"] == 0
    assert data["id"] in [r["id"] for r in shop.rewards()]


def test_create_with_reward_wrapper_and_form_encoding(shop: ShopHandle) -> None:
    wrapped = shop.api.post("/rewards", json={"reward": {"name": "Wrapped", "points_amount": 10}})
    assert wrapped.status_code == 201
    form = shop.api.post("/rewards", data={"name": "Form", "points_amount": "300", "enabled": "false",
                                           "reward_value": "2.5"})
    assert form.status_code == 201
    attrs = form.get_json()["data"]["attributes"]
    assert (attrs["points_amount"], attrs["enabled"], attrs["reward_value"]) == (300, False, 2.5)


@pytest.mark.parametrize(("body", "parameter"), [
    ({"points_amount": 10}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 256}, "name"),
    ({"name": 5}, "name"),
    ({"name": "x", "reward_type": "bogo"}, "reward_type"),
    ({"name": "x", "points_type": "multiplier"}, "points_type"),
    ({"name": "x", "source": "magic"}, "source"),
    ({"name": "x", "points_amount": -1}, "points_amount"),
    ({"name": "x", "points_amount": "many"}, "points_amount"),
    ({"name": "x", "points_amount": 1.5}, "points_amount"),
    ({"name": "x", "enabled": "yes"}, "enabled"),
    ({"name": "x", "reward_value": -5}, "reward_value"),
    ({"name": "x", "reward_value": "five"}, "reward_value"),
    ({"name": "x", "reward_type": "percentage", "reward_value": 101}, "reward_value"),
    ({"name": "x", "expiry_months": 0}, "expiry_months"),
    ({"name": "x", "expiry_months": 25}, "expiry_months"),
    ({"name": "x", "increment_points_value": 0}, "increment_points_value"),
    ({"name": "x", "redeemed_count": 5}, "redeemed_count"),
    ({"name": "x", "colour": "red"}, "colour"),
])
def test_create_validation_names_the_field_and_creates_nothing(shop: ShopHandle, body: dict[str, Any],
                                                               parameter: str) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/rewards", json=body), 422, parameter=parameter)


def test_create_unreadable_bodies_are_400(shop: ShopHandle) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/rewards", data="{'name': 'x'}", content_type="application/json"), 400)
        assert_rivo_error(shop.api.post("/rewards"), 400)


def test_update_changes_only_given_fields(shop: ShopHandle, client: Any) -> None:
    reward = shop.reward_named("$5 off coupon")
    client.post("/_rivosim/clock/advance", json={"duration": "PT1M"})
    resp = shop.api.put(f"/rewards/{reward['id']}", json={"points_amount": 450, "enabled": False})
    assert resp.status_code == 200
    attrs = resp.get_json()["data"]["attributes"]
    assert (attrs["points_amount"], attrs["enabled"], attrs["name"]) == (450, False, "$5 off coupon")
    assert attrs["updated_at"] > reward["updated_at"] and attrs["created_at"] == reward["created_at"]
    assert shop.reward_named("$5 off coupon")["points_amount"] == 450


@pytest.mark.parametrize(("body", "parameter"), [
    ({"points_amount": -3}, "points_amount"),
    ({"points_amount": 10, "reward_type": "bogus"}, "reward_type"),  # nothing applied, not even points_amount
    ({"name": ""}, "name"),
    ({"id": 5, "bogus": True}, "bogus"),
])
def test_update_validation_changes_nothing(shop: ShopHandle, body: dict[str, Any], parameter: str) -> None:
    reward = shop.reward_named("$5 off coupon")
    with unchanged(shop):
        assert_rivo_error(shop.api.put(f"/rewards/{reward['id']}", json=body), 422, parameter=parameter)


def test_update_unknown_reward_is_404(shop: ShopHandle) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.put("/rewards/1", json={"points_amount": 1}), 404, code="not_found")


def test_update_non_numeric_id_is_refused(shop: ShopHandle) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.put("/rewards/five", json={"points_amount": 1}), 422)


def test_delete_returns_the_reward_and_removes_it(shop: ShopHandle) -> None:
    reward = shop.reward_named("Free shipping")
    resp = shop.api.delete(f"/rewards/{reward['id']}")
    assert resp.status_code == 200
    data = resp.get_json()["data"]
    assert data["type"] == "rewards" and data["id"] == reward["id"]
    assert "Free shipping" not in [r["name"] for r in shop.rewards()]
    with unchanged(shop):
        assert_rivo_error(shop.api.delete(f"/rewards/{reward['id']}"), 404)
        assert_rivo_error(shop.api.put(f"/rewards/{reward['id']}", json={"points_amount": 1}), 404)


def test_delete_unknown_is_404(shop: ShopHandle) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.delete("/rewards/999999999"), 404)


def test_redemption_keeps_pointing_at_a_deleted_reward(shop: ShopHandle, member: dict[str, Any]) -> None:
    shop.give(member["id"], 400)
    reward = shop.reward_named("Free shipping")
    redemption = shop.api.post("/points_redemptions", json={"customer_identifier": member["id"],
                                                            "reward_id": reward["id"]}).get_json()["data"]
    assert shop.api.delete(f"/rewards/{reward['id']}").status_code == 200
    listed = shop.api.data("/points_redemptions")
    assert [r["id"] for r in listed] == [redemption["id"]]
    assert listed[0]["attributes"]["reward"]["id"] == reward["id"]


def test_list_sorted_by_points_amount_desc(shop: ShopHandle) -> None:
    data = shop.api.data("/rewards", query_string={"sort[order_type]": "points_amount",
                                                   "sort[order_direction]": "desc"})
    assert [d["attributes"]["points_amount"] for d in data] == [1000, 800, 500, 400]


def test_list_unknown_filter_is_422(shop: ShopHandle) -> None:
    assert_rivo_error(shop.api.get("/rewards", query_string={"filters[enabled]": "true"}), 422,
                      parameter="filters[enabled]")


@pytest.mark.parametrize("value", ["1e400", 10**30, "1e999999"])
def test_absurd_reward_value_is_422_and_listing_survives(shop: ShopHandle, value: Any) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/rewards", json={"name": "x", "reward_value": value}), 422,
                          parameter="reward_value")
    assert shop.api.get("/rewards").status_code == 200


def test_superscript_digit_points_amount_is_422(shop: ShopHandle) -> None:
    assert_rivo_error(shop.api.post("/rewards", json={"name": "x", "points_amount": "²"}), 422,
                      parameter="points_amount")
