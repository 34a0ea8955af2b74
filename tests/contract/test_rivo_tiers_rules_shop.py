"""VIP tiers (rivo-api.md §3.5), earning rules (§3.7), widget events (§3.8), ``GET /shop``, and how the API
answers routes it does not have (§1.6, §2: snake_case paths; dashed variants are 404)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import ISO_MS_RE, ShopHandle, assert_rivo_error, unchanged

TIER_FIELDS = {"id", "name", "threshold", "perks", "icon_url", "desc", "rewards", "created_at", "updated_at"}


# -- vip tiers --------------------------------------------------------------------------------------------------
def test_list_default_tiers(shop: ShopHandle) -> None:
    resp = shop.api.get("/vip_tiers")
    assert resp.status_code == 200
    data = resp.get_json()["data"]
    assert [d["type"] for d in data] == ["vip_tier"] * 3
    assert [(d["attributes"]["name"], d["attributes"]["threshold"]) for d in data] == [
        ("Bronze", 0), ("Silver", 500), ("Gold", 1250)]
    for item in data:
        attrs = item["attributes"]
        assert set(attrs) == TIER_FIELDS and attrs["id"] == item["id"]
        assert isinstance(attrs["perks"], list) and isinstance(attrs["rewards"], list)
        assert ISO_MS_RE.match(attrs["created_at"])
    assert data[2]["attributes"]["perks"] == ["10% bonus points", "Early access"]


def test_get_one_tier(shop: ShopHandle) -> None:
    gold = shop.tiers()[2]
    resp = shop.api.get(f"/vip_tiers/{gold['id']}")
    assert resp.status_code == 200
    data = resp.get_json()["data"]
    assert data["type"] == "vip_tier" and data["id"] == gold["id"]
    assert data["attributes"] == gold


@pytest.mark.parametrize(("tier_id", "status"), [("1", 404), ("999999999", 404), ("gold", 422),
                                                 ("9" * 40, 404), ("%C2%B2", 422)])
def test_get_unknown_tier(shop: ShopHandle, tier_id: str, status: int) -> None:
    assert_rivo_error(shop.api.get(f"/vip_tiers/{tier_id}"), status)


def test_vip_rewards_are_listed_on_tiers(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"program": {"rewards": [{"name": "VIP gift", "source": "vip_tier", "reward_value": 0,
                                               "reward_type": "free_product"}]}})
    reward = shop.reward_named("VIP gift")
    assert shop.tiers()[0]["rewards"] == [{"id": reward["id"], "name": "VIP gift"}]


def test_tier_follows_points_earned(shop: ShopHandle, member: dict[str, Any]) -> None:
    shop.give(member["id"], 400)  # 500 lifetime
    attrs = shop.customer(member["id"])
    assert attrs["vip_tier"]["name"] == "Silver" and attrs["next_vip_tier"]["name"] == "Gold"
    shop.give(member["id"], 750)  # 1250
    attrs = shop.customer(member["id"])
    assert attrs["vip_tier"]["name"] == "Gold" and attrs["next_vip_tier"] is None


def test_redeeming_does_not_lower_the_tier(shop: ShopHandle, member: dict[str, Any]) -> None:
    shop.give(member["id"], 400)
    reward = shop.reward_named("$5 off coupon")
    assert shop.api.post("/points_redemptions", json={"customer_identifier": member["id"],
                                                      "reward_id": reward["id"]}).status_code == 201
    attrs = shop.customer(member["id"])
    assert attrs["points_tally"] == 0
    assert attrs["lifetime_earnings_tally"] == 500
    assert attrs["vip_tier"]["name"] == "Silver"


@pytest.mark.parametrize("doc", [{"plan": "plus"}, {"program": {"vip": {"enabled": False}}}])
def test_no_vip_program_hides_tiers(make_shop: Callable[..., ShopHandle], doc: dict[str, Any]) -> None:
    # VIP tiers are a Scale-plan feature (rivo-api.md §7.2).
    shop = make_shop(doc)
    cust = shop.add_customer(email="c@example.com")
    shop.give(cust["id"], 2000)
    assert shop.api.data("/vip_tiers") == []
    attrs = shop.customer(cust["id"])
    assert attrs["vip_tier"] is None and attrs["next_vip_tier"] is None
    cursor = shop.api.get("/vip_tiers", query_string={"pagination[since_id]": "0"}).get_json()
    assert cursor == {"links": {"since_id": 0, "limit": 25, "next_since_id": None}, "data": []}


def test_no_vip_program_tier_by_id_is_404(make_shop: Callable[..., ShopHandle]) -> None:
    scale = make_shop()
    tier_ids = [t["id"] for t in scale.tiers()]
    plus = make_shop({"plan": "plus"})
    for tier_id in tier_ids:
        # The same document gives the plus shop tiers with other ids; try both kinds.
        assert_rivo_error(plus.api.get(f"/vip_tiers/{tier_id}"), 404)
    scale.patch({"plan": "plus"})
    for tier_id in tier_ids:
        assert_rivo_error(scale.api.get(f"/vip_tiers/{tier_id}"), 404)


def test_no_vip_program_refuses_manual_tier(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop()
    cust = shop.add_customer(email="c@example.com")
    gold = shop.tiers()[2]
    shop.patch({"plan": "plus"})
    with unchanged(shop):
        assert_rivo_error(shop.api.post(f"/customers/{cust['id']}/vip_tier", json={"vip_tier_id": gold["id"]}),
                          422, parameter="vip_tier_id")


def test_tiers_by_amount_spent(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"program": {"vip": {"entry_method": "amount_spent", "tiers": [
        {"name": "Member", "threshold": 0}, {"name": "Insider", "threshold": 100}]}}})
    cust = shop.add_customer(email="c@example.com")
    shop.give(cust["id"], 5000)  # points do not count
    assert shop.customer(cust["id"])["vip_tier"]["name"] == "Member"
    shop.add_order(cust["id"], price="100.00")
    assert shop.customer(cust["id"])["vip_tier"]["name"] == "Insider"


def test_cursor_mode_walks_tiers_in_id_order(make_shop: Callable[..., ShopHandle]) -> None:
    # Tiers listed out of threshold order get ids in document order; the default list is by threshold,
    # but cursor mode must still walk ids ascending and see each tier once.
    shop = make_shop({"program": {"vip": {"tiers": [{"name": "Gold", "threshold": 1250},
                                                    {"name": "Bronze", "threshold": 0},
                                                    {"name": "Silver", "threshold": 500}]}}})
    by_threshold = shop.tiers()
    assert [t["name"] for t in by_threshold] == ["Bronze", "Silver", "Gold"]
    seen: list[int] = []
    since = 0
    while since is not None:
        body = shop.api.get("/vip_tiers", query_string={"pagination[since_id]": str(since),
                                                        "pagination[limit]": "1"}).get_json()
        seen += [d["id"] for d in body["data"]]
        since = body["links"]["next_since_id"]
    assert seen == sorted(t["id"] for t in by_threshold)


# -- earning rules ------------------------------------------------------------------------------------------------
def test_earning_rules_list(shop: ShopHandle) -> None:
    data = shop.api.data("/earning_rules")
    assert {d["type"] for d in data} == {"earning_rule"}
    triggers = [d["attributes"]["trigger"] for d in data]
    assert triggers == ["order_placed", "customer_member_enabled", "customer_birthday", "instagram_follow",
                        "facebook_share", "review_complete"]
    order = data[0]["attributes"]
    assert order["status"] == "active" and order["points_amount"] == 1
    assert order["pretty_earnings_text"] == "1 Points for every $1 spent"
    for item in data:
        attrs = item["attributes"]
        assert attrs["id"] == item["id"]
        assert {"title", "name", "status", "trigger", "points_amount", "credits_amount", "points_type",
                "currency_base_amount", "pretty_earnings_text", "hidden_from_ui"} <= set(attrs)


def test_earning_rules_filters(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"program": {"earning_rules": [
        {"trigger": "instagram_follow", "points_amount": 50},
        {"trigger": "facebook_like", "points_amount": 20, "enabled": False}]}})
    inactive = shop.api.data("/earning_rules", query_string={"filters[status]": "inactive"})
    assert [d["attributes"]["trigger"] for d in inactive] == ["facebook_like"]
    follow = shop.api.data("/earning_rules", query_string={"filters[trigger]": "instagram_follow"})
    assert [d["attributes"]["points_amount"] for d in follow] == [50]
    assert_rivo_error(shop.api.get("/earning_rules", query_string={"filters[name]": "x"}), 422,
                      parameter="filters[name]")


def test_patching_rules_keeps_their_ids(shop: ShopHandle) -> None:
    before = {d["attributes"]["trigger"]: d["id"] for d in shop.api.data("/earning_rules")}
    doc = shop.control("GET").get_json()["config"]["program"]["earning_rules"]
    doc[3] = {**doc[3], "enabled": False}
    shop.patch({"program": {"earning_rules": doc}})
    after = {d["attributes"]["trigger"]: (d["id"], d["attributes"]["status"])
             for d in shop.api.data("/earning_rules")}
    assert after["instagram_follow"] == (before["instagram_follow"], "inactive")
    assert {k: v[0] for k, v in after.items()} == before


# -- widget events ------------------------------------------------------------------------------------------------
def test_widget_events_from_storefront(shop: ShopHandle, member: dict[str, Any]) -> None:
    assert shop.api.data("/widget_events") == []
    resp = shop.control("POST", f"/customers/{member['id']}/actions", json={"action": "widget_open",
                                                                            "page": "/"})
    assert resp.status_code == 201
    data = shop.api.data("/widget_events")
    assert len(data) == 1 and data[0]["type"] == "widget_event"
    attrs = data[0]["attributes"]
    assert attrs["name"] == "widget_open" and attrs["customer_id"] == member["id"]
    assert attrs["details"] == {"page": "/"}
    assert_rivo_error(shop.api.get("/widget_events", query_string={"filters[name]": "x"}), 422)


# -- shop -----------------------------------------------------------------------------------------------------------
def test_shop_settings(shop: ShopHandle) -> None:
    resp = shop.api.get("/shop")
    assert resp.status_code == 200
    data = resp.get_json()["data"]
    assert data["type"] == "shop"
    attrs = data["attributes"]
    assert attrs["shopify_domain"] == shop.domain and attrs["plan"] == "scale"
    assert attrs["points_program"]["enabled"] is True
    assert attrs["vip_program"]["enabled"] is True
    assert [t["name"] for t in attrs["vip_program"]["tiers"]] == ["Bronze", "Silver", "Gold"]
    assert attrs["referral_program"]["advocate_points"] == 500


def test_shop_settings_follow_patches(shop: ShopHandle) -> None:
    shop.patch({"program": {"active": False, "vip": {"start_date": "2025-06-01"}}})
    attrs = shop.api.data("/shop")["attributes"]
    assert attrs["points_program"]["enabled"] is False
    assert attrs["vip_program"]["start_date"] == "2025-06-01"
    # Clearing the start date again (merge-patch null) leaves a shop whose settings still read.
    shop.patch({"program": {"vip": {"start_date": None}}})
    assert shop.api.data("/shop")["attributes"]["vip_program"]["start_date"] is None


def test_patch_null_restores_the_default(shop: ShopHandle) -> None:
    shop.patch({"program": {"vip": {"start_date": "2025-06-01"}}})
    shop.patch({"program": {"vip": {"start_date": None}}})
    vip = shop.control("GET").get_json()["config"]["program"]["vip"]
    assert "start_date" in vip and vip["start_date"] is None


# -- unmatched routes ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "nearest"), [
    ("/vip-tiers", "/merchant_api/v1/vip_tiers"),
    ("/earning-rules", "/merchant_api/v1/earning_rules"),
    ("/points-events", "/merchant_api/v1/points_events"),
])
def test_dashed_paths_are_404_naming_the_snake_case_route(shop: ShopHandle, path: str, nearest: str) -> None:
    err = assert_rivo_error(shop.api.get(path), 404)
    assert f"nearest: GET {nearest}" in err["detail"]
    assert "snake_case" in err["detail"]


@pytest.mark.parametrize("path", ["/membership-tiers", "/memberships", "/membership_tiers", "/subscriptions",
                                  "/membership_benefits", "/credits_events", "/credits_logs",
                                  "/customers/1/rewards"])
def test_routes_the_real_api_lacks_are_404(shop: ShopHandle, path: str) -> None:
    # rivo-api.md §1.6 (OBSERVED): pack-hydrogen recorded 404 for each of these.
    assert_rivo_error(shop.api.get(path), 404)


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("DELETE", "/customers", "GET"),
    ("POST", "/customers/1", "GET, PUT"),
    ("PATCH", "/rewards/1", "DELETE, PUT"),
    ("GET", "/points_events/batch", "POST"),
    ("PUT", "/vip_tiers", "GET"),
    ("GET", "/referrals/1/complete", "POST"),
])
def test_wrong_method_is_405_with_allow(shop: ShopHandle, method: str, path: str, allow: str) -> None:
    with unchanged(shop):
        resp = shop.api.request(method, path, json={})
        assert_rivo_error(resp, 405)
        assert resp.headers["Allow"] == allow


def test_trailing_slash_is_tolerated(shop: ShopHandle) -> None:
    assert shop.api.get("/customers/").status_code == 200


@pytest.mark.parametrize("path", ["/customers/%2F", "//customers", "/customers//advocate_stats"])
def test_double_slash_is_a_json_404_not_a_redirect(shop: ShopHandle, path: str) -> None:
    # An identifier that was an encoded "/" must not be redirected to (and answered by) another route.
    assert_rivo_error(shop.api.get(path), 404)


def test_oversize_body_is_413_and_changes_nothing(make_shop: Callable[..., ShopHandle]) -> None:
    # The shop's api.max_body_bytes applies before the body is read (413, not a 422 for the unknown field).
    shop = make_shop({"api": {"max_body_bytes": 2048}})
    cust = shop.add_customer(email="c@example.com")
    body = {"customer_identifier": cust["id"], "source": "manual", "points_amount": 1, "credits_amount": 0}
    assert shop.api.post("/points_events", json={**body, "internal_note": "x" * 1000}).status_code == 201
    with unchanged(shop):
        err = assert_rivo_error(shop.api.post("/points_events", json={**body, "padding": "z" * 3000}), 413)
        assert "2048" in err["detail"]
