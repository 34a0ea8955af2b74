"""Rivo's writeback to Shopify (domain/writeback.py, rivo-api.md §6): the ``custom.rivo`` customer metafield
and the v2 individual ones, the shop metafield ``rivo.loy``, VIP tier tags (from enabling on; old tag removed;
backfill only on request) and the order tag ``Rivo``."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from rivosim.domain.shop import Shop
from rivosim.domain.writeback import CUSTOMER_METAFIELD, SHOP_METAFIELD
from rivosim.engine import Simulator
from rivosim.kernel.errors import InvalidConfig


def make(config: dict[str, Any] | None = None, customers: int | None = None) -> Shop:
    return Simulator(seed=9).create_shop({"domain": "wb.myshopify.com", **(config or {})}, customers=customers)


def join(shop: Shop, email: str = "ann@example.com", **fields: Any) -> int:
    shop.rivo.next_visibility_delay = timedelta(0)
    return shop.shopify.create_customer(email=email, **fields).id


def give(shop: Shop, cid: int, points: int) -> None:
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": points,
                                   "credits_amount": "2.5"})


def rivo_metafield(shop: Shop, cid: int) -> dict[str, Any]:
    mf = shop.shopify.find_metafield("customer", cid, *CUSTOMER_METAFIELD)
    assert mf is not None and mf.type == "json"
    return json.loads(mf.value)  # type: ignore[no-any-return]


def tags(shop: Shop, cid: int) -> list[str]:
    return list(shop.shopify.get_customer(cid).tags)


def test_the_customer_metafield_follows_the_ledger_and_tier() -> None:
    shop = make()
    cid = join(shop, dob="02-29")
    give(shop, cid, 450)
    value = rivo_metafield(shop, cid)
    assert value == {"points_balance": 550, "credits_balance": "2.50", "vip_tier": "Silver", "status": "member",
                     "dob": "02-29", "dob_last_updated_at": value["dob_last_updated_at"],
                     "referral_code": shop.rivo.referral_code(cid)}
    assert shop.shopify.find_metafield("customer", cid, "rivo", "points_balance") is None  # v2 is off


def test_v2_metafields_when_on_and_none_when_off() -> None:
    shop = make({"shopify": {"customer_metafields_v2": True, "customer_metafield": False}})
    cid = join(shop)
    give(shop, cid, 500)
    reward = next(r for r in shop.rivo.list_rewards() if r.points_amount == 500)
    shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": reward.id})
    got = {(m.key, m.type): m.value for m in shop.shopify.metafields_of("customer", cid) if m.namespace == "rivo"}
    assert got[("points_balance", "number_integer")] == "100"
    assert got[("credits_balance", "number_decimal")] == "2.50"
    assert got[("loyalty_status", "single_line_text_field")] == "member"
    assert got[("is_wallet_pass_subscriber", "boolean")] == "false"
    assert ("account_activated_at", "date_time") in got and ("first_redeemed_at", "date_time") in got
    assert shop.shopify.find_metafield("customer", cid, *CUSTOMER_METAFIELD) is None


def test_tier_tags_only_for_tiers_unlocked_after_enabling() -> None:
    shop = make()
    early = join(shop, "early@example.com")
    give(shop, early, 450)  # Silver before tagging is on: no tag
    assert tags(shop, early) == []
    shop.patch({"shopify": {"vip_tier_tags": True}})
    assert tags(shop, early) == []  # enabling does not backfill
    later = join(shop, "later@example.com")
    assert tags(shop, later) == ["Rivo VIP Tier: Bronze"]  # unlocked from then on
    give(shop, later, 450)
    assert tags(shop, later) == ["Rivo VIP Tier: Silver"]  # the old tier tag removed
    give(shop, early, 1000)
    assert tags(shop, early) == ["Rivo VIP Tier: Gold"]


def test_backfill_tags_existing_members_and_keeps_other_tags() -> None:
    shop = make()
    cid = join(shop, tags="Wholesale, rivo vip tier: Old Name")
    shop.patch({"shopify": {"vip_tier_tags": True, "vip_tier_tag_format": "Rivo VIP Tier: {tier}"}})
    assert shop.writeback.backfill_customers([cid]) == 1
    assert tags(shop, cid) == ["Rivo VIP Tier: Bronze", "Wholesale"]


def test_a_custom_format_and_a_format_change() -> None:
    shop = make({"shopify": {"vip_tier_tags": True, "vip_tier_tag_format": "VIP-{tier}"}})
    cid = join(shop)
    assert tags(shop, cid) == ["VIP-Bronze"]
    shop.patch({"shopify": {"vip_tier_tag_format": "{tier}"}})
    give(shop, cid, 450)
    assert tags(shop, cid) == ["Silver"]  # the tag Rivo wrote in the old format is found and removed
    give(shop, cid, 1000)
    assert tags(shop, cid) == ["Gold"]


def test_emptying_the_tiers_removes_the_tier_tag_and_the_metafield_tier() -> None:
    # Issue 15: the tiers went, the member's tier with them, but the Shopify customer kept "Rivo VIP Tier: Gold".
    shop = make({"shopify": {"vip_tier_tags": True}})
    cid = join(shop, tags="Wholesale")
    give(shop, cid, 1400)
    assert tags(shop, cid) == ["Rivo VIP Tier: Gold", "Wholesale"]
    shop.patch({"program": {"vip": {"tiers": []}}})
    assert shop.rivo.members[cid].vip_tier_id is None
    assert tags(shop, cid) == ["Wholesale"]
    assert rivo_metafield(shop, cid)["vip_tier"] is None


def test_renaming_a_tier_replaces_its_tag_even_for_the_entry_tier() -> None:
    shop = make({"shopify": {"vip_tier_tags": True}})
    entry, gold = join(shop, "entry@example.com"), join(shop, "gold@example.com")
    give(shop, gold, 1400)
    assert tags(shop, entry) == ["Rivo VIP Tier: Bronze"] and tags(shop, gold) == ["Rivo VIP Tier: Gold"]
    shop.patch({"program": {"vip": {"tiers": [{"name": "Copper", "threshold": 0}, {"name": "Silver", "threshold": 500},
                                              {"name": "Platinum", "threshold": 1250}]}}})
    # The entry tier fires no TierChanged on placement; its tag follows all the same.
    assert tags(shop, entry) == ["Rivo VIP Tier: Copper"]
    assert tags(shop, gold) == ["Rivo VIP Tier: Platinum"]
    assert rivo_metafield(shop, gold)["vip_tier"] == "Platinum"


def test_turning_vip_off_removes_tier_tags_and_a_refused_patch_keeps_them() -> None:
    shop = make({"shopify": {"vip_tier_tags": True}})
    cid = join(shop)
    give(shop, cid, 600)
    with pytest.raises(InvalidConfig):
        shop.patch({"program": {"vip": {"tiers": [{"name": "A", "threshold": 0}, {"name": "a", "threshold": 5}]}}})
    assert tags(shop, cid) == ["Rivo VIP Tier: Silver"]
    shop.patch({"program": {"vip": {"enabled": False}}})
    assert tags(shop, cid) == []
    shop.patch({"program": {"vip": {"enabled": True}}})
    assert tags(shop, cid) == ["Rivo VIP Tier: Silver"]


def test_a_refused_tag_write_is_recorded_not_raised() -> None:
    shop = make({"shopify": {"vip_tier_tags": True}})
    cid = join(shop, tags=[f"t{i:03d}" for i in range(249)])
    assert len(tags(shop, cid)) == 250  # 249 + the Bronze tag
    shop.shopify.update_customer(cid, {"tags": [f"t{i:03d}" for i in range(250)]})
    give(shop, cid, 450)  # Silver: one more tag would be 251
    assert shop.rivo.members[cid].points_tally == 550  # the loyalty operation went through
    assert shop.writeback.errors and shop.writeback.errors[-1]["what"] == "vip_tier_tag"
    assert "250" in shop.writeback.errors[-1]["error"]


def test_orders_that_used_a_rivo_code_are_tagged_rivo() -> None:
    shop = make()
    cid = join(shop)
    give(shop, cid, 500)
    reward = next(r for r in shop.rivo.list_rewards() if r.points_amount == 500)
    code = shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": reward.id}).code
    assert code is not None
    used = shop.shopify.create_order(customer_id=cid, line_items=[{"title": "Cap", "price": "20"}],
                                     discount_codes=[code.lower()], total_discounts="5")
    other = shop.shopify.create_order(customer_id=cid, line_items=[{"title": "Cap", "price": "20"}],
                                      discount_codes=["WELCOME10"])
    assert used.tags == ["Rivo"] and other.tags == []


def test_order_tagging_off_then_backfilled() -> None:
    shop = make({"shopify": {"order_tags": False}})
    advocate = join(shop, "adv@example.com")
    code = shop.rivo.referral_code(advocate)
    shop.rivo.create_referral({"email": "friend@example.com", "referral_code": code, "remote_ip": "192.0.2.1"})
    friend = join(shop, "friend@example.com")
    order = shop.shopify.create_order(customer_id=friend, line_items=[{"title": "Tee", "price": "30"}], paid=True)
    assert shop.rivo.referrals[next(iter(shop.rivo.referrals))].status == "completed"
    assert order.tags == []
    shop.patch({"shopify": {"order_tags": True}})
    assert shop.writeback.backfill_orders() == 1 and order.tags == ["Rivo"]
    assert shop.writeback.backfill_orders() == 0  # already tagged


def test_the_shop_metafield_describes_the_program() -> None:
    shop = make()
    mf = shop.shopify.find_metafield("shop", shop.id, *SHOP_METAFIELD)
    assert mf is not None and mf.type == "json"
    value = json.loads(mf.value)
    assert value["points_program"]["enabled"] is True
    triggers = {w["trigger"] for w in value["points_program"]["ways_to_earn"]}
    assert triggers >= {"order_placed", "customer_member_enabled"}
    assert value["vip_program"]["tier_type"] == "points_earned" and len(value["vip_program"]["tiers"]) == 3
    assert value["frontend"]["potential_points"]["order_placed"] == {"points_amount": 1, "currency_base_amount": "1"}
    assert shop.writeback.shop_metafield_is_current()
    shop.patch({"program": {"vip": {"enabled": False}}})
    assert not shop.writeback.shop_metafield_is_current()  # until a store sync rewrites it


def test_seeded_customers_get_metafields_only_from_a_backfill() -> None:
    shop = make(customers=5)
    ids = list(shop.rivo.members)
    # Seeding bypasses the event bus; only the seeded order history (paid orders earning points) wrote some.
    untouched = [i for i in ids if not shop.rivo.ledger.get(i)]
    assert untouched and all(shop.shopify.find_metafield("customer", i, *CUSTOMER_METAFIELD) is None
                             for i in untouched)
    shop.writeback.backfill_customers(ids)
    assert all(rivo_metafield(shop, i)["status"] == "member" for i in ids)


# -- deferred writes: written when someone looks, exactly as writing at once would have left them ----------------
def test_a_burst_of_changes_is_written_once_with_the_time_of_the_first_and_last_change() -> None:
    shop = make()
    cid = join(shop)
    joined = shop.clock.now()
    shop.clock.advance(60)
    for _ in range(5):
        give(shop, cid, 10)
        shop.clock.advance(60)
    last_change = shop.clock.now() - timedelta(seconds=60)
    mf = shop.shopify.find_metafield("customer", cid, *CUSTOMER_METAFIELD)
    assert mf is not None
    assert json.loads(mf.value)["points_balance"] == 150  # 100 sign-up + 5 x 10
    assert mf.created_at == joined  # created by the sign-up, not by the read
    assert mf.updated_at == last_change  # the last change, not the read


def test_turning_the_metafield_off_does_not_lose_a_change_made_while_it_was_on() -> None:
    shop = make()
    cid = join(shop)
    give(shop, cid, 40)
    shop.patch({"shopify": {"customer_metafield": False}})
    give(shop, cid, 5)  # made while off: not written
    assert rivo_metafield(shop, cid)["points_balance"] == 140


def test_a_merchant_write_after_a_change_is_not_overwritten_by_the_deferred_write() -> None:
    shop = make()
    cid = join(shop)
    give(shop, cid, 40)
    mf = shop.shopify.find_metafield("customer", cid, *CUSTOMER_METAFIELD)
    assert mf is not None
    shop.shopify.update_metafield(mf.id, {"value": '{"points_balance": 0}'})
    assert rivo_metafield(shop, cid) == {"points_balance": 0}  # stands until Rivo's next change
    give(shop, cid, 1)
    assert rivo_metafield(shop, cid)["points_balance"] == 141
