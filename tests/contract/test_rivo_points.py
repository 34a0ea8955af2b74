"""Points events (rivo-api.md §3.3): manual adjustments need both amounts (CONFIRMED), other sources take the
earning rule's amount, the program/exclusion/balance guards, the all-or-nothing batch, and the list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import CREDITS_RE, ISO_MS_RE, ShopHandle, assert_rivo_error, unchanged

EVENT_FIELDS = {"id", "customer_identifier", "points_amount", "points_diff", "credits_amount", "credits_diff",
                "source", "title", "internal_note", "external_note", "applied_at", "approved_at", "occurred_at",
                "created_at", "revoked_at", "expires_at", "per_event_expiration_at", "hidden", "order_id",
                "earning_rule_id", "points_purchases_id", "sourceable_id", "custom_action_name"}


def manual(customer: Any, points: Any = 100, credits: Any = "0", **extra: Any) -> dict[str, Any]:
    return {"customer_identifier": customer, "source": "manual", "points_amount": points,
            "credits_amount": credits, **extra}


def event_ids(shop: ShopHandle) -> list[int]:
    return [e["id"] for e in shop.collection("/points_events")]


# -- manual --------------------------------------------------------------------------------------------------
def test_manual_add_returns_201_points_event(shop: ShopHandle, member: dict[str, Any]) -> None:
    resp = shop.api.post("/points_events", json=manual(member["id"], 250, "2.5", external_note="Thanks!",
                                                        internal_note="goodwill", skip_email=True))
    assert resp.status_code == 201
    data = resp.get_json()["data"]
    assert data["type"] == "points_event"
    attrs = data["attributes"]
    assert attrs["id"] == data["id"] and isinstance(data["id"], int)
    assert set(attrs) >= EVENT_FIELDS
    assert attrs["source"] == "manual"
    assert attrs["points_diff"] == 250 and attrs["points_amount"] == 250
    assert attrs["credits_amount"] == "2.50" and CREDITS_RE.match(attrs["credits_amount"])
    assert attrs["credits_diff"] == 2.5
    assert attrs["customer_identifier"] == str(member["id"])
    assert (attrs["internal_note"], attrs["external_note"]) == ("goodwill", "Thanks!")
    assert ISO_MS_RE.match(attrs["applied_at"])
    customer = shop.customer(member["id"])
    assert customer["points_tally"] == 350
    assert customer["credits_tally"] == "2.50"
    assert data["id"] in event_ids(shop)


def test_manual_deduction_has_negative_diff(shop: ShopHandle, member: dict[str, Any]) -> None:
    resp = shop.api.post("/points_events", json=manual(member["id"], -40))
    assert resp.status_code == 201
    attrs = resp.get_json()["data"]["attributes"]
    assert attrs["points_diff"] == -40
    assert attrs["points_amount"] == 40  # the magnitude
    assert shop.points(member["id"]) == 60


def test_manual_by_email_identifier(shop: ShopHandle, member: dict[str, Any]) -> None:
    resp = shop.api.post("/points_events", json=manual("ADA.LOVELACE@example.com", 5))
    assert resp.status_code == 201
    assert shop.points(member["id"]) == 105


def test_manual_form_encoded_like_the_docs(shop: ShopHandle, member: dict[str, Any]) -> None:
    # The readme.io reference shows these params as form data (rivo-api.md §1.3).
    resp = shop.api.post("/points_events", data={"customer_identifier": str(member["id"]), "source": "manual",
                                                 "points_amount": "75", "credits_amount": "0",
                                                 "skip_email": "true"})
    assert resp.status_code == 201
    assert resp.get_json()["data"]["attributes"]["points_diff"] == 75
    assert shop.points(member["id"]) == 175


def test_manual_applied_at_backdates(shop: ShopHandle, member: dict[str, Any]) -> None:
    resp = shop.api.post("/points_events", json=manual(member["id"], 5, applied_at="2025-06-01T12:00:00Z"))
    assert resp.status_code == 201
    assert resp.get_json()["data"]["attributes"]["applied_at"] == "2025-06-01T12:00:00.000Z"


def test_manual_credits_only(shop: ShopHandle, member: dict[str, Any]) -> None:
    resp = shop.api.post("/points_events", json=manual(member["id"], 0, 10))
    assert resp.status_code == 201
    assert shop.customer(member["id"])["credits_tally"] == "10.0"
    assert shop.points(member["id"]) == 100


@pytest.mark.parametrize(("body", "parameter"), [
    ({"source": "manual", "points_amount": 10}, "credits_amount"),        # CONFIRMED: both are required
    ({"source": "manual", "credits_amount": 0}, "points_amount"),
    ({"source": "manual", "points_amount": "", "credits_amount": 0}, "points_amount"),
    ({"source": "manual", "points_amount": 0, "credits_amount": 0}, "points_amount"),
    ({"source": "manual", "points_amount": "ten", "credits_amount": 0}, "points_amount"),
    ({"source": "manual", "points_amount": 1.5, "credits_amount": 0}, "points_amount"),
    ({"source": "manual", "points_amount": True, "credits_amount": 0}, "points_amount"),
    ({"source": "manual", "points_amount": [10], "credits_amount": 0}, "points_amount"),
    ({"source": "manual", "points_amount": 200_000_000, "credits_amount": 0}, "points_amount"),
    ({"source": "manual", "points_amount": 1, "credits_amount": "lots"}, "credits_amount"),
    ({"source": "manual", "points_amount": 1, "credits_amount": "NaN"}, "credits_amount"),
    ({"source": "manual", "points_amount": 1, "credits_amount": "1e999999"}, "credits_amount"),
    ({"source": "manual", "points_amount": 1, "credits_amount": False}, "credits_amount"),
    ({"source": "loyalty", "points_amount": 1, "credits_amount": 0}, "source"),
    ({"points_amount": 1, "credits_amount": 0}, "source"),
    ({"source": "manual", "points_amount": 1, "credits_amount": 0, "skip_email": "maybe"}, "skip_email"),
    ({"source": "manual", "points_amount": 1, "credits_amount": 0, "applied_at": "yesterday"}, "applied_at"),
    ({"source": "manual", "points_amount": 1, "credits_amount": 0, "applied_at": 1700000000}, "applied_at"),
    ({"source": "manual", "points_amount": 1, "credits_amount": 0, "internal_note": "x" * 1001}, "internal_note"),
    ({"source": "manual", "points_amount": 1, "credits_amount": 0, "external_note": 5}, "external_note"),
    ({"source": "manual", "points_amount": 1, "credits_amount": 0, "points": 5}, "points"),
    ({"source": "custom_action"}, "custom_action_name"),
    ({"source": "visit_url"}, "custom_action_name"),
])
def test_validation_422_names_the_parameter_and_changes_nothing(shop: ShopHandle, member: dict[str, Any],
                                                                body: dict[str, Any], parameter: str) -> None:
    with unchanged(shop):
        resp = shop.api.post("/points_events", json={"customer_identifier": member["id"], **body})
        assert_rivo_error(resp, 422, parameter=parameter)


@pytest.mark.parametrize("identifier", [None, "", [1], {"id": 1}, True])
def test_customer_identifier_missing_or_wrong_type_is_422(shop: ShopHandle, member: dict[str, Any],
                                                          identifier: Any) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/points_events", json=manual(identifier, 5)), 422,
                          parameter="customer_identifier")


@pytest.mark.parametrize("identifier", [123, "123", "ghost@example.com"])
def test_unknown_customer_is_404(shop: ShopHandle, member: dict[str, Any], identifier: Any) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/points_events", json=manual(identifier, 5)), 404, code="not_found")


@pytest.mark.parametrize(("kwargs", "detail"), [
    ({"data": "{\"customer_identifier\": 1,", "content_type": "application/json"}, "not valid JSON"),
    ({"data": "", "content_type": "application/json"}, "empty"),
    ({"data": "   ", "content_type": "application/json"}, "empty"),
    ({"data": "[]", "content_type": "application/json"}, "object"),
    ({"data": "null", "content_type": "application/json"}, "object"),
    ({"data": "source=manual", "content_type": "text/plain"}, "Content-Type"),
    ({"data": b"\xff\xfe{", "content_type": "application/json"}, "not valid JSON"),
])
def test_unreadable_body_is_400(shop: ShopHandle, member: dict[str, Any], kwargs: dict[str, Any],
                                detail: str) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/points_events", **kwargs), 400, detail_contains=detail)


def test_json_body_without_content_type_is_read(shop: ShopHandle, member: dict[str, Any]) -> None:
    import json

    resp = shop.api.post("/points_events", data=json.dumps(manual(member["id"], 3)))
    assert resp.status_code == 201
    assert shop.points(member["id"]) == 103


# -- earning rules --------------------------------------------------------------------------------------------
def test_non_manual_source_takes_the_rule_amount(shop: ShopHandle, member: dict[str, Any]) -> None:
    # rivo-api.md §3.3 (OBSERVED): the amount comes from the earning rule, not the request.
    rule = next(r["attributes"] for r in shop.api.data("/earning_rules")
                if r["attributes"]["trigger"] == "instagram_follow")
    resp = shop.api.post("/points_events", json={"customer_identifier": member["id"], "source": "instagram_follow",
                                                 "points_amount": 9999, "credits_amount": 50})
    assert resp.status_code == 201
    attrs = resp.get_json()["data"]["attributes"]
    assert attrs["points_diff"] == 50 == rule["points_amount"]
    assert attrs["earning_rule_id"] == rule["id"]
    assert attrs["source"] == "instagram_follow"
    customer = shop.customer(member["id"])
    assert customer["points_tally"] == 150
    assert rule["id"] in customer["completed_earning_rule_ids"]


def test_configured_rule_amounts_are_used(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"program": {"earning_rules": [
        {"trigger": "instagram_follow", "points_amount": 75},
        {"trigger": "custom_action", "custom_action_name": "watched_video", "points_amount": 30},
        {"trigger": "visit_url", "url": "https://example.com/blog", "points_amount": 12},
    ]}})
    cust = shop.add_customer(email="c@example.com")
    assert shop.points(cust["id"]) == 0  # no sign-up rule in this program
    for body, points in (({"source": "instagram_follow"}, 75),
                         ({"source": "custom_action", "custom_action_name": "watched_video"}, 30),
                         ({"source": "visit_url", "custom_action_name": "https://example.com/blog"}, 12)):
        resp = shop.api.post("/points_events", json={"customer_identifier": cust["id"], **body})
        assert resp.status_code == 201, resp.get_json()
        assert resp.get_json()["data"]["attributes"]["points_diff"] == points
    assert shop.points(cust["id"]) == 117


def test_custom_action_name_must_match_a_rule(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"program": {"earning_rules": [
        {"trigger": "custom_action", "custom_action_name": "watched_video", "points_amount": 30}]}})
    cust = shop.add_customer(email="c@example.com")
    with unchanged(shop):
        resp = shop.api.post("/points_events", json={"customer_identifier": cust["id"], "source": "custom_action",
                                                     "custom_action_name": "read_blog"})
        assert_rivo_error(resp, 404, detail_contains="no earning rule")


def test_source_without_a_rule_is_refused(shop: ShopHandle, member: dict[str, Any]) -> None:
    with unchanged(shop):
        resp = shop.api.post("/points_events", json={"customer_identifier": member["id"], "source": "tiktok_follow"})
        assert_rivo_error(resp, 404, detail_contains="instagram_follow")  # lists the configured triggers


def test_disabled_rule_is_422(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"program": {"earning_rules": [
        {"trigger": "instagram_follow", "points_amount": 50, "enabled": False}]}})
    cust = shop.add_customer(email="c@example.com")
    with unchanged(shop):
        resp = shop.api.post("/points_events", json={"customer_identifier": cust["id"], "source": "instagram_follow"})
        assert_rivo_error(resp, 422, code="earning_rule_disabled")


def test_once_per_customer_rule_earns_once(shop: ShopHandle, member: dict[str, Any]) -> None:
    body = {"customer_identifier": member["id"], "source": "instagram_follow"}
    assert shop.api.post("/points_events", json=body).status_code == 201
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/points_events", json=body), 422, parameter="source",
                          detail_contains="already completed")


def test_guest_cannot_earn_from_rules(shop: ShopHandle) -> None:
    guest = shop.add_customer(email="g@example.com", joins_program=False)
    with unchanged(shop):
        resp = shop.api.post("/points_events", json={"customer_identifier": guest["id"], "source": "instagram_follow"})
        assert_rivo_error(resp, 422, parameter="customer_identifier")


# -- guards -----------------------------------------------------------------------------------------------------
def test_inactive_program_is_422(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"program": {"active": False}})
    cust = shop.add_customer(email="c@example.com")
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/points_events", json=manual(cust["id"], 10)), 422, code="program_inactive")
        assert_rivo_error(shop.api.post("/points_events", json={"customer_identifier": cust["id"],
                                                                 "source": "instagram_follow"}),
                          422, code="program_inactive")


def test_program_deactivated_by_patch(shop: ShopHandle, member: dict[str, Any]) -> None:
    shop.patch({"program": {"active": False}})
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/points_events", json=manual(member["id"], 10)), 422,
                          code="program_inactive")


@pytest.mark.parametrize("tag", ["Rivo Excluded", "rivo excluded", "RIVO EXCLUDED"])
def test_excluded_customer_is_422(shop: ShopHandle, tag: str) -> None:
    cust = shop.add_customer(email="x@example.com", tags=[tag, "other"])
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/points_events", json=manual(cust["id"], 10)), 422,
                          code="customer_excluded")


def test_deduction_below_zero_is_insufficient_points(shop: ShopHandle, member: dict[str, Any]) -> None:
    with unchanged(shop):
        err = assert_rivo_error(shop.api.post("/points_events", json=manual(member["id"], -101)), 422,
                                code="insufficient_points")
        assert err["meta"]["balance"] == 100
    # Exactly to zero is fine.
    assert shop.api.post("/points_events", json=manual(member["id"], -100)).status_code == 201
    assert shop.points(member["id"]) == 0


def test_credits_deduction_below_zero_is_refused(shop: ShopHandle, member: dict[str, Any]) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/points_events", json=manual(member["id"], 0, "-0.01")), 422,
                          code="insufficient_balance")


def test_negative_balance_allowed_when_configured(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"api": {"allow_negative_balance": True}})
    cust = shop.add_customer(email="c@example.com")
    resp = shop.api.post("/points_events", json=manual(cust["id"], -500, "-1.25"))
    assert resp.status_code == 201
    attrs = shop.customer(cust["id"])
    assert attrs["points_tally"] == -400
    assert attrs["credits_tally"] == "-1.25"


# -- batch ------------------------------------------------------------------------------------------------------
def test_batch_creates_all_in_order(shop: ShopHandle, member: dict[str, Any]) -> None:
    items = [manual(member["id"], n) for n in (10, -20, 30)]
    resp = shop.api.post("/points_events/batch", json={"points_events": items})
    assert resp.status_code == 201
    data = resp.get_json()["data"]
    assert [d["type"] for d in data] == ["points_event"] * 3
    assert [d["attributes"]["points_diff"] for d in data] == [10, -20, 30]
    ids = [d["id"] for d in data]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert shop.points(member["id"]) == 120
    listed = [e["id"] for e in shop.collection("/points_events", **{"filters[customer_identifier]": str(member["id"])})]
    assert listed[-3:] == ids


def test_batch_items_apply_in_order_against_the_running_balance(shop: ShopHandle, member: dict[str, Any]) -> None:
    # 100 - 150 would go negative, but +100 comes first: valid in this order.
    resp = shop.api.post("/points_events/batch", json={"points_events": [manual(member["id"], 100),
                                                                         manual(member["id"], -150)]})
    assert resp.status_code == 201
    assert shop.points(member["id"]) == 50


def test_batch_running_balance_refuses_cumulative_overdraw(shop: ShopHandle, member: dict[str, Any]) -> None:
    with unchanged(shop):
        resp = shop.api.post("/points_events/batch", json={"points_events": [manual(member["id"], -60),
                                                                             manual(member["id"], -60)]})
        assert_rivo_error(resp, 422, code="insufficient_points", detail_contains="points_events[1]")


def test_batch_of_ten_is_allowed(shop: ShopHandle, member: dict[str, Any]) -> None:
    resp = shop.api.post("/points_events/batch", json={"points_events": [manual(member["id"], 1)] * 10})
    assert resp.status_code == 201
    assert len(resp.get_json()["data"]) == 10
    assert shop.points(member["id"]) == 110


def test_batch_of_eleven_is_422_and_applies_nothing(shop: ShopHandle, member: dict[str, Any]) -> None:
    with unchanged(shop):
        resp = shop.api.post("/points_events/batch", json={"points_events": [manual(member["id"], 1)] * 11})
        assert_rivo_error(resp, 422, parameter="points_events", detail_contains="at most 10")


def test_batch_one_bad_item_applies_nothing(shop: ShopHandle, member: dict[str, Any]) -> None:
    items = [manual(member["id"], 5), manual(member["id"], 6),
             {"customer_identifier": member["id"], "source": "manual", "credits_amount": 0}, manual(member["id"], 7)]
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/points_events/batch", json={"points_events": items}), 422,
                          parameter="points_events[2].points_amount")


def test_batch_unknown_customer_applies_nothing(shop: ShopHandle, member: dict[str, Any]) -> None:
    items = [manual(member["id"], 5), manual(42, 5)]
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/points_events/batch", json={"points_events": items}), 404,
                          detail_contains="points_events[1]")


@pytest.mark.parametrize(("body", "parameter"), [
    ({}, "points_events"),
    ({"points_events": []}, "points_events"),
    ({"points_events": "all of them"}, "points_events"),
    ({"points_events": {"customer_identifier": 1}}, "points_events"),
    ({"points_events": [5]}, "points_events[0]"),
])
def test_batch_shape_errors(shop: ShopHandle, member: dict[str, Any], body: dict[str, Any], parameter: str) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/points_events/batch", json=body), 422, parameter=parameter)


def test_batch_empty_body_is_400(shop: ShopHandle) -> None:
    assert_rivo_error(shop.api.post("/points_events/batch", data="", content_type="application/json"), 400)


def test_batch_cannot_earn_a_once_per_customer_rule_twice(shop: ShopHandle, member: dict[str, Any]) -> None:
    follow = {"customer_identifier": member["id"], "source": "instagram_follow"}
    with unchanged(shop):
        resp = shop.api.post("/points_events/batch", json={"points_events": [follow, follow]})
        assert_rivo_error(resp, 422, parameter="points_events[1].source")


# -- list ---------------------------------------------------------------------------------------------------------
def test_list_filters_by_customer_and_source(shop: ShopHandle, member: dict[str, Any]) -> None:
    other = shop.add_customer(email="other@example.com")
    shop.give(member["id"], 10)
    shop.give(other["id"], 20)
    mine = shop.api.data("/points_events", query_string={"filters[customer_identifier]": str(member["id"])})
    assert {e["attributes"]["customer_identifier"] for e in mine} == {str(member["id"])}
    assert [e["attributes"]["source"] for e in mine] == ["customer_member_enabled", "manual"]
    by_email = shop.api.data("/points_events",
                             query_string={"filters[customer_identifier]": "ada.lovelace@example.com"})
    assert by_email == mine
    manual_only = shop.api.data("/points_events", query_string={"filters[source]": "manual"})
    assert sorted(e["attributes"]["points_diff"] for e in manual_only) == [10, 20]


def test_list_sorted_by_applied_at_desc(shop: ShopHandle, member: dict[str, Any]) -> None:
    shop.api.post("/points_events", json=manual(member["id"], 1, applied_at="2025-01-01T00:00:00Z"))
    shop.api.post("/points_events", json=manual(member["id"], 2, applied_at="2025-06-01T00:00:00Z"))
    data = shop.api.data("/points_events", query_string={"sort[order_type]": "applied_at",
                                                         "sort[order_direction]": "desc"})
    stamps = [e["attributes"]["applied_at"] for e in data]
    assert stamps == sorted(stamps, reverse=True)
    assert [e["attributes"]["points_diff"] for e in data][-2:] == [2, 1]


def test_list_filter_unknown_customer_is_404(shop: ShopHandle, member: dict[str, Any]) -> None:
    assert_rivo_error(shop.api.get("/points_events", query_string={"filters[customer_identifier]": "42"}), 404)


def test_list_unknown_filter_is_422(shop: ShopHandle) -> None:
    assert_rivo_error(shop.api.get("/points_events", query_string={"filters[order_id]": "1"}), 422,
                      parameter="filters[order_id]", detail_contains="filters[customer_identifier]")


def test_paid_order_creates_order_placed_event(shop: ShopHandle, member: dict[str, Any]) -> None:
    order = shop.add_order(member["id"], price="25.00")
    events = shop.api.data("/points_events", query_string={"filters[source]": "order_placed"})
    assert len(events) == 1
    attrs = events[0]["attributes"]
    assert attrs["order_id"] == order["id"] and attrs["points_diff"] == 25
    # A full refund takes the order's points back with a negative event.
    assert shop.control("POST", f"/orders/{order['id']}/refund", json={}).status_code == 200
    refunds = shop.api.data("/points_events", query_string={"filters[source]": "order_refund"})
    assert [e["attributes"]["points_diff"] for e in refunds] == [-25]
    assert shop.points(member["id"]) == 100


def test_superscript_digit_points_amount_is_422(shop: ShopHandle, member: dict[str, Any]) -> None:
    assert_rivo_error(shop.api.post("/points_events", json=manual(member["id"], "²")), 422,
                      parameter="points_amount")


def test_applied_at_out_of_range_is_422(shop: ShopHandle, member: dict[str, Any]) -> None:
    resp = shop.api.post("/points_events", json=manual(member["id"], 5, applied_at="0001-01-01T00:00:00+01:00"))
    assert_rivo_error(resp, 422, parameter="applied_at")


@pytest.mark.parametrize("name", [["watched_video"], 5])
def test_custom_action_name_of_wrong_type_is_422(make_shop: Callable[..., ShopHandle], name: Any) -> None:
    shop = make_shop({"program": {"earning_rules": [
        {"trigger": "custom_action", "custom_action_name": "watched_video", "points_amount": 30}]}})
    cust = shop.add_customer(email="c@example.com")
    resp = shop.api.post("/points_events", json={"customer_identifier": cust["id"], "source": "custom_action",
                                                 "custom_action_name": name})
    assert_rivo_error(resp, 422, parameter="custom_action_name")
