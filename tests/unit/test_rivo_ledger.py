"""The points ledger: balances are always the sum of the ledger; order points, refunds and cancellations;
POST /points_events single and batch; and refusals that change nothing and publish nothing."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from rivosim.domain.config import default_config
from rivosim.domain.events import DomainEvent, PointsEventCreated, TierChanged
from rivosim.domain.shop import Shop
from rivosim.engine import Simulator
from rivosim.kernel.errors import (
    CustomerExcluded,
    EarningRuleDisabled,
    InsufficientBalance,
    InsufficientPoints,
    NotFound,
    ProgramInactive,
    SimError,
    ValidationFailed,
)

RIVO_EVENTS = (PointsEventCreated, TierChanged)


def make_shop(config: dict[str, Any] | None = None, seed: int = 5) -> Shop:
    return Simulator(seed=seed).create_shop(config or {})


def rules_with(*extra: dict[str, Any], **overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """The default earning rules with per-trigger overrides (``order_placed={"enabled": False}``), plus ``extra``."""
    rules = default_config()["program"]["earning_rules"]
    for rule in rules:
        rule.update(overrides.get(rule["trigger"], {}))
    return [*rules, *extra]


def member_id(shop: Shop, email: str = "m@example.com", **kwargs: Any) -> int:
    c = shop.shopify.create_customer(email=email, **kwargs)
    shop.clock.advance("PT1M")
    return c.id


def manual(shop: Shop, cid: int, points: int, credits: Any = 0, **extra: Any) -> Any:
    return shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": points,
                                          "credits_amount": credits, **extra})


def order(shop: Shop, cid: int, price: Any, *, tax: Any = 0, discounts: Any = 0, product_id: int | None = None,
          paid: bool = True) -> int:
    line: dict[str, Any] = {"title": "Thing", "price": price}
    if product_id is not None:
        line["product_id"] = product_id
    return shop.shopify.create_order(customer_id=cid, line_items=[line], total_tax=tax, total_discounts=discounts,
                                     paid=paid).id


def recorder(shop: Shop) -> list[DomainEvent]:
    seen: list[DomainEvent] = []
    shop.bus.subscribe_all(seen.append)
    return seen


def rivo_events(seen: list[DomainEvent]) -> list[DomainEvent]:
    return [e for e in seen if isinstance(e, RIVO_EVENTS)]


def assert_ledger_invariant(shop: Shop) -> None:
    rivo = shop.rivo
    for member in rivo.members.values():
        ledger = rivo.ledger.get(member.id, [])
        assert member.points_tally == sum(e.points_diff for e in ledger), member.id
        assert member.credits_tally == sum((e.credits_diff for e in ledger), Decimal("0.00")), member.id
    assert sum(len(v) for v in rivo.ledger.values()) == len(rivo.points_events)


def ledger_state(shop: Shop) -> Any:
    rivo = shop.rivo
    return ({m.id: (m.points_tally, m.credits_tally, m.lifetime_points, m.vip_tier_id,
                    frozenset(m.completed_rule_ids or ())) for m in rivo.members.values()},
            {k: len(v) for k, v in rivo.ledger.items()}, len(rivo.points_events), dict(shop.ids._counters))


def assert_refused(shop: Shop, call: Any, error: type[SimError]) -> SimError:
    seen = recorder(shop)
    before = ledger_state(shop)
    with pytest.raises(error) as info:
        call()
    assert ledger_state(shop) == before
    assert seen == []
    return info.value


# -- the invariant ---------------------------------------------------------------------------------------------------
def test_balances_equal_the_sum_of_the_ledger_after_a_long_mixed_sequence() -> None:
    shop = make_shop({"program": {"earning_rules": rules_with(
        {"trigger": "product_purchased", "product_ids": [7], "points_amount": 25, "credits_amount": 1.5},
        {"trigger": "custom_action", "custom_action_name": "quiz", "points_amount": 10},
    ), "rewards": [*default_config()["program"]["rewards"],
                   {"name": "Store credit", "source": "credits", "reward_value": 5}]}})
    rng = random.Random(1234)
    rivo = shop.rivo
    cids = [member_id(shop, f"m{i}@example.com") for i in range(6)]
    orders: list[int] = []
    rewards = rivo.list_rewards()
    for _ in range(600):
        cid = rng.choice(cids)
        op = rng.randrange(9)
        try:
            if op == 0:
                orders.append(order(shop, cid, f"{rng.randrange(1, 400)}.{rng.randrange(100):02d}",
                                    tax=rng.randrange(0, 10), product_id=rng.choice([None, 7])))
            elif op == 1 and orders:
                shop.shopify.refund_order(rng.choice(orders), str(rng.randrange(1, 60)))
            elif op == 2 and orders:
                shop.shopify.cancel_order(rng.choice(orders))
            elif op == 3:
                manual(shop, cid, rng.randrange(-300, 300), f"{rng.randrange(-5, 6)}.{rng.randrange(100):02d}")
            elif op == 4:
                reward = rng.choice(rewards)
                rivo.redeem_reward({"customer_identifier": cid, "reward_id": reward.id})
            elif op == 5:
                rivo.create_points_events_batch([
                    {"customer_identifier": rng.choice(cids), "source": "manual",
                     "points_amount": rng.randrange(-200, 200), "credits_amount": 0}
                    for _ in range(rng.randrange(1, 6))])
            elif op == 6:
                rivo.record_action(cid, rng.choice(["instagram_follow", "facebook_share", "review"]), {})
            elif op == 7:
                rivo.create_points_event({"customer_identifier": cid, "source": "custom_action",
                                          "custom_action_name": "quiz"})
            else:
                shop.clock.advance(rng.choice(["PT1H", "P1D", "P7D"]))
        except SimError:
            pass  # refusals are part of the mix; they must change nothing
        assert_ledger_invariant(shop)
    assert len(rivo.points_events) > 300  # the mix really exercised the ledger


# -- order points ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("price", "discounts", "tax", "expected"), [
    ("100.00", 0, 0, 100),
    ("59.99", 0, 0, 59),
    ("0.99", 0, 0, 0),
    ("100.00", "10.50", 0, 89),
    ("100.00", 0, "30.00", 100),  # tax earns nothing
])
def test_one_point_per_dollar_of_subtotal_rounded_down(price: str, discounts: Any, tax: Any, expected: int) -> None:
    shop = make_shop()
    cid = member_id(shop)
    seen = recorder(shop)
    oid = order(shop, cid, price, discounts=discounts, tax=tax)
    earned = [e for e in rivo_events(seen) if isinstance(e, PointsEventCreated) and e.source == "order_placed"]
    assert [e.points_diff for e in earned] == ([expected] if expected else [])
    assert shop.rivo.members[cid].points_tally == 100 + expected
    if expected:
        assert shop.rivo.ledger[cid][-1].order_id == oid


def test_points_amount_per_currency_base_amount() -> None:
    shop = make_shop({"program": {"earning_rules": rules_with(
        order_placed={"points_amount": 5, "currency_base_amount": 10})}})
    cid = member_id(shop)
    order(shop, cid, "59.99")  # floor(59.99 / 10) * 5
    assert shop.rivo.members[cid].points_tally == 100 + 25


def test_multiplier_order_rule() -> None:
    shop = make_shop({"program": {"earning_rules": rules_with(
        order_placed={"points_amount": 2, "points_type": "multiplier"})}})
    cid = member_id(shop)
    order(shop, cid, "10.75")
    assert shop.rivo.members[cid].points_tally == 100 + 21


def test_an_unpaid_order_earns_nothing_until_paid() -> None:
    shop = make_shop()
    cid = member_id(shop)
    oid = order(shop, cid, "50", paid=False)
    assert shop.rivo.members[cid].points_tally == 100
    shop.shopify.pay_order(oid)
    assert shop.rivo.members[cid].points_tally == 150


def test_product_purchased_rule_earns_on_top_of_order_points() -> None:
    shop = make_shop({"program": {"earning_rules": rules_with(
        {"trigger": "product_purchased", "product_ids": [7, 8], "points_amount": 40},
        {"trigger": "product_purchased", "product_ids": [9], "points_amount": 1000, "enabled": False},
    )}})
    cid = member_id(shop)
    order(shop, cid, "10", product_id=7)
    assert shop.rivo.members[cid].points_tally == 100 + 10 + 40
    order(shop, cid, "10", product_id=1)  # not a listed product
    assert shop.rivo.members[cid].points_tally == 100 + 20 + 40
    order(shop, cid, "10", product_id=9)  # disabled rule
    assert shop.rivo.members[cid].points_tally == 100 + 30 + 40
    sources = [e.source for e in shop.rivo.ledger[cid]]
    assert sources.count("product_purchased") == 1


# -- refunds and cancellations ---------------------------------------------------------------------------------------
def test_a_partial_refund_reverses_points_proportionally() -> None:
    shop = make_shop()
    cid = member_id(shop)
    oid = order(shop, cid, "100")
    shop.shopify.refund_order(oid, "25")
    assert shop.rivo.members[cid].points_tally == 100 + 75
    assert shop.rivo.ledger[cid][-1].source == "order_refund"
    assert shop.rivo.ledger[cid][-1].points_diff == -25
    shop.shopify.refund_order(oid)  # the rest
    assert shop.rivo.members[cid].points_tally == 100
    assert_ledger_invariant(shop)


def test_proportion_is_of_what_was_paid_including_tax() -> None:
    shop = make_shop()
    cid = member_id(shop)
    oid = order(shop, cid, "80", tax="20")  # 80 points for 100 paid
    shop.shopify.refund_order(oid, "50")
    assert shop.rivo.members[cid].points_tally == 100 + 40


def test_several_partial_refunds_never_reverse_more_than_was_earned() -> None:
    shop = make_shop()
    cid = member_id(shop)
    oid = order(shop, cid, "10")
    for _ in range(3):
        shop.shopify.refund_order(oid, "3.33")
    shop.shopify.refund_order(oid)
    reversed_points = -sum(e.points_diff for e in shop.rivo.ledger[cid] if e.source == "order_refund")
    assert reversed_points == 10
    assert shop.rivo.members[cid].points_tally == 100


def test_a_refund_may_take_the_balance_negative() -> None:
    shop = make_shop()
    cid = member_id(shop)
    oid = order(shop, cid, "300")
    manual(shop, cid, -400)  # spend everything
    assert shop.rivo.members[cid].points_tally == 0
    shop.shopify.refund_order(oid)
    assert shop.rivo.members[cid].points_tally == -300
    assert_ledger_invariant(shop)


def test_cancelling_reverses_the_order_points() -> None:
    shop = make_shop()
    cid = member_id(shop)
    oid = order(shop, cid, "120")
    shop.shopify.cancel_order(oid)
    assert shop.rivo.members[cid].points_tally == 100
    assert -sum(e.points_diff for e in shop.rivo.ledger[cid] if e.source in ("order_refund", "order_cancelled")) \
        == 120


def test_cancelling_a_partly_refunded_order_reverses_only_the_rest() -> None:
    shop = make_shop()
    cid = member_id(shop)
    oid = order(shop, cid, "100")
    shop.shopify.refund_order(oid, "40")
    shop.shopify.cancel_order(oid)
    assert shop.rivo.members[cid].points_tally == 100


def test_cancelling_an_unpaid_order_changes_no_points() -> None:
    shop = make_shop()
    cid = member_id(shop)
    oid = order(shop, cid, "100", paid=False)
    seen = recorder(shop)
    shop.shopify.cancel_order(oid)
    assert rivo_events(seen) == []


# -- POST /points_events ---------------------------------------------------------------------------------------------
def test_manual_event_adjusts_points_and_credits() -> None:
    shop = make_shop()
    cid = member_id(shop)
    seen = recorder(shop)
    event = manual(shop, cid, 250, "12.345", internal_note="goodwill", external_note="Thanks!", skip_email="true")
    member = shop.rivo.members[cid]
    assert (member.points_tally, member.credits_tally) == (350, Decimal("12.35"))
    assert (event.points_diff, event.points_amount, event.credits_diff) == (250, 250, Decimal("12.35"))
    assert (event.internal_note, event.external_note, event.skip_email) == ("goodwill", "Thanks!", True)
    created = [e for e in seen if isinstance(e, PointsEventCreated)]
    assert len(created) == 1 and created[0].points_event_id == event.id and created[0].source == "manual"


def test_manual_deduction_below_zero_is_refused_unless_allowed() -> None:
    shop = make_shop()
    cid = member_id(shop)
    err = assert_refused(shop, lambda: manual(shop, cid, -101), InsufficientPoints)
    assert err.details["balance"] == 100
    assert_refused(shop, lambda: manual(shop, cid, 0, "-0.01"), InsufficientBalance)
    shop.patch({"api": {"allow_negative_balance": True}})
    manual(shop, cid, -150)
    assert shop.rivo.members[cid].points_tally == -50


def test_numbers_may_arrive_as_form_text() -> None:
    shop = make_shop()
    cid = member_id(shop)
    event = shop.rivo.create_points_event({"customer_identifier": str(cid), "source": "manual",
                                           "points_amount": "-40", "credits_amount": "2.5"})
    assert (event.points_diff, event.credits_diff) == (-40, Decimal("2.50"))


@pytest.mark.parametrize("field,text", [("points_amount", " -40 "), ("points_amount", "١٢"),
                                        ("credits_amount", " 5"), ("credits_amount", "١٢")])
def test_number_text_is_ascii_digits_with_nothing_around_them(field: str, text: str) -> None:
    shop = make_shop()
    cid = member_id(shop)
    fields = {"customer_identifier": str(cid), "source": "manual", "points_amount": 1, "credits_amount": 0,
              field: text}
    before = len(shop.rivo.points_events)
    with pytest.raises(ValidationFailed) as refused:
        shop.rivo.create_points_event(fields)
    assert refused.value.field == field and len(shop.rivo.points_events) == before


def test_applied_at_backdates_the_event() -> None:
    shop = make_shop()
    cid = member_id(shop)
    event = manual(shop, cid, 5, applied_at="2025-06-01T12:00:00Z")
    assert event.applied_at.isoformat() == "2025-06-01T12:00:00+00:00"
    assert event.created_at == shop.clock.now()


@pytest.mark.parametrize(("fields", "error", "field"), [
    ({"source": "manual", "points_amount": 5}, ValidationFailed, "credits_amount"),
    ({"source": "manual", "credits_amount": 5}, ValidationFailed, "points_amount"),
    ({"source": "manual", "points_amount": 0, "credits_amount": 0}, ValidationFailed, "points_amount"),
    ({"source": "manual", "points_amount": "ten", "credits_amount": 0}, ValidationFailed, "points_amount"),
    ({"source": "manual", "points_amount": 1.5, "credits_amount": 0}, ValidationFailed, "points_amount"),
    ({"source": "manual", "points_amount": 1, "credits_amount": "x"}, ValidationFailed, "credits_amount"),
    ({"source": "order_placed"}, ValidationFailed, "source"),
    ({}, ValidationFailed, "source"),
    ({"source": "manual", "points_amount": 1, "credits_amount": 0, "bonus": 1}, ValidationFailed, "bonus"),
    ({"source": "manual", "points_amount": 1, "credits_amount": 0, "applied_at": "soon"}, ValidationFailed,
     "applied_at"),
    ({"source": "manual", "points_amount": 1, "credits_amount": 0, "internal_note": "x" * 1001}, ValidationFailed,
     "internal_note"),
    ({"source": "custom_action"}, ValidationFailed, "custom_action_name"),
    ({"source": "manual", "points_amount": "\u00b2", "credits_amount": 0}, ValidationFailed, "points_amount"),
    ({"source": "manual", "points_amount": "9" * 5000, "credits_amount": 0}, ValidationFailed, "points_amount"),
    ({"source": "manual", "points_amount": 1, "credits_amount": 0, "applied_at": "0001-01-01T00:00:00+01:00"},
     ValidationFailed, "applied_at"),
    ({"source": "custom_action", "custom_action_name": ["quiz"]}, ValidationFailed, "custom_action_name"),
    ({"source": "custom_action", "custom_action_name": 5}, ValidationFailed, "custom_action_name"),
    ({"source": "visit_url"}, ValidationFailed, "custom_action_name"),
    ({"source": "custom_action", "custom_action_name": "nope"}, NotFound, None),
    ({"source": "tiktok_follow"}, NotFound, None),
])
def test_invalid_points_events_are_refused_and_change_nothing(fields: dict[str, Any], error: type[SimError],
                                                              field: str | None) -> None:
    shop = make_shop()
    cid = member_id(shop)
    err = assert_refused(shop, lambda: shop.rivo.create_points_event({"customer_identifier": cid, **fields}), error)
    assert err.field == field


def test_an_unknown_customer_is_not_found() -> None:
    shop = make_shop()
    assert_refused(shop, lambda: manual(shop, 424242, 5), NotFound)  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed):
        shop.rivo.create_points_event({"source": "manual", "points_amount": 1, "credits_amount": 0})


def test_non_manual_sources_take_their_amount_from_the_rule() -> None:
    shop = make_shop({"program": {"earning_rules": rules_with(
        {"trigger": "visit_url", "url": "https://shop.example/blog", "points_amount": 15},
        {"trigger": "custom_action", "custom_action_name": "quiz", "points_amount": 30, "credits_amount": 2},
    )}})
    cid = member_id(shop)
    rivo = shop.rivo
    e1 = rivo.create_points_event({"customer_identifier": cid, "source": "facebook_share", "points_amount": 9999})
    e2 = rivo.create_points_event({"customer_identifier": cid, "source": "visit_url",
                                   "custom_action_name": "https://shop.example/blog"})
    e3 = rivo.create_points_event({"customer_identifier": cid, "source": "custom_action", "custom_action_name": "quiz"})
    assert [e1.points_diff, e2.points_diff, e3.points_diff] == [50, 15, 30]
    assert e3.credits_diff == Decimal("2.00") and e3.custom_action_name == "quiz"
    assert e1.earning_rule_id == rivo.find_rule("facebook_share").id  # type: ignore[union-attr]


def test_once_per_customer_social_rules_earn_once() -> None:
    shop = make_shop()
    cid = member_id(shop)
    rivo = shop.rivo
    rivo.create_points_event({"customer_identifier": cid, "source": "instagram_follow"})
    err = assert_refused(shop, lambda: rivo.create_points_event({"customer_identifier": cid,
                                                                  "source": "instagram_follow"}), ValidationFailed)
    assert err.field == "source"
    # Through the storefront too: recorded, but no second points.
    _, earned = rivo.record_action(cid, "instagram_follow", {})
    assert earned is None
    # A share is not once-per-customer.
    rivo.create_points_event({"customer_identifier": cid, "source": "facebook_share"})
    rivo.create_points_event({"customer_identifier": cid, "source": "facebook_share"})
    assert shop.rivo.members[cid].points_tally == 100 + 50 + 100


def test_sign_up_earns_once_even_if_a_member_rejoins() -> None:
    shop = make_shop()
    cid = member_id(shop)
    shop.rivo.update_member(cid, {"loyalty_status": "guest"})
    shop.rivo.update_member(cid, {"loyalty_status": "member"})
    assert shop.rivo.members[cid].points_tally == 100


# -- refusals that publish nothing -----------------------------------------------------------------------------------
def test_a_disabled_rule_earns_nothing_and_publishes_nothing() -> None:
    shop = make_shop({"program": {"earning_rules": rules_with(facebook_share={"enabled": False},
                                                              order_placed={"enabled": False})}})
    cid = member_id(shop)
    assert_refused(shop, lambda: shop.rivo.create_points_event({"customer_identifier": cid,
                                                                "source": "facebook_share"}), EarningRuleDisabled)
    seen = recorder(shop)
    _, earned = shop.rivo.record_action(cid, "facebook_share", {})
    order(shop, cid, "500")
    assert earned is None
    assert rivo_events(seen) == []
    assert shop.rivo.members[cid].points_tally == 100


def test_an_inactive_program_earns_nothing_and_publishes_nothing() -> None:
    shop = make_shop({"program": {"vip": {"entry_method": "amount_spent"}}})
    cid = member_id(shop)
    shop.patch({"program": {"active": False}})
    assert_refused(shop, lambda: manual(shop, cid, 5), ProgramInactive)
    assert_refused(shop, lambda: shop.rivo.create_points_event({"customer_identifier": cid,
                                                                "source": "facebook_share"}), ProgramInactive)
    seen = recorder(shop)
    order(shop, cid, "5000")  # would be Gold on amount spent, and 5000 points
    shop.rivo.record_action(cid, "instagram_follow", {})
    assert rivo_events(seen) == []
    assert shop.rivo.members[cid].points_tally == 100


def test_an_excluded_customer_earns_nothing_and_publishes_nothing() -> None:
    shop = make_shop({"program": {"vip": {"entry_method": "amount_spent"}}})
    cid = member_id(shop, tags="Rivo Excluded")
    assert_refused(shop, lambda: manual(shop, cid, 5), CustomerExcluded)
    seen = recorder(shop)
    order(shop, cid, "5000")
    shop.rivo.record_action(cid, "review", {})
    assert rivo_events(seen) == []
    assert shop.rivo.members[cid].points_tally == 0


# -- batch -----------------------------------------------------------------------------------------------------------
def test_batch_applies_every_event_in_order() -> None:
    shop = make_shop()
    a, b = member_id(shop, "a@example.com"), member_id(shop, "b@example.com")
    events = shop.rivo.create_points_events_batch([
        {"customer_identifier": a, "source": "manual", "points_amount": 10, "credits_amount": 0},
        {"customer_identifier": "b@example.com", "source": "facebook_share"},
        {"customer_identifier": a, "source": "manual", "points_amount": -50, "credits_amount": "1.25"},
    ])
    assert [e.points_diff for e in events] == [10, 50, -50]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert shop.rivo.members[a].points_tally == 60 and shop.rivo.members[b].points_tally == 150
    assert_ledger_invariant(shop)


def test_batch_is_all_or_nothing() -> None:
    shop = make_shop()
    cid = member_id(shop)
    err = assert_refused(shop, lambda: shop.rivo.create_points_events_batch([
        {"customer_identifier": cid, "source": "manual", "points_amount": 10, "credits_amount": 0},
        {"customer_identifier": cid, "source": "facebook_share"},
        {"customer_identifier": cid, "source": "manual", "points_amount": 10},
    ]), ValidationFailed)
    assert err.field == "points_events[2].credits_amount"
    assert "points_events[2]" in err.message


def test_batch_with_an_unknown_customer_names_the_item() -> None:
    shop = make_shop()
    cid = member_id(shop)
    err = assert_refused(shop, lambda: shop.rivo.create_points_events_batch([
        {"customer_identifier": cid, "source": "manual", "points_amount": 10, "credits_amount": 0},
        {"customer_identifier": "ghost@example.com", "source": "manual", "points_amount": 10, "credits_amount": 0},
    ]), NotFound)
    assert "points_events[1]" in err.message


def test_batch_deductions_are_checked_in_sequence() -> None:
    shop = make_shop()
    cid = member_id(shop)  # 100 points

    def deduct(*amounts: int) -> Any:
        return shop.rivo.create_points_events_batch([
            {"customer_identifier": cid, "source": "manual", "points_amount": n, "credits_amount": 0}
            for n in amounts])

    err = assert_refused(shop, lambda: deduct(-60, -60), InsufficientPoints)
    assert err.field == "points_events[1]"
    deduct(50, -150)  # the earlier credit funds the later deduction
    assert shop.rivo.members[cid].points_tally == 0
    deduct(-0 + 30, -30)
    assert shop.rivo.members[cid].points_tally == 0


def test_batch_once_per_customer_rules_earn_once_within_a_batch() -> None:
    shop = make_shop()
    cid = member_id(shop)
    err = assert_refused(shop, lambda: shop.rivo.create_points_events_batch(
        [{"customer_identifier": cid, "source": "instagram_follow"}] * 2), ValidationFailed)
    assert err.field == "points_events[1].source"
    other = member_id(shop, "o@example.com")
    shop.rivo.create_points_events_batch([{"customer_identifier": cid, "source": "instagram_follow"},
                                          {"customer_identifier": other, "source": "instagram_follow"}])
    assert shop.rivo.members[cid].points_tally == shop.rivo.members[other].points_tally == 150


@pytest.mark.parametrize("items", [[], "nope", None, [1], [{"customer_identifier": 1, "source": "manual",
                                                            "points_amount": 1, "credits_amount": 0}] * 11])
def test_batch_shape_refusals(items: Any) -> None:
    shop = make_shop()
    assert_refused(shop, lambda: shop.rivo.create_points_events_batch(items), ValidationFailed)


def test_list_points_events_filters_by_customer() -> None:
    shop = make_shop()
    a, b = member_id(shop, "a@example.com"), member_id(shop, "b@example.com")
    manual(shop, a, 5)
    assert [e.customer_id for e in shop.rivo.list_points_events("a@example.com")] == [a, a]
    assert {e.customer_id for e in shop.rivo.list_points_events()} == {a, b}
