"""Shopify Admin API gatekeeping (shopify-api.md §1.1, §1.6, §3): the token and the Host rule, API versions
(supported, fall-forward, malformed), shop status (402/423), Accept (406), scopes (403), unknown resources
(404) and the REST leaky bucket with ``X-Shopify-Shop-Api-Call-Limit`` and the 429 body."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from rivosim import Simulator

from .shopify_support import (
    INVALID_TOKEN,
    VERSION,
    AdminApi,
    ShopifyShop,
    assert_shopify_error,
)

THROTTLE_BODY = "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."

pytest_plugins = ["tests.contract.shopify_fixtures"]  # the Shopify fixtures


# -- auth ------------------------------------------------------------------------------------------------------------
def test_missing_or_unknown_token_is_401_with_shopifys_body(client: FlaskClient, admin: AdminApi) -> None:
    assert_shopify_error(AdminApi(client, None).get("customers.json"), 401, INVALID_TOKEN)
    assert_shopify_error(AdminApi(client, "shpat_nope").get("customers.json"), 401, INVALID_TOKEN)
    assert_shopify_error(AdminApi(client, admin.token + " ").get("customers.json"), 401, INVALID_TOKEN)
    assert admin.get("customers.json").status_code == 200


def test_a_myshopify_host_must_be_the_tokens_shop(shopify: ShopifyShop, make_shopify: Callable[..., ShopifyShop]
                                                  ) -> None:
    other = make_shopify(domain="other-store.myshopify.com")
    admin = shopify.admin
    ok = admin.get("shop.json", headers={"Host": shopify.domain})
    assert ok.status_code == 200 and ok.get_json()["shop"]["myshopify_domain"] == shopify.domain
    # The seed's "store domain matches exactly": another shop's host with this token looks like a bad token.
    assert_shopify_error(admin.get("shop.json", headers={"Host": other.domain}), 401, INVALID_TOKEN)
    assert_shopify_error(admin.get("shop.json", headers={"Host": "typo-" + shopify.domain}), 401, INVALID_TOKEN)
    # Not a myshopify host (127.0.0.1 in server mode, localhost here): the token alone decides.
    for host in ("127.0.0.1:8282", "localhost"):
        assert admin.get("shop.json", headers={"Host": host}).status_code == 200


def test_each_token_reaches_only_its_own_shop(shopify: ShopifyShop, make_shopify: Callable[..., ShopifyShop]) -> None:
    other = make_shopify(domain="other-store.myshopify.com")
    made = other.admin.create_customer(email="only-there@example.com")
    assert_shopify_error(shopify.admin.get(f"customers/{made['id']}.json"), 404, "Not Found")
    assert shopify.admin.get("shop.json").get_json()["shop"]["myshopify_domain"] == shopify.domain


def test_uninstalling_the_app_revokes_its_token(shopify: ShopifyShop, client: FlaskClient) -> None:
    resp = client.post(f"/_rivosim/shops/{shopify.domain}/shopify/app/uninstall")
    assert resp.status_code == 200 and resp.get_json()["app_installed"] is False
    assert_shopify_error(shopify.admin.get("shop.json"), 401, INVALID_TOKEN)
    assert client.post(f"/_rivosim/shops/{shopify.domain}/shopify/app/install").status_code == 200
    assert shopify.admin.get("shop.json").status_code == 200


# -- versions --------------------------------------------------------------------------------------------------------
def test_a_supported_version_is_served_and_echoed(admin: AdminApi) -> None:
    for version in ("2025-01", "2025-04", "2025-07", "2025-10", "2026-01", "unstable"):
        resp = AdminApi(admin.client, admin.token, version).get("shop.json")
        assert resp.status_code == 200 and resp.headers["X-Shopify-API-Version"] == version


def test_an_unsupported_or_missing_version_falls_forward_to_the_oldest_supported(admin: AdminApi) -> None:
    for path in ("/admin/api/2024-01/shop.json", "/admin/api/2099-10/shop.json", "/admin/shop.json"):
        resp = admin.get(path)
        assert resp.status_code == 200, path
        assert resp.headers["X-Shopify-API-Version"] == "2025-01", path


@pytest.mark.parametrize("version", ["2025-02", "2025-13", "25-01", "latest", "2025-1", "2025-01-01"])
def test_a_malformed_version_is_not_found(admin: AdminApi, version: str) -> None:
    assert_shopify_error(AdminApi(admin.client, admin.token, version).get("customers.json"), 404, "Not Found")


def test_the_supported_versions_follow_the_simulator_clock(sim: Simulator, admin: AdminApi) -> None:
    sim.advance("PT17H")  # 2026-01-01T17:00Z: 2026-01 is released, 2025-01 drops out
    assert admin.get("/admin/api/2025-01/shop.json").headers["X-Shopify-API-Version"] == "2025-04"
    assert admin.get("/admin/api/2026-04/shop.json").headers["X-Shopify-API-Version"] == "2026-04"  # the RC
    assert admin.get("/admin/shop.json").headers["X-Shopify-API-Version"] == "2025-04"


# -- shop status, Accept, scopes, unknown resources -------------------------------------------------------------------
def test_a_frozen_shop_is_402_and_a_locked_one_423(make_shopify: Callable[..., ShopifyShop]) -> None:
    frozen = make_shopify(shopify={"shop_status": "frozen"})
    assert_shopify_error(frozen.admin.get("customers.json"), 402, "Unavailable Shop")
    locked = make_shopify(domain="locked.myshopify.com", shopify={"shop_status": "locked"})
    assert_shopify_error(locked.admin.get("customers.json"), 423, "This shop is unavailable")


def test_an_accept_header_without_json_is_406(admin: AdminApi) -> None:
    assert_shopify_error(admin.get("customers.json", headers={"Accept": "application/xml"}), 406, "Not Acceptable")
    assert admin.get("customers.json", headers={"Accept": "application/json"}).status_code == 200
    assert admin.get("customers.json", headers={"Accept": "*/*"}).status_code == 200


def test_a_scope_not_granted_is_403_naming_the_scope(make_shopify: Callable[..., ShopifyShop]) -> None:
    shop = make_shopify(shopify={"access_scopes": ["read_customers", "write_customers"]})
    assert_shopify_error(shop.admin.get("orders.json"), 403,
                         "[API] This action requires merchant approval for read_orders scope.")
    assert_shopify_error(shop.admin.get("themes.json"), 403,
                         "[API] This action requires merchant approval for read_themes scope.")
    assert shop.admin.get("customers.json").status_code == 200
    read_only = make_shopify(domain="read-only.myshopify.com", shopify={"access_scopes": ["read_customers"]})
    assert_shopify_error(read_only.admin.post("customers.json", json={"customer": {"email": "a@example.com"}}),
                         403, "[API] This action requires merchant approval for write_customers scope.")
    # write_orders implies read_orders, as on Shopify.
    writer = make_shopify(domain="writer.myshopify.com", shopify={"access_scopes": ["write_orders"]})
    assert writer.admin.get("orders.json").status_code == 200


@pytest.mark.parametrize("path", ["customers/123.json", "customers/abc.json", "orders/1.json", "nothing.json",
                                  "themes/9.json", "webhooks/77.json", "metafields/5.json"])
def test_unknown_things_are_not_found(admin: AdminApi, path: str) -> None:
    assert_shopify_error(admin.get(path), 404, "Not Found")


def test_every_response_after_auth_carries_the_version_and_a_request_id(admin: AdminApi) -> None:
    for resp in (admin.get("customers.json"), admin.get("customers/1.json"),
                 admin.post("customers.json", json={})):
        assert resp.headers["X-Shopify-API-Version"] == VERSION
        assert resp.headers["X-Request-Id"]
        assert resp.headers["X-Shopify-Shop-Api-Call-Limit"].endswith("/40")


# -- the REST bucket --------------------------------------------------------------------------------------------------
def test_forty_requests_fill_the_bucket_then_429_with_retry_after(sim: Simulator,
                                                                  make_shopify: Callable[..., ShopifyShop]) -> None:
    admin = make_shopify(rate_limits={"shopify_rest": {"enabled": True}}).admin
    limits = [admin.get("customers.json").headers["X-Shopify-Shop-Api-Call-Limit"] for _ in range(40)]
    assert limits[0] == "1/40" and limits[-1] == "40/40"
    refused = admin.get("customers.json")
    assert_shopify_error(refused, 429, THROTTLE_BODY)
    assert refused.headers["X-Shopify-Shop-Api-Call-Limit"] == "40/40"
    assert float(refused.headers["Retry-After"]) >= 1.0
    assert refused.headers["Retry-After"] == "1.0"
    # The bucket leaks 2 per second on the simulator clock: 1 s later two requests go through, the third not.
    sim.advance(1)
    assert admin.get("customers.json").status_code == 200
    assert admin.get("customers.json").status_code == 200
    assert admin.get("customers.json").status_code == 429
    sim.advance(10)  # the docs' example: 39/40 becomes 19/40 after 10 s
    assert admin.get("customers.json").headers["X-Shopify-Shop-Api-Call-Limit"] == "21/40"


def test_plus_shops_get_a_bucket_of_400_and_the_document_can_override(
        make_shopify: Callable[..., ShopifyShop]) -> None:
    plus = make_shopify(shopify_plan="plus", rate_limits={"shopify_rest": {"enabled": True}}).admin
    assert plus.get("shop.json").headers["X-Shopify-Shop-Api-Call-Limit"] == "1/400"
    custom = make_shopify(domain="tiny.myshopify.com",
                          rate_limits={"shopify_rest": {"enabled": True, "burst": 3, "rate": 1}}).admin
    assert [custom.get("shop.json").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_each_shop_has_its_own_bucket(make_shopify: Callable[..., ShopifyShop]) -> None:
    a = make_shopify(rate_limits={"shopify_rest": {"enabled": True, "burst": 2}}).admin
    b = make_shopify(domain="b-store.myshopify.com", rate_limits={"shopify_rest": {"enabled": True, "burst": 2}}).admin
    assert [a.get("shop.json").status_code for _ in range(3)] == [200, 200, 429]
    assert b.get("shop.json").status_code == 200
