"""Customers on the Rivo merchant API (rivo-api.md §3.1): the envelope and attribute types, lookup by Shopify
id or email, the new-customer visibility delay, ``PUT`` updates and the manual VIP tier update."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from .conftest import CREDITS_RE, ISO_MS_RE, ShopHandle, assert_rivo_error, unchanged

TIER_KEYS = {"id", "name", "threshold", "perks", "icon_url", "desc", "rewards"}
DOC_FIELDS = {"id", "email", "first_name", "last_name", "accepts_marketing", "orders_count", "verified_email",
              "total_spent", "shopify_tags", "loyalty_status", "loyalty_status_last_updated_at", "dob",
              "dob_last_updated_at", "referral_url", "vip_tier"}
LIVE_FIELDS = {"points_tally", "credits_tally", "referral_code", "loyalty_status_last_changed_at", "next_vip_tier",
               "lifetime_earnings_tally", "completed_earning_rule_ids", "points_expire_at", "credits_expire_at",
               "remote_updated_at", "shop_id", "shopify_domain"}


def check_customer(item: dict[str, Any], shop: ShopHandle) -> dict[str, Any]:
    """The customer envelope and attribute types rivo-api.md §3.1 documents (plus the live fields)."""
    assert item["type"] == "customer"
    attrs = item["attributes"]
    assert isinstance(item["id"], int) and attrs["id"] == item["id"]
    assert set(attrs) >= DOC_FIELDS | LIVE_FIELDS
    assert isinstance(attrs["points_tally"], int) and not isinstance(attrs["points_tally"], bool)
    assert attrs["loyalty_points_tally"] == attrs["points_tally"]
    assert isinstance(attrs["credits_tally"], str) and CREDITS_RE.match(attrs["credits_tally"])
    assert isinstance(attrs["total_spent"], int | float) and not isinstance(attrs["total_spent"], bool)
    assert isinstance(attrs["orders_count"], int)
    assert isinstance(attrs["shopify_tags"], list) and all(isinstance(t, str) for t in attrs["shopify_tags"])
    assert isinstance(attrs["accepts_marketing"], bool) and isinstance(attrs["verified_email"], bool)
    assert attrs["loyalty_status"] in ("member", "guest")
    assert attrs["dob"] is None or (len(attrs["dob"]) == 5 and attrs["dob"][2] == "-")
    assert isinstance(attrs["referral_code"], str) and attrs["referral_code"]
    assert attrs["referral_url"] == f"https://{shop.domain}?referral_code={attrs['referral_code']}"
    assert attrs["shopify_domain"] == shop.domain
    assert isinstance(attrs["completed_earning_rule_ids"], list)
    for name in ("loyalty_status_last_changed_at", "remote_updated_at"):
        assert attrs[name] is None or ISO_MS_RE.match(attrs[name])
    if attrs["vip_tier"] is not None:
        assert set(attrs["vip_tier"]) == TIER_KEYS
        assert isinstance(attrs["vip_tier"]["perks"], list) and isinstance(attrs["vip_tier"]["rewards"], list)
    return attrs  # type: ignore[no-any-return]


# -- reading ---------------------------------------------------------------------------------------------------
def test_list_envelope_and_attribute_types(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop(customers=5)
    resp = shop.api.get("/customers")
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"links", "data"}
    assert len(body["data"]) == 5
    ids = [item["id"] for item in body["data"]]
    assert ids == sorted(ids)
    for item in body["data"]:
        attrs = check_customer(item, shop)
        assert attrs["vip_tier"]["name"] in ("Bronze", "Silver", "Gold")


def test_get_by_numeric_id(shop: ShopHandle, member: dict[str, Any]) -> None:
    resp = shop.api.get(f"/customers/{member['id']}")
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"data"}
    attrs = check_customer(body["data"], shop)
    assert attrs["email"] == "Ada.Lovelace@example.com"
    assert (attrs["first_name"], attrs["last_name"]) == ("Ada", "Lovelace")
    assert attrs["points_tally"] == 100  # the default sign-up rule
    assert attrs["credits_tally"] == "0.0"
    assert attrs["total_spent"] == 0
    assert attrs["vip_tier"]["name"] == "Bronze"
    assert attrs["next_vip_tier"]["name"] == "Silver"


@pytest.mark.parametrize("spelling", ["Ada.Lovelace@example.com", "ada.lovelace@example.com",
                                      "ADA.LOVELACE@EXAMPLE.COM"])
def test_get_by_email_is_case_insensitive(shop: ShopHandle, member: dict[str, Any], spelling: str) -> None:
    # URL-encoded (%40) and raw @ both reach the same customer.
    for path in (f"/customers/{quote(spelling, safe='')}", f"/customers/{spelling}"):
        resp = shop.api.get(path)
        assert resp.status_code == 200, path
        assert resp.get_json()["data"]["id"] == member["id"]


def test_get_by_email_with_plus_sign(shop: ShopHandle) -> None:
    cust = shop.add_customer(email="ada+loyalty@example.com")
    resp = shop.api.get("/customers/" + quote("ada+loyalty@example.com", safe=""))
    assert resp.status_code == 200
    assert resp.get_json()["data"]["id"] == cust["id"]


@pytest.mark.parametrize("identifier", ["1", "99999999999999", "nobody%40example.com", "not-an-identifier"])
def test_unknown_customer_is_404(shop: ShopHandle, member: dict[str, Any], identifier: str) -> None:
    assert_rivo_error(shop.api.get(f"/customers/{identifier}"), 404, code="not_found")


def test_advocate_stats_returns_the_plain_customer(shop: ShopHandle, member: dict[str, Any]) -> None:
    # rivo-api.md §1.6 (OBSERVED quirk).
    resp = shop.api.get(f"/customers/{member['id']}/advocate_stats")
    assert resp.status_code == 200
    assert resp.get_json() == shop.api.get(f"/customers/{member['id']}").get_json()
    assert_rivo_error(shop.api.get("/customers/1/advocate_stats"), 404)


def test_new_signup_is_hidden_for_the_visibility_delay(shop: ShopHandle, client: Any) -> None:
    # rivo-api.md §1.4: a new Shopify customer reaches Rivo ~30 s later (default PT30S).
    cust = shop.add_customer(visible=False, email="late@example.com")
    err = assert_rivo_error(shop.api.get(f"/customers/{cust['id']}"), 404)
    assert "Rivo sees it in 30 s" in err["meta"]["hint"]
    assert_rivo_error(shop.api.get("/customers/late%40example.com"), 404)
    assert shop.api.data("/customers") == []
    assert client.post("/_rivosim/clock/advance", json={"duration": "PT29S"}).status_code == 200
    assert_rivo_error(shop.api.get(f"/customers/{cust['id']}"), 404)
    assert client.post("/_rivosim/clock/advance", json={"duration": "PT1S"}).status_code == 200
    assert shop.api.get(f"/customers/{cust['id']}").status_code == 200
    assert [c["id"] for c in shop.api.data("/customers")] == [cust["id"]]


def test_visibility_delay_follows_shop_config(make_shop: Callable[..., ShopHandle], client: Any) -> None:
    shop = make_shop({"api": {"new_customer_visibility_delay": "PT5M"}})
    cust = shop.add_customer(visible=False, email="slow@example.com")
    client.post("/_rivosim/clock/advance", json={"duration": "PT4M59S"})
    assert_rivo_error(shop.api.get(f"/customers/{cust['id']}"), 404)
    client.post("/_rivosim/clock/advance", json={"seconds": 1})
    assert shop.api.get(f"/customers/{cust['id']}").status_code == 200


def test_hidden_customer_cannot_be_credited(shop: ShopHandle) -> None:
    cust = shop.add_customer(visible=False, email="late@example.com")
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/points_events", json={
            "customer_identifier": cust["id"], "source": "manual", "points_amount": 5, "credits_amount": 0}), 404)


def test_paid_order_updates_spend_count_and_points(shop: ShopHandle, member: dict[str, Any]) -> None:
    shop.add_order(member["id"], price="20.00", quantity=2)
    attrs = shop.customer(member["id"])
    assert attrs["orders_count"] == 1
    assert attrs["total_spent"] == 40.0
    assert attrs["points_tally"] == 140  # 100 sign-up + 1 point per $1


def test_unpaid_order_earns_nothing_until_paid(shop: ShopHandle, member: dict[str, Any]) -> None:
    order = shop.add_order(member["id"], price="30.00", paid=False)
    assert shop.points(member["id"]) == 100
    assert shop.control("POST", f"/orders/{order['id']}/pay").status_code == 200
    assert shop.points(member["id"]) == 130


def test_shopify_tags_are_mirrored(shop: ShopHandle) -> None:
    cust = shop.add_customer(email="t@example.com", tags=["vip", "Wholesale"])
    assert shop.customer(cust["id"])["shopify_tags"] == ["vip", "Wholesale"]


def test_guest_signup_is_guest_without_points(shop: ShopHandle) -> None:
    cust = shop.add_customer(email="g@example.com", joins_program=False)
    attrs = shop.customer(cust["id"])
    assert attrs["loyalty_status"] == "guest"
    assert attrs["points_tally"] == 0


# -- PUT /customers/{id} -----------------------------------------------------------------------------------------
def test_update_dob_and_names(shop: ShopHandle, member: dict[str, Any]) -> None:
    resp = shop.api.put(f"/customers/{member['id']}", json={"dob": "07-13", "first_name": "Augusta"})
    assert resp.status_code == 200
    attrs = check_customer(resp.get_json()["data"], shop)
    assert attrs["dob"] == "07-13" and attrs["first_name"] == "Augusta"
    assert ISO_MS_RE.match(attrs["dob_last_updated_at"])
    assert shop.customer(member["id"])["dob"] == "07-13"


def test_update_by_email_with_customer_wrapper(shop: ShopHandle, member: dict[str, Any]) -> None:
    resp = shop.api.put("/customers/ada.lovelace%40example.com", json={"customer": {"dob": "02-29"}})
    assert resp.status_code == 200
    assert shop.customer(member["id"])["dob"] == "02-29"


def test_update_form_encoded(shop: ShopHandle, member: dict[str, Any]) -> None:
    resp = shop.api.put(f"/customers/{member['id']}", data={"accepts_marketing": "true", "last_name": "King"})
    assert resp.status_code == 200
    attrs = shop.customer(member["id"])
    assert attrs["accepts_marketing"] is True and attrs["last_name"] == "King"


def test_update_loyalty_status_to_guest_and_back(shop: ShopHandle, member: dict[str, Any]) -> None:
    resp = shop.api.put(f"/customers/{member['id']}", json={"loyalty_status": "guest"})
    assert resp.status_code == 200
    assert resp.get_json()["data"]["attributes"]["loyalty_status"] == "guest"
    assert shop.api.put(f"/customers/{member['id']}", json={"loyalty_status": "member"}).status_code == 200
    assert shop.customer(member["id"])["loyalty_status"] == "member"


@pytest.mark.parametrize(("body", "parameter"), [
    ({"dob": "13-01"}, "dob"),
    ({"dob": "02-30"}, "dob"),
    ({"dob": 713}, "dob"),
    ({"loyalty_status": "vip"}, "loyalty_status"),
    ({"first_name": "x" * 256}, "first_name"),
    ({"first_name": 5}, "first_name"),
    ({"accepts_marketing": "perhaps"}, "accepts_marketing"),
    ({"points_tally": 1_000_000}, "points_tally"),
    ({"email": "new@example.com"}, "email"),
    ({"dob": "07-13", "bogus": 1}, "bogus"),
])
def test_update_validation_names_the_field_and_changes_nothing(shop: ShopHandle, member: dict[str, Any],
                                                               body: dict[str, Any], parameter: str) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.put(f"/customers/{member['id']}", json=body), 422, parameter=parameter)


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"data": "{not json", "content_type": "application/json"}, 400),
    ({"data": "", "content_type": "application/json"}, 400),
    ({"data": "[1, 2]", "content_type": "application/json"}, 400),
    ({"data": "dob=07-13", "content_type": "text/plain"}, 400),
])
def test_update_unreadable_body_is_400(shop: ShopHandle, member: dict[str, Any], kwargs: dict[str, Any],
                                       status: int) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.put(f"/customers/{member['id']}", **kwargs), status, code="bad_request")


def test_update_unknown_customer_is_404(shop: ShopHandle, member: dict[str, Any]) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.put("/customers/123", json={"dob": "07-13"}), 404)


# -- POST /customers/{id}/vip_tier ---------------------------------------------------------------------------------
def test_manual_vip_tier_update(shop: ShopHandle, member: dict[str, Any]) -> None:
    gold = next(t for t in shop.tiers() if t["name"] == "Gold")
    resp = shop.api.post(f"/customers/{member['id']}/vip_tier", json={"vip_tier_id": gold["id"],
                                                                       "external_note": "Welcome to Gold"})
    assert resp.status_code == 200
    attrs = check_customer(resp.get_json()["data"], shop)
    assert attrs["vip_tier"]["id"] == gold["id"] and attrs["vip_tier"]["name"] == "Gold"
    assert attrs["next_vip_tier"] is None
    assert shop.customer(member["id"])["vip_tier"]["name"] == "Gold"
    # The manual tier holds when more points arrive below its threshold (lifetime program).
    shop.give(member["id"], 10)
    assert shop.customer(member["id"])["vip_tier"]["name"] == "Gold"


def test_manual_vip_tier_update_form_encoded(shop: ShopHandle, member: dict[str, Any]) -> None:
    silver = next(t for t in shop.tiers() if t["name"] == "Silver")
    resp = shop.api.post(f"/customers/{member['id']}/vip_tier", data={"vip_tier_id": str(silver["id"])})
    assert resp.status_code == 200
    assert shop.customer(member["id"])["vip_tier"]["name"] == "Silver"


@pytest.mark.parametrize(("body", "status", "parameter"), [
    ({"vip_tier_id": 1}, 404, None),
    ({}, 422, "vip_tier_id"),
    ({"vip_tier_id": "gold"}, 422, "vip_tier_id"),
    ({"vip_tier_id": True}, 422, "vip_tier_id"),
    ({"vip_tier_id": 1, "tier": "Gold"}, 422, "tier"),
])
def test_manual_vip_tier_errors_change_nothing(shop: ShopHandle, member: dict[str, Any], body: dict[str, Any],
                                               status: int, parameter: str | None) -> None:
    with unchanged(shop):
        resp = shop.api.post(f"/customers/{member['id']}/vip_tier", json=body)
        assert_rivo_error(resp, status, parameter=parameter)


def test_manual_vip_tier_unknown_customer_is_404(shop: ShopHandle) -> None:
    gold = next(t for t in shop.tiers() if t["name"] == "Gold")
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/customers/42/vip_tier", json={"vip_tier_id": gold["id"]}), 404)


def test_superscript_digit_identifier_is_404_not_500(shop: ShopHandle, member: dict[str, Any]) -> None:
    assert_rivo_error(shop.api.get("/customers/%C2%B2"), 404)


def test_absurdly_long_numeric_identifier_is_404_not_500(shop: ShopHandle, member: dict[str, Any]) -> None:
    assert_rivo_error(shop.api.get("/customers/" + "9" * 5000), 404)


def test_superscript_digit_vip_tier_id_is_422(shop: ShopHandle, member: dict[str, Any]) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.post(f"/customers/{member['id']}/vip_tier", json={"vip_tier_id": "²"}), 422,
                          parameter="vip_tier_id")


@pytest.mark.parametrize("tier_id", ["9" * 30, str(2**64)])
def test_huge_vip_tier_id_is_404_json(shop: ShopHandle, member: dict[str, Any], tier_id: str) -> None:
    # The refusal echoes the id in its meta; ids beyond 64 bits must still serialise (orjson refuses them).
    with unchanged(shop):
        err = assert_rivo_error(shop.api.post(f"/customers/{member['id']}/vip_tier", data={"vip_tier_id": tier_id}),
                                404)
        assert str(err["meta"]["id"]) == tier_id
