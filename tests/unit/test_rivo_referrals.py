"""Referrals: claiming a link, fraud checks, completion by the friend's first paid order, the advocate's reward."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rivosim.domain.config import default_config
from rivosim.domain.events import DomainEvent, ReferralClaimed, ReferralCompleted
from rivosim.domain.shop import Shop
from rivosim.engine import Simulator
from rivosim.kernel.errors import Conflict, NotFound, SimError, ValidationFailed


def make_shop(referrals: dict[str, Any] | None = None, **program: Any) -> Shop:
    if referrals:
        program["referrals"] = referrals
    return Simulator(seed=13).create_shop({"program": program} if program else {})


@pytest.fixture
def shop() -> Shop:
    return make_shop()


def join(shop: Shop, email: str) -> int:
    cid = shop.shopify.create_customer(email=email).id
    shop.clock.advance("PT1M")
    return cid


@pytest.fixture
def advocate(shop: Shop) -> int:
    return join(shop, "ada@example.com")


def code(shop: Shop, cid: int) -> str:
    return shop.rivo.referral_code(cid)


def refer(shop: Shop, advocate: int, email: str, ip: str = "203.0.113.7") -> Any:
    return shop.rivo.create_referral({"email": email, "referral_code": code(shop, advocate), "remote_ip": ip})


def recorder(shop: Shop) -> list[DomainEvent]:
    seen: list[DomainEvent] = []
    shop.bus.subscribe_all(seen.append)
    return seen


def first_order(shop: Shop, email: str, price: str = "40") -> int:
    cid = shop.shopify.create_customer(email=email).id
    shop.shopify.create_order(customer_id=cid, line_items=[{"price": price}], paid=True)
    return cid


# -- claiming --------------------------------------------------------------------------------------------------------
def test_a_friend_claims_an_advocates_link(shop: Shop, advocate: int) -> None:
    seen = recorder(shop)
    referral = refer(shop, advocate, "Friend@Example.com", ip="2001:db8::1")
    assert referral.status == "pending" and referral.block_reason is None
    assert referral.advocate_customer_id == advocate
    assert referral.referred_email == "Friend@Example.com" and referral.signup_ip == "2001:db8::1"
    assert re.fullmatch(r"REF-[A-Z0-9]{10}", referral.referred_discount_code or "")
    claimed = [e for e in seen if isinstance(e, ReferralClaimed)]
    assert len(claimed) == 1 and claimed[0].referral_id == referral.id
    assert shop.rivo.get_referral(referral.id) is referral


def test_referral_codes_round_trip(shop: Shop, advocate: int) -> None:
    c = code(shop, advocate)
    assert shop.rivo.member_id_for_code(c) == advocate
    assert shop.rivo.member_id_for_code(f"  {c.lower()} ") == advocate
    assert shop.rivo.member_id_for_code("not a code!") is None


@pytest.mark.parametrize(("fields", "error", "field"), [
    ({"email": "f@example.com", "referral_code": "ZZZZZZZZZZ", "remote_ip": "1.2.3.4"}, NotFound, None),
    ({"email": "f@example.com", "referral_code": "!!", "remote_ip": "1.2.3.4"}, NotFound, None),
    ({"email": "f@example.com", "referral_code": None, "remote_ip": "1.2.3.4"}, ValidationFailed, "referral_code"),
    ({"email": "f@example.com", "remote_ip": "999.1.1.1"}, ValidationFailed, "remote_ip"),
    ({"email": "f@example.com", "remote_ip": "localhost"}, ValidationFailed, "remote_ip"),
    ({"email": "f@example.com"}, ValidationFailed, "remote_ip"),
    ({"email": "not-an-email", "remote_ip": "1.2.3.4"}, ValidationFailed, "email"),
    ({"email": "  ", "remote_ip": "1.2.3.4"}, ValidationFailed, "email"),
    ({"email": "f@example.com", "remote_ip": "1.2.3.4", "source": "x"}, ValidationFailed, "source"),
])
def test_invalid_claims_are_refused_and_store_nothing(shop: Shop, advocate: int, fields: dict[str, Any],
                                                      error: type[SimError], field: str | None) -> None:
    body = {"referral_code": code(shop, advocate), **fields}
    body = {k: v for k, v in body.items() if v is not None}
    seen = recorder(shop)
    with pytest.raises(error) as info:
        shop.rivo.create_referral(body)
    assert info.value.field == field
    assert shop.rivo.referrals == {} and seen == []


def test_the_same_friend_cannot_claim_twice(shop: Shop, advocate: int) -> None:
    refer(shop, advocate, "f@example.com")
    other = join(shop, "bea@example.com")
    with pytest.raises(Conflict):
        refer(shop, other, "F@EXAMPLE.COM")
    assert len(shop.rivo.referrals) == 1


def test_claims_are_refused_when_referrals_are_off() -> None:
    shop = make_shop({"enabled": False})
    adv = join(shop, "ada@example.com")
    with pytest.raises(ValidationFailed):
        refer(shop, adv, "f@example.com")


# -- fraud checks ----------------------------------------------------------------------------------------------------
def test_self_referral_is_blocked(shop: Shop, advocate: int) -> None:
    seen = recorder(shop)
    referral = refer(shop, advocate, "ADA@example.com")
    assert referral.status == "blocked" and referral.block_reason == "self_referral"
    assert referral.referred_discount_code is None
    assert not any(isinstance(e, ReferralClaimed) for e in seen)


def test_an_existing_customer_with_orders_is_blocked_when_new_customers_only(shop: Shop, advocate: int) -> None:
    first_order(shop, "old@example.com")
    referral = refer(shop, advocate, "old@example.com")
    assert referral.status == "blocked" and referral.block_reason == "existing_customer"


def test_an_existing_customer_without_orders_may_be_referred(shop: Shop, advocate: int) -> None:
    cid = join(shop, "new@example.com")
    referral = refer(shop, advocate, "new@example.com")
    assert referral.status == "pending" and referral.referred_customer_id == cid


def test_existing_customers_may_be_referred_when_not_new_customers_only() -> None:
    shop = make_shop({"new_customers_only": False})
    adv = join(shop, "ada@example.com")
    first_order(shop, "old@example.com")
    assert refer(shop, adv, "old@example.com").status == "pending"


def test_the_weekly_ip_threshold_blocks_and_then_lets_up() -> None:
    shop = make_shop({"weekly_ip_threshold": 3})
    adv = join(shop, "ada@example.com")
    statuses = [refer(shop, adv, f"f{i}@example.com", ip="198.51.100.9").status for i in range(4)]
    assert statuses == ["pending", "pending", "pending", "blocked"]
    assert shop.rivo.referrals[max(shop.rivo.referrals)].block_reason == "ip_threshold_exceeded"
    assert refer(shop, adv, "other-ip@example.com", ip="198.51.100.10").status == "pending"
    shop.clock.advance("P7DT1S")
    assert refer(shop, adv, "later@example.com", ip="198.51.100.9").status == "pending"


def test_a_blocked_friend_may_claim_again(shop: Shop, advocate: int) -> None:
    refer(shop, advocate, "ada@example.com")  # self-referral: blocked
    other = join(shop, "bea@example.com")
    assert refer(shop, other, "ada@example.com").status == "pending"


# -- completion ------------------------------------------------------------------------------------------------------
def test_the_friends_first_paid_order_completes_the_referral_and_rewards_the_advocate_once(
        shop: Shop, advocate: int) -> None:
    referral = refer(shop, advocate, "f@example.com")
    seen = recorder(shop)
    friend = first_order(shop, "F@example.com")
    assert referral.status == "completed" and referral.completed_at == shop.clock.now()
    assert referral.referred_customer_id == friend
    assert referral.referred_order_id == shop.shopify.customers[friend].last_order_id
    assert referral.advocate_reward_status == "rewarded"
    ada = shop.rivo.members[advocate]
    assert ada.points_tally == 100 + 500  # sign-up + advocate_points
    assert [e.source for e in shop.rivo.ledger[advocate]] == ["customer_member_enabled", "referral_complete"]
    completed = [e for e in seen if isinstance(e, ReferralCompleted)]
    assert len(completed) == 1 and completed[0].advocate_customer_id == advocate
    assert completed[0].referred_customer_id == friend
    # A second order by the friend rewards nobody again.
    shop.shopify.create_order(customer_id=friend, line_items=[{"price": "40"}], paid=True)
    assert ada.points_tally == 600
    assert len([e for e in seen if isinstance(e, ReferralCompleted)]) == 1


def test_an_unpaid_order_does_not_complete_the_referral(shop: Shop, advocate: int) -> None:
    referral = refer(shop, advocate, "f@example.com")
    cid = shop.shopify.create_customer(email="f@example.com").id
    oid = shop.shopify.create_order(customer_id=cid, line_items=[{"price": "10"}]).id
    assert referral.status == "pending"
    shop.shopify.pay_order(oid)
    assert referral.status == "completed"


def test_a_referral_complete_rule_sets_the_advocates_reward() -> None:
    rules = default_config()["program"]["earning_rules"] + [{"trigger": "referral_complete", "points_amount": 250}]
    shop = make_shop(earning_rules=rules)
    adv = join(shop, "ada@example.com")
    refer(shop, adv, "f@example.com")
    first_order(shop, "f@example.com")
    assert shop.rivo.members[adv].points_tally == 100 + 250


def test_an_excluded_advocate_completes_without_a_reward(shop: Shop, advocate: int) -> None:
    referral = refer(shop, advocate, "f@example.com")
    shop.shopify.add_tags(advocate, "Rivo Excluded")
    first_order(shop, "f@example.com")
    assert referral.status == "completed" and referral.advocate_reward_status == "not_rewarded"
    assert shop.rivo.members[advocate].points_tally == 100


def test_completing_by_id_and_twice_is_refused(shop: Shop, advocate: int) -> None:
    referral = refer(shop, advocate, "f@example.com")
    done = shop.rivo.complete_referral(referral.id)
    assert done.status == "completed"
    seen = recorder(shop)
    with pytest.raises(Conflict):
        shop.rivo.complete_referral(referral.id)
    assert seen == []
    assert shop.rivo.members[advocate].points_tally == 600


def test_a_blocked_referral_cannot_be_completed(shop: Shop, advocate: int) -> None:
    blocked = refer(shop, advocate, "ada@example.com")
    with pytest.raises(Conflict) as info:
        shop.rivo.complete_referral(blocked.id)
    assert "self_referral" in info.value.message
    with pytest.raises(NotFound):
        shop.rivo.complete_referral(1)


def test_list_referrals_filters_by_advocate_or_friend(shop: Shop, advocate: int) -> None:
    r1 = refer(shop, advocate, "f@example.com")
    other = join(shop, "bea@example.com")
    r2 = refer(shop, other, "g@example.com")
    assert [r.id for r in shop.rivo.list_referrals(advocate)] == [r1.id]
    assert [r.id for r in shop.rivo.list_referrals("bea@example.com")] == [r2.id]
    assert {r.id for r in shop.rivo.list_referrals()} == {r1.id, r2.id}
