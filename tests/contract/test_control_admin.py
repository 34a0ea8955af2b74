"""The control API of the embedded admin (``/_rivosim/shops/<domain>/admin``): staff, browsers, session tokens,
the back end's check, opening Rivo embedded or by the direct login link, the fixes — and every refusal in the
control API's error shape, changing nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask.testing import FlaskClient

from rivosim import Simulator

from .conftest import ShopHandle, assert_control_error

FAILED = "Session token fetch failed … Check permissions."
RETRY = "X-Shopify-Retry-Invalid-Session-Request"
REAUTHORIZE = "X-Shopify-API-Request-Failure-Reauthorize-Url"


@pytest.fixture
def staffed(make_shop: Callable[..., ShopHandle]) -> ShopHandle:
    """A shop whose staff member Sam lacks the Rivo app permission."""
    return make_shop({"domain": "staffed.myshopify.com", "plan": "plus",
                      "admin": {"staff": [{"email": "sam@example.com", "name": "Sam", "app_permission": False}]}})


def admin(shop: ShopHandle, method: str, path: str = "", **kwargs: Any) -> Any:
    return shop.control(method, "/admin" + path, **kwargs)


def ok(shop: ShopHandle, method: str, path: str = "", status: int = 200, **kwargs: Any) -> Any:
    resp = admin(shop, method, path, **kwargs)
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def open_app(shop: ShopHandle, **body: Any) -> dict[str, Any]:
    return ok(shop, "POST", "/open", json=body)  # type: ignore[no-any-return]


@contextmanager
def admin_unchanged(shop: ShopHandle) -> Iterator[None]:
    """The admin's state (staff, browsers, authorisation) and the shop's whole state are the same after."""
    before = (ok(shop, "GET"), shop.state())
    yield
    after = (ok(shop, "GET"), shop.state())
    assert after[0] == before[0]
    for key in before[1]:
        assert after[1][key] == before[1][key], f"state changed: {key}"


# -- overview, causes, staff ------------------------------------------------------------------------------------
def test_the_overview_lists_staff_with_their_embedded_causes(staffed: ShopHandle) -> None:
    body = ok(staffed, "GET")
    assert body["app_installed"] is True and body["app_authorised"] is True and body["missing_scopes"] == []
    assert body["login_url"] == "https://app.rivo.io/login?shop=staffed.myshopify.com"
    owner, sam = body["staff"]
    assert owner["account_owner"] is True and owner["email"] == "owner@staffed.myshopify.com"
    assert owner["embedded_causes"] == []
    assert sam["email"] == "sam@example.com" and sam["embedded_causes"] == ["no_app_permission"]
    assert sam["browser"] == {"stale_session": False, "clock_skew_seconds": 0, "signed_in": False}


def test_the_causes_catalogue_names_each_fix_and_its_route(shop: ShopHandle) -> None:
    body = ok(shop, "GET", "/causes")
    codes = [c["code"] for c in body["causes"]]
    assert codes == ["app_not_installed", "no_app_permission", "stale_session", "clock_skew",
                     "reauthorization_required", "no_rivo_account"]
    by_code = {c["code"]: c for c in body["causes"]}
    assert by_code["no_app_permission"]["error"] == FAILED
    assert by_code["no_app_permission"]["fix_route"] == (
        f'PATCH /_rivosim/shops/{shop.domain}/admin/staff/<staff> {{"app_permission": true}}')
    assert by_code["reauthorization_required"]["fix_route"] == (
        f"POST /_rivosim/shops/{shop.domain}/admin/app/reauthorize")
    assert {r["code"] for r in body["remedies"]} >= {"clear_browser_data", "incognito_window", "fix_clock"}


def test_staff_are_created_listed_read_and_updated(shop: ShopHandle) -> None:
    created = ok(shop, "POST", "/staff", 201, json={"email": "kim@example.com", "name": "Kim"})
    assert created["app_permission"] is True and created["rivo_account"] is True and created["account_owner"] is False
    form = ok(shop, "POST", "/staff", 201, data={"email": "lee@example.com"})
    assert form["name"] == "lee"
    assert [s["email"] for s in ok(shop, "GET", "/staff")["staff"]] == [
        f"owner@{shop.domain}", "kim@example.com", "lee@example.com"]
    assert ok(shop, "GET", f"/staff/{created['id']}")["email"] == "kim@example.com"
    assert ok(shop, "GET", "/staff/KIM@example.com")["embedded_causes"] == []
    revoked = ok(shop, "PATCH", "/staff/kim@example.com", json={"app_permission": False, "name": "Kim K."})
    assert revoked["app_permission"] is False and revoked["name"] == "Kim K."
    assert ok(shop, "GET", "/staff/kim@example.com")["embedded_causes"] == ["no_app_permission"]


def test_browser_state_is_set_and_cleared(staffed: ShopHandle) -> None:
    body = ok(staffed, "PATCH", "/staff/sam@example.com/browser",
              json={"stale_session": True, "clock_skew_seconds": -90})
    assert body["browser"] == {"stale_session": True, "clock_skew_seconds": -90, "signed_in": False}
    cleared = ok(staffed, "POST", "/staff/sam@example.com/browser/clear")
    assert cleared["browser"] == {"stale_session": False, "clock_skew_seconds": -90, "signed_in": False}


# -- the symptom and the fixes, through the API -----------------------------------------------------------------
def test_no_permission_shows_the_error_and_granting_it_opens_the_app(staffed: ShopHandle, sim: Simulator) -> None:
    outcome = open_app(staffed, staff="sam@example.com", via="embedded")
    assert outcome["opened"] is False and outcome["error"] == FAILED
    assert outcome["cause"]["code"] == "no_app_permission"
    assert outcome["fix"] == {"code": "grant_app_permission", "route": (
        'PATCH /_rivosim/shops/staffed.myshopify.com/admin/staff/sam@example.com {"app_permission": true}'),
        "action": outcome["fix"]["action"]}
    assert outcome["direct_link"] == "https://app.rivo.io/login?shop=staffed.myshopify.com"
    assert all("route" in r for r in outcome["remedies"])
    direct = open_app(staffed, staff="sam@example.com", via="direct_link")
    assert direct["opened"] is True and direct["url"] == outcome["direct_link"]
    assert direct["dashboard"]["signed_in_as"] == "sam@example.com"
    ok(staffed, "PATCH", "/staff/sam@example.com", json={"app_permission": True})
    opened = open_app(staffed, staff="sam@example.com")
    assert opened["opened"] is True and opened["exchange"][0]["response"] == {"status": 200, "headers": {},
                                                                              "error": None}
    assert opened["dashboard"] == {"shop": "staffed.myshopify.com", "signed_in_as": "sam@example.com",
                                   "plan": "plus", "program_active": True, "points_name": "Points",
                                   "customers": 0, "points_events": 0}
    sim.journal.assert_called("control.admin.open", times=3, shop="staffed.myshopify.com")


def test_a_stale_session_shows_the_401_exchange_and_clearing_cookies_fixes(staffed: ShopHandle) -> None:
    ok(staffed, "PATCH", "/staff/sam@example.com", json={"app_permission": True})
    ok(staffed, "PATCH", "/staff/sam@example.com/browser", json={"stale_session": True})
    outcome = open_app(staffed, staff="sam@example.com")
    assert outcome["cause"]["code"] == "stale_session" and outcome["error"] == FAILED
    assert [(e["attempt"], e["response"]["status"], e["response"]["headers"]) for e in outcome["exchange"]] == [
        (1, 401, {RETRY: "1"}), (2, 401, {RETRY: "1"})]
    # The stale token the browser presented is refused by the back-end check too.
    check = ok(staffed, "POST", "/verify", json={"token": outcome["exchange"][0]["id_token"]})
    assert check["valid"] is False and check["error"].endswith("signature verification failed")
    assert open_app(staffed, staff="sam@example.com", incognito=True)["opened"] is True
    ok(staffed, "POST", "/staff/sam@example.com/browser/clear")
    assert open_app(staffed, staff="sam@example.com")["opened"] is True


def test_a_skewed_clock_fails_until_it_is_set_right(shop: ShopHandle) -> None:
    ok(shop, "PATCH", f"/staff/owner@{shop.domain}/browser", json={"clock_skew_seconds": 120})
    outcome = open_app(shop)
    assert outcome["cause"]["code"] == "clock_skew" and outcome["fix"]["code"] == "fix_clock"
    assert outcome["exchange"][1]["response"]["error"].endswith('"nbf" claim timestamp check failed')
    ok(shop, "PATCH", f"/staff/owner@{shop.domain}/browser", json={"clock_skew_seconds": 0})
    assert open_app(shop)["opened"] is True


def test_reauthorisation_is_asked_for_with_its_header_and_reauthenticating_fixes(
        make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"shopify": {"access_scopes": ["read_customers", "write_customers", "read_orders",
                                                    "write_orders"]}})
    outcome = open_app(shop)
    assert outcome["cause"]["code"] == "reauthorization_required"
    (attempt,) = outcome["exchange"]
    assert attempt["response"]["status"] == 401
    assert "scope=read_customers%2Cwrite_customers" in attempt["response"]["headers"][REAUTHORIZE]
    assert ok(shop, "GET")["missing_scopes"] == ["read_themes", "write_themes"]
    result = ok(shop, "POST", "/app/reauthorize")
    assert result["granted_scopes"] == ["read_themes", "write_themes"]
    assert "read_themes" in shop.control("GET").get_json()["config"]["shopify"]["access_scopes"]
    assert open_app(shop)["opened"] is True


def test_an_uninstalled_app_cannot_be_opened_or_give_tokens(shop: ShopHandle) -> None:
    assert shop.control("POST", "/shopify/app/uninstall").status_code == 200
    assert open_app(shop)["cause"]["code"] == "app_not_installed"
    with admin_unchanged(shop):
        assert_control_error(admin(shop, "POST", "/session_token", json={}), 422, code="app_not_installed")
        assert_control_error(admin(shop, "POST", "/app/reauthorize"), 422, code="app_not_installed")
    assert open_app(shop, via="direct_link")["opened"] is True


# -- tokens ---------------------------------------------------------------------------------------------------
def test_a_minted_token_passes_the_back_end_check(shop: ShopHandle) -> None:
    issued = ok(shop, "POST", "/session_token")  # no body: the account owner
    assert issued["valid"] is True and issued["staff"]["account_owner"] is True
    claims = issued["claims"]
    assert claims["aud"] == shop.created["shopify_api_key"] and claims["sub"] == str(issued["staff"]["id"])
    assert claims["exp"] - claims["iat"] == 60
    by_body = ok(shop, "POST", "/verify", json={"token": issued["token"]})
    by_header = ok(shop, "POST", "/verify", headers={"Authorization": f"Bearer {issued['token']}"})
    assert by_body == by_header and by_body["valid"] is True
    assert by_body["claims"] == claims and by_body["staff_member"]["id"] == issued["staff"]["id"]


def test_a_token_expires_on_the_simulator_clock(shop: ShopHandle, sim: Simulator) -> None:
    token = ok(shop, "POST", "/session_token")["token"]
    sim.advance(70)
    check = ok(shop, "POST", "/verify", json={"token": token})
    assert check == {"valid": False, "error": f"""Failed to parse session token '{token}': "exp" claim timestamp """
                                              "check failed", "response": {"status": 401, "headers": {RETRY: "1"}}}


def test_a_stale_browsers_token_is_minted_but_refused(staffed: ShopHandle) -> None:
    ok(staffed, "PATCH", "/staff/sam@example.com", json={"app_permission": True})
    ok(staffed, "PATCH", "/staff/sam@example.com/browser", json={"stale_session": True})
    stale = ok(staffed, "POST", "/session_token", json={"staff": "sam@example.com"})
    assert stale["valid"] is False and stale["response"]["headers"] == {RETRY: "1"}
    fresh = ok(staffed, "POST", "/session_token", json={"staff": "sam@example.com", "incognito": True})
    assert fresh["valid"] is True


def test_a_staff_member_without_permission_gets_no_token(staffed: ShopHandle) -> None:
    with admin_unchanged(staffed):
        err = assert_control_error(admin(staffed, "POST", "/session_token", json={"staff": "sam@example.com"}), 403,
                                   code="no_app_permission")
    assert FAILED in err["message"]


@pytest.mark.parametrize("token", ["", None, 5, ["a"]])
def test_verify_needs_a_token(shop: ShopHandle, token: Any) -> None:
    with admin_unchanged(shop):
        assert_control_error(admin(shop, "POST", "/verify", json={"token": token}), 422, field="token")


def test_verify_without_any_token_and_with_a_basic_header_is_refused(shop: ShopHandle) -> None:
    assert_control_error(admin(shop, "POST", "/verify"), 422, field="token")
    assert_control_error(admin(shop, "POST", "/verify", headers={"Authorization": "Basic abc"}), 422, field="token")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "é.é.é", "x" * 5000, "eyJhbGciOiJub25lIn0.e30."])
def test_verify_answers_every_malformed_token_with_a_reason(shop: ShopHandle, token: str) -> None:
    check = ok(shop, "POST", "/verify", json={"token": token})
    assert check["valid"] is False and check["error"].startswith(f"Failed to parse session token '{token}': ")


# -- refusals -------------------------------------------------------------------------------------------------
REFUSALS: list[tuple[str, str, dict[str, Any], int, str | None]] = [
    ("POST", "/staff", {"json": {"email": "nope"}}, 422, "email"),
    ("POST", "/staff", {"json": {"name": "No email"}}, 422, "email"),
    ("POST", "/staff", {"json": {"email": "SAM@example.com"}}, 422, "email"),
    ("POST", "/staff", {"json": {"email": "a@example.com", "role": "admin"}}, 422, "role"),
    ("POST", "/staff", {"json": {"email": "a@example.com", "app_permission": "yes"}}, 422, "app_permission"),
    ("POST", "/staff", {"json": {"email": "a@example.com", "name": ""}}, 422, "name"),
    ("POST", "/staff", {"data": "{not json", "content_type": "application/json"}, 400, None),
    ("POST", "/staff", {}, 400, None),
    ("PATCH", "/staff/sam@example.com", {"json": {"app_permission": None}}, 422, "app_permission"),
    ("PATCH", "/staff/sam@example.com", {"json": {"app_permission": 1}}, 422, "app_permission"),
    ("PATCH", "/staff/sam@example.com", {"json": {"account_owner": True}}, 422, "account_owner"),
    ("PATCH", "/staff/owner@staffed.myshopify.com", {"json": {"app_permission": False}}, 422, "app_permission"),
    ("PATCH", "/staff/sam@example.com/browser", {"json": {"clock_skew_seconds": 1.5}}, 422, "clock_skew_seconds"),
    ("PATCH", "/staff/sam@example.com/browser", {"json": {"clock_skew_seconds": 10**12}}, 422, "clock_skew_seconds"),
    ("PATCH", "/staff/sam@example.com/browser", {"json": {"stale_session": "true"}}, 422, "stale_session"),
    ("PATCH", "/staff/sam@example.com/browser", {"json": {"stale_session": None}}, 422, "stale_session"),
    ("PATCH", "/staff/sam@example.com/browser", {"json": {"cookies": []}}, 422, "cookies"),
    ("POST", "/open", {"json": {"via": "pos"}}, 422, "via"),
    ("POST", "/open", {"json": {"via": ["embedded"]}}, 422, "via"),
    ("POST", "/open", {"json": {"incognito": "yes"}}, 422, "incognito"),
    ("POST", "/open", {"json": {"via": "direct_link", "incognito": True}}, 422, "incognito"),
    ("POST", "/open", {"json": {"staff": True}}, 422, "staff"),
    ("POST", "/open", {"json": {"staff": 1.5}}, 422, "staff"),
    ("POST", "/open", {"json": {"staff": ""}}, 422, "staff"),
    ("POST", "/open", {"json": {"browser": "firefox"}}, 422, "browser"),
    ("POST", "/open", {"json": [1]}, 400, None),
    ("POST", "/session_token", {"json": {"staff": {"id": 1}}}, 422, "staff"),
    ("POST", "/session_token", {"json": {"incognito": 1}}, 422, "incognito"),
    ("POST", "/verify", {"json": {"token": "a", "extra": 1}}, 422, "extra"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "field"), REFUSALS,
                         ids=[f"{m} {p} {i}" for i, (m, p, *_) in enumerate(REFUSALS)])
def test_bad_input_is_refused_in_the_control_shape_and_changes_nothing(
        staffed: ShopHandle, method: str, path: str, kwargs: dict[str, Any], status: int, field: str | None) -> None:
    with admin_unchanged(staffed):
        assert_control_error(admin(staffed, method, path, **kwargs), status, field=field)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/staff/nobody@example.com", None), ("GET", "/staff/12", None), ("GET", f"/staff/{'9' * 40}", None),
    ("PATCH", "/staff/nobody@example.com", {"app_permission": True}),
    ("PATCH", "/staff/nobody@example.com/browser", {"stale_session": True}),
    ("POST", "/staff/nobody@example.com/browser/clear", None),
    ("POST", "/open", {"staff": "nobody@example.com"}), ("POST", "/open", {"staff": 12}),
    ("POST", "/session_token", {"staff": "nobody@example.com"}),
])
def test_an_unknown_staff_member_is_a_404_that_changes_nothing(staffed: ShopHandle, method: str, path: str,
                                                                body: Any) -> None:
    with admin_unchanged(staffed):
        err = assert_control_error(admin(staffed, method, path, json=body), 404, code="not_found")
    assert "sam@example.com" in err["message"]  # it names the staff there are


@pytest.mark.parametrize(("method", "path"), [
    ("GET", ""), ("GET", "/causes"), ("GET", "/staff"), ("POST", "/staff"), ("GET", "/staff/1"),
    ("PATCH", "/staff/1"), ("PATCH", "/staff/1/browser"), ("POST", "/staff/1/browser/clear"),
    ("POST", "/app/reauthorize"), ("POST", "/session_token"), ("POST", "/verify"), ("POST", "/open"),
])
def test_every_route_answers_404_for_an_unknown_shop(client: FlaskClient, method: str, path: str) -> None:
    resp = client.open(f"/_rivosim/shops/ghost.myshopify.com/admin{path}", method=method, json={"email": "a@b.co"})
    assert_control_error(resp, 404, code="not_found")


def test_a_wrong_method_is_a_405_naming_the_right_one(shop: ShopHandle) -> None:
    resp = admin(shop, "DELETE", "/open")
    assert_control_error(resp, 405)
    assert resp.headers["Allow"] == "POST"


def test_patching_staff_through_the_document_is_refused(staffed: ShopHandle) -> None:
    with admin_unchanged(staffed):
        resp = staffed.control("PATCH", json={"admin": {"staff": [{"email": "x@example.com"}]}})
        assert_control_error(resp, 422, field="admin.staff")


def test_a_refused_reauthorisation_leaves_the_document_alone(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"admin": {"app_authorised": False}})
    shop.control("POST", "/shopify/app/uninstall")
    with admin_unchanged(shop):
        assert_control_error(admin(shop, "POST", "/app/reauthorize"), 422, code="app_not_installed")
    assert shop.control("GET").get_json()["config"]["admin"]["app_authorised"] is False


def test_the_login_url_is_configurable(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"admin": {"login_url": "https://rivo.example/login/{shop}?from=admin"}})
    assert open_app(shop, via="direct_link")["url"] == f"https://rivo.example/login/{shop.domain}?from=admin"
    resp = shop.control("PATCH", json={"admin": {"login_url": "https://rivo.example/login"}})
    assert_control_error(resp, 422, field="admin.login_url")


def test_route_names_reach_the_journal(staffed: ShopHandle, sim: Simulator) -> None:
    ok(staffed, "GET")
    ok(staffed, "GET", "/causes")
    ok(staffed, "GET", "/staff")
    ok(staffed, "POST", "/staff", 201, json={"email": "kim@example.com"})
    ok(staffed, "GET", "/staff/kim@example.com")
    ok(staffed, "PATCH", "/staff/kim@example.com", json={"rivo_account": False})
    ok(staffed, "PATCH", "/staff/kim@example.com/browser", json={"clock_skew_seconds": 5})
    ok(staffed, "POST", "/staff/kim@example.com/browser/clear")
    ok(staffed, "POST", "/app/reauthorize")
    token = ok(staffed, "POST", "/session_token")["token"]
    ok(staffed, "POST", "/verify", json={"token": token})
    ok(staffed, "POST", "/open", json={"staff": "kim@example.com", "via": "direct_link"})
    for name in ("get", "causes", "staff.list", "staff.create", "staff.get", "staff.update", "browser.update",
                 "browser.clear", "app.reauthorize", "session_token", "verify", "open"):
        sim.journal.assert_called(f"control.admin.{name}", times=1, shop=staffed.domain)
