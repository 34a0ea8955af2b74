"""The control API's item routes (``/_rivosim/shops/<domain>/earning_rules|rewards|vip_tiers|integrations``): one
item read, added, merge-patched or removed without resending its list, validated and applied exactly as the
whole-document PATCH would (a refusal changes nothing; unknown -> 404 naming the known; a clash -> 409), and the
VIP tier tag following tier changes through both (issue 15)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import ShopHandle, assert_control_error, unchanged


def config(shop: ShopHandle) -> dict[str, Any]:
    return shop.control("GET").get_json()["config"]  # type: ignore[no-any-return]


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def customer_tags(shop: ShopHandle, cid: int) -> list[str]:
    """The Shopify customer's tags, as the Shopify Admin API shows them."""
    resp = shop.client.get(f"/admin/api/2024-10/customers/{cid}.json",
                           headers={"X-Shopify-Access-Token": shop.created["shopify_access_token"]})
    return ok(resp)["customer"]["tags"].split(", ") if ok(resp)["customer"]["tags"] else []


# -- earning rules -------------------------------------------------------------------------------------------------
def test_enable_one_earning_rule_by_trigger_leaves_the_others(shop: ShopHandle) -> None:
    before = config(shop)["program"]["earning_rules"]
    listed = ok(shop.control("GET", "/earning_rules"))["earning_rules"]
    assert [r["trigger"] for r in listed] == [r["trigger"] for r in before]
    rest_ids = {r["attributes"]["trigger"]: int(r["id"]) for r in shop.api.data("/earning_rules")}
    assert {r["trigger"]: r["id"] for r in listed} == rest_ids  # the id the Rivo API shows

    rule = ok(shop.control("PATCH", "/earning_rules/instagram_follow", json={"enabled": False, "points_amount": 75}))
    assert rule["enabled"] is False and rule["points_amount"] == 75 and rule["id"] == rest_ids["instagram_follow"]
    after = config(shop)["program"]["earning_rules"]
    assert [r for r in after if r["trigger"] != "instagram_follow"] == \
        [r for r in before if r["trigger"] != "instagram_follow"]
    assert ok(shop.control("GET", f"/earning_rules/{rule['id']}")) == rule  # by id as well as by trigger
    # The same effect as the whole PATCH: the disabled rule earns nothing.
    member = shop.add_customer(email="ig@example.com")
    resp = shop.control("POST", f"/customers/{member['id']}/actions", json={"action": "instagram_follow"})
    assert ok(resp, 201)["points_event"] is None
    assert resp.get_json()["points_tally"] == member["loyalty"]["points_tally"]


def test_a_merge_patch_null_returns_a_field_to_its_default(shop: ShopHandle) -> None:
    ok(shop.control("PATCH", "/earning_rules/review_complete", json={"once_per_customer": True}))
    rule = ok(shop.control("PATCH", "/earning_rules/review_complete", json={"once_per_customer": None}))
    assert "once_per_customer" not in rule


def test_add_and_remove_an_earning_rule(shop: ShopHandle) -> None:
    created = ok(shop.control("POST", "/earning_rules", json={"trigger": "tiktok_follow", "points_amount": 30}), 201)
    assert created["trigger"] == "tiktok_follow" and isinstance(created["id"], int)
    assert any(int(r["id"]) == created["id"] for r in shop.api.data("/earning_rules"))
    assert_control_error(shop.control("POST", "/earning_rules", json={"trigger": "tiktok_follow"}), 409,
                         code="already_exists")
    # Custom actions are one per name: a second one with another name is no clash.
    ok(shop.control("POST", "/earning_rules", json={"trigger": "custom_action", "custom_action_name": "Quiz"}), 201)
    ok(shop.control("POST", "/earning_rules", json={"trigger": "custom_action", "custom_action_name": "Poll"}), 201)
    err = assert_control_error(shop.control("GET", "/earning_rules/custom_action"), 409)
    assert "by its id" in err["message"]
    gone = ok(shop.control("DELETE", "/earning_rules/tiktok_follow"))["deleted"]
    assert gone["id"] == created["id"]
    assert "tiktok_follow" not in [r["trigger"] for r in config(shop)["program"]["earning_rules"]]


