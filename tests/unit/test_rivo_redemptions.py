"""Redemptions: fixed, incremental and credit rewards, codes, expiry, counts, and refusals that change nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from rivosim.domain.events import DomainEvent, PointsEventCreated, RedemptionCreated
from rivosim.domain.rivo.models import Reward
from rivosim.domain.shop import Shop
from rivosim.engine import Simulator
from rivosim.kernel.clock import VirtualClock
from rivosim.kernel.errors import (
    CustomerExcluded,
    InsufficientBalance,
    InsufficientPoints,
    NotFound,
    ProgramInactive,
    SimError,
    ValidationFailed,
)


@pytest.fixture
def shop() -> Shop:
    return Simulator(seed=8).create_shop({})


def join(shop: Shop, points: int = 0, credits: str = "0", email: str = "m@example.com", **kwargs: Any) -> int:
    cid = shop.shopify.create_customer(email=email, **kwargs).id
    shop.clock.advance("PT1M")
    if points or credits != "0":
        shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": points,
                                       "credits_amount": credits})
    return cid


def reward_named(shop: Shop, name: str) -> Reward:
    return next(r for r in shop.rivo.list_rewards() if r.name == name)


def recorder(shop: Shop) -> list[DomainEvent]:
    seen: list[DomainEvent] = []
    shop.bus.subscribe_all(seen.append)
    return seen


def state(shop: Shop) -> Any:
    rivo = shop.rivo
    return ({m.id: (m.points_tally, m.credits_tally) for m in rivo.members.values()},
            len(rivo.points_events), len(rivo.redemptions), {r.id: r.redeemed_count for r in rivo.rewards.values()},
            dict(shop.ids._counters))


def assert_refused(shop: Shop, fields: dict[str, Any], error: type[SimError]) -> SimError:
    seen = recorder(shop)
    before = state(shop)
    with pytest.raises(error) as info:
        shop.rivo.redeem_reward(fields)
    assert state(shop) == before
    assert seen == []
    return info.value


# -- fixed rewards ---------------------------------------------------------------------------------------------------
def test_redeeming_a_fixed_reward_spends_its_points_and_makes_a_code(shop: Shop) -> None:
    cid = join(shop, points=500)  # 100 sign-up + 500
    reward = reward_named(shop, "$5 off coupon")
    seen = recorder(shop)
    redemption = shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": reward.id})
    member = shop.rivo.members[cid]
    assert member.points_tally == 100
    assert redemption.points_amount == 500 and redemption.credits_amount == Decimal("0")
    assert redemption.name == "$5 off coupon"
    assert re.fullmatch(r"REDEEM-[0-9a-f]{12}", redemption.code or "")
    assert redemption.expires_at is None and redemption.used_at is None
    assert reward.redeemed_count == 1
    assert [type(e).__name__ for e in seen] == ["RedemptionCreated", "PointsEventCreated"]
    spent = seen[1]
    assert isinstance(spent, PointsEventCreated)
    assert (spent.source, spent.points_diff) == ("points_purchase", -500)
    ledger_event = shop.rivo.points_events[redemption.points_event_id]  # type: ignore[index]
    assert ledger_event.points_purchase_id == redemption.id
    created = seen[0]
    assert isinstance(created, RedemptionCreated) and created.reward_id == reward.id


def test_redemptions_are_not_idempotent(shop: Shop) -> None:
    cid = join(shop, points=900)
    reward = reward_named(shop, "$5 off coupon")
    a = shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": reward.id})
    b = shop.rivo.redeem_reward({"customer_identifier": "m@example.com", "reward_id": str(reward.id)})
    assert a.id != b.id and a.code != b.code
    assert reward.redeemed_count == 2
    assert shop.rivo.members[cid].points_tally == 0
    assert [r.id for r in shop.rivo.list_redemptions(cid)] == [a.id, b.id]


def test_percentage_and_free_shipping_names(shop: Shop) -> None:
    cid = join(shop, points=2000)
    pct = shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": reward_named(shop, "10% off coupon").id})
    ship = shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": reward_named(shop, "Free shipping").id})
    assert pct.name == "10% off coupon" and ship.name == "Free shipping"


def test_insufficient_points_are_refused_with_nothing_changed(shop: Shop) -> None:
    cid = join(shop, points=399)  # 499
    err = assert_refused(shop, {"customer_identifier": cid, "reward_id": reward_named(shop, "$5 off coupon").id},
                         InsufficientPoints)
    assert err.details == {"balance": 499, "required": 500}


# -- incremental rewards ---------------------------------------------------------------------------------------------
@pytest.fixture
def incremental(shop: Shop) -> Reward:
    return shop.rivo.create_reward({"name": "Dollars off", "points_type": "incremental", "reward_type": "fixed_amount",
                                    "reward_value": 1, "increment_points_value": 100,
                                    "min_points_to_redeem_value": 200, "max_points_to_spend_value": 1000})


def test_incremental_reward_spends_the_requested_multiple(shop: Shop, incremental: Reward) -> None:
    cid = join(shop, points=1000)
    redemption = shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": incremental.id,
                                          "points_amount": "300"})
    assert redemption.points_amount == 300
    assert redemption.name == "$3 off coupon"
    assert shop.rivo.members[cid].points_tally == 800


@pytest.mark.parametrize(("points", "error"), [(250, ValidationFailed), (100, ValidationFailed),
                                               (1100, ValidationFailed), (None, ValidationFailed),
                                               ("x", ValidationFailed), (0, ValidationFailed)])
def test_incremental_amount_must_be_a_multiple_within_limits(shop: Shop, incremental: Reward, points: Any,
                                                             error: type[SimError]) -> None:
    cid = join(shop, points=5000)
    fields = {"customer_identifier": cid, "reward_id": incremental.id}
    if points is not None:
        fields["points_amount"] = points
    err = assert_refused(shop, fields, error)
    assert err.field == "points_amount"


def test_incremental_reward_needs_the_points(shop: Shop, incremental: Reward) -> None:
    cid = join(shop, points=100)  # 200
    shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": incremental.id, "points_amount": 200})
    assert_refused(shop, {"customer_identifier": cid, "reward_id": incremental.id, "points_amount": 200},
                   InsufficientPoints)


# -- credit rewards --------------------------------------------------------------------------------------------------
@pytest.fixture
def store_credit(shop: Shop) -> Reward:
    return shop.rivo.create_reward({"name": "Store Credit", "source": "credits", "reward_type": "fixed_amount",
                                    "reward_value": 10})


def test_credit_reward_spends_credits_and_has_no_code(shop: Shop, store_credit: Reward) -> None:
    cid = join(shop, credits="30.00")
    redemption = shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": store_credit.id,
                                          "credits_amount": "25.50"})
    member = shop.rivo.members[cid]
    assert redemption.code is None
    assert redemption.credits_amount == Decimal("25.50") and redemption.points_amount == 0
    assert redemption.name == "$25.5 off coupon"
    assert (member.points_tally, member.credits_tally) == (100, Decimal("4.50"))
    assert shop.rivo.points_events[redemption.points_event_id].credits_diff == Decimal("-25.50")  # type: ignore[index]


def test_credit_reward_defaults_to_its_value(shop: Shop, store_credit: Reward) -> None:
    cid = join(shop, credits="10")
    shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": store_credit.id})
    assert shop.rivo.members[cid].credits_tally == Decimal("0.00")


@pytest.mark.parametrize(("amount", "error"), [("30.01", InsufficientBalance), ("0", ValidationFailed),
                                               ("-5", ValidationFailed), ("lots", ValidationFailed)])
def test_credit_reward_refusals(shop: Shop, store_credit: Reward, amount: str, error: type[SimError]) -> None:
    cid = join(shop, credits="30")
    assert_refused(shop, {"customer_identifier": cid, "reward_id": store_credit.id, "credits_amount": amount}, error)


# -- expiry ----------------------------------------------------------------------------------------------------------
def test_expires_at_comes_from_expiry_months(shop: Shop) -> None:
    reward = shop.rivo.create_reward({"name": "Soon", "points_amount": 10, "expiry_months": 3})
    cid = join(shop)
    redemption = shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": reward.id})
    assert redemption.expires_at == datetime(2026, 4, 1, 0, 1, tzinfo=UTC)


def test_expiry_months_clamp_to_the_end_of_a_short_month() -> None:
    sim = Simulator(seed=1, clock=VirtualClock(datetime(2026, 1, 31, 9, tzinfo=UTC)))
    shop = sim.create_shop({})
    reward = shop.rivo.create_reward({"name": "Soon", "points_amount": 10, "expiry_months": 1})
    cid = join(shop)
    redemption = shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": reward.id})
    assert redemption.expires_at == datetime(2026, 2, 28, 9, 1, tzinfo=UTC)


# -- reward availability ---------------------------------------------------------------------------------------------
def test_a_disabled_reward_is_refused(shop: Shop) -> None:
    cid = join(shop, points=1000)
    reward = reward_named(shop, "$5 off coupon")
    shop.rivo.update_reward(reward.id, {"enabled": False})
    err = assert_refused(shop, {"customer_identifier": cid, "reward_id": reward.id}, ValidationFailed)
    assert err.field == "reward_id"


def test_a_deleted_or_unknown_reward_is_not_found(shop: Shop) -> None:
    cid = join(shop, points=1000)
    reward = reward_named(shop, "$5 off coupon")
    shop.rivo.delete_reward(reward.id)
    assert_refused(shop, {"customer_identifier": cid, "reward_id": reward.id}, NotFound)
    assert_refused(shop, {"customer_identifier": cid, "reward_id": 1}, NotFound)


@pytest.mark.parametrize(("fields", "field"), [
    ({"reward_id": 1}, "customer_identifier"),
    ({"customer_identifier": "m@example.com"}, "reward_id"),
    ({"customer_identifier": "m@example.com", "reward_id": "five"}, "reward_id"),
    ({"customer_identifier": "m@example.com", "reward_id": 1, "coupon": "x"}, "coupon"),
    ({"customer_identifier": "m@example.com", "reward_id": "\u00b2"}, "reward_id"),
])
def test_malformed_redemptions_are_refused(shop: Shop, fields: dict[str, Any], field: str) -> None:
    join(shop, points=1000)
    assert assert_refused(shop, fields, ValidationFailed).field == field


def test_excluded_customers_and_inactive_programs_cannot_redeem(shop: Shop) -> None:
    cid = join(shop, points=1000)
    reward = reward_named(shop, "$5 off coupon")
    shop.shopify.add_tags(cid, "Rivo Excluded")
    assert_refused(shop, {"customer_identifier": cid, "reward_id": reward.id}, CustomerExcluded)
    shop.shopify.remove_tags(cid, "Rivo Excluded")
    shop.patch({"program": {"active": False}})
    assert_refused(shop, {"customer_identifier": cid, "reward_id": reward.id}, ProgramInactive)


def test_an_order_using_the_code_marks_it_used(shop: Shop) -> None:
    cid = join(shop, points=500)
    redemption = shop.rivo.redeem_reward({"customer_identifier": cid,
                                          "reward_id": reward_named(shop, "$5 off coupon").id})
    shop.clock.advance("P1D")
    shop.shopify.create_order(customer_id=cid, line_items=[{"price": "30"}],
                              discount_codes=[(redemption.code or "").upper()], paid=True)
    assert redemption.used_at == shop.clock.now()
