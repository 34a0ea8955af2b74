"""Rivo members mirror Shopify customers: sign-up points, the propagation delay, lookups, exclusion, updates."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from rivosim.domain.config import default_config
from rivosim.domain.events import CustomerJoinedProgram, DomainEvent, PointsEventCreated
from rivosim.domain.shop import Shop
from rivosim.engine import Simulator
from rivosim.kernel.errors import CustomerExcluded, NotFound, ValidationFailed


def make_shop(config: dict[str, Any] | None = None) -> tuple[Simulator, Shop]:
    sim = Simulator(seed=11)
    return sim, sim.create_shop(config or {})


@pytest.fixture
def sim_shop() -> tuple[Simulator, Shop]:
    return make_shop()


@pytest.fixture
def shop(sim_shop: tuple[Simulator, Shop]) -> Shop:
    return sim_shop[1]


@pytest.fixture
def events(shop: Shop) -> list[DomainEvent]:
    seen: list[DomainEvent] = []
    shop.bus.subscribe_all(seen.append)
    return seen


def visible_customer(shop: Shop, **kwargs: Any) -> int:
    customer = shop.shopify.create_customer(**kwargs)
    shop.clock.advance("PT1M")
    return customer.id


# -- sign-up ---------------------------------------------------------------------------------------------------------
def test_a_new_shopify_customer_becomes_a_member_with_sign_up_points(shop: Shop, events: list[DomainEvent]) -> None:
    c = shop.shopify.create_customer(email="ann@example.com", first_name="Ann", accepts_marketing=True, tags="x")
    member = shop.rivo.members[c.id]
    assert (member.id, member.email, member.first_name, member.accepts_marketing) == \
        (c.id, "ann@example.com", "Ann", True)
    assert member.shopify_tags == ("x",)
    assert member.loyalty_status == "member"
    assert member.points_tally == 100
    earned = [e for e in events if isinstance(e, PointsEventCreated)]
    assert [(e.source, e.points_diff) for e in earned] == [("customer_member_enabled", 100)]
    assert any(isinstance(e, CustomerJoinedProgram) for e in events)


def test_no_sign_up_points_when_the_rule_is_disabled() -> None:
    rules = default_config()["program"]["earning_rules"]
    for rule in rules:
        if rule["trigger"] == "customer_member_enabled":
            rule["enabled"] = False
    _, shop = make_shop({"program": {"earning_rules": rules}})
    seen: list[DomainEvent] = []
    shop.bus.subscribe_all(seen.append)
    c = shop.shopify.create_customer(email="ann@example.com")
    assert shop.rivo.members[c.id].points_tally == 0
    assert not any(isinstance(e, PointsEventCreated) for e in seen)


def test_no_sign_up_points_without_a_sign_up_rule() -> None:
    _, shop = make_shop({"program": {"earning_rules": [{"trigger": "order_placed", "points_amount": 1}]}})
    c = shop.shopify.create_customer(email="ann@example.com")
    assert shop.rivo.members[c.id].points_tally == 0


def test_a_customer_who_does_not_join_is_a_guest_without_points(shop: Shop) -> None:
    c = shop.shopify.create_customer(email="g@example.com", joins_program=False)
    member = shop.rivo.members[c.id]
    assert member.loyalty_status == "guest" and member.points_tally == 0


def test_a_guest_who_becomes_a_member_gets_sign_up_points(sim_shop: tuple[Simulator, Shop]) -> None:
    sim, shop = sim_shop
    c = shop.shopify.create_customer(email="g@example.com", joins_program=False)
    sim.advance("PT1M")
    shop.rivo.update_member(c.id, {"loyalty_status": "member"})
    member = shop.rivo.members[c.id]
    assert member.loyalty_status == "member" and member.points_tally == 100
    assert member.loyalty_status_last_changed_at == sim.now()


# -- visibility delay ------------------------------------------------------------------------------------------------
def test_a_new_customer_is_hidden_from_the_api_until_visible_at(sim_shop: tuple[Simulator, Shop]) -> None:
    sim, shop = sim_shop
    c = shop.shopify.create_customer(email="late@example.com")
    member = shop.rivo.members[c.id]
    assert member.visible_at == sim.now() + timedelta(seconds=30)  # the default PT30S
    with pytest.raises(NotFound) as info:
        shop.rivo.find_member(c.id)
    assert "30 s" in str(info.value.details.get("hint"))
    with pytest.raises(NotFound):
        shop.rivo.find_member("late@example.com")
    assert c.id not in {m.id for m in shop.rivo.iter_members()}
    assert c.id not in {m.id for m in shop.rivo.ordered_members()}
    assert shop.rivo.find_member(c.id, visible_only=False) is member

    sim.advance(29)
    with pytest.raises(NotFound):
        shop.rivo.find_member(c.id)
    sim.advance(1)
    assert shop.rivo.find_member(c.id) is member
    assert c.id in {m.id for m in shop.rivo.iter_members()}
    assert c.id in {m.id for m in shop.rivo.ordered_members()}


def test_the_visibility_delay_is_configurable_including_calendar_months() -> None:
    sim, shop = make_shop({"api": {"new_customer_visibility_delay": "P1M"}})
    c = shop.shopify.create_customer(email="slow@example.com")
    assert shop.rivo.members[c.id].visible_at == sim.now() + timedelta(days=31)
    _, instant = make_shop({"api": {"new_customer_visibility_delay": 0}})
    c2 = instant.shopify.create_customer(email="now@example.com")
    assert instant.rivo.find_member(c2.id).id == c2.id


def test_a_caller_may_make_one_customer_visible_at_once(shop: Shop) -> None:
    shop.rivo.next_visibility_delay = timedelta(0)
    first = shop.shopify.create_customer(email="a@example.com")
    second = shop.shopify.create_customer(email="b@example.com")
    assert shop.rivo.find_member(first.id).id == first.id
    with pytest.raises(NotFound):
        shop.rivo.find_member(second.id)  # the override applied once


# -- lookups ---------------------------------------------------------------------------------------------------------
def test_lookup_by_id_digits_or_email_case_insensitively(shop: Shop) -> None:
    cid = visible_customer(shop, email="Ann.Lee@Example.com")
    member = shop.rivo.members[cid]
    assert shop.rivo.find_member(cid) is member
    assert shop.rivo.find_member(str(cid)) is member
    assert shop.rivo.find_member(f" {cid} ") is member
    assert shop.rivo.find_member("ann.lee@example.com") is member
    assert shop.rivo.find_member("ANN.LEE@EXAMPLE.COM") is member


@pytest.mark.parametrize("identifier", [12345, "12345", "nobody@example.com", "not an id", "", -1])
def test_unknown_identifiers_are_not_found(shop: Shop, identifier: Any) -> None:
    visible_customer(shop, email="ann@example.com")
    with pytest.raises(NotFound):
        shop.rivo.find_member(identifier)


@pytest.mark.parametrize("identifier", ["\u00b2", "9" * 5000, "\u0661\u0662"])
def test_digit_like_or_absurd_identifiers_are_not_found(shop: Shop, identifier: str) -> None:
    visible_customer(shop, email="ann@example.com")
    with pytest.raises(NotFound):
        shop.rivo.find_member(identifier)


@pytest.mark.parametrize("identifier", [None, True, 1.5, ["x"]])
def test_identifiers_of_the_wrong_type_are_refused(shop: Shop, identifier: Any) -> None:
    with pytest.raises(ValidationFailed):
        shop.rivo.find_member(identifier)


# -- mirroring Shopify changes ---------------------------------------------------------------------------------------
def test_shopify_updates_reach_the_member(shop: Shop) -> None:
    cid = visible_customer(shop, email="old@example.com", first_name="A")
    shop.shopify.update_customer(cid, {"email": "New@Example.com", "first_name": "B", "accepts_marketing": True,
                                       "tags": "x, y"})
    member = shop.rivo.members[cid]
    assert (member.email, member.first_name, member.accepts_marketing, member.shopify_tags) == \
        ("New@Example.com", "B", True, ("x", "y"))
    assert shop.rivo.find_member("new@example.com") is member
    with pytest.raises(NotFound):
        shop.rivo.find_member("old@example.com")


def test_a_deleted_shopify_customer_leaves_the_program(shop: Shop) -> None:
    cid = visible_customer(shop, email="bye@example.com")
    shop.shopify.delete_customer(cid)
    assert cid not in shop.rivo.members
    with pytest.raises(NotFound):
        shop.rivo.find_member("bye@example.com")
    assert cid not in {m.id for m in shop.rivo.ordered_members()}


def test_paid_orders_reach_the_member(shop: Shop) -> None:
    cid = visible_customer(shop, email="buyer@example.com")
    shop.shopify.create_order(customer_id=cid, line_items=[{"price": "40.00"}], total_tax="2", paid=True)
    shop.shopify.create_order(customer_id=cid, line_items=[{"price": "10.00"}])  # unpaid: not counted
    member = shop.rivo.members[cid]
    assert member.orders_count == 1 and member.total_spent == Decimal("42.00")


# -- exclusion -------------------------------------------------------------------------------------------------------
def test_the_rivo_excluded_tag_blocks_earning(shop: Shop) -> None:
    seen: list[DomainEvent] = []
    shop.bus.subscribe_all(seen.append)
    cid = visible_customer(shop, email="x@example.com", tags="Rivo Excluded")
    member = shop.rivo.members[cid]
    assert member.points_tally == 0  # no sign-up points
    shop.shopify.create_order(customer_id=cid, line_items=[{"price": "100"}], paid=True)
    assert member.points_tally == 0
    assert not any(isinstance(e, PointsEventCreated) for e in seen)
    with pytest.raises(CustomerExcluded):
        shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": 5,
                                       "credits_amount": 0})
    assert shop.rivo.ledger.get(cid, []) == []


def test_tagging_excludes_and_untagging_includes_again(shop: Shop) -> None:
    cid = visible_customer(shop, email="x@example.com")
    shop.shopify.add_tags(cid, "rivo excluded")
    assert shop.rivo.is_excluded(shop.rivo.members[cid])
    shop.shopify.create_order(customer_id=cid, line_items=[{"price": "50"}], paid=True)
    assert shop.rivo.members[cid].points_tally == 100  # sign-up only
    shop.shopify.remove_tags(cid, "Rivo Excluded")
    shop.shopify.create_order(customer_id=cid, line_items=[{"price": "50"}], paid=True)
    assert shop.rivo.members[cid].points_tally == 150


# -- PUT /customers/{id} ---------------------------------------------------------------------------------------------
def test_update_member_changes_the_documented_fields(sim_shop: tuple[Simulator, Shop]) -> None:
    _, shop = sim_shop
    cid = visible_customer(shop, email="m@example.com")
    member = shop.rivo.update_member("m@example.com", {"dob": "02-29", "first_name": "Mo",
                                                      "accepts_marketing": "true"})
    assert (member.dob, member.first_name, member.accepts_marketing) == ("02-29", "Mo", True)
    assert member.dob_last_updated_at == shop.clock.now()  # the shop's own time
    assert shop.rivo.members[cid] is member


@pytest.mark.parametrize(("fields", "field"), [
    ({"dob": "13-01"}, "dob"),
    ({"dob": "02-30"}, "dob"),
    ({"dob": "7-13"}, "dob"),
    ({"loyalty_status": "vip"}, "loyalty_status"),
    ({"first_name": 5}, "first_name"),
    ({"accepts_marketing": "maybe"}, "accepts_marketing"),
    ({"dob": "01-01", "points_tally": 9999}, "points_tally"),
])
def test_refused_member_updates_change_nothing(shop: Shop, fields: dict[str, Any], field: str) -> None:
    cid = visible_customer(shop, email="m@example.com", first_name="M")
    member = shop.rivo.members[cid]
    before = (member.dob, member.first_name, member.loyalty_status, member.points_tally, member.remote_updated_at)
    with pytest.raises(ValidationFailed) as info:
        shop.rivo.update_member(cid, fields)
    assert info.value.field == field
    assert (member.dob, member.first_name, member.loyalty_status, member.points_tally,
            member.remote_updated_at) == before
