"""Authentication on the Rivo merchant API (rivo-api.md §1.2): the raw key in ``Authorization``, ``Bearer``
refused unless configured, regeneration, plan gating, and the error body every refusal carries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from .conftest import BASE, RivoApi, ShopHandle, assert_rivo_error, unchanged

# Every route of the Rivo blueprint, with a body for the writes (the ids need not exist: auth comes first).
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/customers", None),
    ("GET", "/customers/1", None),
    ("GET", "/customers/1/advocate_stats", None),
    ("PUT", "/customers/1", {"dob": "01-01"}),
    ("POST", "/customers/1/vip_tier", {"vip_tier_id": 1}),
    ("GET", "/rewards", None),
    ("POST", "/rewards", {"name": "x"}),
    ("PUT", "/rewards/1", {"name": "x"}),
    ("DELETE", "/rewards/1", None),
    ("GET", "/points_events", None),
    ("POST", "/points_events", {"customer_identifier": 1, "source": "manual", "points_amount": 1,
                                "credits_amount": 0}),
    ("POST", "/points_events/batch", {"points_events": []}),
    ("GET", "/points_redemptions", None),
    ("POST", "/points_redemptions", {"customer_identifier": 1, "reward_id": 1}),
    ("GET", "/vip_tiers", None),
    ("GET", "/vip_tiers/1", None),
    ("GET", "/referrals", None),
    ("POST", "/referrals", {"email": "a@example.com", "referral_code": "X", "remote_ip": "1.2.3.4"}),
    ("POST", "/referrals/1/complete", None),
    ("GET", "/webhooks", None),
    ("POST", "/webhooks", {"event_type": "points_event/created", "url": "https://example.com/h"}),
    ("PUT", "/webhooks/1", {"url": "https://example.com/h"}),
    ("DELETE", "/webhooks/1", None),
    ("GET", "/earning_rules", None),
    ("GET", "/widget_events", None),
    ("GET", "/shop", None),
]


def test_raw_key_is_accepted(shop: ShopHandle) -> None:
    resp = shop.api.get("/customers")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"


def test_missing_header_is_401_with_error_body(shop: ShopHandle, client: FlaskClient) -> None:
    resp = client.get(BASE + "/customers")
    err = assert_rivo_error(resp, 401, code="unauthorized")
    assert err["title"] == "Unauthorized"
    assert "Authorization" in err["detail"]


def test_empty_header_is_401(shop: ShopHandle) -> None:
    assert_rivo_error(shop.api.get("/customers", headers={"Authorization": ""}), 401)


def test_wrong_key_is_401(shop: ShopHandle) -> None:
    wrong = shop.key[:-1] + ("0" if shop.key[-1] != "0" else "1")
    assert_rivo_error(shop.api.get("/customers", headers={"Authorization": wrong}), 401,
                      detail_contains="invalid API key")


@pytest.mark.parametrize("scheme", ["Bearer ", "bearer ", "BEARER "])
def test_bearer_prefix_is_refused_by_default(shop: ShopHandle, scheme: str) -> None:
    # rivo-api.md §1.2 (OBSERVED): the live API answers 401 to "Bearer <key>".
    resp = shop.api.get("/customers", headers={"Authorization": scheme + shop.key})
    assert_rivo_error(resp, 401, detail_contains="Bearer")


def test_bearer_prefix_accepted_when_configured(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"api": {"accept_bearer": True}})
    assert shop.api.get("/customers", headers={"Authorization": "Bearer " + shop.key}).status_code == 200
    assert shop.api.get("/customers").status_code == 200  # the raw key still works
    assert_rivo_error(shop.api.get("/customers", headers={"Authorization": "Bearer nope"}), 401)


def test_bearer_flag_can_be_switched_on_by_patch(shop: ShopHandle) -> None:
    headers = {"Authorization": "Bearer " + shop.key}
    assert shop.api.get("/customers", headers=headers).status_code == 401
    shop.patch({"api": {"accept_bearer": True}})
    assert shop.api.get("/customers", headers=headers).status_code == 200


@pytest.mark.parametrize("mangle", [lambda k: k.upper(), lambda k: k[:-1] + ("0" if k[-1] != "0" else "1")])
def test_key_must_match_exactly(shop: ShopHandle, client: FlaskClient, mangle: Callable[[str], str]) -> None:
    if mangle(shop.key) == shop.key:
        pytest.skip("the key has no letters to change case")
    assert_rivo_error(shop.api.get("/customers", headers={"Authorization": mangle(shop.key)}), 401)


@pytest.mark.parametrize("wrap", [lambda k: k + " ", lambda k: "  " + k + "  ", lambda k: "\t" + k + "\t"])
def test_whitespace_around_the_key_is_not_part_of_it(shop: ShopHandle, wrap: Callable[[str], str]) -> None:
    # RFC 9110 §5.5: surrounding whitespace is not part of a field value (and no proxy forwards it).
    assert shop.api.get("/customers", headers={"Authorization": wrap(shop.key)}).status_code == 200


@pytest.mark.parametrize(("mangle", "detail"), [
    (lambda k: k[:20] + " " + k[20:], "contains a space at position 21 (copied with extra spaces?)"),
    (lambda k: k + "\u00a0", "contains a non-breaking space (U+00A0) at position 41 (copied with extra spaces?)"),
    (lambda k: "\u200b" + k, "contains an invisible or non-ASCII character (U+200B) at position 1"),
    (lambda k: k[:32], "is 32 characters long, shorter than an API key (40 characters): it is part of a key"),
])
def test_what_survives_http_of_a_bad_copy_gets_a_401_that_says_what(
        shop: ShopHandle, client: FlaskClient, mangle: Callable[[str], str], detail: str) -> None:
    key = mangle(shop.key)
    resp = shop.api.get("/customers", headers={"Authorization": key.encode("utf-8").decode("latin-1")
                                               if "\u200b" in key else key})
    if "\u200b" in key:  # UTF-8 bytes reach the server as latin-1 text: the first odd character is U+00E2
        detail = "contains an invisible or non-ASCII character (U+00E2) at position 1"
    assert_rivo_error(resp, 401)
    assert detail in resp.get_json()["errors"][0]["detail"], resp.get_json()
    entries = client.get("/_rivosim/journal", query_string={"route": "rivo.customers.list"}).get_json()["entries"]
    assert entries[-1]["status"] == 401 and any(detail in note for note in entries[-1]["notes"])


def test_a_key_that_is_nothing_like_one_gets_the_plain_refusal(shop: ShopHandle) -> None:
    resp = shop.api.get("/customers", headers={"Authorization": "x" * 40})
    assert_rivo_error(resp, 401)
    assert resp.get_json()["errors"][0]["detail"] == "invalid API key"


def test_regenerated_key_invalidates_old_at_once(shop: ShopHandle, client: FlaskClient) -> None:
    old = shop.key
    resp = shop.control("POST", "/api_key/regenerate")
    assert resp.status_code == 200
    new = resp.get_json()["rivo_api_key"]
    assert new != old and len(new) == len(old)
    assert_rivo_error(RivoApi(client, old).get("/customers"), 401)
    assert RivoApi(client, new).get("/customers").status_code == 200
    # The control API reports the new key too.
    assert shop.control("GET").get_json()["rivo_api_key"] == new


def test_deleted_shop_key_is_401(shop: ShopHandle) -> None:
    assert shop.control("DELETE").status_code == 200
    assert_rivo_error(shop.api.get("/customers"), 401)


def test_key_is_scoped_to_its_shop(make_shop: Callable[..., ShopHandle]) -> None:
    a, b = make_shop(), make_shop()
    cust = a.add_customer(email="only-in-a@example.com")
    assert a.api.get(f"/customers/{cust['id']}").status_code == 200
    assert_rivo_error(b.api.get(f"/customers/{cust['id']}"), 404)
    assert_rivo_error(b.api.get("/customers/only-in-a%40example.com"), 404)
    assert b.api.data("/customers") == []


@pytest.mark.parametrize("plan", ["free", "starter"])
def test_plan_without_api_access_is_401_by_default(make_shop: Callable[..., ShopHandle], plan: str) -> None:
    shop = make_shop({"plan": plan})
    err = assert_rivo_error(shop.api.get("/customers"), 401, code="plan_without_api_access")
    assert "Plus plan" in err["detail"]
    assert plan in err["detail"]


@pytest.mark.parametrize("plan", ["free", "starter"])
def test_plan_refusal_status_403_when_configured(make_shop: Callable[..., ShopHandle], plan: str) -> None:
    shop = make_shop({"plan": plan, "api": {"plan_refusal_status": 403}})
    err = assert_rivo_error(shop.api.get("/customers"), 403, code="plan_without_api_access")
    assert "Plus plan" in err["detail"]


def test_plan_gate_blocks_writes_without_changing_state(make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"plan": "starter"})
    cust = shop.add_customer(email="s@example.com")
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/points_events", json={
            "customer_identifier": cust["id"], "source": "manual", "points_amount": 5, "credits_amount": 0}), 401)


@pytest.mark.parametrize("plan", ["plus", "scale"])
def test_plus_and_above_have_api_access(make_shop: Callable[..., ShopHandle], plan: str) -> None:
    assert make_shop({"plan": plan}).api.get("/customers").status_code == 200


def test_downgrading_the_plan_takes_effect_at_once(shop: ShopHandle) -> None:
    assert shop.api.get("/customers").status_code == 200
    shop.patch({"plan": "starter"})
    assert_rivo_error(shop.api.get("/customers"), 401, code="plan_without_api_access")
    shop.patch({"plan": "plus"})
    assert shop.api.get("/customers").status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_every_route_requires_the_key(shop: ShopHandle, client: FlaskClient, method: str, path: str,
                                      body: dict[str, Any] | None) -> None:
    anonymous = RivoApi(client, None)
    with unchanged(shop):
        assert_rivo_error(anonymous.request(method, path, json=body), 401)
        assert_rivo_error(anonymous.request(method, path, json=body, headers={"Authorization": "nope"}), 401)