def test_a_refused_rule_change_changes_nothing(shop: ShopHandle) -> None:
    with unchanged(shop):
        assert_control_error(shop.control("PATCH", "/earning_rules/order_placed", json={"points_amount": -1}), 422,
                             code="invalid_config", field="program.earning_rules[0].points_amount")
        assert_control_error(shop.control("PATCH", "/earning_rules/order_placed", json={"colour": "red"}), 422,
                             code="invalid_config")
        assert_control_error(shop.control("POST", "/earning_rules", json={"trigger": "visit_url"}), 422,
                             field="program.earning_rules[6].url")
        assert_control_error(shop.control("PATCH", "/earning_rules/order_placed", json={"id": 1}), 422, field="id")
        # Values of the wrong type reach the document's validation (not a 500 on the way).
        assert_control_error(shop.control("PATCH", "/earning_rules/order_placed", json={"trigger": ["a"]}), 422,
                             field="program.earning_rules[0].trigger")
        assert_control_error(shop.control("POST", "/earning_rules", json={"trigger": "custom_action",
                                                                          "custom_action_name": {"a": 1}}), 422)
        assert_control_error(shop.control("POST", "/integrations", json={"name": ["klaviyo"]}), 422)
        assert_control_error(shop.control("PATCH", "/earning_rules/order_placed", data="[1]",
                                          content_type="application/json"), 400)


def test_an_unknown_item_is_a_404_naming_the_known_ones(shop: ShopHandle) -> None:
    err = assert_control_error(shop.control("GET", "/earning_rules/sms_subscribe"), 404, code="not_found")
    assert "order_placed" in err["message"] and "review_complete" in err["message"]
    err = assert_control_error(shop.control("PATCH", "/vip_tiers/Diamond", json={"threshold": 9}), 404)
    assert "'Gold'" in err["message"]
    err = assert_control_error(shop.control("DELETE", "/rewards/999999"), 404)
    assert "'$5 off coupon'" in err["message"]
    err = assert_control_error(shop.control("PATCH", "/integrations/klaviyo", json={}), 404)
    assert "none" in err["message"]
    assert_control_error(shop.client.get("/_rivosim/shops/nope.myshopify.com/rewards"), 404)


# -- rewards -------------------------------------------------------------------------------------------------------
def test_change_one_reward_by_id_keeps_its_id_and_redemption_count(shop: ShopHandle) -> None:
    five = shop.reward_named("$5 off coupon")
    member = shop.add_customer(email="r@example.com")
    shop.give(member["id"], 600)
    assert shop.api.post("/points_redemptions", json={"customer_identifier": member["id"],
                                                     "reward_id": five["id"]}).status_code == 201
    rid = int(five["id"])
    listed = ok(shop.control("GET", "/rewards"))["rewards"]
    assert listed[0]["id"] == rid and listed[0]["name"] == "$5 off coupon"
    renamed = ok(shop.control("PATCH", f"/rewards/{rid}", json={"name": "Five off", "points_amount": 450}))
    assert renamed["id"] == rid and renamed["name"] == "Five off"
    assert shop.reward_named("Five off")["id"] in (rid, str(rid))
    seen = shop.reward_named("Five off")
    assert seen["name"] == "Five off" and seen["points_amount"] == 450 and seen["redeemed_count"] == 1
    assert ok(shop.control("GET", "/rewards/five OFF"))["id"] == rid  # by name, case-insensitively
    assert_control_error(shop.control("PATCH", f"/rewards/{rid}", json={"name": "10% OFF coupon"}), 409)
    with unchanged(shop):
        assert_control_error(shop.control("PATCH", f"/rewards/{rid}",
                                          json={"reward_type": "percentage", "reward_value": 150}), 422,
                             field="program.rewards[0].reward_value")


def test_add_and_delete_a_reward(shop: ShopHandle) -> None:
    created = ok(shop.control("POST", "/rewards", json={"name": "Mug", "points_amount": 900,
                                                        "reward_type": "fixed_amount", "reward_value": 12}), 201)
    assert shop.reward_named("Mug")["id"] in (created["id"], str(created["id"]))
    ok(shop.control("DELETE", f"/rewards/{created['id']}"))
    assert "Mug" not in [r["name"] for r in shop.rewards()]
    assert_control_error(shop.control("POST", "/rewards", json={"name": "free SHIPPING"}), 409)


# -- VIP tiers and their Shopify tags --------------------------------------------------------------------------
@pytest.fixture
def tagged(make_shop: Callable[..., ShopHandle]) -> tuple[ShopHandle, int]:
    """A shop tagging tiers in Shopify and a Gold member tagged ``Rivo VIP Tier: Gold``."""
    shop = make_shop({"shopify": {"vip_tier_tags": True}})
    cid = shop.add_customer(email="gold@example.com", tags=["Wholesale"])["id"]
    shop.give(cid, 1400)
    assert customer_tags(shop, cid) == ["Rivo VIP Tier: Gold", "Wholesale"]
    return shop, cid


