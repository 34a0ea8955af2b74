"""The Shopify backend's newer parts, without HTTP: customer search, metafield rules and the atomic
``metafields_set``, themes and the app embed, webhook subscriptions and their failure count, payments."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from rivosim.domain.events import DomainEvent, OrderPaid, ThemeAssetUpdated, ThemePublished
from rivosim.domain.shop import Shop
from rivosim.domain.shopify.backend import ShopifyBackend
from rivosim.domain.shopify.metafields import APP_ID, MetafieldsSetRefused, check_value
from rivosim.domain.shopify.models import ThemeAsset
from rivosim.domain.shopify.search import parse_customer_query
from rivosim.domain.shopify.themes import SETTINGS_DATA, app_embed_state
from rivosim.domain.shopify.webhooks import MAX_CONSECUTIVE_FAILURES
from rivosim.engine import Simulator
from rivosim.kernel.errors import AlreadyExists, Conflict, NotFound, ValidationFailed


@pytest.fixture
def shop() -> Shop:
    return Simulator(seed=2).create_shop({"domain": "res.myshopify.com"})


@pytest.fixture
def sf(shop: Shop) -> ShopifyBackend:
    return shop.shopify


@pytest.fixture
def events(shop: Shop) -> list[DomainEvent]:
    seen: list[DomainEvent] = []
    shop.bus.subscribe_all(seen.append)
    return seen


# -- search ----------------------------------------------------------------------------------------------------------
def test_search_parsing(sf: ShopifyBackend) -> None:
    a = sf.create_customer(email="Ann@Shop.example", first_name="Ann", tags="Gold Member, x")
    b = sf.create_customer(email="bo@other.example", first_name="Bo", verified_email=False)
    sf.create_order(customer_id=b.id, line_items=[{"title": "t", "price": "9"}], paid=True)

    def ids(query: str) -> list[int]:
        return [c.id for c in sf.search_customers(query)]

    assert ids('tag:"gold member"') == [a.id]
    assert ids("customer_tag:Gold Member") == [a.id]
    assert ids("email:ann@shop.example") == [a.id]  # case-insensitive
    assert ids("email:*.example") == [a.id, b.id]
    assert ids("verified_email:false") == [b.id]
    assert ids("orders_count:>0") == [b.id] and ids("total_spent:>=9") == [b.id]
    assert ids(f"id:{a.id}") == [a.id]
    assert ids("created_at:>=2026-01-01") == [a.id, b.id] and ids("created_at:<2026-01-01") == []
    assert ids("tag_not:x") == [b.id]
    assert ids("AND email:*.example AND first_name:Bo") == [b.id]
    assert ids("orders_count:lots") == []
    assert parse_customer_query("")(a) is True


# -- metafields ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("type_", "value", "stored"), [
    ("number_integer", 5, "5"), ("number_integer", "-12", "-12"), ("boolean", True, "true"),
    ("json", {"a": [1]}, '{"a": [1]}'), ("list.single_line_text_field", '["a", "b"]', '["a", "b"]'),
    ("date", "2026-02-28", "2026-02-28"), ("date_time", "2026-02-28T10:00:00Z", "2026-02-28T10:00:00Z"),
    ("money", '{"amount": "5.00", "currency_code": "USD"}', '{"amount": "5.00", "currency_code": "USD"}'),
    ("url", "https://example.com/x", "https://example.com/x"), ("color", "#A1b2C3", "#A1b2C3"),
    ("number_decimal", "1.50", "1.50"),
])
def test_values_are_checked_and_stored_as_strings(type_: str, value: Any, stored: str) -> None:
    assert check_value(type_, value) == stored


@pytest.mark.parametrize(("type_", "value"), [
    ("number_integer", True), ("number_integer", "9" * 20), ("number_decimal", "NaN"), ("boolean", "yes"),
    ("date", "2026-02-30"), ("list.number_integer", '["a"]'), ("list.date", "{}"), ("money", '{"amount": 1}'),
    ("url", "javascript:alert(1)"), ("single_line_text_field", 5),
])
def test_bad_values_are_refused(type_: str, value: Any) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_value(type_, value)
    assert info.value.details["user_error_code"] == "INVALID_VALUE"


def test_metafields_set_is_all_or_nothing(sf: ShopifyBackend, shop: Shop) -> None:
    c = sf.create_customer(email="m@example.com")
    good = ("customer", c.id, {"namespace": "loy", "key": "pts", "type": "number_integer", "value": "3"})
    before = dict(sf.metafields)
    with pytest.raises(MetafieldsSetRefused) as refused:
        sf.metafields_set([good, ("customer", c.id, {"namespace": "loy", "key": "pts", "type": "number_integer",
                                                     "value": "4"})])
    assert refused.value.errors[0]["code"] == "TAKEN" and refused.value.errors[0]["elementIndex"] == 1
    assert sf.metafields == before
    with pytest.raises(ValidationFailed):
        sf.metafields_set([good] * 26)
    written = sf.metafields_set([good, ("shop", shop.id, {"key": "flag", "type": "boolean", "value": "true"})])
    assert [m.namespace for m in written] == ["loy", f"app--{APP_ID}"]


def test_rest_metafield_updates_keep_uniqueness(sf: ShopifyBackend, shop: Shop) -> None:
    a = sf.create_metafield("shop", shop.id, {"namespace": "cfg", "key": "aa", "type": "json", "value": "{}"})
    b = sf.create_metafield("shop", shop.id, {"namespace": "cfg", "key": "bb", "type": "json", "value": "[]"})
    with pytest.raises(AlreadyExists):
        sf.update_metafield(b.id, {"key": "aa"})
    moved = sf.update_metafield(b.id, {"key": "cc", "value": "[1]"})
    assert (moved.key, moved.value, moved.type) == ("cc", "[1]", "json")
    assert sf.find_metafield("shop", shop.id, "cfg", "cc") is moved and sf.find_metafield("shop", shop.id, "cfg",
                                                                                           "bb") is None
    with pytest.raises(NotFound):
        sf.create_metafield("customer", 1, {"namespace": "cfg", "key": "aa", "type": "json", "value": "{}"})
    sf.delete_metafield(a.id)
    assert sf.find_metafield("shop", shop.id, "cfg", "aa") is None


def test_deleting_a_customer_deletes_its_metafields(sf: ShopifyBackend) -> None:
    c = sf.create_customer(email="gone@example.com")
    assert sf.metafields_of("customer", c.id)  # Rivo's custom.rivo
    sf.delete_customer(c.id)
    assert sf.metafields_of("customer", c.id) == []


# -- themes ----------------------------------------------------------------------------------------------------------
def test_app_embed_detection_and_toggling(sf: ShopifyBackend, events: list[DomainEvent]) -> None:
    theme = sf.main_theme()
    assert theme is not None and app_embed_state(theme) == "enabled"
    sf.set_app_embed(theme.id, "disabled")
    assert app_embed_state(theme) == "disabled"
    sf.set_app_embed(theme.id, "missing")
    assert app_embed_state(theme) == "missing"
    sf.set_app_embed(theme.id, "enabled")
    assert app_embed_state(theme) == "enabled"
    assert [type(e) for e in events] == [ThemeAssetUpdated] * 3
    sf.set_app_embed(theme.id, "enabled")  # no change, no event
    assert len(events) == 3


def test_app_embed_in_a_named_preset_and_broken_files(sf: ShopifyBackend) -> None:
    theme = sf.main_theme()
    assert theme is not None
    data = {"current": "Bold", "presets": {"Bold": {"blocks": {"9": {
        "type": "shopify://apps/rivo/blocks/launcher/abc", "disabled": True}}}}}
    sf.put_asset(theme.id, SETTINGS_DATA, json.dumps(data))
    assert app_embed_state(theme) == "disabled"
    theme.assets[SETTINGS_DATA] = ThemeAsset(SETTINGS_DATA, "{broken", "application/json", theme.created_at,
                                             theme.created_at)
    assert app_embed_state(theme) == "missing"
    sf.set_app_embed(theme.id, "enabled")  # rewrites an unreadable file
    assert app_embed_state(theme) == "enabled"


def test_publishing(sf: ShopifyBackend, events: list[DomainEvent]) -> None:
    dawn = sf.main_theme()
    sense = sf.create_theme("Sense", app_embed="missing")
    assert sense.role == "unpublished" and app_embed_state(sense) == "missing"
    sf.publish_theme(sense.id)
    assert sf.main_theme() is sense and dawn is not None and dawn.role == "unpublished"
    published = [e for e in events if isinstance(e, ThemePublished)]
    assert [(e.theme_id, e.previous_theme_id) for e in published] == [(sense.id, dawn.id)]
    sf.publish_theme(sense.id)
    assert len([e for e in events if isinstance(e, ThemePublished)]) == 1
    demo = sf.create_theme("Trial", role="demo")
    with pytest.raises(Conflict):
        sf.publish_theme(demo.id)
    for bad in ({"name": ""}, {"name": "x", "role": "live"}, {"name": "x", "app_embed": "on"}):
        with pytest.raises(ValidationFailed):
            sf.create_theme(bad["name"], role=bad.get("role", "unpublished"), app_embed=bad.get("app_embed", "enabled"))


# -- webhook subscriptions -------------------------------------------------------------------------------------------
def test_subscriptions_count_consecutive_failures(sf: ShopifyBackend) -> None:
    sub = sf.create_webhook_subscription({"topic": "orders/paid", "address": "https://h.example.com"}, "2025-10")
    for _ in range(MAX_CONSECUTIVE_FAILURES - 1):
        assert sf.note_delivery_attempt(sub.id, ok=False) is False
    assert sf.note_delivery_attempt(sub.id, ok=True) is False and sub.consecutive_failures == 0
    for _ in range(MAX_CONSECUTIVE_FAILURES - 1):
        sf.note_delivery_attempt(sub.id, ok=False)
    assert sf.note_delivery_attempt(sub.id, ok=False) is True
    assert sf.webhook_subscriptions == {}
    assert sf.note_delivery_attempt(sub.id, ok=False) is False  # already gone


# -- payments --------------------------------------------------------------------------------------------------------
def test_authorize_capture_in_parts_then_paid(sf: ShopifyBackend, events: list[DomainEvent]) -> None:
    c = sf.create_customer(email="pay@example.com")
    order = sf.create_order(customer_id=c.id, line_items=[{"title": "t", "price": "30"}],
                            financial_status="authorized")
    sf.capture_payment(order.id, "10")
    assert order.financial_status == "partially_paid" and not any(isinstance(e, OrderPaid) for e in events)
    with pytest.raises(ValidationFailed):
        sf.capture_payment(order.id, "25")
    sf.pay_order(order.id)  # captures the rest
    assert order.financial_status == "paid" and order.captured_amount == Decimal("30.00")
    assert next(e for e in events if isinstance(e, OrderPaid)).total == Decimal("30.00")
    assert sf.get_customer(c.id).total_spent == Decimal("30.00")
    with pytest.raises(Conflict):
        sf.capture_payment(order.id)
