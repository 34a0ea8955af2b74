"""Klaviyo and Postscript as simulated integrations (domain/integrations.py): properties and events with the
names of rivo-api.md §7.5, automatic background updates, manual "Sync Customers" once per hour per
integration, independent integrations, and the "Data Not Syncing" failure of a domain mismatch."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from rivosim.domain.integrations import AUTO_DELAY
from rivosim.domain.shop import Shop
from rivosim.engine import Simulator
from rivosim.kernel.errors import NotFound, TooManyRequestsForSync

BOTH = [{"name": "klaviyo"}, {"name": "postscript"}]


def make(integrations: list[dict[str, Any]] | None = None, customers: int | None = None) -> tuple[Simulator, Shop]:
    sim = Simulator(seed=5)
    shop = sim.create_shop({"domain": "brand.myshopify.com", "integrations": integrations or BOTH},
                           customers=customers)
    return sim, shop


def member(shop: Shop, email: str = "kim@example.com") -> int:
    shop.rivo.next_visibility_delay = timedelta(0)  # visible to the Rivo API at once
    return shop.shopify.create_customer(email=email, first_name="Kim", dob="07-13").id


def test_loyalty_events_reach_both_platforms_in_the_background(monkeypatch: pytest.MonkeyPatch) -> None:
    sim, shop = make()
    cid = member(shop)
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": 450,
                                   "credits_amount": 0})
    klaviyo = shop.integrations.describe("klaviyo")
    assert klaviyo["profiles"] == {} and klaviyo["pending"]["profiles"] == 1  # not yet: batched in the background
    sim.advance(AUTO_DELAY)
    klaviyo = shop.integrations.describe("klaviyo")
    props = klaviyo["profiles"]["kim@example.com"]["properties"]
    code = shop.rivo.referral_code(cid)
    assert props == {"Rivo Points Balance": 550, "Rivo Loyalty Status": "member", "Rivo VIP Tier Name": "Silver",
                     "Rivo Date of Birth": "07-13",
                     "Rivo Referral URL": f"https://brand.myshopify.com?referral_code={code}"}
    names = [e["name"] for e in klaviyo["events"]]
    assert names == ["Points earned", "Points earned", "Customer moves up a tier"]
    postscript = shop.integrations.describe("postscript")
    assert postscript["profiles"]["kim@example.com"]["properties"]["Rivo-Points-Balance"] == 550
    assert set(postscript["profiles"]["kim@example.com"]["properties"]) == {
        "Rivo-Points-Balance", "Rivo-Loyalty-Status", "Rivo-Referral-URL", "Rivo-VIP-Tier-Name", "Rivo-Date-of-Birth"}
    assert [e["name"] for e in postscript["events"]] == ["Points Earned", "Points Earned", "Customer Moves Up A Tier"]


def test_redemptions_and_referrals_are_events_too() -> None:
    sim, shop = make()
    cid = member(shop)
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": 500,
                                   "credits_amount": 0})
    reward = next(r for r in shop.rivo.list_rewards() if r.points_amount == 500)
    shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": reward.id})
    code = shop.rivo.referral_code(cid)
    shop.rivo.create_referral({"email": "pal@example.com", "referral_code": code, "remote_ip": "198.51.100.7"})
    sim.advance(AUTO_DELAY)
    names = [e["name"] for e in shop.integrations.describe("klaviyo")["events"]]
    assert "Reward redeemed" in names and "Referral friend claim" in names
    redeemed = next(e for e in shop.integrations.describe("postscript")["events"] if e["name"] == "Reward Redeemed")
    assert redeemed["properties"]["points_spent"] == 500 and redeemed["properties"]["code"].startswith("REDEEM-")
    # Postscript has no friend-claim event.
    assert all(e["name"] != "Referral friend claim" for e in shop.integrations.describe("postscript")["events"])


def test_a_manual_sync_is_queued_then_pushes_every_member() -> None:
    sim, shop = make(customers=30)
    run = shop.integrations.request_sync("klaviyo")
    assert (run.status, run.message) == ("queued", "Syncing has been queued")
    assert shop.integrations.describe("klaviyo")["profile_count"] == 0
    sim.advance(1)
    assert (run.status, run.message) == ("syncing", "Syncing…")  # started: the chunk takes its second
    sim.advance(1)
    assert run.status == "synced" and run.result == {"customers": 30}
    assert run.message == "Successfully synced 30 customers"
    described = shop.integrations.describe("klaviyo")
    assert described["profile_count"] == 30 and described["manual_sync"]["latest"]["status"] == "synced"
    assert shop.integrations.describe("postscript")["profile_count"] == 0  # only the one asked for


def test_a_second_manual_sync_within_the_hour_is_refused_saying_when() -> None:
    sim, shop = make()
    shop.integrations.request_sync("klaviyo")
    sim.advance(20 * 60)
    with pytest.raises(TooManyRequestsForSync) as refused:
        shop.integrations.request_sync("klaviyo")
    exc = refused.value
    assert "once per hour" in exc.message and "2026-01-01T01:00:00+00:00" in exc.message
    assert "in 40 minutes" in exc.message and exc.retry_after == 40 * 60
    assert exc.details["allowed_at"] == "2026-01-01T01:00:00+00:00"
    # Another integration is independent.
    assert shop.integrations.request_sync("postscript").status == "queued"
    sim.advance(40 * 60)
    assert shop.integrations.request_sync("klaviyo").status == "queued"


def test_syncs_of_different_integrations_run_at_the_same_time() -> None:
    sim, shop = make(customers=5)
    a = shop.integrations.request_sync("klaviyo")
    b = shop.integrations.request_sync("postscript")
    sim.run_until_idle()
    assert a.status == b.status == "synced" and a.id != b.id
    assert a.finished_at == b.finished_at


def test_a_domain_mismatch_fails_syncs_with_data_not_syncing() -> None:
    sim, shop = make([{"name": "klaviyo", "connected_domain": "brand-old.myshopify.com"}, {"name": "postscript"}])
    cid = member(shop)
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": 10,
                                   "credits_amount": 0})
    sim.advance(AUTO_DELAY)
    klaviyo = shop.integrations.describe("klaviyo")
    assert klaviyo["status"] == "failing" and klaviyo["profiles"] == {} and klaviyo["failed_updates"] > 0
    assert klaviyo["error"].startswith("Data Not Syncing: Klaviyo is connected with the store domain "
                                       "brand-old.myshopify.com, but this store is brand.myshopify.com.")
    run = shop.integrations.request_sync("klaviyo")
    sim.run_until_idle()
    assert run.status == "failed" and run.error == klaviyo["error"]
    # Postscript, connected with the right domain, is fine.
    assert shop.integrations.describe("postscript")["profiles"]["kim@example.com"]["properties"][
        "Rivo-Points-Balance"] == 110
    # Reconnecting with the exact domain fixes it (after the hour).
    shop.patch({"integrations": [{"name": "klaviyo"}, {"name": "postscript"}]})
    sim.advance(3600)
    run = shop.integrations.request_sync("klaviyo")
    sim.run_until_idle()
    assert run.status == "synced" and shop.integrations.describe("klaviyo")["status"] == "connected"


def test_unknown_or_unconnected_integrations_are_not_found() -> None:
    _, shop = make([{"name": "klaviyo"}])
    for name in ("postscript", "mailchimp"):
        with pytest.raises(NotFound):
            shop.integrations.request_sync(name)


def test_no_integrations_means_nothing_is_queued() -> None:
    sim = Simulator(seed=1)
    shop = sim.create_shop({"domain": "plain.myshopify.com"})
    cid = member(shop)
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": 1,
                                   "credits_amount": 0})
    assert shop.integrations.states == {} and shop.integrations.overview() == []
    assert shop.rivo.members[cid].credits_tally == Decimal("0.00")
