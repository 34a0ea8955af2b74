"""Webhook subscriptions over REST (rivo-api.md §3.9, §4.1): ``event_type``/``url`` (aliases ``topic``/
``endpoint_url``), one webhook per event type, the signing ``secret``, update and delete."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ISO_MS_RE, ShopHandle, assert_rivo_error, unchanged

HOOK = {"event_type": "points_event/created", "url": "https://hooks.example.com/rivo"}


def create(shop: ShopHandle, **body: Any) -> dict[str, Any]:
    resp = shop.api.post("/webhooks", json=body or HOOK)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["data"]  # type: ignore[no-any-return]


def test_create_returns_201_with_the_shop_secret(shop: ShopHandle) -> None:
    resp = shop.api.post("/webhooks", json={**HOOK, "description": "points to CRM"})
    assert resp.status_code == 201
    data = resp.get_json()["data"]
    assert data["type"] == "webhook"
    attrs = data["attributes"]
    assert attrs["id"] == data["id"]
    assert attrs["event_type"] == attrs["topic"] == "points_event/created"
    assert attrs["url"] == attrs["endpoint_url"] == "https://hooks.example.com/rivo"
    assert attrs["description"] == "points to CRM" and attrs["status"] == "enabled"
    assert attrs["secret"] == shop.created["webhook_secret"]
    assert len(attrs["secret"]) == 64
    assert ISO_MS_RE.match(attrs["created_at"])
    assert [w["id"] for w in shop.api.data("/webhooks")] == [data["id"]]


def test_aliases_topic_and_endpoint_url(shop: ShopHandle) -> None:
    attrs = create(shop, topic="referral/completed", endpoint_url="http://localhost:9000/h")["attributes"]
    assert (attrs["event_type"], attrs["url"]) == ("referral/completed", "http://localhost:9000/h")


def test_wrapped_and_form_encoded_bodies(shop: ShopHandle) -> None:
    wrapped = shop.api.post("/webhooks", json={"webhook": HOOK})
    assert wrapped.status_code == 201
    form = shop.api.post("/webhooks", data={"event_type": "points_redemption/created",
                                            "url": "https://hooks.example.com/r", "status": "disabled"})
    assert form.status_code == 201
    assert form.get_json()["data"]["attributes"]["status"] == "disabled"


def test_one_webhook_per_event_type(shop: ShopHandle) -> None:
    first = create(shop)
    with unchanged(shop):
        err = assert_rivo_error(shop.api.post("/webhooks", json={**HOOK, "url": "https://other.example.com/"}), 422,
                                parameter="event_type", code="already_exists")
        assert str(first["id"]) in err["detail"]
        assert_rivo_error(shop.api.post("/webhooks", json={"topic": HOOK["event_type"],
                                                           "endpoint_url": "https://x.example.com/"}), 422)


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/", "hooks.example.com/rivo", "https://", "", 42,
                                 "https://example.com/" + "a" * 2048, None])
def test_bad_url_is_422(shop: ShopHandle, url: Any) -> None:
    body = {"event_type": "points_event/created"} if url is None else {"event_type": "points_event/created",
                                                                        "url": url}
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/webhooks", json=body), 422, parameter="url")


@pytest.mark.parametrize("event_type", ["points/created", "POINTS_EVENT/CREATED", "", None, ["points_event/created"]])
def test_unknown_event_type_is_422_listing_known_ones(shop: ShopHandle, event_type: Any) -> None:
    body = {"url": HOOK["url"]} if event_type is None else {"url": HOOK["url"], "event_type": event_type}
    with unchanged(shop):
        err = assert_rivo_error(shop.api.post("/webhooks", json=body), 422, parameter="event_type")
        for known in ("points_event/created", "points_redemption/created", "customer_vip_tier/upgraded",
                      "referral/completed"):
            assert known in err["detail"]


@pytest.mark.parametrize(("extra", "parameter"), [
    ({"status": "paused"}, "status"),
    ({"description": "d" * 1001}, "description"),
    ({"description": 5}, "description"),
    ({"secret": "mine"}, "secret"),
])
def test_other_validation_is_422(shop: ShopHandle, extra: dict[str, Any], parameter: str) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/webhooks", json={**HOOK, **extra}), 422, parameter=parameter)


def test_unreadable_body_is_400(shop: ShopHandle) -> None:
    with unchanged(shop):
        assert_rivo_error(shop.api.post("/webhooks", data="", content_type="application/json"), 400)
        assert_rivo_error(shop.api.post("/webhooks", data="{", content_type="application/json"), 400)


def test_update(shop: ShopHandle, client: Any) -> None:
    hook = create(shop)
    client.post("/_rivosim/clock/advance", json={"seconds": 60})
    resp = shop.api.put(f"/webhooks/{hook['id']}", json={"url": "https://new.example.com/h", "status": "disabled"})
    assert resp.status_code == 200
    attrs = resp.get_json()["data"]["attributes"]
    assert attrs["url"] == "https://new.example.com/h" and attrs["status"] == "disabled"
    assert attrs["event_type"] == "points_event/created"
    assert attrs["updated_at"] > attrs["created_at"]
    assert shop.api.data("/webhooks")[0]["attributes"]["url"] == "https://new.example.com/h"


def test_update_to_a_taken_event_type_is_422(shop: ShopHandle) -> None:
    create(shop)
    other = create(shop, event_type="referral/completed", url="https://hooks.example.com/ref")
    with unchanged(shop):
        assert_rivo_error(shop.api.put(f"/webhooks/{other['id']}", json={"event_type": "points_event/created"}),
                          422, parameter="event_type")
    # Re-sending its own event type is fine.
    assert shop.api.put(f"/webhooks/{other['id']}", json={"topic": "referral/completed"}).status_code == 200


@pytest.mark.parametrize(("body", "parameter"), [
    ({"url": "gopher://x"}, "url"), ({"event_type": "nope"}, "event_type"), ({"colour": "red"}, "colour")])
def test_update_validation_changes_nothing(shop: ShopHandle, body: dict[str, Any], parameter: str) -> None:
    hook = create(shop)
    with unchanged(shop):
        assert_rivo_error(shop.api.put(f"/webhooks/{hook['id']}", json=body), 422, parameter=parameter)


def test_update_and_delete_unknown_are_404(shop: ShopHandle) -> None:
    create(shop)
    with unchanged(shop):
        assert_rivo_error(shop.api.put("/webhooks/1", json={"url": "https://x.example.com/"}), 404)
        assert_rivo_error(shop.api.delete("/webhooks/1"), 404)
        assert_rivo_error(shop.api.delete("/webhooks/first"), 422)


def test_delete_then_recreate(shop: ShopHandle) -> None:
    hook = create(shop)
    resp = shop.api.delete(f"/webhooks/{hook['id']}")
    assert resp.status_code == 200
    assert resp.get_json()["data"]["id"] == hook["id"]
    assert shop.api.data("/webhooks") == []
    assert_rivo_error(shop.api.delete(f"/webhooks/{hook['id']}"), 404)
    again = create(shop)
    assert again["id"] != hook["id"]


def test_list_sort_and_filters(shop: ShopHandle) -> None:
    create(shop, event_type="referral/completed", url="https://hooks.example.com/1")
    create(shop, event_type="points_event/created", url="https://hooks.example.com/2")
    data = shop.api.data("/webhooks", query_string={"sort[order_type]": "event_type"})
    assert [w["attributes"]["event_type"] for w in data] == ["points_event/created", "referral/completed"]
    assert_rivo_error(shop.api.get("/webhooks", query_string={"filters[event_type]": "x"}), 422)


def test_secret_is_per_shop(make_shop: Any) -> None:
    a, b = make_shop(), make_shop()
    assert create(a)["attributes"]["secret"] != create(b)["attributes"]["secret"]


def test_malformed_ipv6_url_is_422(shop: ShopHandle) -> None:
    assert_rivo_error(shop.api.post("/webhooks", json={**HOOK, "url": "http://[::1"}), 422, parameter="url")
