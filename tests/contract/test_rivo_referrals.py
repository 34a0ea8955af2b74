"""Referrals (rivo-api.md §3.6, §7.4): capture with ``email``/``referral_code``/``remote_ip``, the fraud checks
that block with a reason, completion (by the API or by the friend's first paid order) and the list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import ISO_MS_RE, ShopHandle, assert_rivo_error, unchanged


@pytest.fixture
def advocate(shop: ShopHandle) -> dict[str, Any]:
    """A member plus their Rivo attributes (``referral_code``)."""
    cust = shop.add_customer(email="advocate@example.com", first_name="Ann")
    return shop.customer(cust["id"])


def claim(shop: ShopHandle, code: str, email: str = "friend@example.com", ip: str = "203.0.113.7") -> Any:
    return shop.api.post("/referrals", json={"email": email, "referral_code": code, "remote_ip": ip})


def test_create_returns_201_pending_referral(shop: ShopHandle, advocate: dict[str, Any]) -> None:
    resp = claim(shop, advocate["referral_code"])
    assert resp.status_code == 201
    data = resp.get_json()["data"]
    assert data["type"] == "referral"
    attrs = data["attributes"]
    assert attrs["id"] == data["id"]
    assert attrs["status"] == "pending" and attrs["block_reason"] is None
    assert attrs["advocate_email"] == "advocate@example.com"
    assert attrs["referred_email"] == "friend@example.com"
    assert attrs["referrer_customer_id"] == advocate["id"]
    assert attrs["signup_ip"] == "203.0.113.7"
    assert attrs["referred_discount_code"].startswith("REF-")
    assert attrs["completed_at"] is None and ISO_MS_RE.match(attrs["created_at"])
    assert attrs["referrer_customer"]["id"] == advocate["id"]


def test_referral_url_carries_the_code(shop: ShopHandle, advocate: dict[str, Any]) -> None:
    assert advocate["referral_url"].endswith("?referral_code=" + advocate["referral_code"])


def test_create_form_encoded_and_ipv6(shop: ShopHandle, advocate: dict[str, Any]) -> None:
    resp = shop.api.post("/referrals", data={"email": "f6@example.com", "referral_code": advocate["referral_code"],
                                             "remote_ip": "2001:db8::1"})
    assert resp.status_code == 201
    assert resp.get_json()["data"]["attributes"]["signup_ip"] == "2001:db8::1"


@pytest.mark.parametrize("missing", ["email", "referral_code", "remote_ip"])
def test_each_field_is_required(shop: ShopHandle, advocate: dict[str, Any], missing: str) -> None:
    body = {"email": "friend@example.com", "referral_code": advocate["referral_code"], "remote_ip": "203.0.113.7"}
    del body[missing]
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/referrals", json=body), 422, parameter=missing)
        assert_rivo_error(shop.api.post("/referrals", json={**body, missing: "  "}), 422, parameter=missing)


@pytest.mark.parametrize(("field", "value"), [
    ("remote_ip", "999.1.1.1"), ("remote_ip", "localhost"), ("remote_ip", 17), ("email", "not-an-email"),
    ("email", ["friend@example.com"]), ("referral_code", 12345),
])
def test_invalid_values_are_422(shop: ShopHandle, advocate: dict[str, Any], field: str, value: Any) -> None:
    body = {"email": "friend@example.com", "referral_code": advocate["referral_code"], "remote_ip": "203.0.113.7",
            field: value}
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/referrals", json=body), 422, parameter=field)


def test_unknown_field_is_422(shop: ShopHandle, advocate: dict[str, Any]) -> None:
    with unchanged(shop):
        resp = shop.api.post("/referrals", json={"email": "f@example.com", "referral_code": advocate["referral_code"],
                                                 "remote_ip": "203.0.113.7", "advocate_email": "x@example.com"})
        assert_rivo_error(resp, 422, parameter="advocate_email")


@pytest.mark.parametrize("code", ["ZZZZZZZZZZZZZZZZ", "no-such-code", "!!"])
def test_unknown_code_is_404(shop: ShopHandle, advocate: dict[str, Any], code: str) -> None:
    with unchanged(shop):
        assert_rivo_error(claim(shop, code), 404)


def test_code_is_case_insensitive(shop: ShopHandle, advocate: dict[str, Any]) -> None:
    assert claim(shop, advocate["referral_code"].lower()).status_code == 201


def test_self_referral_is_created_blocked(shop: ShopHandle, advocate: dict[str, Any]) -> None:
    resp = claim(shop, advocate["referral_code"], email="ADVOCATE@example.com")
    assert resp.status_code == 201
    attrs = resp.get_json()["data"]["attributes"]
    assert attrs["status"] == "blocked" and attrs["block_reason"] == "self_referral"
    assert attrs["referred_discount_code"] is None
    with unchanged(shop):
        assert_rivo_error(shop.api.post(f"/referrals/{attrs['id']}/complete"), 422, detail_contains="self_referral")


def test_existing_customer_with_orders_is_blocked(shop: ShopHandle, advocate: dict[str, Any]) -> None:
    old = shop.add_customer(email="old@example.com")
    shop.add_order(old["id"])
    attrs = claim(shop, advocate["referral_code"], email="old@example.com").get_json()["data"]["attributes"]
    assert (attrs["status"], attrs["block_reason"]) == ("blocked", "existing_customer")


def test_weekly_ip_threshold_blocks(make_shop: Callable[..., ShopHandle], client: Any) -> None:
    shop = make_shop({"program": {"referrals": {"weekly_ip_threshold": 2}}})
    code = shop.customer(shop.add_customer(email="a@example.com")["id"])["referral_code"]
    statuses = [claim(shop, code, email=f"f{i}@example.com").get_json()["data"]["attributes"]["block_reason"]
                for i in range(3)]
    assert statuses == [None, None, "ip_threshold_exceeded"]
    assert claim(shop, code, email="other-ip@example.com", ip="198.51.100.1").get_json()["data"]["attributes"][
        "status"] == "pending"
    # A week later the IP may refer again.
    client.post("/_rivosim/clock/advance", json={"duration": "P8D"})
    assert claim(shop, code, email="f9@example.com").get_json()["data"]["attributes"]["status"] == "pending"


def test_same_friend_cannot_claim_twice(shop: ShopHandle, advocate: dict[str, Any]) -> None:
    assert claim(shop, advocate["referral_code"]).status_code == 201
    with unchanged(shop):
        assert_rivo_error(claim(shop, advocate["referral_code"], email="FRIEND@example.com"), 422, parameter="email")


def test_disabled_referral_program_is_422(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"program": {"referrals": {"enabled": False}}})
    code = shop.customer(shop.add_customer(email="a@example.com")["id"])["referral_code"]
    with unchanged(shop):
        assert_rivo_error(claim(shop, code), 422)


# -- completion ---------------------------------------------------------------------------------------------------
def test_complete_rewards_the_advocate(shop: ShopHandle, advocate: dict[str, Any]) -> None:
    referral = claim(shop, advocate["referral_code"]).get_json()["data"]
    before = advocate["points_tally"]
    resp = shop.api.post(f"/referrals/{referral['id']}/complete")
    assert resp.status_code == 200
    attrs = resp.get_json()["data"]["attributes"]
    assert attrs["status"] == "completed" and ISO_MS_RE.match(attrs["completed_at"])
    assert attrs["advocate_reward_status"] == "rewarded"
    assert shop.points(advocate["id"]) == before + 500  # referrals.advocate_points
    events = shop.api.data("/points_events", query_string={"filters[source]": "referral_complete"})
    assert [e["attributes"]["points_diff"] for e in events] == [500]


def test_complete_twice_is_422_and_rewards_once(shop: ShopHandle, advocate: dict[str, Any]) -> None:
    referral = claim(shop, advocate["referral_code"]).get_json()["data"]
    assert shop.api.post(f"/referrals/{referral['id']}/complete").status_code == 200
    with unchanged(shop):
        assert_rivo_error(shop.api.post(f"/referrals/{referral['id']}/complete"), 422, detail_contains="completed")


def test_complete_with_order_id(shop: ShopHandle, advocate: dict[str, Any]) -> None:
    referral = claim(shop, advocate["referral_code"]).get_json()["data"]
    resp = shop.api.post(f"/referrals/{referral['id']}/complete", json={"order_id": 5555})
    assert resp.status_code == 200
    assert resp.get_json()["data"]["attributes"]["referred_order_id"] == 5555


@pytest.mark.parametrize(("path", "body", "status"), [
    ("/referrals/1/complete", None, 404),
    ("/referrals/abc/complete", None, 422),
    ("/referrals/{id}/complete", {"order_id": "one"}, 422),
    ("/referrals/{id}/complete", {"order_id": True}, 422),
    ("/referrals/{id}/complete", "{broken", 400),
])
def test_complete_errors_change_nothing(shop: ShopHandle, advocate: dict[str, Any], path: str, body: Any,
                                        status: int) -> None:
    referral = claim(shop, advocate["referral_code"]).get_json()["data"]
    url = path.format(id=referral["id"])
    with unchanged(shop):
        if isinstance(body, str):
            resp = shop.api.post(url, data=body, content_type="application/json")
        else:
            resp = shop.api.post(url, json=body)
        assert_rivo_error(resp, status)


def test_referral_complete_rule_sets_the_advocate_reward(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"program": {"earning_rules": [{"trigger": "referral_complete", "points_amount": 300}]}})
    adv = shop.customer(shop.add_customer(email="a@example.com")["id"])
    referral = claim(shop, adv["referral_code"]).get_json()["data"]
    shop.api.post(f"/referrals/{referral['id']}/complete")
    assert shop.points(adv["id"]) == 300


def test_friends_first_paid_order_completes_the_referral(shop: ShopHandle, advocate: dict[str, Any]) -> None:
    referral = claim(shop, advocate["referral_code"]).get_json()["data"]
    friend = shop.add_customer(email="friend@example.com")
    order = shop.add_order(friend["id"], price="60.00")
    listed = shop.api.data("/referrals", query_string={"filters[customer_identifier]": str(advocate["id"])})
    attrs = next(r["attributes"] for r in listed if r["id"] == referral["id"])
    assert attrs["status"] == "completed"
    assert attrs["referred_order_id"] == order["id"] and attrs["referred_customer_id"] == friend["id"]
    assert shop.points(advocate["id"]) == advocate["points_tally"] + 500


# -- list -----------------------------------------------------------------------------------------------------------
def test_list_filters(shop: ShopHandle, advocate: dict[str, Any]) -> None:
    other = shop.customer(shop.add_customer(email="other@example.com")["id"])
    a = claim(shop, advocate["referral_code"], email="f1@example.com").get_json()["data"]
    b = claim(shop, other["referral_code"], email="f2@example.com").get_json()["data"]
    blocked = claim(shop, advocate["referral_code"], email="advocate@example.com").get_json()["data"]
    assert [r["id"] for r in shop.api.data("/referrals")] == [a["id"], b["id"], blocked["id"]]
    mine = shop.api.data("/referrals", query_string={"filters[customer_identifier]": "advocate@example.com"})
    assert [r["id"] for r in mine] == [a["id"], blocked["id"]]
    # The referred friend's email finds their referral too.
    assert [r["id"] for r in shop.api.data("/referrals", query_string={
        "filters[customer_identifier]": "other@example.com"})] == [b["id"]]
    only_blocked = shop.api.data("/referrals", query_string={"filters[status]": "blocked"})
    assert [r["id"] for r in only_blocked] == [blocked["id"]]
    assert_rivo_error(shop.api.get("/referrals", query_string={"filters[email]": "x"}), 422,
                      parameter="filters[email]")
    assert_rivo_error(shop.api.get("/referrals", query_string={"filters[customer_identifier]": "9"}), 404)
