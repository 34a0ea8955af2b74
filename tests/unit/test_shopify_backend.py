"""The Shopify backend: customers (emails, tags), orders (totals, payment, refunds, cancellation), and the rule that
a refused call changes nothing and publishes nothing."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import asdict
from decimal import Decimal
from typing import Any

import pytest

from rivosim.domain.events import (
    CustomerCreated,
    CustomerDeleted,
    CustomerUpdated,
    DomainEvent,
    OrderCancelled,
    OrderCreated,
    OrderPaid,
    OrderRefunded,
)
from rivosim.domain.shop import Shop
from rivosim.domain.shopify.backend import ShopifyBackend, normalize_tags
from rivosim.engine import Simulator
from rivosim.kernel.errors import AlreadyExists, Conflict, NotFound, SimError, ValidationFailed


@pytest.fixture
def shop() -> Shop:
    return Simulator(seed=3).create_shop({"domain": "tags.myshopify.com"})


@pytest.fixture
def sb(shop: Shop) -> ShopifyBackend:
    return shop.shopify


@pytest.fixture
def events(shop: Shop) -> list[DomainEvent]:
    seen: list[DomainEvent] = []
    shop.bus.subscribe_all(seen.append)
    return seen


def kinds(events: list[DomainEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def snapshot(shop: Shop) -> Any:
    sb = shop.shopify
    return copy.deepcopy((
        {cid: asdict(c) for cid, c in sb.customers.items()},
        dict(sb.customer_resource.by_email),
        {oid: asdict(o) for oid, o in sb.orders.items()},
        sb.order_resource._order_number,
        dict(shop.ids._counters),
        {mid: asdict(m) for mid, m in shop.rivo.members.items()},
    ))


def assert_refused_changes_nothing(shop: Shop, events: list[DomainEvent], call: Callable[[], object],
                                   error: type[SimError] = ValidationFailed) -> SimError:
    before = snapshot(shop)
    seen = len(events)
    with pytest.raises(error) as info:
        call()
    assert snapshot(shop) == before, "a refused call changed state"
    assert events[seen:] == [], "a refused call published an event"
    return info.value


LINE = {"title": "Tee", "price": "20.00", "quantity": 1}


# -- customers -------------------------------------------------------------------------------------------------------
def test_create_customer_stores_it_and_publishes_customer_created(sb: ShopifyBackend,
                                                                   events: list[DomainEvent]) -> None:
    c = sb.create_customer(email="Ann@Example.com", first_name="Ann", last_name="Lee", tags="vip, new",
                           accepts_marketing=True)
    assert sb.get_customer(c.id) is c
    assert (c.email, c.first_name, c.last_name, c.tags, c.accepts_marketing) == \
        ("Ann@Example.com", "Ann", "Lee", ["new", "vip"], True)
    assert c.orders_count == 0 and c.total_spent == Decimal("0.00")
    created = [e for e in events if isinstance(e, CustomerCreated)]
    assert len(created) == 1
    assert created[0].customer_id == c.id and created[0].email == "Ann@Example.com"
    assert created[0].tags == ("new", "vip")


def test_customer_ids_ascend(sb: ShopifyBackend) -> None:
    ids = [sb.create_customer(email=f"c{i}@example.com").id for i in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5


def test_email_uniqueness_is_case_insensitive(shop: Shop, sb: ShopifyBackend, events: list[DomainEvent]) -> None:
    sb.create_customer(email="ann@example.com")
    err = assert_refused_changes_nothing(shop, events, lambda: sb.create_customer(email="ANN@Example.COM"),
                                         AlreadyExists)
    assert err.field == "email"


def test_find_customer_by_email_is_case_insensitive(sb: ShopifyBackend) -> None:
    c = sb.create_customer(email="Ann@Example.com")
    assert sb.find_customer_by_email(" ann@EXAMPLE.com ") is c
    assert sb.find_customer_by_email("bob@example.com") is None


def test_customers_without_email_do_not_collide(sb: ShopifyBackend) -> None:
    a = sb.create_customer(first_name="A")
    b = sb.create_customer(email="")
    assert a.email is None and b.email is None and a.id != b.id


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"email": "not-an-email"}, "email"),
    ({"email": 5}, "email"),
    ({"accepts_marketing": "yes"}, "accepts_marketing"),
    ({"verified_email": None}, "verified_email"),
    ({"first_name": "x" * 256}, "first_name"),
    ({"last_name": 7}, "last_name"),
    ({"phone": "1" * 300}, "phone"),
    ({"note": 5}, "note"),
    ({"tags": 5}, "tags"),
    ({"tags": ["ok", 5]}, "tags"),
    ({"tags": ",".join(f"t{i}" for i in range(251))}, "tags"),
    ({"tags": "x" * 256}, "tags"),
])
def test_invalid_customers_are_refused_and_change_nothing(shop: Shop, sb: ShopifyBackend,
                                                          events: list[DomainEvent], kwargs: dict[str, Any],
                                                          field: str) -> None:
    err = assert_refused_changes_nothing(shop, events, lambda: sb.create_customer(**kwargs))
    assert err.field == field


# -- tags ------------------------------------------------------------------------------------------------------------
def test_tags_are_split_trimmed_deduplicated_keeping_first_casing_and_sorted(sb: ShopifyBackend) -> None:
    c = sb.create_customer(tags=" Beta, alpha ,ALPHA,, gamma ,beta ,  ")
    assert c.tags == ["alpha", "Beta", "gamma"]


def test_tag_lists_are_split_on_commas_too(sb: ShopifyBackend) -> None:
    assert sb.create_customer(tags=["x, y", "Z", " y "]).tags == ["x", "y", "Z"]


def test_two_hundred_and_fifty_tags_is_the_limit_after_deduplication(sb: ShopifyBackend) -> None:
    tags = [f"tag{i:03d}" for i in range(250)]
    assert len(sb.create_customer(tags=tags).tags) == 250
    # 300 tags that deduplicate down to 250 are fine.
    assert len(sb.create_customer(tags=tags + [t.upper() for t in tags[:50]]).tags) == 250


def test_a_tag_may_be_255_characters(sb: ShopifyBackend) -> None:
    assert sb.create_customer(tags="x" * 255).tags == ["x" * 255]


def test_normalize_tags_options() -> None:
    assert normalize_tags("b,A,a", case_sensitive=True) == ["A", "a", "b"]
    assert normalize_tags("b,a", sort=False) == ["b", "a"]
    assert normalize_tags(None) == []
    assert normalize_tags(["a"] * 5, max_count=1) == ["a"]
    with pytest.raises(ValidationFailed):
        normalize_tags("a,b", max_count=1)


def test_update_with_tags_replaces_the_whole_set(sb: ShopifyBackend, events: list[DomainEvent]) -> None:
    c = sb.create_customer(email="a@example.com", tags="one, two")
    sb.update_customer(c.id, {"tags": "three, One"})
    assert c.tags == ["One", "three"]
    updated = [e for e in events if isinstance(e, CustomerUpdated)]
    assert updated[-1].changes == {"tags": ["One", "three"]}


def test_add_and_remove_tags(sb: ShopifyBackend) -> None:
    c = sb.create_customer(tags="a")
    sb.add_tags(c.id, "B, c")
    assert c.tags == ["a", "B", "c"]
    sb.add_tags(c.id, "A")  # already there, case-insensitively
    assert c.tags == ["a", "B", "c"]
    sb.remove_tags(c.id, "b, A")
    assert c.tags == ["c"]


def test_adding_past_250_tags_is_refused(shop: Shop, sb: ShopifyBackend, events: list[DomainEvent]) -> None:
    c = sb.create_customer(tags=[f"t{i}" for i in range(250)])
    assert_refused_changes_nothing(shop, events, lambda: sb.add_tags(c.id, "one-more"))


def test_case_sensitive_tags_when_configured() -> None:
    shop = Simulator(seed=1).create_shop({"shopify": {"tags_case_sensitive": True, "sort_tags": False}})
    assert shop.shopify.create_customer(tags="b, B, a").tags == ["b", "B", "a"]


# -- customer updates and deletion -----------------------------------------------------------------------------------
def test_update_customer_changes_fields_and_the_email_index(sb: ShopifyBackend, events: list[DomainEvent]) -> None:
    c = sb.create_customer(email="old@example.com", first_name="A")
    sb.update_customer(c.id, {"email": "New@Example.com", "first_name": "B", "accepts_marketing": True,
                              "state": "disabled"})
    assert (c.email, c.first_name, c.accepts_marketing, c.state) == ("New@Example.com", "B", True, "disabled")
    assert sb.find_customer_by_email("new@example.com") is c
    assert sb.find_customer_by_email("old@example.com") is None
    assert isinstance(events[-1], CustomerUpdated) and events[-1].changes["email"] == "New@Example.com"
    # The old address is free again.
    assert sb.create_customer(email="old@example.com").email == "old@example.com"


def test_changing_only_the_case_of_ones_own_email_is_allowed(sb: ShopifyBackend) -> None:
    c = sb.create_customer(email="ann@example.com")
    sb.update_customer(c.id, {"email": "ANN@example.com"})
    assert sb.find_customer_by_email("ann@example.com") is c


@pytest.mark.parametrize(("changes", "error", "field"), [
    ({"email": "TAKEN@example.com"}, AlreadyExists, "email"),
    ({"email": "nope"}, ValidationFailed, "email"),
    ({"first_name": "ok", "accepts_marketing": "yes"}, ValidationFailed, "accepts_marketing"),
    ({"state": "gone"}, ValidationFailed, "state"),
    ({"orders_count": 5}, ValidationFailed, "orders_count"),
    ({"tags": "ok", "id": 1}, ValidationFailed, "id"),
])
def test_refused_updates_change_nothing(shop: Shop, sb: ShopifyBackend, events: list[DomainEvent],
                                        changes: dict[str, Any], error: type[SimError], field: str) -> None:
    sb.create_customer(email="taken@example.com")
    c = sb.create_customer(email="me@example.com", first_name="Me", tags="a")
    err = assert_refused_changes_nothing(shop, events, lambda: sb.update_customer(c.id, changes), error)
    assert err.field == field


def test_update_of_an_unknown_customer_is_not_found(sb: ShopifyBackend) -> None:
    with pytest.raises(NotFound):
        sb.update_customer(1, {"first_name": "x"})


def test_delete_customer_frees_the_email_and_publishes(sb: ShopifyBackend, events: list[DomainEvent]) -> None:
    c = sb.create_customer(email="gone@example.com")
    sb.delete_customer(c.id)
    assert c.id not in sb.customers
    assert sb.find_customer_by_email("gone@example.com") is None
    assert isinstance(events[-1], CustomerDeleted) and events[-1].customer_id == c.id
    with pytest.raises(NotFound):
        sb.get_customer(c.id)


def test_a_customer_with_orders_cannot_be_deleted(shop: Shop, sb: ShopifyBackend, events: list[DomainEvent]) -> None:
    c = sb.create_customer(email="buyer@example.com")
    sb.create_order(customer_id=c.id, line_items=[LINE])
    assert_refused_changes_nothing(shop, events, lambda: sb.delete_customer(c.id), Conflict)


def test_deleting_an_unknown_customer_is_not_found(shop: Shop, sb: ShopifyBackend, events: list[DomainEvent]) -> None:
    assert_refused_changes_nothing(shop, events, lambda: sb.delete_customer(123), NotFound)


# -- orders ----------------------------------------------------------------------------------------------------------
@pytest.fixture
def buyer(sb: ShopifyBackend) -> int:
    return sb.create_customer(email="buyer@example.com").id


def test_order_totals_are_exact_decimals(sb: ShopifyBackend, buyer: int) -> None:
    order = sb.create_order(customer_id=buyer, line_items=[
        {"title": "Tee", "price": "19.99", "quantity": 3},
        {"title": "Cap", "price": 0.1, "quantity": 3},
        {"title": "Pin", "price": "0.005"},  # half up: 0.01
    ], total_discounts="5.00", total_tax="4.25")
    assert order.subtotal_price == Decimal("55.28")  # 59.97 + 0.30 + 0.01 - 5.00
    assert order.total_tax == Decimal("4.25")
    assert order.total_price == Decimal("59.53")
    assert all(isinstance(v, Decimal) for v in (order.subtotal_price, order.total_price, order.total_discounts))
    assert [li.price for li in order.line_items] == [Decimal("19.99"), Decimal("0.10"), Decimal("0.01")]
    assert order.financial_status == "pending"


def test_creating_an_order_publishes_order_created_and_counts_it(sb: ShopifyBackend, buyer: int,
                                                                 events: list[DomainEvent]) -> None:
    before = len(events)
    order = sb.create_order(customer_id=buyer, line_items=[LINE])
    assert kinds(events[before:]) == ["OrderCreated"]
    assert order.email == "buyer@example.com"
    customer = sb.get_customer(buyer)
    assert customer.orders_count == 1 and customer.last_order_id == order.id
    assert customer.total_spent == Decimal("0.00")  # nothing paid yet


def test_order_numbers_and_line_item_ids_ascend(sb: ShopifyBackend, buyer: int) -> None:
    a = sb.create_order(customer_id=buyer, line_items=[LINE, LINE])
    b = sb.create_order(customer_id=buyer, line_items=[LINE])
    assert b.number == a.number + 1 and b.name == f"#{b.number}"
    ids = [li.id for li in a.line_items + b.line_items]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_an_order_without_a_customer_is_allowed(sb: ShopifyBackend) -> None:
    order = sb.create_order(customer_id=None, line_items=[LINE], paid=True)
    assert order.customer_id is None and order.financial_status == "paid"


def test_paying_an_order_publishes_order_paid_and_adds_to_total_spent(sb: ShopifyBackend, buyer: int,
                                                                       events: list[DomainEvent]) -> None:
    order = sb.create_order(customer_id=buyer, line_items=[LINE], total_tax="1.50")
    sb.pay_order(order.id)
    assert order.financial_status == "paid"
    assert sb.get_customer(buyer).total_spent == Decimal("21.50")
    paid = [e for e in events if isinstance(e, OrderPaid)]
    assert len(paid) == 1
    assert (paid[0].order_id, paid[0].subtotal, paid[0].total) == (order.id, Decimal("20.00"), Decimal("21.50"))
    assert [t.kind for t in order.transactions] == ["sale"]


def test_paid_true_publishes_created_then_paid(sb: ShopifyBackend, buyer: int, events: list[DomainEvent]) -> None:
    before = len(events)
    sb.create_order(customer_id=buyer, line_items=[LINE], paid=True)
    shopify_events = [k for k in kinds(events[before:]) if k.startswith("Order")]
    assert shopify_events == ["OrderCreated", "OrderPaid"]
    assert isinstance(events[before], OrderCreated)


def _many_lines() -> list[dict[str, Any]]:
    return [LINE] * 251


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"line_items": []}, "line_items"),
    ({"line_items": "Tee"}, "line_items"),
    ({"line_items": [1]}, "line_items[0]"),
    ({"line_items": [LINE, {"title": "x", "quantity": 0}]}, "line_items[1].quantity"),
    ({"line_items": [{"title": "x", "quantity": True}]}, "line_items[0].quantity"),
    ({"line_items": [{"title": "x", "quantity": 10_001}]}, "line_items[0].quantity"),
    ({"line_items": [{"title": "x", "quantity": 1.5}]}, "line_items[0].quantity"),
    ({"line_items": [{"title": ""}]}, "line_items[0].title"),
    ({"line_items": [{"title": "x", "price": "-1"}]}, "line_items[0].price"),
    ({"line_items": [{"title": "x", "price": "abc"}]}, "line_items[0].price"),
    ({"line_items": [{"title": "x", "price": "NaN"}]}, "line_items[0].price"),
    ({"line_items": [{"title": "x", "price": "1e999"}]}, "line_items[0].price"),
    ({"line_items": [{"title": "x", "price": True}]}, "line_items[0].price"),
    ({"line_items": [{"title": "x", "product_id": "5"}]}, "line_items[0].product_id"),
    ({"line_items": [{"title": "x", "variant_id": 1.5}]}, "line_items[0].variant_id"),
    ({"line_items": [{"title": "x", "sku": 5}]}, "line_items[0].sku"),
    ({"line_items": "many"}, "line_items"),
    ({"line_items": [LINE], "total_discounts": "25"}, "total_discounts"),
    ({"line_items": [LINE], "total_tax": "-1"}, "total_tax"),
    ({"line_items": [LINE], "discount_codes": "SAVE10"}, "discount_codes"),
    ({"line_items": [LINE], "discount_codes": [""]}, "discount_codes"),
    ({"line_items": [LINE], "note": 5}, "note"),
    ({"line_items": [LINE], "tags": "x" * 41}, "tags"),
])
def test_invalid_orders_are_refused_and_change_nothing(shop: Shop, sb: ShopifyBackend, buyer: int,
                                                       events: list[DomainEvent], kwargs: dict[str, Any],
                                                       field: str) -> None:
    err = assert_refused_changes_nothing(shop, events, lambda: sb.create_order(customer_id=buyer, paid=True,
                                                                               **kwargs))
    assert err.field == field


def test_more_than_250_line_items_are_refused(shop: Shop, sb: ShopifyBackend, buyer: int,
                                              events: list[DomainEvent]) -> None:
    err = assert_refused_changes_nothing(shop, events, lambda: sb.create_order(customer_id=buyer,
                                                                               line_items=_many_lines()))
    assert err.field == "line_items"


def test_an_order_for_an_unknown_customer_is_refused(shop: Shop, sb: ShopifyBackend,
                                                     events: list[DomainEvent]) -> None:
    assert_refused_changes_nothing(shop, events, lambda: sb.create_order(customer_id=42, line_items=[LINE]),
                                   NotFound)


# -- refunds ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def paid_order(sb: ShopifyBackend, buyer: int) -> int:
    return sb.create_order(customer_id=buyer, line_items=[{"title": "Hoodie", "price": "80.00", "quantity": 1}],
                           total_tax="20.00", paid=True).id


def test_partial_then_full_refund(sb: ShopifyBackend, buyer: int, paid_order: int,
                                  events: list[DomainEvent]) -> None:
    order = sb.get_order(paid_order)
    refund = sb.refund_order(paid_order, "30")
    assert refund.amount == Decimal("30.00")
    assert order.financial_status == "partially_refunded"
    assert order.refunded_amount == Decimal("30.00")
    assert sb.get_customer(buyer).total_spent == Decimal("70.00")
    first = [e for e in events if isinstance(e, OrderRefunded)]
    assert len(first) == 1 and first[0].amount == Decimal("30.00") and not first[0].fully_refunded

    rest = sb.refund_order(paid_order)  # no amount: whatever is left
    assert rest.amount == Decimal("70.00")
    assert order.financial_status == "refunded"
    assert sb.get_customer(buyer).total_spent == Decimal("0.00")
    refunds = [e for e in events if isinstance(e, OrderRefunded)]
    assert len(refunds) == 2 and refunds[1].fully_refunded and refunds[1].refund_id == rest.id
    assert [t.kind for t in order.transactions] == ["sale", "refund", "refund"]


@pytest.mark.parametrize(("amount", "field"), [("100.01", "amount"), ("0", "amount"), ("-5", "amount"),
                                               ("lots", "amount")])
def test_refunding_more_than_refundable_or_nonsense_is_refused(shop: Shop, sb: ShopifyBackend, paid_order: int,
                                                               events: list[DomainEvent], amount: str,
                                                               field: str) -> None:
    err = assert_refused_changes_nothing(shop, events, lambda: sb.refund_order(paid_order, amount))
    assert err.field == field


def test_refund_limit_counts_earlier_refunds(shop: Shop, sb: ShopifyBackend, paid_order: int,
                                             events: list[DomainEvent]) -> None:
    sb.refund_order(paid_order, "60")
    assert_refused_changes_nothing(shop, events, lambda: sb.refund_order(paid_order, "40.01"))
    sb.refund_order(paid_order, "40")
    assert sb.get_order(paid_order).financial_status == "refunded"


def test_an_unpaid_or_fully_refunded_order_has_nothing_to_refund(shop: Shop, sb: ShopifyBackend, buyer: int,
                                                                 paid_order: int, events: list[DomainEvent]) -> None:
    pending = sb.create_order(customer_id=buyer, line_items=[LINE])
    assert_refused_changes_nothing(shop, events, lambda: sb.refund_order(pending.id, "1"), Conflict)
    sb.refund_order(paid_order)
    assert_refused_changes_nothing(shop, events, lambda: sb.refund_order(paid_order), Conflict)


# -- cancellation ----------------------------------------------------------------------------------------------------
def test_cancelling_a_paid_order_refunds_then_cancels(sb: ShopifyBackend, buyer: int, paid_order: int,
                                                      events: list[DomainEvent]) -> None:
    before = len(events)
    order = sb.cancel_order(paid_order, reason="fraud")
    shopify = [e for e in events[before:] if isinstance(e, OrderRefunded | OrderCancelled)]
    assert kinds(shopify) == ["OrderRefunded", "OrderCancelled"]
    assert shopify[0].fully_refunded and shopify[0].amount == Decimal("100.00")
    assert isinstance(shopify[1], OrderCancelled) and shopify[1].was_paid
    assert order.financial_status == "refunded"
    assert order.cancelled_at is not None and order.cancel_reason == "fraud" and order.closed_at is not None
    assert sb.get_customer(buyer).total_spent == Decimal("0.00")


def test_cancelling_a_partially_refunded_order_refunds_the_rest(sb: ShopifyBackend, paid_order: int,
                                                                events: list[DomainEvent]) -> None:
    sb.refund_order(paid_order, "25")
    sb.cancel_order(paid_order)
    refunds = [e.amount for e in events if isinstance(e, OrderRefunded)]
    assert refunds == [Decimal("25.00"), Decimal("75.00")]


def test_cancelling_a_pending_order_voids_it(sb: ShopifyBackend, buyer: int, events: list[DomainEvent]) -> None:
    order = sb.create_order(customer_id=buyer, line_items=[LINE])
    before = len(events)
    sb.cancel_order(order.id)
    assert order.financial_status == "voided"
    assert kinds(events[before:]) == ["OrderCancelled"]
    cancelled = events[-1]
    assert isinstance(cancelled, OrderCancelled) and not cancelled.was_paid


def test_cancel_refusals_change_nothing(shop: Shop, sb: ShopifyBackend, paid_order: int,
                                        events: list[DomainEvent]) -> None:
    err = assert_refused_changes_nothing(shop, events, lambda: sb.cancel_order(paid_order, reason="boredom"))
    assert err.field == "reason"
    sb.cancel_order(paid_order)
    assert_refused_changes_nothing(shop, events, lambda: sb.cancel_order(paid_order), Conflict)


def test_paying_a_cancelled_or_paid_order_is_refused(shop: Shop, sb: ShopifyBackend, buyer: int, paid_order: int,
                                                     events: list[DomainEvent]) -> None:
    assert_refused_changes_nothing(shop, events, lambda: sb.pay_order(paid_order), Conflict)
    order = sb.create_order(customer_id=buyer, line_items=[LINE])
    sb.cancel_order(order.id)
    assert_refused_changes_nothing(shop, events, lambda: sb.pay_order(order.id), Conflict)
    assert_refused_changes_nothing(shop, events, lambda: sb.pay_order(999), NotFound)


# -- order tags and metafields ---------------------------------------------------------------------------------------
def test_order_tags_merge_and_normalise(sb: ShopifyBackend, buyer: int) -> None:
    order = sb.create_order(customer_id=buyer, line_items=[LINE], tags="b")
    sb.add_order_tags(order.id, "A, b, c")
    assert order.tags == ["A", "b", "c"]


def test_set_metafield_is_an_upsert(sb: ShopifyBackend, buyer: int, shop: Shop) -> None:
    first = sb.set_metafield("customer", buyer, "custom", "rivo", "json", "{}")
    shop.clock.advance(60)
    second = sb.set_metafield("customer", buyer, "custom", "rivo", "json", '{"a": 1}')
    assert second is first and first.value == '{"a": 1}' and first.updated_at > first.created_at
    other = sb.set_metafield("customer", buyer, "custom", "other", "string", "x")
    assert {m.id for m in sb.metafields_of("customer", buyer)} == {first.id, other.id}
    assert sb.metafields_of("customer", buyer + 1) == []


def test_iter_customers_yields_every_customer(sb: ShopifyBackend) -> None:
    made = {sb.create_customer(email=f"c{i}@example.com").id for i in range(3)}
    it: Iterator[Any] = sb.iter_customers()
    assert {c.id for c in it} == made
