"""VIP tiers: entry methods, program periods, TierChanged (first_time), manual overrides and plan gating."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rivosim.domain.events import DomainEvent, TierChanged
from rivosim.domain.shop import Shop
from rivosim.engine import Simulator
from rivosim.kernel.errors import NotFound, ValidationFailed

# Default tiers: Bronze 0, Silver 500, Gold 1250 (points earned, lifetime); every member gets 100 sign-up points.


def make(vip: dict[str, Any] | None = None, **config: Any) -> tuple[Simulator, Shop]:
    sim = Simulator(seed=21)
    if vip:
        config.setdefault("program", {})["vip"] = vip
    return sim, sim.create_shop(config)


def join(shop: Shop, email: str = "m@example.com") -> int:
    cid = shop.shopify.create_customer(email=email).id
    shop.clock.advance("PT1M")
    return cid


def earn(shop: Shop, cid: int, points: int) -> None:
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": points,
                                   "credits_amount": 0})


def buy(shop: Shop, cid: int, amount: Any) -> int:
    return shop.shopify.create_order(customer_id=cid, line_items=[{"price": amount}], paid=True).id


def tier(shop: Shop, cid: int) -> str | None:
    tid = shop.rivo.members[cid].vip_tier_id
    return shop.rivo.tiers[tid].name if tid is not None else None


def tier_id(shop: Shop, name: str) -> int:
    return next(t.id for t in shop.rivo.tier_order if t.name == name)


def changes(seen: list[DomainEvent]) -> list[TierChanged]:
    return [e for e in seen if isinstance(e, TierChanged)]


def recorder(shop: Shop) -> list[DomainEvent]:
    seen: list[DomainEvent] = []
    shop.bus.subscribe_all(seen.append)
    return seen


# -- entry methods ---------------------------------------------------------------------------------------------------
def test_points_earned_moves_members_up_the_tiers() -> None:
    _, shop = make()
    seen = recorder(shop)
    cid = join(shop)
    assert tier(shop, cid) == "Bronze"
    earn(shop, cid, 399)
    assert tier(shop, cid) == "Bronze"
    earn(shop, cid, 1)
    assert tier(shop, cid) == "Silver"
    earn(shop, cid, 750)
    assert tier(shop, cid) == "Gold"
    assert [(shop.rivo.tiers[c.to_tier_id].name, c.direction) for c in changes(seen)  # type: ignore[index]
            ] == [("Silver", "upgraded"), ("Gold", "upgraded")]  # entering Bronze (threshold 0) is silent


def test_spending_points_does_not_lower_points_earned() -> None:
    _, shop = make()
    cid = join(shop)
    earn(shop, cid, 1000)  # 1100 earned: Silver
    shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": shop.rivo.list_rewards()[1].id})  # -1000
    earn(shop, cid, 200)
    assert shop.rivo.members[cid].points_tally == 300
    assert tier(shop, cid) == "Gold"  # 1300 earned


def test_amount_spent_counts_paid_orders_and_refunds() -> None:
    _, shop = make({"entry_method": "amount_spent"})
    seen = recorder(shop)
    cid = join(shop)
    assert tier(shop, cid) == "Bronze"
    oid = buy(shop, cid, "300")
    assert tier(shop, cid) == "Bronze"
    buy(shop, cid, "250")
    assert tier(shop, cid) == "Silver"
    shop.shopify.refund_order(oid, "100")  # $450 net
    assert tier(shop, cid) == "Bronze"
    last = changes(seen)[-1]
    assert last.direction == "downgraded" and not last.first_time


def test_orders_placed_counts_paid_orders() -> None:
    _, shop = make({"entry_method": "orders_placed", "tiers": [
        {"name": "Fan", "threshold": 0}, {"name": "Regular", "threshold": 2}, {"name": "Devotee", "threshold": 5}]})
    cid = join(shop)
    assert tier(shop, cid) == "Fan"
    buy(shop, cid, "5")
    shop.shopify.create_order(customer_id=cid, line_items=[{"price": "5"}])  # unpaid: not placed yet
    assert tier(shop, cid) == "Fan"
    buy(shop, cid, "5")
    assert tier(shop, cid) == "Regular"
    for _ in range(3):
        buy(shop, cid, "1")
    assert tier(shop, cid) == "Devotee"


def test_no_base_tier_means_no_tier_until_the_first_threshold() -> None:
    _, shop = make({"tiers": [{"name": "Silver", "threshold": 500}]})
    cid = join(shop)
    assert tier(shop, cid) is None
    earn(shop, cid, 400)
    assert tier(shop, cid) == "Silver"


# -- first_time ------------------------------------------------------------------------------------------------------
def test_first_time_is_set_only_on_the_first_upgrade_into_a_tier() -> None:
    _, shop = make({"entry_method": "amount_spent"})
    cid = join(shop)
    seen = recorder(shop)
    oid = buy(shop, cid, "600")  # Silver, first time
    shop.shopify.refund_order(oid)  # back to Bronze
    buy(shop, cid, "600")  # Silver again
    got = [(shop.rivo.tiers[c.to_tier_id].name, c.direction, c.first_time) for c in changes(seen)]  # type: ignore[index]
    assert got == [("Silver", "upgraded", True), ("Bronze", "downgraded", False), ("Silver", "upgraded", False)]
    assert all(not c.manual for c in changes(seen))


# -- periods ---------------------------------------------------------------------------------------------------------
def test_calendar_year_progress_resets_at_the_year_boundary() -> None:
    sim, shop = make({"period": "calendar_year"})
    cid = join(shop)
    earn(shop, cid, 500)
    assert tier(shop, cid) == "Silver"
    seen = recorder(shop)
    sim.advance("P1Y")  # the daily tick at local midnight on 1 January resets the period by itself
    assert tier(shop, cid) == "Bronze"
    assert [c.direction for c in changes(seen)] == ["downgraded"]
    assert changes(seen)[0].at == datetime(2027, 1, 1, tzinfo=UTC)
    earn(shop, cid, 500)
    assert tier(shop, cid) == "Silver"
    assert not changes(seen)[-1].first_time


def test_calendar_year_counts_refund_reversals_in_the_period() -> None:
    _, shop = make({"period": "calendar_year"})
    cid = join(shop)
    oid = buy(shop, cid, "450")  # 550 earned this year
    assert tier(shop, cid) == "Silver"
    shop.shopify.refund_order(oid, "100")
    assert tier(shop, cid) == "Bronze"


def test_rolling_year_drops_activity_older_than_twelve_months() -> None:
    sim, shop = make({"period": "rolling_year"})
    cid = join(shop)  # 100 sign-up points on 2026-01-01
    earn(shop, cid, 500)
    assert tier(shop, cid) == "Silver"
    sim.advance("P6M")
    earn(shop, cid, 100)
    sim.advance("P5M")
    shop.rivo.on_period_boundary()
    assert tier(shop, cid) == "Silver"  # 700 within the last 12 months
    sim.advance("P1M")
    sim.advance("P1D")  # now the January points are more than a year old
    shop.rivo.on_period_boundary()
    assert tier(shop, cid) == "Bronze"
    assert shop.rivo.tier_progress(shop.rivo.members[cid]) == 100


def test_lifetime_progress_survives_year_boundaries() -> None:
    sim, shop = make()
    cid = join(shop)
    earn(shop, cid, 500)
    sim.advance("P3Y")
    shop.rivo.on_period_boundary()
    assert tier(shop, cid) == "Silver"


def test_program_start_date_ignores_earlier_activity() -> None:
    sim, shop = make({"start_date": "2026-03-01"})
    cid = join(shop)
    earn(shop, cid, 600)  # January: before the program start
    assert tier(shop, cid) == "Bronze"
    sim.advance("P2M")
    earn(shop, cid, 500)
    assert tier(shop, cid) == "Silver"


# -- manual override -------------------------------------------------------------------------------------------------
def test_a_manual_tier_holds_until_the_period_boundary() -> None:
    sim, shop = make({"period": "calendar_year"})
    cid = join(shop)
    seen = recorder(shop)
    shop.rivo.set_member_tier(cid, tier_id(shop, "Gold"))
    assert tier(shop, cid) == "Gold"
    assert changes(seen)[-1].manual and changes(seen)[-1].direction == "upgraded"
    earn(shop, cid, 500)  # earns Silver: below the override
    shop.rivo.on_period_boundary()  # still 2026
    assert tier(shop, cid) == "Gold"
    sim.advance("P1Y")
    shop.rivo.on_period_boundary()
    assert tier(shop, cid) == "Bronze"
    assert not changes(seen)[-1].manual


def test_a_manual_tier_yields_to_a_higher_earned_tier() -> None:
    _, shop = make({"period": "calendar_year"})
    cid = join(shop)
    shop.rivo.set_member_tier(str(cid), str(tier_id(shop, "Silver")))
    earn(shop, cid, 500)  # Silver earned: the same as the override
    assert tier(shop, cid) == "Silver"
    earn(shop, cid, 700)  # Gold earned
    assert tier(shop, cid) == "Gold"
    assert shop.rivo.members[cid].tier_override_until is None


def test_a_manual_downgrade_is_not_undone_by_the_next_ledger_change() -> None:
    sim, shop = make({"period": "calendar_year"})
    cid = join(shop)
    earn(shop, cid, 1200)  # Gold
    seen = recorder(shop)
    shop.rivo.set_member_tier(cid, tier_id(shop, "Silver"))
    assert tier(shop, cid) == "Silver"
    assert changes(seen)[-1].direction == "downgraded" and changes(seen)[-1].manual
    earn(shop, cid, 10)
    buy(shop, cid, "20")
    shop.patch({"program": {"points_name": "Stars"}})  # re-evaluates every member
    assert tier(shop, cid) == "Silver"
    sim.advance("P1Y")
    shop.rivo.on_period_boundary()
    assert tier(shop, cid) == "Bronze"


def test_a_manual_tier_on_a_lifetime_program_holds_across_years() -> None:
    sim, shop = make()
    cid = join(shop)
    shop.rivo.set_member_tier(cid, tier_id(shop, "Gold"))
    earn(shop, cid, 500)
    sim.advance("P5Y")
    shop.rivo.on_period_boundary()
    assert tier(shop, cid) == "Gold"


def test_a_manual_tier_on_a_lifetime_program_yields_to_a_higher_earned_tier() -> None:
    _, shop = make()
    cid = join(shop)
    shop.rivo.set_member_tier(cid, tier_id(shop, "Silver"))
    earn(shop, cid, 1200)
    assert tier(shop, cid) == "Gold"


@pytest.mark.parametrize(("tier_value", "error"), [
    (999, NotFound), ("abc", ValidationFailed), (None, ValidationFailed), (True, ValidationFailed),
    (1.0, ValidationFailed), ("\u00b2", ValidationFailed),
])
def test_set_member_tier_refusals(tier_value: Any, error: type[Exception]) -> None:
    _, shop = make()
    cid = join(shop)
    with pytest.raises(error):
        shop.rivo.set_member_tier(cid, tier_value)
    assert tier(shop, cid) == "Bronze"
    assert shop.rivo.members[cid].tier_override_until is None


def test_set_member_tier_refuses_non_string_notes() -> None:
    _, shop = make()
    cid = join(shop)
    with pytest.raises(ValidationFailed):
        shop.rivo.set_member_tier(cid, tier_id(shop, "Gold"), internal_note=5)
    assert tier(shop, cid) == "Bronze"


# -- availability ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("config", [{"plan": "plus"}, {"plan": "starter"}, {"program": {"vip": {"enabled": False}}}])
def test_vip_is_unavailable_below_scale_or_when_disabled(config: dict[str, Any]) -> None:
    sim = Simulator(seed=2)
    shop = sim.create_shop(config)
    seen = recorder(shop)
    cid = join(shop)
    earn(shop, cid, 5000)
    assert not shop.rivo.vip_available()
    assert tier(shop, cid) is None
    assert changes(seen) == []
    with pytest.raises(ValidationFailed):
        shop.rivo.set_member_tier(cid, tier_id(shop, "Gold"))


def test_upgrading_the_plan_to_scale_places_members_in_their_tiers() -> None:
    sim = Simulator(seed=2)
    shop = sim.create_shop({"plan": "plus"})
    cid = join(shop)
    earn(shop, cid, 1200)
    shop.patch({"plan": "scale"})
    assert tier(shop, cid) == "Gold"


def test_next_tier() -> None:
    _, shop = make()
    cid = join(shop)
    member = shop.rivo.members[cid]
    assert shop.rivo.next_tier(member).name == "Silver"  # type: ignore[union-attr]
    earn(shop, cid, 2000)
    assert shop.rivo.next_tier(member) is None


def test_period_boundaries() -> None:
    _, cal = make({"period": "calendar_year"})
    instant = datetime(2026, 7, 15, 12, tzinfo=UTC)
    assert cal.rivo.period_start(instant) == datetime(2026, 1, 1, tzinfo=UTC)
    assert cal.rivo.next_period_boundary(instant) == datetime(2027, 1, 1, tzinfo=UTC)
    _, rolling = make({"period": "rolling_year"})
    # (instant - 12 months, instant]: exactly a year ago is already outside the window.
    assert rolling.rivo.period_start(instant) == datetime(2025, 7, 15, 12, 0, 0, 1, tzinfo=UTC)
    _, life = make()
    assert life.rivo.period_start(instant) is None and life.rivo.next_period_boundary(instant) is None
