"""Time-driven behaviour on the simulator clock: birthdays, anniversaries, tier periods, points expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rivosim.domain.shop import Shop
from rivosim.engine import Simulator
from rivosim.kernel.clock import VirtualClock

RULES = [
    {"trigger": "customer_member_enabled", "points_amount": 100},
    {"trigger": "customer_birthday", "points_amount": 200},
    {"trigger": "customer_anniversary", "points_amount": 300},
    {"trigger": "order_placed", "points_amount": 1, "currency_base_amount": 1},
]


def make(program: dict[str, Any] | None = None, **config: Any) -> tuple[Simulator, Shop]:
    sim = Simulator(seed=2)
    doc = {"domain": "life.myshopify.com", "api": {"new_customer_visibility_delay": 0},
           "program": {"earning_rules": RULES, **(program or {})}, **config}
    return sim, sim.create_shop(doc)


def fired(sim: Simulator, shop: Shop, topic: str) -> list[datetime]:
    return [t.at for t in sim.triggers.log(shop.domain).items if t.topic == topic]


def test_birthdays_fire_at_local_midnight_every_year() -> None:
    sim, shop = make()
    shop.shopify.create_customer(email="b@example.com", dob="03-14")
    sim.advance("P3Y")
    assert fired(sim, shop, "customer/birthday") == [datetime(y, 3, 14, tzinfo=UTC) for y in (2026, 2027, 2028)]
    member = next(iter(shop.rivo.members.values()))
    assert member.points_tally == 100 + 3 * 200 + 3 * 300  # three anniversaries of joining on 1 January too


def test_birthdays_follow_the_shop_time_zone() -> None:
    sim, shop = make(timezone="America/Los_Angeles")
    shop.shopify.create_customer(email="b@example.com", dob="07-04")
    sim.advance("P1Y")
    # Midnight in Los Angeles in July (PDT, UTC-7) is 07:00 UTC.
    assert fired(sim, shop, "customer/birthday") == [datetime(2026, 7, 4, 7, tzinfo=UTC)]


def test_a_leap_day_birthday_is_kept_on_28_february_in_other_years() -> None:
    sim, shop = make()
    shop.shopify.create_customer(email="leap@example.com", dob="02-29")
    sim.advance("P3Y")  # 2026, 2027 are common years; 2028 is a leap year
    assert fired(sim, shop, "customer/birthday") == [
        datetime(2026, 2, 28, tzinfo=UTC), datetime(2027, 2, 28, tzinfo=UTC), datetime(2028, 2, 29, tzinfo=UTC)]


def test_no_birthday_without_dob_or_with_the_rule_disabled() -> None:
    sim, shop = make()
    shop.shopify.create_customer(email="nodob@example.com")
    sim.advance("P1Y")
    assert fired(sim, shop, "customer/birthday") == []
    sim2, shop2 = make({"earning_rules": [{"trigger": "customer_birthday", "points_amount": 5, "enabled": False}]})
    shop2.shopify.create_customer(email="b@example.com", dob="03-14")
    sim2.advance("P1Y")
    assert fired(sim2, shop2, "customer/birthday") == []


def test_a_birthday_set_later_through_the_api_is_celebrated() -> None:
    sim, shop = make()
    cid = shop.shopify.create_customer(email="b@example.com").id
    sim.advance("P10D")
    shop.rivo.update_member(cid, {"dob": "01-20"})
    sim.advance("P30D")
    assert fired(sim, shop, "customer/birthday") == [datetime(2026, 1, 20, tzinfo=UTC)]


def test_anniversaries_fire_from_the_first_anniversary_on() -> None:
    sim, shop = make()
    sim.advance("P10D")  # joins on 2026-01-11
    shop.shopify.create_customer(email="a@example.com")
    sim.advance("P2Y")
    assert fired(sim, shop, "customer/anniversary") == [datetime(2027, 1, 11, tzinfo=UTC),
                                                        datetime(2028, 1, 11, tzinfo=UTC)]
    payloads = [t.payload for t in sim.triggers.log(shop.domain).items if t.topic == "customer/anniversary"]
    assert [p["years"] for p in payloads] == [1, 2]


def test_seeded_customers_celebrate_too() -> None:
    sim = Simulator(seed=4)
    shop = sim.create_shop({"domain": "seed.myshopify.com", "program": {"earning_rules": RULES}}, customers=300)
    sim.advance("P1Y")
    with_dob = sum(1 for m in shop.rivo.members.values() if m.dob)
    assert len(fired(sim, shop, "customer/birthday")) == with_dob == 300
    assert len(fired(sim, shop, "customer/anniversary")) == 300  # all joined in the two years before


def test_calendar_year_tiers_reset_at_the_shops_new_year() -> None:
    sim, shop = make({"vip": {"period": "calendar_year"}}, timezone="Pacific/Auckland")
    cid = shop.shopify.create_customer(email="t@example.com").id
    shop.shopify.create_order(customer_id=cid, line_items=[{"title": "x", "price": "500"}], paid=True)
    assert shop.rivo.tiers[shop.rivo.members[cid].vip_tier_id].name == "Silver"
    sim.advance("P1Y")
    downgrades = fired(sim, shop, "customer_vip_tier/downgraded")
    # Auckland (UTC+13 in January) sees 2027 arrive at 11:00 UTC on 31 December.
    assert downgrades == [datetime(2026, 12, 31, 11, tzinfo=UTC)]


def test_rolling_year_tiers_decay_when_spending_leaves_the_window() -> None:
    sim, shop = make({"vip": {"period": "rolling_year", "entry_method": "amount_spent",
                              "tiers": [{"name": "Member", "threshold": 0}, {"name": "VIP", "threshold": 300}]}})
    cid = shop.shopify.create_customer(email="r@example.com").id
    shop.shopify.create_order(customer_id=cid, line_items=[{"title": "x", "price": "400"}], paid=True)
    sim.advance("P11M")
    assert shop.rivo.tiers[shop.rivo.members[cid].vip_tier_id].name == "VIP"
    sim.advance("P2M")
    assert shop.rivo.tiers[shop.rivo.members[cid].vip_tier_id].name == "Member"
    assert fired(sim, shop, "customer_vip_tier/downgraded") == [datetime(2027, 1, 1, tzinfo=UTC)]


def test_per_event_expiry_is_fifo_with_warnings() -> None:
    sim, shop = make({"expiry": {"enabled": True, "mode": "per_event", "months": 2}})
    cid = shop.shopify.create_customer(email="e@example.com").id  # +100 on 2026-01-01, expires 2026-03-01
    sim.advance("P20D")
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": 50,
                                   "credits_amount": 0})  # +50 on 2026-01-21, expires 2026-03-21
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": -120,
                                   "credits_amount": 0})  # spends all of the first lot and 20 of the second
    member = shop.rivo.members[cid]
    assert shop.rivo.points_expire_at(member) == datetime(2026, 3, 21, tzinfo=UTC)
    sim.advance("P3M")
    assert fired(sim, shop, "points/expired") == [datetime(2026, 3, 21, tzinfo=UTC)]
    assert member.points_tally == 0
    warnings = [(t.topic, t.at, t.payload["points_amount"]) for t in sim.triggers.log(shop.domain).items
                if t.topic.startswith("notification/")]
    assert warnings == [
        ("notification/points_expiry_warning", datetime(2026, 2, 19, tzinfo=UTC), 30),
        ("notification/points_expiry_last_chance", datetime(2026, 3, 18, tzinfo=UTC), 30),
    ]
    expired = [e for e in shop.rivo.ledger[cid] if e.source == "points_expired"]
    assert [e.points_diff for e in expired] == [-30]
    assert member.points_tally == sum(e.points_diff for e in shop.rivo.ledger[cid])


def test_inactivity_expiry_restarts_with_each_activity() -> None:
    sim, shop = make({"expiry": {"enabled": True, "mode": "inactivity", "months": 3}})
    cid = shop.shopify.create_customer(email="i@example.com").id
    sim.advance("P2M")
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": 10,
                                   "credits_amount": 0})  # activity on 2026-03-01 restarts the 3 months
    sim.advance("P2M")
    assert fired(sim, shop, "points/expired") == []
    sim.advance("P2M")
    assert fired(sim, shop, "points/expired") == [datetime(2026, 6, 1, tzinfo=UTC)]
    assert len(fired(sim, shop, "notification/points_expiry_warning")) == 1
    assert shop.rivo.members[cid].points_tally == 0


def test_redemptions_can_be_excluded_from_activity() -> None:
    sim, shop = make({"expiry": {"enabled": True, "mode": "inactivity", "months": 2,
                                 "exclude_redemptions_from_activity": True},
                      "rewards": [{"name": "Tiny", "points_amount": 10}]})
    cid = shop.shopify.create_customer(email="x@example.com").id
    sim.advance("P1M")
    reward = shop.rivo.list_rewards()[0]
    shop.rivo.redeem_reward({"customer_identifier": cid, "reward_id": reward.id})
    sim.advance("P1M")
    assert fired(sim, shop, "points/expired") == [datetime(2026, 3, 1, tzinfo=UTC)]


def test_expiry_off_fires_nothing() -> None:
    sim, shop = make()
    shop.shopify.create_customer(email="n@example.com")
    sim.advance("P2Y")
    assert fired(sim, shop, "points/expired") == []
    assert shop.rivo.points_expire_at(next(iter(shop.rivo.members.values()))) is None


def test_a_multi_year_run_keeps_every_calendar_promise() -> None:
    sim, shop = make({"vip": {"period": "calendar_year"},
                      "expiry": {"enabled": True, "mode": "per_event", "months": 12}})
    cid = shop.shopify.create_customer(email="m@example.com", dob="12-31").id
    shop.shopify.create_order(customer_id=cid, line_items=[{"title": "x", "price": "450"}], paid=True)
    sim.advance("P3Y")
    assert len(fired(sim, shop, "customer/birthday")) == 3
    assert len(fired(sim, shop, "customer/anniversary")) == 3  # 2027, 2028 and 2029-01-01
    assert len(fired(sim, shop, "notification/points_expiry_warning")) >= 3
    assert fired(sim, shop, "customer_vip_tier/downgraded")[0] == datetime(2027, 1, 1, tzinfo=UTC)
    member = shop.rivo.members[cid]
    assert member.points_tally == sum(e.points_diff for e in shop.rivo.ledger[cid])


def test_run_until_idle_waits_for_work_not_for_timekeeping() -> None:
    clock = VirtualClock()
    ran: list[str] = []
    clock.call_at(clock.now() + timedelta(days=400), lambda: ran.append("tick"), work=False)
    clock.call_at(clock.now() + timedelta(hours=2), lambda: ran.append("delivery"))
    clock.run_until_idle()
    assert ran == ["delivery"] and clock.now() == datetime(2026, 1, 1, 2, tzinfo=UTC)
    sim, _ = make()
    assert sim.run_until_idle() == datetime(2026, 1, 1, tzinfo=UTC)  # the daily tick keeps nobody busy


def test_a_deleted_shops_clock_stops_and_never_fires_into_its_successor() -> None:
    sim, shop = make({"expiry": {"enabled": True, "mode": "per_event", "months": 1}})
    shop.shopify.create_customer(email="old@example.com", dob="01-15")
    sim.delete_shop(shop.domain)
    successor = sim.create_shop({"domain": shop.domain})
    sim.advance("P1Y")
    # The old shop's birthday (15 January) and expiry (1 February) timers ran as no-ops.
    assert sim.triggers.log(successor.domain).items == []
    assert shop.rivo.closed and shop.rivo.members  # the old object is simply inert
