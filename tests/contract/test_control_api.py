"""The control API ``/_rivosim``: shops and their configuration document, the outside world acting on a shop
(sign-ups, orders, storefront actions), the clock, reset, state and journal, and its error shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from rivosim import Simulator, create_app

from .conftest import RivoApi, ShopHandle, assert_control_error, assert_rivo_error, unchanged

CREDENTIAL_KEYS = {"domain", "plan", "rivo_api_key", "webhook_secret", "shopify_access_token", "shopify_api_key",
                   "shopify_api_secret"}


# -- shops ----------------------------------------------------------------------------------------------------------
def test_create_shop_returns_credentials(client: FlaskClient) -> None:
    resp = client.post("/_rivosim/shops", json={"domain": "acme.myshopify.com", "plan": "plus"})
    assert resp.status_code == 201
    body = resp.get_json()
    assert set(body) == CREDENTIAL_KEYS
    assert body["domain"] == "acme.myshopify.com" and body["plan"] == "plus"
    assert len(body["rivo_api_key"]) == 40 and len(body["webhook_secret"]) == 64
    assert body["shopify_access_token"].startswith("shpat_")
    assert RivoApi(client, body["rivo_api_key"]).get("/customers").status_code == 200


def test_create_shop_without_body_uses_defaults(client: FlaskClient) -> None:
    first = client.post("/_rivosim/shops").get_json()
    second = client.post("/_rivosim/shops", json={}).get_json()
    assert first["domain"].endswith(".myshopify.com") and first["domain"] != second["domain"]
    assert first["plan"] == "scale"
    assert first["rivo_api_key"] != second["rivo_api_key"]


def test_create_shop_form_encoded(client: FlaskClient) -> None:
    resp = client.post("/_rivosim/shops", data={"plan": "plus", "currency": "EUR"})
    assert resp.status_code == 201
    assert resp.get_json()["plan"] == "plus"


def test_seeded_customers_are_visible_at_once(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop(customers=12)
    assert len(shop.api.data("/customers")) == 12
    assert shop.control("GET").get_json()["customers"] == 12
    assert "customers" not in shop.control("GET").get_json()["config"]


@pytest.mark.parametrize(("doc", "field"), [
    ({"program": {"vip": {"tiers": [{"name": "A", "threshold": 0}, {"name": "B", "threshold": "high"}]}}},
     "program.vip.tiers[1].threshold"),
    ({"program": {"vip": {"tiers": [{"name": "A", "threshold": 0}, {"name": "a", "threshold": 5}]}}},
     "program.vip.tiers"),
    ({"plan": "enterprise"}, "plan"),
    ({"api": {"plan_refusal_status": 402}}, "api.plan_refusal_status"),
    ({"api": {"accept_bearer": "yes"}}, "api.accept_bearer"),
    ({"program": {"earning_rules": [{"trigger": "custom_action", "points_amount": 5}]}},
     "program.earning_rules[0].custom_action_name"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"domain": "Not A Domain"}, "domain"),
    ({"customers": -1}, "customers"),
    ({"customers": "many"}, "customers"),
    ({"colour": "red"}, "(document)"),
])
def test_invalid_document_is_422_naming_the_field(client: FlaskClient, doc: dict[str, Any], field: str) -> None:
    before = client.get("/_rivosim/shops").get_json()
    err = assert_control_error(client.post("/_rivosim/shops", json=doc), 422, field=field)
    assert err["code"] == "invalid_config"
    assert field.split("[")[0].split(".")[0] in err["message"] or field == "(document)"
    assert client.get("/_rivosim/shops").get_json() == before


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"data": "{", "content_type": "application/json"}, 400),
    ({"data": "[]", "content_type": "application/json"}, 400),
    ({"data": "plan: plus", "content_type": "application/yaml"}, 400),
])
def test_unreadable_document_is_400(client: FlaskClient, kwargs: dict[str, Any], status: int) -> None:
    assert_control_error(client.post("/_rivosim/shops", **kwargs), status, code="bad_request")


def test_duplicate_domain_is_422(client: FlaskClient) -> None:
    client.post("/_rivosim/shops", json={"domain": "acme.myshopify.com"})
    assert_control_error(client.post("/_rivosim/shops", json={"domain": "acme.myshopify.com"}), 422,
                         code="already_exists", field="domain")


def test_list_and_get_shops(make_shop: Callable[..., ShopHandle], client: FlaskClient) -> None:
    a, b = make_shop(), make_shop({"plan": "plus"})
    listed = client.get("/_rivosim/shops").get_json()["shops"]
    assert [s["domain"] for s in listed] == [a.domain, b.domain]
    assert all(set(s) == CREDENTIAL_KEYS for s in listed)
    got = b.control("GET").get_json()
    assert got["domain"] == b.domain and got["plan"] == "plus" and got["customers"] == 0
    assert got["config"]["domain"] == b.domain and got["config"]["plan"] == "plus"
    assert got["config"]["api"]["new_customer_visibility_delay"] == "PT30S"  # defaults filled in
    assert_control_error(client.get("/_rivosim/shops/nope.myshopify.com"), 404, code="not_found")


def test_patch_merges(shop: ShopHandle) -> None:
    body = shop.patch({"api": {"accept_bearer": True}, "program": {"points_name": "Stars"}})
    config = body["config"]
    assert config["api"]["accept_bearer"] is True
    assert config["api"]["plan_refusal_status"] == 401  # sibling keys kept
    assert config["program"]["points_name"] == "Stars"
    assert [t["name"] for t in config["program"]["vip"]["tiers"]] == ["Bronze", "Silver", "Gold"]
    assert shop.control("GET").get_json()["config"] == config


def test_patch_lists_replace(shop: ShopHandle) -> None:
    shop.patch({"program": {"vip": {"tiers": [{"name": "Only", "threshold": 0}]}}})
    assert [t["name"] for t in shop.tiers()] == ["Only"]


@pytest.mark.parametrize(("patch", "field"), [
    ({"plan": None}, "plan"),
    ({"program": {"vip": {"tiers": [{"name": "X"}]}}}, "program.vip.tiers[0]"),  # message: 'threshold' required
    ({"domain": "other.myshopify.com"}, "domain"),
    ({"customers": 5}, "customers"),
    ({"program": {"rewards": [{"name": "Half", "reward_type": "percentage", "reward_value": 150}]}},
     "program.rewards[0].reward_value"),
])
def test_invalid_patch_is_422_and_changes_nothing(shop: ShopHandle, patch: dict[str, Any], field: str) -> None:
    with unchanged(shop):
        assert_control_error(shop.control("PATCH", json=patch), 422, field=field)


def test_patch_needs_a_body_and_a_shop(shop: ShopHandle, client: FlaskClient) -> None:
    assert_control_error(shop.control("PATCH", data="", content_type="application/json"), 400)
    assert_control_error(client.patch("/_rivosim/shops/nope.myshopify.com", json={"plan": "plus"}), 404)


def test_delete_shop(shop: ShopHandle, client: FlaskClient) -> None:
    resp = shop.control("DELETE")
    assert resp.status_code == 200 and resp.get_json() == {"deleted": shop.domain}
    assert client.get("/_rivosim/shops").get_json()["shops"] == []
    assert_control_error(shop.control("DELETE"), 404)
    assert_control_error(shop.control("GET"), 404)
    assert_rivo_error(shop.api.get("/customers"), 401)
    # The domain is free again.
    assert client.post("/_rivosim/shops", json={"domain": shop.domain}).status_code == 201


def test_regenerate_unknown_shop_is_404(client: FlaskClient) -> None:
    assert_control_error(client.post("/_rivosim/shops/nope.myshopify.com/api_key/regenerate"), 404)


# -- customers ------------------------------------------------------------------------------------------------------
def test_customer_signup_and_get(shop: ShopHandle) -> None:
    resp = shop.control("POST", "/customers", json={"email": "c@example.com", "first_name": "C",
                                                    "tags": "b, a", "dob": "03-04", "accepts_marketing": True})
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["email"] == "c@example.com" and body["tags"] == ["a", "b"]
    assert body["loyalty"]["points_tally"] == 100 and body["loyalty"]["vip_tier"] == "Bronze"
    assert body["rivo_visible_at"] == "2026-01-01T00:00:30+00:00"
    got = shop.control("GET", f"/customers/{body['id']}")
    assert got.status_code == 200 and got.get_json() == body


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"email": "dup@example.com"}, "email", "already_exists"),
    ({"email": "DUP@example.com"}, "email", "already_exists"),
    ({"email": "not-an-email"}, "email", "validation_failed"),
    ({"nickname": "x"}, "nickname", "validation_failed"),
    ({"visibility_delay": "soon"}, "visibility_delay", "validation_failed"),
    ({"visibility_delay": -1}, "visibility_delay", "validation_failed"),
    ({"dob": "31-12"}, "dob", "validation_failed"),
    ({"joins_program": "yes"}, "joins_program", "validation_failed"),
    ({"tags": 5}, "tags", "validation_failed"),
    ({"accepts_marketing": "true"}, "accepts_marketing", "validation_failed"),
])
def test_customer_signup_errors_change_nothing(shop: ShopHandle, body: dict[str, Any], field: str,
                                               code: str) -> None:
    shop.add_customer(email="dup@example.com")
    with unchanged(shop):
        assert_control_error(shop.control("POST", "/customers", json=body), 422, field=field, code=code)


def test_customer_get_errors(shop: ShopHandle) -> None:
    assert_control_error(shop.control("GET", "/customers/123"), 404)
    assert_control_error(shop.control("GET", "/customers/abc"), 422, field="id")
    assert_control_error(shop.control("GET", "/customers/%C2%B2"), 422, field="id")
    assert_control_error(shop.control("GET", "/customers/" + "1" * 5000), 422, field="id")


# -- orders ---------------------------------------------------------------------------------------------------------
def test_order_lifecycle(shop: ShopHandle, member: dict[str, Any]) -> None:
    order = shop.add_order(member["id"], price="20.00", quantity=2, paid=False)
    assert order["financial_status"] == "pending" and order["total_price"] == "40.00"
    assert order["name"].startswith("#")
    paid = shop.control("POST", f"/orders/{order['id']}/pay")
    assert paid.status_code == 200 and paid.get_json()["financial_status"] == "paid"
    assert shop.points(member["id"]) == 140
    assert_control_error(shop.control("POST", f"/orders/{order['id']}/pay"), 422, code="conflict")
    part = shop.control("POST", f"/orders/{order['id']}/refund", json={"amount": "10.00", "note": "damaged"})
    assert part.status_code == 200
    assert part.get_json()["financial_status"] == "partially_refunded" and part.get_json()["refunded"] == "10.00"
    assert shop.points(member["id"]) == 130
    cancelled = shop.control("POST", f"/orders/{order['id']}/cancel", json={"reason": "customer"})
    assert cancelled.status_code == 200 and cancelled.get_json()["cancelled_at"] is not None
    assert shop.points(member["id"]) == 100
    assert_control_error(shop.control("POST", f"/orders/{order['id']}/cancel"), 422, code="conflict")
    assert shop.control("GET", f"/orders/{order['id']}").get_json()["cancelled_at"] is not None


@pytest.mark.parametrize(("body", "field"), [
    ({"line_items": []}, "line_items"),
    ({"line_items": "hoodie"}, "line_items"),
    ({"line_items": [5]}, "line_items[0]"),
    ({"line_items": [{"title": "T", "price": "-1", "quantity": 1}]}, "line_items[0].price"),
    ({"line_items": [{"title": "T", "price": "1", "quantity": 0}]}, "line_items[0].quantity"),
    ({"line_items": [{"title": "T", "price": "1", "quantity": 1}], "paid": "yes"}, "paid"),
    ({"line_items": [{"title": "T", "price": "1", "quantity": 1}], "customer_id": "7"}, "customer_id"),
    ({"line_items": [{"title": "T", "price": "1", "quantity": 1}], "total_discounts": "x"}, "total_discounts"),
    ({"line_items": [{"title": "T", "price": "1", "quantity": 1}], "gift": True}, "gift"),
    ({"line_items": [{"title": "T", "price": "1", "quantity": 1}], "source_name": ["pos"]}, "source_name"),
    ({"line_items": [{"title": "T", "price": "1e999999", "quantity": 1}]}, "line_items[0].price"),
])
def test_order_validation_changes_nothing(shop: ShopHandle, member: dict[str, Any], body: dict[str, Any],
                                          field: str) -> None:
    with unchanged(shop):
        assert_control_error(shop.control("POST", "/orders", json={"customer_id": member["id"], **body}), 422,
                             field=field)


def test_order_errors(shop: ShopHandle, member: dict[str, Any]) -> None:
    order = shop.add_order(member["id"])
    with unchanged(shop):
        assert_control_error(shop.control("POST", "/orders", json={"customer_id": 1, "line_items": [
            {"title": "T", "price": "1", "quantity": 1}]}), 404)
        assert_control_error(shop.control("POST", "/orders", data="", content_type="application/json"), 400)
        for action in ("pay", "refund", "cancel"):
            assert_control_error(shop.control("POST", f"/orders/999/{action}"), 404)
            assert_control_error(shop.control("POST", f"/orders/x/{action}"), 422, field="id")
        assert_control_error(shop.control("GET", "/orders/999"), 404)
        assert_control_error(shop.control("POST", f"/orders/{order['id']}/refund", json={"amount": "1000"}), 422,
                             field="amount")
        assert_control_error(shop.control("POST", f"/orders/{order['id']}/refund", json={"amount": "x"}), 422,
                             field="amount")
        assert_control_error(shop.control("POST", f"/orders/{order['id']}/refund", json={"why": "x"}), 422,
                             field="why")


def test_guest_checkout_order(shop: ShopHandle) -> None:
    order = shop.add_order(None, price="15.00")
    assert order["customer_id"] is None and order["financial_status"] == "paid"


# -- storefront actions -------------------------------------------------------------------------------------------
def test_storefront_action_earns_through_the_rule(shop: ShopHandle, member: dict[str, Any]) -> None:
    resp = shop.control("POST", f"/customers/{member['id']}/actions", json={"action": "instagram_follow"})
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["points_event"]["points_diff"] == 50 and body["points_tally"] == 150
    again = shop.control("POST", f"/customers/{member['id']}/actions", json={"action": "instagram_follow"})
    assert again.status_code == 201 and again.get_json()["points_event"] is None  # earns once
    assert shop.points(member["id"]) == 150


def test_storefront_birthday_sets_dob(shop: ShopHandle, member: dict[str, Any]) -> None:
    resp = shop.control("POST", f"/customers/{member['id']}/actions", json={"action": "birthday_set",
                                                                            "dob": "12-24"})
    assert resp.status_code == 201
    assert shop.customer(member["id"])["dob"] == "12-24"


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"action": "dance"}, 422, "action"),
    ({"action": ["instagram_follow"]}, 422, "action"),
    ({}, 422, "action"),
    ({"action": "custom_action"}, 422, "custom_action_name"),
    ({"action": "birthday_set", "dob": "99-99"}, 422, "dob"),
])
def test_storefront_action_errors(shop: ShopHandle, member: dict[str, Any], body: dict[str, Any], status: int,
                                  field: str) -> None:
    with unchanged(shop):
        assert_control_error(shop.control("POST", f"/customers/{member['id']}/actions", json=body), status,
                             field=field)


def test_storefront_action_unknown_customer(shop: ShopHandle) -> None:
    assert_control_error(shop.control("POST", "/customers/42/actions", json={"action": "widget_open"}), 404)


# -- clock ------------------------------------------------------------------------------------------------------------
def test_clock_get_and_advance(client: FlaskClient) -> None:
    assert client.get("/_rivosim/clock").get_json() == {"now": "2026-01-01T00:00:00+00:00", "kind": "virtual",
                                                        "next_due": None, "pending": 0}
    body = client.post("/_rivosim/clock/advance", json={"duration": "PT31S"}).get_json()
    assert body["now"] == "2026-01-01T00:00:31+00:00"
    body = client.post("/_rivosim/clock/advance", json={"seconds": 29}).get_json()
    assert body["now"] == "2026-01-01T00:01:00+00:00"
    body = client.post("/_rivosim/clock/advance", json={"duration": "P1M"}).get_json()
    assert body["now"] == "2026-02-01T00:01:00+00:00"


@pytest.mark.parametrize("body", [
    {"duration": "soon"}, {"duration": "-PT1S"}, {"duration": 30}, {"seconds": -1}, {"seconds": "30"},
    {"seconds": True}, {}, {"seconds": 1, "duration": "PT1S"}, {"duration": "PT1S", "extra": 1},
    {"seconds": 1e308}, {"duration": "P99999999Y"},
])
def test_clock_bad_duration_is_422_and_time_stays(client: FlaskClient, body: dict[str, Any]) -> None:
    before = client.get("/_rivosim/clock").get_json()
    assert_control_error(client.post("/_rivosim/clock/advance", json=body), 422)
    assert client.get("/_rivosim/clock").get_json() == before


def test_clock_advance_needs_a_body(client: FlaskClient) -> None:
    assert_control_error(client.post("/_rivosim/clock/advance"), 400)


def test_run_until_idle(client: FlaskClient) -> None:
    resp = client.post("/_rivosim/run_until_idle")
    assert resp.status_code == 200 and resp.get_json()["pending"] == 0


def test_run_until_idle_for_one_shop_leaves_another_shops_retries(make_shop: Callable[..., ShopHandle],
                                                                   client: FlaskClient, sim: Simulator) -> None:
    from rivosim.webhooks.senders import AttemptResult

    class Refusing:  # every delivery fails: shop a's retries go on for hours
        def send(self, request: Any, done: Callable[[AttemptResult], None]) -> None:
            done(AttemptResult(503, None, 1.0))

        def close(self) -> None:
            pass

    sim.use_sender(Refusing())
    a, b = make_shop(domain="a.myshopify.com"), make_shop(domain="b.myshopify.com")
    assert a.api.post("/webhooks", json={"event_type": "points_event/created",
                                         "url": "https://hooks.example/a"}).status_code == 201
    a.add_customer(email="retry@example.com")
    start = client.get("/_rivosim/clock").get_json()["now"]
    for query in ({"json": {"shop": b.domain}}, {"query_string": {"shop": b.domain}}):
        resp = client.post("/_rivosim/run_until_idle", **query)
        assert resp.status_code == 200 and resp.get_json()["now"] == start  # b had nothing: time stays
    assert client.post("/_rivosim/run_until_idle").get_json()["now"] > start  # everyone's: a's retries run


@pytest.mark.parametrize(("body", "status"), [({"shop": "nope.myshopify.com"}, 404), ({"shop": 7}, 422),
                                              ({"shop": ""}, 422), ({"shops": "a.myshopify.com"}, 422)])
def test_run_until_idle_refuses_a_bad_shop_and_leaves_time_alone(client: FlaskClient, body: dict[str, Any],
                                                                  status: int) -> None:
    before = client.get("/_rivosim/clock").get_json()
    assert_control_error(client.post("/_rivosim/run_until_idle", json=body), status)
    assert client.get("/_rivosim/clock").get_json() == before


# -- reset, state, journal, bugs ------------------------------------------------------------------------------------
def test_reset_forgets_everything(make_shop: Callable[..., ShopHandle], client: FlaskClient, sim: Simulator) -> None:
    shop = make_shop(customers=3)
    client.post("/_rivosim/clock/advance", json={"duration": "P1D"})
    resp = client.post("/_rivosim/reset")
    assert resp.status_code == 200
    assert resp.get_json()["seed"] == sim.seed and resp.get_json()["now"] == "2026-01-01T00:00:00+00:00"
    assert client.get("/_rivosim/shops").get_json() == {"shops": []}
    assert_rivo_error(shop.api.get("/customers"), 401)
    routes = [e["route"] for e in client.get("/_rivosim/journal").get_json()["entries"]]
    assert routes[0] == "control.reset" and "control.shops.create" not in routes
    # Same seed after reset: the same first shop again.
    again = client.post("/_rivosim/shops", json={**{"rate_limits": {"rivo": {"enabled": False}}},
                                                 "customers": 3}).get_json()
    assert again["rivo_api_key"] == shop.key and again["domain"] == shop.domain


def test_reset_with_a_new_seed(shop: ShopHandle, client: FlaskClient) -> None:
    resp = client.post("/_rivosim/reset", json={"seed": 99})
    assert resp.status_code == 200 and resp.get_json()["seed"] == 99
    fresh = client.post("/_rivosim/shops", json={"rate_limits": {"rivo": {"enabled": False}}}).get_json()
    assert fresh["domain"] == shop.domain and fresh["rivo_api_key"] != shop.key
    assert_control_error(client.post("/_rivosim/reset", json={"seed": "x"}), 422, field="seed")


def test_state_dump(shop: ShopHandle, member: dict[str, Any], client: FlaskClient) -> None:
    shop.add_order(member["id"])
    state = shop.state()
    assert state["domain"] == shop.domain
    assert state["counts"] == {"customers": 1, "points_events": 2, "orders": 1, "redemptions": 0, "referrals": 0}
    assert state["customers"][0]["id"] == member["id"] and state["customers"][0]["points_tally"] == 140
    assert state["truncated"] is False
    small = client.get("/_rivosim/state", query_string={"shop": shop.domain, "limit": "1"}).get_json()
    assert small["truncated"] is True and len(small["points_events"]) == 1
    assert_control_error(client.get("/_rivosim/state"), 422, field="shop")
    assert_control_error(client.get("/_rivosim/state", query_string={"shop": "nope.myshopify.com"}), 404)
    for limit in ("0", "x", "100001", "²"):
        assert_control_error(client.get("/_rivosim/state", query_string={"shop": shop.domain, "limit": limit}), 422,
                             field="limit")


def test_journal_filters(shop: ShopHandle, member: dict[str, Any], client: FlaskClient) -> None:
    shop.api.get("/customers")
    shop.api.get(f"/customers/{member['id']}")
    shop.api.get("/customers/404")
    entries = client.get("/_rivosim/journal", query_string={"route": "rivo.customers.get"}).get_json()["entries"]
    assert [e["status"] for e in entries] == [200, 404]
    assert all(e["route"] == "rivo.customers.get" and e["shop"] == shop.domain for e in entries)
    assert entries[0]["path"] == f"/merchant_api/v1/customers/{member['id']}"
    not_found = client.get("/_rivosim/journal", query_string={"status": "404"}).get_json()["entries"]
    assert [e["path"] for e in not_found] == ["/merchant_api/v1/customers/404"]
    since = client.get("/_rivosim/journal", query_string={"since": str(entries[0]["seq"])}).get_json()["entries"]
    assert since[0]["seq"] == entries[0]["seq"] + 1
    created = client.get("/_rivosim/journal", query_string={"route": "control.customers.create"}).get_json()
    assert created["entries"][0]["request_json"]["email"] == "Ada.Lovelace@example.com"
    for name, value in (("status", "abc"), ("since", "-1"), ("status", "²")):
        assert_control_error(client.get("/_rivosim/journal", query_string={name: value}), 422, field=name)


def test_journal_survives_request_bodies_with_huge_numbers(shop: ShopHandle, member: dict[str, Any],
                                                          client: FlaskClient) -> None:
    body = (f'{{"customer_identifier": {member["id"]}, "source": "manual", "points_amount": {10**30}, '
            '"credits_amount": 0}')
    shop.api.post("/points_events", data=body, content_type="application/json")
    resp = client.get("/_rivosim/journal", query_string={"route": "rivo.points_events.create"})
    assert resp.status_code == 200
    assert resp.get_json()["entries"][-1]["request_json"]["points_amount"] == 10**30


def test_bugs_endpoint_is_empty(client: FlaskClient) -> None:
    assert client.get("/_rivosim/bugs").get_json() == {"bugs": [], "total": 0}


def test_a_simulator_bug_is_a_marked_500(monkeypatch: pytest.MonkeyPatch, no_simulator_bugs: list[str]) -> None:
    # The guard the whole suite relies on: an unexpected exception answers 500 with X-Rivosim-Bug and is recorded.
    from rivosim.http.control import core as control

    sim = Simulator(seed=1)
    client = create_app(sim).test_client()

    def boom() -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(control, "_clock_json", boom)
    resp = client.get("/_rivosim/clock")
    assert resp.status_code == 500 and resp.headers["X-Rivosim-Bug"] == "1"
    assert "kaboom" in resp.get_json()["error"]["message"]
    assert [b["where"] for b in sim.bugs] == ["GET /_rivosim/clock"]
    assert client.get("/_rivosim/bugs").get_json()["bugs"][0]["error"] == "RuntimeError: kaboom"
    # Expected here: keep the autouse guard quiet.
    sim.bugs.clear()
    no_simulator_bugs.clear()


def test_a_failure_inside_an_error_handler_is_still_a_marked_500(monkeypatch: pytest.MonkeyPatch,
                                                                no_simulator_bugs: list[str]) -> None:
    from rivosim.http import app as app_module

    sim = Simulator(seed=1)
    client = create_app(sim).test_client()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("error handler broke")

    monkeypatch.setattr(app_module, "sim_error_response", broken)
    resp = client.get("/_rivosim/shops/nope.myshopify.com")  # a NotFound refusal
    assert resp.status_code == 500 and resp.headers["X-Rivosim-Bug"] == "1"
    assert resp.mimetype == "application/json"
    assert "error handler broke" in resp.get_json()["error"]["message"]
    assert len(sim.bugs) == 1
    sim.bugs.clear()
    no_simulator_bugs.clear()


# -- unmatched --------------------------------------------------------------------------------------------------------
def test_unknown_control_route_is_404_naming_nearest(client: FlaskClient) -> None:
    err = assert_control_error(client.get("/_rivosim/shop"), 404)
    assert "nearest: GET /_rivosim/shops" in err["message"]


def test_wrong_control_method_is_405(client: FlaskClient) -> None:
    resp = client.put("/_rivosim/clock")
    assert_control_error(resp, 405)
    assert resp.headers["Allow"] == "GET"


def test_a_host_header_that_is_no_host_name_is_a_400_not_a_bug(sim: Simulator) -> None:
    from rivosim.transports.wsgi import call_app, wsgi_environ

    app = create_app(sim)
    environ = wsgi_environ("GET", "/_rivosim/clock")
    environ["HTTP_HOST"] = "a" * 70 + ".example"  # a DNS label over 63 characters: IDNA refuses it
    status, _, body = call_app(app, environ)
    assert status.startswith("400") and b'"error"' in body
    assert not sim.bugs
    environ = wsgi_environ("GET", "/_rivosim/clock")
    environ["HTTP_HOST"] = "Example.COM:8282"  # any case, any port: routed the same
    assert call_app(app, environ)[0].startswith("200")
