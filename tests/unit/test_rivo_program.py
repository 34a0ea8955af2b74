"""The program configuration: Shop.patch keeps ids that still match, refuses what cannot change, re-evaluates
tiers; and the REST operations on rewards."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from rivosim.domain.config import default_config
from rivosim.domain.events import DomainEvent, TierChanged
from rivosim.domain.shop import Shop
from rivosim.engine import Simulator
from rivosim.kernel.errors import InvalidConfig, NotFound, ValidationFailed


@pytest.fixture
def sim() -> Simulator:
    return Simulator(seed=17)


@pytest.fixture
def shop(sim: Simulator) -> Shop:
    return sim.create_shop({"domain": "prog.myshopify.com"})


def program(shop: Shop) -> dict[str, Any]:
    return copy.deepcopy(shop.config["program"])


def rule_ids(shop: Shop) -> dict[str, int]:
    return {r.trigger: r.id for r in shop.rivo.list_earning_rules()}


def join(shop: Shop, email: str = "m@example.com") -> int:
    cid = shop.shopify.create_customer(email=email).id
    shop.clock.advance("PT1M")
    return cid


def tier(shop: Shop, cid: int) -> str | None:
    tid = shop.rivo.members[cid].vip_tier_id
    return shop.rivo.tiers[tid].name if tid is not None else None


# -- keeping ids -----------------------------------------------------------------------------------------------------
def test_flipping_enabled_on_a_rule_keeps_every_id(shop: Shop) -> None:
    before = rule_ids(shop)
    rules = program(shop)["earning_rules"]
    rules[1]["enabled"] = False
    shop.patch({"program": {"earning_rules": rules}})
    assert rule_ids(shop) == before
    assert shop.rivo.rules[before[rules[1]["trigger"]]].enabled is False


def test_changing_amounts_keeps_rule_reward_and_tier_ids(shop: Shop) -> None:
    rule_before = rule_ids(shop)
    reward_before = {r.name: r.id for r in shop.rivo.list_rewards()}
    tier_before = {t.name: t.id for t in shop.rivo.list_tiers()}
    p = program(shop)
    p["earning_rules"][0]["points_amount"] = 3
    p["rewards"][0]["points_amount"] = 450
    p["vip"]["tiers"][1]["threshold"] = 600
    shop.patch({"program": p})
    assert rule_ids(shop) == rule_before
    assert {r.name: r.id for r in shop.rivo.list_rewards()} == reward_before
    assert {t.name: t.id for t in shop.rivo.list_tiers()} == tier_before
    assert shop.rivo.get_reward(reward_before["$5 off coupon"]).points_amount == 450
    assert shop.rivo.get_tier(tier_before["Silver"]).threshold == Decimal(600)


def test_a_reordered_list_keeps_ids_by_natural_key(shop: Shop) -> None:
    before = rule_ids(shop)
    rules = list(reversed(program(shop)["earning_rules"]))
    shop.patch({"program": {"earning_rules": rules}})
    assert rule_ids(shop) == before


def test_an_explicit_id_wins_over_the_natural_key(shop: Shop) -> None:
    reward_ids = {r.name: r.id for r in shop.rivo.list_rewards()}
    rewards = program(shop)["rewards"]
    rewards[0] = {**rewards[0], "id": reward_ids["$5 off coupon"], "name": "Five dollars off"}
    shop.patch({"program": {"rewards": rewards}})
    assert shop.rivo.get_reward(reward_ids["$5 off coupon"]).name == "Five dollars off"


def test_rules_sharing_a_trigger_keep_distinct_ids_across_patches(sim: Simulator) -> None:
    rules = default_config()["program"]["earning_rules"] + [
        {"trigger": "product_purchased", "product_ids": [1], "points_amount": 10},
        {"trigger": "product_purchased", "product_ids": [2], "points_amount": 20},
    ]
    shop = sim.create_shop({"program": {"earning_rules": rules}})
    before = sorted((r.id, r.product_ids) for r in shop.rivo.rules.values() if r.trigger == "product_purchased")
    assert len(before) == 2
    shop.patch({"program": {"points_name": "Stars"}})
    rules[-1]["points_amount"] = 25
    shop.patch({"program": {"earning_rules": rules}})
    after = sorted((r.id, r.product_ids) for r in shop.rivo.rules.values() if r.trigger == "product_purchased")
    assert after == before
    assert {r.product_ids: r.points_amount for r in shop.rivo.rules.values()
            if r.trigger == "product_purchased"} == {(1,): 10, (2,): 25}


def test_a_removed_rule_goes_and_a_new_one_gets_a_new_id(shop: Shop) -> None:
    before = rule_ids(shop)
    rules = [r for r in program(shop)["earning_rules"] if r["trigger"] != "review_complete"]
    rules.append({"trigger": "tiktok_follow", "points_amount": 5})
    shop.patch({"program": {"earning_rules": rules}})
    after = rule_ids(shop)
    assert "review_complete" not in after
    assert after["tiktok_follow"] not in before.values()
    assert {k: v for k, v in after.items() if k != "tiktok_follow"} == \
        {k: v for k, v in before.items() if k != "review_complete"}


# -- patches leave REST changes to rewards alone ---------------------------------------------------------------------
def test_an_unrelated_patch_keeps_rewards_made_changed_or_deleted_through_the_api(shop: Shop) -> None:
    made = shop.rivo.create_reward({"name": "API reward", "points_amount": 42})
    five = next(r for r in shop.rivo.list_rewards() if r.name == "$5 off coupon")
    ten = next(r for r in shop.rivo.list_rewards() if r.name == "$10 off coupon")
    shop.rivo.update_reward(five.id, {"points_amount": 450})
    shop.rivo.delete_reward(ten.id)
    names_before = [r.name for r in shop.rivo.list_rewards()]
    shop.patch({"program": {"points_name": "Stars"}})
    assert shop.rivo.get_reward(made.id).points_amount == 42
    assert shop.rivo.get_reward(five.id).points_amount == 450
    with pytest.raises(NotFound):
        shop.rivo.get_reward(ten.id)
    assert [r.name for r in shop.rivo.list_rewards()] == names_before


def test_a_reward_dropped_from_the_list_is_soft_deleted(shop: Shop) -> None:
    cid = join(shop)
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": 500,
                                   "credits_amount": 0})
    five = next(r for r in shop.rivo.list_rewards() if r.name == "$5 off coupon")
    redemption = shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": five.id})
    rewards = [r for r in program(shop)["rewards"] if r["name"] != "$5 off coupon"]
    shop.patch({"program": {"rewards": rewards}})
    assert five.id not in {r.id for r in shop.rivo.list_rewards()}
    with pytest.raises(NotFound):
        shop.rivo.get_reward(five.id)
    kept = shop.rivo.rewards[redemption.reward_id]  # the redemption still resolves its reward
    assert kept.deleted and kept.redeemed_count == 1


def test_a_patched_reward_keeps_its_redemption_count(shop: Shop) -> None:
    cid = join(shop)
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": 500,
                                   "credits_amount": 0})
    five = next(r for r in shop.rivo.list_rewards() if r.name == "$5 off coupon")
    shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": five.id})
    rewards = program(shop)["rewards"]
    rewards[0]["expiry_months"] = 6
    shop.patch({"program": {"rewards": rewards}})
    patched = shop.rivo.get_reward(five.id)
    assert patched.expiry_months == 6 and patched.redeemed_count == 1 and patched.created_at == five.created_at


# -- refused patches -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("patch", "field"), [
    ({"domain": "other.myshopify.com"}, "domain"),
    ({"customers": 10}, "customers"),
    ({"plan": "gold"}, "plan"),
    ({"program": {"vip": {"tiers": [{"name": "A", "threshold": 0}, {"name": "B", "threshold": 0}]}}},
     "program.vip.tiers"),
    ({"program": {"rewards": [{"name": "Big", "reward_type": "percentage", "reward_value": 101}]}},
     "program.rewards[0].reward_value"),
    ({"program": {"earning_rules": [{"trigger": "custom_action"}]}}, "program.earning_rules[0].custom_action_name"),
    ({"timezone": "Nowhere/Special"}, "timezone"),
])
def test_refused_patches_change_nothing(shop: Shop, patch: dict[str, Any], field: str) -> None:
    config_before = copy.deepcopy(shop.config)
    rules_before = rule_ids(shop)
    rewards_before = [(r.id, r.name, r.points_amount) for r in shop.rivo.list_rewards()]
    with pytest.raises(InvalidConfig) as info:
        shop.patch(patch)
    assert info.value.field == field
    assert shop.config == config_before
    assert rule_ids(shop) == rules_before
    assert [(r.id, r.name, r.points_amount) for r in shop.rivo.list_rewards()] == rewards_before


def test_patching_the_same_domain_is_harmless(shop: Shop) -> None:
    shop.patch({"domain": "prog.myshopify.com", "plan": "plus"})
    assert shop.plan == "plus"
    assert "domain" not in shop.config
    assert shop.public_config()["domain"] == "prog.myshopify.com"


def test_a_null_in_a_patch_returns_the_setting_to_its_default(shop: Shop) -> None:
    shop.patch({"program": {"vip": {"start_date": "2025-06-01"}}})
    shop.patch({"program": {"vip": {"start_date": None}}})
    assert "start_date" in shop.config["program"]["vip"] and shop.config["program"]["vip"]["start_date"] is None
    with pytest.raises(InvalidConfig):
        shop.patch({"plan": None})  # not nullable: refused rather than silently reset
    assert shop.plan == "scale"


def test_patch_merges_objects_and_replaces_lists(shop: Shop) -> None:
    shop.patch({"api": {"accept_bearer": True}, "program": {"vip": {"period": "calendar_year"}}})
    assert shop.config["api"]["accept_bearer"] is True
    assert shop.config["api"]["plan_refusal_status"] == 401  # untouched sibling
    assert shop.config["program"]["vip"]["tiers"]  # untouched sibling
    shop.patch({"program": {"vip": {"tiers": [{"name": "Only", "threshold": 0}]}}})
    assert [t.name for t in shop.rivo.list_tiers()] == ["Only"]


# -- tier re-evaluation ----------------------------------------------------------------------------------------------
def test_changing_tier_thresholds_re_evaluates_members(shop: Shop) -> None:
    cid = join(shop)
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": 500,
                                   "credits_amount": 0})
    assert tier(shop, cid) == "Silver"
    seen: list[DomainEvent] = []
    shop.bus.subscribe_all(seen.append)
    p = program(shop)
    p["vip"]["tiers"][1]["threshold"] = 700
    shop.patch({"program": p})
    assert tier(shop, cid) == "Bronze"
    assert [(e.direction, e.manual) for e in seen if isinstance(e, TierChanged)] == [("downgraded", False)]
    p["vip"]["tiers"][1]["threshold"] = 300
    shop.patch({"program": p})
    assert tier(shop, cid) == "Silver"


def test_changing_the_entry_method_re_evaluates_members(shop: Shop) -> None:
    cid = join(shop)
    shop.shopify.create_order(customer_id=cid, line_items=[{"price": "2000"}], paid=True)
    assert tier(shop, cid) == "Gold"  # 2100 points
    shop.patch({"program": {"vip": {"entry_method": "orders_placed"}}})
    assert tier(shop, cid) == "Bronze"  # one order


def test_removing_a_members_tier_leaves_no_dangling_tier(shop: Shop) -> None:
    cid = join(shop)
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": 1500,
                                   "credits_amount": 0})
    assert tier(shop, cid) == "Gold"
    shop.patch({"program": {"vip": {"tiers": [{"name": "Bronze", "threshold": 0},
                                              {"name": "Silver", "threshold": 500}]}}})
    assert tier(shop, cid) == "Silver"
    shop.patch({"program": {"vip": {"tiers": [{"name": "Platinum", "threshold": 100_000}]}}})
    assert shop.rivo.members[cid].vip_tier_id is None


def test_removing_an_overridden_tier_clears_the_override(shop: Shop) -> None:
    cid = join(shop)
    gold = next(t.id for t in shop.rivo.list_tiers() if t.name == "Gold")
    shop.rivo.set_member_tier(cid, gold)
    shop.patch({"program": {"vip": {"tiers": [{"name": "Bronze", "threshold": 0},
                                              {"name": "Silver", "threshold": 500}]}}})
    member = shop.rivo.members[cid]
    assert tier(shop, cid) == "Bronze" and member.tier_override_until is None


# -- rewards through the API -----------------------------------------------------------------------------------------
def test_create_update_delete_reward(shop: Shop) -> None:
    reward = shop.rivo.create_reward({"name": " Mug ", "points_amount": "300", "reward_type": "free_product",
                                      "enabled": "true", "expiry_months": None})
    assert (reward.name, reward.points_amount, reward.reward_type, reward.enabled) == ("Mug", 300, "free_product", True)
    assert shop.rivo.get_reward(reward.id) is reward
    shop.clock.advance(60)
    shop.rivo.update_reward(reward.id, {"points_amount": 350})
    assert reward.points_amount == 350 and reward.name == "Mug" and reward.updated_at > reward.created_at
    shop.rivo.delete_reward(reward.id)
    assert reward.id not in {r.id for r in shop.rivo.list_rewards()}
    with pytest.raises(NotFound):
        shop.rivo.update_reward(reward.id, {"points_amount": 1})


@pytest.mark.parametrize(("fields", "field"), [
    ({"points_amount": 5}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x", "points_amount": -1}, "points_amount"),
    ({"name": "x", "points_type": "random"}, "points_type"),
    ({"name": "x", "reward_type": "hug"}, "reward_type"),
    ({"name": "x", "source": "air"}, "source"),
    ({"name": "x", "expiry_months": 25}, "expiry_months"),
    ({"name": "x", "reward_type": "percentage", "reward_value": 150}, "reward_value"),
    ({"name": "x", "reward_value": "1e999"}, "reward_value"),
    ({"name": "x", "redeemed_count": 5}, "redeemed_count"),
    ({"name": "x", "points_amount": "\u00b2"}, "points_amount"),
    ({"name": "x", "points_amount": "9" * 5000}, "points_amount"),
])
def test_invalid_rewards_are_refused(shop: Shop, fields: dict[str, Any], field: str) -> None:
    before = {r.id for r in shop.rivo.rewards.values()}
    with pytest.raises(ValidationFailed) as info:
        shop.rivo.create_reward(fields)
    assert info.value.field == field
    assert {r.id for r in shop.rivo.rewards.values()} == before


def test_a_refused_reward_update_changes_nothing(shop: Shop) -> None:
    reward = shop.rivo.list_rewards()[0]
    before = (reward.name, reward.points_amount, reward.enabled, reward.updated_at)
    with pytest.raises(ValidationFailed):
        shop.rivo.update_reward(reward.id, {"name": "New", "points_amount": 5, "enabled": "maybe"})
    assert (reward.name, reward.points_amount, reward.enabled, reward.updated_at) == before


def test_find_rule_prefers_an_enabled_rule(sim: Simulator) -> None:
    shop = sim.create_shop({"program": {"earning_rules": [
        {"trigger": "custom_action", "custom_action_name": "quiz", "points_amount": 1, "enabled": False},
        {"trigger": "custom_action", "custom_action_name": "quiz2", "points_amount": 2},
        {"trigger": "visit_url", "url": "https://a.example", "points_amount": 3},
    ]}})
    assert shop.rivo.find_rule("custom_action", "quiz2").points_amount == 2  # type: ignore[union-attr]
    assert shop.rivo.find_rule("custom_action", "quiz").enabled is False  # type: ignore[union-attr]
    assert shop.rivo.find_rule("custom_action").enabled is True  # type: ignore[union-attr]
    assert shop.rivo.find_rule("visit_url", "https://a.example").points_amount == 3  # type: ignore[union-attr]
    assert shop.rivo.find_rule("visit_url", "https://b.example") is None
    assert shop.rivo.find_rule("review_complete") is None
