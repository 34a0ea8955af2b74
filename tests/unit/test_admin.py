"""The embedded admin (domain/admin.py, domain/session_tokens.py): App Bridge session tokens as shopify-api mints
and checks them, each cause of "Session token fetch failed … Check permissions." with its fix, the direct login
link, the staff rules and determinism."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from rivosim.domain.admin import (
    CAUSES,
    SESSION_TOKEN_FETCH_FAILED,
    AppNotInstalled,
    EmbeddedAdmin,
    NoAppPermission,
    StaffMember,
)
from rivosim.domain.session_tokens import (
    REAUTHORIZE_HEADER,
    RETRY_HEADER,
    InvalidSessionToken,
    decode_session_token,
    encode_session_token,
)
from rivosim.domain.shop import Shop
from rivosim.engine import Simulator
from rivosim.kernel.errors import AlreadyExists, InvalidConfig, NotFound, ValidationFailed

DOMAIN = "admin.myshopify.com"


def make(admin: dict[str, Any] | None = None, seed: int = 5, **config: Any) -> tuple[Simulator, Shop]:
    sim = Simulator(seed=seed)
    doc: dict[str, Any] = {"domain": DOMAIN, **config}
    if admin is not None:
        doc["admin"] = admin
    return sim, sim.create_shop(doc)


def with_sam(**sam: Any) -> tuple[Simulator, Shop, StaffMember]:
    sim, shop = make({"staff": [{"email": "sam@example.com", "name": "Sam", **sam}]})
    return sim, shop, shop.admin.find("sam@example.com")


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(raw: str) -> dict[str, Any]:
        return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))  # type: ignore[no-any-return]

    header, payload, _ = token.split(".")
    return part(header), part(payload)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def refusal(shop: Shop, token: str) -> str:
    with pytest.raises(InvalidSessionToken) as info:
        shop.admin.verify(token)
    return info.value.message


# -- the token -------------------------------------------------------------------------------------------------
def test_a_token_carries_exactly_the_claims_of_section_6_1() -> None:
    sim, shop = make()
    owner = shop.admin.find(f"owner@{DOMAIN}")
    token = shop.admin.session_token(owner)
    header, claims = segments(token)
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert list(claims) == ["iss", "dest", "aud", "sub", "exp", "nbf", "iat", "jti", "sid"]
    now = int(sim.now().timestamp())
    assert claims["iss"] == f"https://{DOMAIN}/admin" and claims["dest"] == f"https://{DOMAIN}"
    assert claims["aud"] == shop.credentials.shopify_api_key
    assert claims["sub"] == str(owner.id)
    assert claims["iat"] == claims["nbf"] == now and claims["exp"] == now + 60
    assert len(claims["jti"]) == 36 and claims["jti"][14] == "4"  # a version-4 UUID
    assert len(claims["sid"]) == 32
    # An independent HS256 check with the app's client secret (time claims are the simulator's, not today's).
    decoded = jwt.decode(token, shop.credentials.shopify_api_secret, algorithms=["HS256"],
                         audience=shop.credentials.shopify_api_key,
                         options={"verify_exp": False, "verify_nbf": False, "verify_iat": False})
    assert decoded == claims
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "shpss_" + "0" * 32, algorithms=["HS256"], options={"verify_exp": False})


def test_each_token_has_its_own_jti_and_the_browser_keeps_its_sid() -> None:
    _, shop = make()
    owner = shop.admin.find(f"owner@{DOMAIN}")
    first, second = (segments(shop.admin.session_token(owner))[1] for _ in range(2))
    assert first["jti"] != second["jti"] and first["sid"] == second["sid"]
    shop.admin.clear_browser_data(owner)
    assert segments(shop.admin.session_token(owner))[1]["sid"] != first["sid"]


def test_a_token_lives_60_seconds_plus_10_seconds_of_tolerance() -> None:
    sim, shop = make()
    token = shop.admin.session_token(shop.admin.find(f"owner@{DOMAIN}"))
    sim.advance(69)
    assert shop.admin.verify(token)["aud"] == shop.credentials.shopify_api_key
    sim.advance(1)
    assert refusal(shop, token) == f"""Failed to parse session token '{token}': "exp" claim timestamp check failed"""


def test_a_token_from_11_seconds_in_the_future_is_not_yet_valid_10_is() -> None:
    sim, shop = make()
    c = shop.credentials
    now = int(sim.now().timestamp())

    def token(at: int) -> str:
        return encode_session_token(DOMAIN, api_key=c.shopify_api_key, secret=c.shopify_api_secret, user_id=1,
                                    at=at, jti=7, sid="s")

    assert shop.admin.verify(token(now + 10))["nbf"] == now + 10
    assert refusal(shop, token(now + 11)).endswith(': "nbf" claim timestamp check failed')


def test_a_token_for_another_api_key_has_an_invalid_api_key() -> None:
    sim, shop = make()
    token = encode_session_token(DOMAIN, api_key="another-app", secret=shop.credentials.shopify_api_secret,
                                 user_id=1, at=int(sim.now().timestamp()), jti=1, sid="s")
    assert refusal(shop, token) == "Session token had invalid API key"


def test_parse_failures_name_the_token_and_the_reason() -> None:
    sim, shop = make()
    c = shop.credentials
    now = int(sim.now().timestamp())
    good = {"aud": c.shopify_api_key, "exp": now + 60, "nbf": now}
    cases = {
        "abc": "Invalid Compact JWS",
        "a.b": "Invalid Compact JWS",
        "!!.??.##": "JWS Protected Header is invalid",
        jwt.encode(good, "shpss_not-the-secret-at-all-000000", algorithm="HS256"): "signature verification failed",
        jwt.encode(good, "k" * 64, algorithm="HS512"):
            '"alg" (Algorithm) Header Parameter value not allowed',
        f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(good)}.":
            '"alg" (Algorithm) Header Parameter value not allowed',
        jwt.encode({**good, "exp": "tomorrow"}, c.shopify_api_secret, algorithm="HS256"):
            '"exp" claim must be a number',
        jwt.encode({**good, "nbf": True}, c.shopify_api_secret, algorithm="HS256"): '"nbf" claim must be a number',
    }
    for token, reason in cases.items():
        assert refusal(shop, token) == f"Failed to parse session token '{token}': {reason}"
    # A signed payload that is not a JSON object.
    listed = jwt.PyJWS().encode(b"[1, 2]", c.shopify_api_secret, algorithm="HS256")
    assert refusal(shop, listed).endswith(": JWT Claims Set must be a top-level JSON object")


def test_decode_uses_the_time_it_is_given_not_the_wall_clock() -> None:
    _, shop = make()
    c = shop.credentials
    token = encode_session_token(DOMAIN, api_key=c.shopify_api_key, secret=c.shopify_api_secret, user_id=1,
                                 at=1_000, jti=1, sid="s")  # 1970: long expired by any wall clock
    claims = decode_session_token(token, api_key=c.shopify_api_key, secret=c.shopify_api_secret,
                                  now=datetime.fromtimestamp(1_030, UTC))
    assert claims["iat"] == 1_000


# -- the causes and their fixes ----------------------------------------------------------------------------------
def test_without_the_app_permission_app_bridge_gives_no_token_and_granting_it_fixes() -> None:
    _, shop, sam = with_sam(app_permission=False)
    outcome = shop.admin.open(sam)
    assert outcome["opened"] is False and outcome["error"] == SESSION_TOKEN_FETCH_FAILED
    assert outcome["cause"]["code"] == "no_app_permission" and outcome["fix"]["code"] == "grant_app_permission"
    assert outcome["exchange"] == [{"attempt": 1, "id_token": None, "request": None, "response": None}]
    assert [r["code"] for r in outcome["remedies"] if r["fixes_cause"]] == ["grant_app_permission"]
    with pytest.raises(NoAppPermission, match="Session token fetch failed"):
        shop.admin.session_token(sam)
    assert shop.admin.open(sam, incognito=True)["cause"]["code"] == "no_app_permission"
    shop.admin.update_staff(sam, app_permission=True)
    opened = shop.admin.open(sam)
    assert opened["opened"] is True and opened["exchange"][0]["response"]["status"] == 200
    assert opened["dashboard"]["signed_in_as"] == "sam@example.com" and sam.browser.signed_in


def test_a_stale_session_is_refused_with_the_retry_header_twice_and_clearing_cookies_fixes() -> None:
    _, shop, sam = with_sam(browser={"stale_session": True})
    outcome = shop.admin.open(sam)
    assert outcome["opened"] is False and outcome["cause"]["code"] == "stale_session"
    assert outcome["error"] == SESSION_TOKEN_FETCH_FAILED
    assert [e["attempt"] for e in outcome["exchange"]] == [1, 2]
    for attempt in outcome["exchange"]:
        token = attempt["id_token"]
        assert attempt["request"]["headers"] == {"Authorization": f"Bearer {token}"}
        assert attempt["response"]["status"] == 401 and attempt["response"]["headers"] == {RETRY_HEADER: "1"}
        assert attempt["response"]["error"].endswith(": signature verification failed")
        assert segments(token)[1]["aud"] == shop.admin.previous_install[0] != shop.credentials.shopify_api_key
    assert {r["code"] for r in outcome["remedies"] if r["fixes_cause"]} == {"clear_browser_data", "incognito_window"}
    assert shop.admin.open(sam, incognito=True)["opened"] is True
    assert sam.browser.stale_session is True  # an incognito window leaves the usual one as it was
    shop.admin.clear_browser_data(sam)
    assert shop.admin.open(sam)["opened"] is True


def test_uninstalling_makes_the_cookies_of_signed_in_browsers_stale() -> None:
    _, shop, sam = with_sam()
    owner = shop.admin.find(f"owner@{DOMAIN}")
    assert shop.admin.open(sam)["opened"] is True
    shop.shopify.uninstall_app()
    assert shop.admin.open(owner)["cause"]["code"] == "app_not_installed"
    with pytest.raises(AppNotInstalled):
        shop.admin.session_token(owner)
    shop.shopify.reinstall_app()
    assert shop.admin.open(sam)["cause"]["code"] == "stale_session"
    assert shop.admin.open(owner)["opened"] is True  # never opened it before: no cookies to go stale


@pytest.mark.parametrize(("skew", "opens", "reason"), [
    (10, True, None), (11, False, '"nbf" claim timestamp check failed'),
    (-69, True, None), (-70, False, '"exp" claim timestamp check failed'),
])
def test_a_clock_off_by_more_than_the_tolerance_fails_and_setting_it_right_fixes(
        skew: int, opens: bool, reason: str | None) -> None:
    _, shop, sam = with_sam(browser={"clock_skew_seconds": skew})
    outcome = shop.admin.open(sam)
    assert outcome["opened"] is opens
    assert ("clock_skew" in shop.admin.diagnose(sam)) is not opens
    if reason:
        assert outcome["cause"]["code"] == "clock_skew" and len(outcome["exchange"]) == 2
        assert all(e["response"]["error"].endswith(reason) for e in outcome["exchange"])
        assert shop.admin.open(sam, incognito=True)["opened"] is False  # same computer, same clock
        shop.admin.set_browser(sam, clock_skew_seconds=0)
        assert shop.admin.open(sam)["opened"] is True


def test_a_revoked_authorisation_asks_for_reauthorisation_and_reauthenticating_fixes() -> None:
    _, shop = make({"app_authorised": False})
    owner = shop.admin.find(f"owner@{DOMAIN}")
    outcome = shop.admin.open(owner)
    assert outcome["opened"] is False and outcome["cause"]["code"] == "reauthorization_required"
    (attempt,) = outcome["exchange"]  # a valid token, so no retry: the back end asks for re-authorisation
    url = attempt["response"]["headers"][REAUTHORIZE_HEADER]
    assert url.startswith(f"https://{DOMAIN}/admin/oauth/authorize?client_id={shop.credentials.shopify_api_key}")
    assert shop.admin.reauthenticate() == {"app_authorised": True, "granted_scopes": [],
                                           "access_scopes": shop.config["shopify"]["access_scopes"]}
    assert shop.config["admin"]["app_authorised"] is True
    assert shop.admin.open(owner)["opened"] is True


def test_scopes_the_app_asks_for_but_the_store_never_granted_need_reauthentication() -> None:
    _, shop = make(shopify={"access_scopes": ["read_customers", "write_customers"]})
    owner = shop.admin.find(f"owner@{DOMAIN}")
    assert shop.admin.missing_scopes() == ["read_orders", "write_orders", "read_themes", "write_themes"]
    assert shop.admin.open(owner)["cause"]["code"] == "reauthorization_required"
    result = shop.admin.reauthenticate()
    assert result["granted_scopes"] == ["read_orders", "write_orders", "read_themes", "write_themes"]
    assert set(shop.config["shopify"]["access_scopes"]) == set(shop.config["admin"]["app_scopes"])
    assert shop.admin.open(owner)["opened"] is True


def test_reauthenticating_an_uninstalled_app_is_refused_and_changes_nothing() -> None:
    _, shop = make({"app_authorised": False})
    shop.shopify.uninstall_app()
    with pytest.raises(AppNotInstalled):
        shop.admin.reauthenticate()
    assert shop.config["admin"]["app_authorised"] is False


def test_causes_show_in_the_order_opening_meets_them() -> None:
    _, shop, sam = with_sam(app_permission=False, browser={"stale_session": True, "clock_skew_seconds": 3600})
    shop.patch({"admin": {"app_authorised": False}})
    assert shop.admin.diagnose(sam) == ["no_app_permission", "stale_session", "clock_skew",
                                        "reauthorization_required"]
    seen = []
    for fix in (lambda: shop.admin.update_staff(sam, app_permission=True),
                lambda: shop.admin.clear_browser_data(sam),
                lambda: shop.admin.set_browser(sam, clock_skew_seconds=0),
                shop.admin.reauthenticate):
        seen.append(shop.admin.open(sam)["cause"]["code"])
        fix()
    assert seen == ["no_app_permission", "stale_session", "clock_skew", "reauthorization_required"]
    assert shop.admin.open(sam)["opened"] is True and shop.admin.diagnose(sam) == []


def test_the_direct_login_link_works_whatever_breaks_the_embedded_admin() -> None:
    _, shop, sam = with_sam(app_permission=False, browser={"stale_session": True, "clock_skew_seconds": -500})
    shop.shopify.uninstall_app()
    outcome = shop.admin.open(sam, via="direct_link")
    assert outcome["opened"] is True and outcome["url"] == f"https://app.rivo.io/login?shop={DOMAIN}"
    assert outcome["dashboard"]["signed_in_as"] == "sam@example.com"
    shop.patch({"admin": {"login_url": "https://rivo.example/sign-in/{shop}"}})
    assert shop.admin.open(sam, via="direct_link")["url"] == f"https://rivo.example/sign-in/{DOMAIN}"


def test_the_direct_login_link_needs_a_rivo_account() -> None:
    _, shop, sam = with_sam(rivo_account=False)
    outcome = shop.admin.open(sam, via="direct_link")
    assert outcome["opened"] is False and outcome["cause"]["code"] == "no_rivo_account"
    assert [r["code"] for r in outcome["remedies"]] == ["invite_to_rivo"]
    assert shop.admin.open(sam)["opened"] is True  # the embedded admin does not need one
    shop.admin.update_staff(sam, rivo_account=True)
    assert shop.admin.open(sam, via="direct_link")["opened"] is True


def test_every_cause_has_a_remedy_and_an_error() -> None:
    assert list(CAUSES)[:5] == ["app_not_installed", "no_app_permission", "stale_session", "clock_skew",
                                "reauthorization_required"]
    for cause in CAUSES.values():
        assert cause.error and cause.fix and cause.remedy
    assert sum(c.error == SESSION_TOKEN_FETCH_FAILED for c in CAUSES.values()) == 4


# -- staff ---------------------------------------------------------------------------------------------------
def test_an_account_owner_is_always_there_and_keeps_every_permission() -> None:
    _, shop = make()
    (owner,) = shop.admin.staff.values()
    assert owner.account_owner and owner.app_permission and owner.email == f"owner@{DOMAIN}"
    with pytest.raises(ValidationFailed, match="account owner"):
        shop.admin.update_staff(owner, app_permission=False)
    assert owner.app_permission is True


def test_a_declared_owner_replaces_the_default_one_and_comes_first() -> None:
    _, shop = make({"staff": [{"email": "kim@example.com"}, {"email": "boss@example.com", "account_owner": True}]})
    emails = [s.email for s in shop.admin.staff.values()]
    assert emails == ["boss@example.com", "kim@example.com"]
    assert shop.admin.find("Boss@Example.com").account_owner
    assert shop.admin.find(str(shop.admin.find("kim@example.com").id)).email == "kim@example.com"


def test_staff_refusals_change_nothing() -> None:
    _, shop, sam = with_sam()
    before = [s.to_dict() for s in shop.admin.staff.values()]
    for bad in ({"email": "not-an-email"}, {"email": "SAM@example.com"}, {"email": "x@example.com", "name": " "},
                {"email": "x@example.com", "app_permission": "yes"}, {"email": 5}):
        with pytest.raises((ValidationFailed, AlreadyExists)):
            shop.admin.add_staff(**bad)
    with pytest.raises(ValidationFailed):
        shop.admin.update_staff(sam, name="New", app_permission="no")
    for skew in (1.5, True, 10**9, "3"):
        with pytest.raises(ValidationFailed):
            shop.admin.set_browser(sam, stale_session=True, clock_skew_seconds=skew)
    for ref in ("nobody@example.com", "123", "9" * 40, 10**20):
        with pytest.raises(NotFound):
            shop.admin.find(ref)
    with pytest.raises(ValidationFailed):
        shop.admin.open(sam, via="carrier-pigeon")
    assert [s.to_dict() for s in shop.admin.staff.values()] == before


@pytest.mark.parametrize(("staff", "field"), [
    ([{"email": "a@example.com", "account_owner": True}, {"email": "b@example.com", "account_owner": True}],
     "admin.staff"),
    ([{"email": "a@example.com"}, {"email": "A@example.com"}], "admin.staff"),
    ([{"email": "a@example.com", "account_owner": True, "app_permission": False}], "admin.staff[0].app_permission"),
    ([{"email": "nope"}], "admin.staff[0].email"),
    ([{"email": "a@example.com", "browser": {"clock_skew_seconds": 1.5}}], "admin.staff[0].browser.clock_skew_seconds"),
])
def test_the_admin_section_is_validated(staff: list[dict[str, Any]], field: str) -> None:
    with pytest.raises(InvalidConfig) as info:
        Simulator(seed=1).create_shop({"admin": {"staff": staff}})
    assert info.value.field == field


def test_a_login_url_needs_the_shop_placeholder() -> None:
    with pytest.raises(InvalidConfig) as info:
        Simulator(seed=1).create_shop({"admin": {"login_url": "https://app.rivo.io/login"}})
    assert info.value.field == "admin.login_url"


def test_staff_cannot_be_changed_by_patching_the_document() -> None:
    _, shop = make({"staff": [{"email": "sam@example.com"}]})
    with pytest.raises(InvalidConfig) as info:
        shop.patch({"admin": {"staff": [{"email": "other@example.com"}]}})
    assert info.value.field == "admin.staff"
    shop.patch({"admin": {"staff": [{"email": "sam@example.com"}], "app_authorised": False}})  # unchanged: fine
    assert shop.config["admin"]["app_authorised"] is False


# -- determinism ---------------------------------------------------------------------------------------------
def run_story(seed: int) -> list[str]:
    sim, shop = make({"staff": [{"email": "sam@example.com", "browser": {"stale_session": True}}]}, seed=seed)
    sam = shop.admin.find("sam@example.com")
    tokens = [shop.admin.session_token(sam)]
    tokens += [e["id_token"] for e in shop.admin.open(sam)["exchange"]]
    sim.advance(timedelta(minutes=5))
    shop.admin.clear_browser_data(sam)
    tokens += [e["id_token"] for e in shop.admin.open(sam)["exchange"]]
    return tokens


def test_the_same_seed_gives_the_same_tokens_byte_for_byte() -> None:
    assert run_story(9) == run_story(9)
    assert run_story(9) != run_story(10)


def test_opening_the_admin_never_shifts_the_shops_other_ids() -> None:
    _, quiet = make(seed=3)
    _, busy = make(seed=3)
    owner = busy.admin.find(f"owner@{DOMAIN}")
    for _ in range(5):
        busy.admin.open(owner)
        busy.admin.session_token(owner)
    assert busy.regenerate_api_key() == quiet.regenerate_api_key()
    assert busy.ids.next("shopify_customer") == quiet.ids.next("shopify_customer")


def test_the_admin_is_built_per_shop() -> None:
    sim = Simulator(seed=2)
    one, two = (sim.create_shop({"domain": d}) for d in ("one.myshopify.com", "two.myshopify.com"))
    assert isinstance(one.admin, EmbeddedAdmin) and one.admin is not two.admin
    assert one.admin.previous_install != two.admin.previous_install