@pytest.mark.parametrize("how", ["whole PATCH", "item routes"])
def test_emptying_the_tiers_removes_the_tier_tag(tagged: tuple[ShopHandle, int], how: str) -> None:
    shop, cid = tagged
    if how == "whole PATCH":
        shop.patch({"program": {"vip": {"tiers": []}}})
    else:
        for name in ("Gold", "silver", "Bronze"):
            ok(shop.control("DELETE", f"/vip_tiers/{name}"))
        assert ok(shop.control("GET", "/vip_tiers")) == {"vip_tiers": []}
    assert customer_tags(shop, cid) == ["Wholesale"]
    assert shop.customer(cid)["vip_tier"] is None


@pytest.mark.parametrize("how", ["whole PATCH", "item routes"])
def test_renaming_a_tier_replaces_the_tag(tagged: tuple[ShopHandle, int], how: str) -> None:
    shop, cid = tagged
    gold_id = next(t for t in ok(shop.control("GET", "/vip_tiers"))["vip_tiers"] if t["name"] == "Gold")["id"]
    if how == "whole PATCH":
        tiers = config(shop)["program"]["vip"]["tiers"]
        shop.patch({"program": {"vip": {"tiers": [{**t, "name": "Platinum"} if t["name"] == "Gold" else t
                                                  for t in tiers]}}})
    else:
        tier = ok(shop.control("PATCH", "/vip_tiers/gold", json={"name": "Platinum"}))
        assert tier["id"] == gold_id  # a tier renamed by its item route keeps its id (members keep it too)
        assert shop.customer(cid)["vip_tier"]["id"] in (gold_id, str(gold_id))
    assert customer_tags(shop, cid) == ["Rivo VIP Tier: Platinum", "Wholesale"]


def test_a_tier_threshold_change_re_evaluates_members(tagged: tuple[ShopHandle, int]) -> None:
    shop, cid = tagged
    ok(shop.control("PATCH", "/vip_tiers/Gold", json={"threshold": 5000}))
    assert customer_tags(shop, cid) == ["Rivo VIP Tier: Silver", "Wholesale"]
    created = ok(shop.control("POST", "/vip_tiers", json={"name": "Steel", "threshold": 1000}), 201)
    assert customer_tags(shop, cid) == ["Rivo VIP Tier: Steel", "Wholesale"]
    assert created["name"] == "Steel" and isinstance(created["id"], int)
    assert_control_error(shop.control("POST", "/vip_tiers", json={"name": "steel", "threshold": 7}), 409)
    with unchanged(shop):
        assert_control_error(shop.control("PATCH", "/vip_tiers/Steel", json={"threshold": 500}), 422,
                             field="program.vip.tiers")  # thresholds must be unique
        assert_control_error(shop.control("POST", "/vip_tiers", json={"name": "Lead"}), 422)


# -- integrations --------------------------------------------------------------------------------------------------
def test_add_and_patch_an_integration(shop: ShopHandle) -> None:
    created = ok(shop.control("POST", "/integrations", json={"name": "klaviyo"}), 201)
    assert created == {"name": "klaviyo"}
    assert_control_error(shop.control("POST", "/integrations", json={"name": "klaviyo"}), 409)
    patched = ok(shop.control("PATCH", "/integrations/klaviyo", json={"connected_domain": "old.myshopify.com"}))
    assert patched == {"name": "klaviyo", "connected_domain": "old.myshopify.com"}
    status = ok(shop.control("GET", "/integrations"))["integrations"][0]
    assert status["status"] == "failing" and "old.myshopify.com" in status["error"]
    assert config(shop)["integrations"] == [patched]
    with unchanged(shop):
        assert_control_error(shop.control("POST", "/integrations", json={"name": "mailchimp"}), 422)
        assert_control_error(shop.control("PATCH", "/integrations/klaviyo", json={"id": 3}), 422, field="id")


def test_connecting_a_healthy_integration_answers_with_no_error(shop: ShopHandle) -> None:
    connected = ok(shop.control("PUT", "/integrations/postscript", json={}))
    assert connected["status"] == "connected" and connected["error"] is None
    assert connected["manual_sync"]["latest"] is None
