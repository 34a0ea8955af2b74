"""Pagination, sorting and filters (rivo-api.md §1.5, CONFIRMED /reference/pagination): offset mode with
``links.self/next/last``, cursor mode with ``links.since_id/limit/next_since_id``, and their limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import ShopHandle, assert_rivo_error

N = 60


@pytest.fixture
def big(make_shop: Callable[..., ShopHandle]) -> ShopHandle:
    return make_shop(customers=N)


@pytest.fixture
def all_ids(big: ShopHandle) -> list[int]:
    ids = [c["id"] for c in big.api.data("/customers", query_string={"pagination[per_page]": "250"})]
    assert len(ids) == N
    return ids


def page(shop: ShopHandle, path: str = "/customers", **query: str) -> dict[str, Any]:
    resp = shop.api.get(path, query_string=query)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()  # type: ignore[no-any-return]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# -- offset mode ----------------------------------------------------------------------------------------------------
def test_default_page_is_25_with_links(big: ShopHandle, all_ids: list[int]) -> None:
    body = page(big)
    assert set(body["links"]) == {"self", "next", "last"}
    assert [c["id"] for c in body["data"]] == all_ids[:25]
    assert query_of(body["links"]["self"]) == {"pagination[page]": "1", "pagination[per_page]": "25"}
    assert query_of(body["links"]["next"]) == {"pagination[page]": "2", "pagination[per_page]": "25"}
    assert query_of(body["links"]["last"]) == {"pagination[page]": "3", "pagination[per_page]": "25"}
    assert urlsplit(body["links"]["self"]).path == "/merchant_api/v1/customers"


def test_last_page_has_no_next(big: ShopHandle, all_ids: list[int]) -> None:
    body = page(big, **{"pagination[page]": "3"})
    assert [c["id"] for c in body["data"]] == all_ids[50:]
    assert body["links"]["next"] is None
    assert query_of(body["links"]["last"])["pagination[page]"] == "3"


def test_following_next_visits_every_item_once(big: ShopHandle, all_ids: list[int]) -> None:
    seen: list[int] = []
    url: str | None = "/customers?pagination[per_page]=7"
    pages = 0
    while url is not None:
        path = url.split("/merchant_api/v1", 1)[1] if "/merchant_api/v1" in url else url
        body = page(big, path.split("?")[0], **query_of("http://x" + path))
        seen += [c["id"] for c in body["data"]]
        url = body["links"]["next"]
        pages += 1
    assert seen == all_ids and pages == 9


def test_exact_multiple_has_no_empty_last_page(big: ShopHandle) -> None:
    body = page(big, **{"pagination[per_page]": "20", "pagination[page]": "3"})
    assert len(body["data"]) == 20 and body["links"]["next"] is None
    assert query_of(body["links"]["last"])["pagination[page]"] == "3"


def test_page_past_the_end_is_empty(big: ShopHandle) -> None:
    body = page(big, **{"pagination[page]": "500"})
    assert body["data"] == [] and body["links"]["next"] is None


def test_per_page_max_250(big: ShopHandle) -> None:
    assert len(page(big, **{"pagination[per_page]": "250"})["data"]) == N


@pytest.mark.parametrize(("param", "value"), [
    ("pagination[per_page]", "251"), ("pagination[per_page]", "0"), ("pagination[per_page]", "ten"),
    ("pagination[per_page]", "-5"), ("pagination[per_page]", "2.5"), ("pagination[per_page]", "²"),
    ("pagination[page]", "501"), ("pagination[page]", "0"), ("pagination[page]", "two"),
    ("pagination[page]", "9" * 30), ("pagination[page]", "٣"),
    ("pagination[limit]", "251"), ("pagination[limit]", "0"),
    ("pagination[since_id]", "abc"), ("pagination[since_id]", "-1"), ("pagination[since_id]", "²"),
    ("pagination[since_id]", "1" * 5000),
    ("pagination[size]", "10"),
])
def test_out_of_range_or_malformed_is_422(big: ShopHandle, param: str, value: str) -> None:
    query = {param: value}
    if param == "pagination[limit]":
        query["pagination[since_id]"] = "0"
    assert_rivo_error(big.api.get("/customers", query_string=query), 422, parameter=param)


def test_links_keep_filters_and_sort(shop: ShopHandle, member: dict[str, Any]) -> None:
    for n in range(4):
        shop.give(member["id"], n + 1)
    query = {"filters[customer_identifier]": str(member["id"]), "sort[order_type]": "points_diff",
             "sort[order_direction]": "desc", "pagination[per_page]": "2"}
    body = page(shop, "/points_events", **query)
    nxt = query_of(body["links"]["next"])
    assert nxt == {**query, "pagination[page]": "2"}
    assert [e["attributes"]["points_diff"] for e in body["data"]] == [100, 4]
    second = page(shop, "/points_events", **nxt)
    assert [e["attributes"]["points_diff"] for e in second["data"]] == [3, 2]


# -- cursor mode ----------------------------------------------------------------------------------------------------
def test_cursor_links_shape(big: ShopHandle, all_ids: list[int]) -> None:
    body = page(big, **{"pagination[since_id]": "0", "pagination[limit]": "10"})
    assert body["links"] == {"since_id": 0, "limit": 10, "next_since_id": all_ids[9]}
    assert [c["id"] for c in body["data"]] == all_ids[:10]


def test_cursor_default_limit_is_25(big: ShopHandle, all_ids: list[int]) -> None:
    body = page(big, **{"pagination[since_id]": str(all_ids[0])})
    assert body["links"]["limit"] == 25
    assert [c["id"] for c in body["data"]] == all_ids[1:26]


@pytest.mark.parametrize("limit", [1, 7, 20, 25, 59, 60, 250])
def test_cursor_walk_visits_every_item_once_in_id_order(big: ShopHandle, all_ids: list[int], limit: int) -> None:
    seen: list[int] = []
    since: int | None = 0
    pages = 0
    while since is not None:
        body = page(big, **{"pagination[since_id]": str(since), "pagination[limit]": str(limit)})
        assert body["links"]["since_id"] == since and body["links"]["limit"] == limit
        seen += [c["id"] for c in body["data"]]
        since = body["links"]["next_since_id"]
        pages += 1
        assert pages <= N + 1
    assert seen == all_ids == sorted(all_ids)
    assert pages == -(-N // limit)  # no trailing empty page


def test_cursor_from_the_middle_and_past_the_end(big: ShopHandle, all_ids: list[int]) -> None:
    body = page(big, **{"pagination[since_id]": str(all_ids[49]), "pagination[limit]": "25"})
    assert [c["id"] for c in body["data"]] == all_ids[50:]
    assert body["links"]["next_since_id"] is None
    past = page(big, **{"pagination[since_id]": str(all_ids[-1] + 1_000_000)})
    assert past["data"] == [] and past["links"]["next_since_id"] is None
    # since_id need not be an existing id.
    between = page(big, **{"pagination[since_id]": str(all_ids[9] + 0), "pagination[limit]": "1"})
    assert [c["id"] for c in between["data"]] == [all_ids[10]]


def test_per_page_with_since_id_falls_back_to_offset(big: ShopHandle, all_ids: list[int]) -> None:
    body = page(big, **{"pagination[since_id]": str(all_ids[30]), "pagination[per_page]": "10"})
    assert set(body["links"]) == {"self", "next", "last"}
    assert [c["id"] for c in body["data"]] == all_ids[:10]


def test_cursor_ignores_sort(big: ShopHandle, all_ids: list[int]) -> None:
    body = page(big, **{"pagination[since_id]": "0", "pagination[limit]": "250", "sort[order_type]": "email",
                        "sort[order_direction]": "desc"})
    assert [c["id"] for c in body["data"]] == all_ids


def test_cursor_on_other_collections(shop: ShopHandle, member: dict[str, Any]) -> None:
    created = [shop.give(member["id"], 1)["id"] for _ in range(12)]
    ids = [e["id"] for e in shop.collection("/points_events")]
    assert ids == sorted(ids) and ids[-12:] == created
    body = page(shop, "/points_events", **{"pagination[since_id]": str(created[4]), "pagination[limit]": "5"})
    assert [e["id"] for e in body["data"]] == created[5:10]
    assert body["links"]["next_since_id"] == created[9]


def test_cursor_skips_customers_not_yet_visible(big: ShopHandle, all_ids: list[int], client: Any) -> None:
    late = big.add_customer(visible=False, email="late@example.com")
    assert late["id"] not in [c["id"] for c in big.collection("/customers")]
    client.post("/_rivosim/clock/advance", json={"duration": "PT30S"})
    assert [c["id"] for c in big.collection("/customers")] == [*all_ids, late["id"]]


# -- sorting --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("direction", ["asc", "desc", "DESC"])
def test_sort_by_email(big: ShopHandle, direction: str) -> None:
    data = page(big, **{"sort[order_type]": "email", "sort[order_direction]": direction,
                        "pagination[per_page]": "250"})["data"]
    emails = [c["attributes"]["email"] for c in data]
    assert emails == sorted(emails, reverse=direction.lower() == "desc")


def test_sort_desc_without_field_reverses_id_order(big: ShopHandle, all_ids: list[int]) -> None:
    data = page(big, **{"sort[order_direction]": "desc", "pagination[per_page]": "5"})["data"]
    assert [c["id"] for c in data] == all_ids[::-1][:5]


def test_sorted_pages_partition_the_collection(big: ShopHandle, all_ids: list[int]) -> None:
    seen: list[int] = []
    for n in (1, 2, 3):
        seen += [c["id"] for c in page(big, **{"sort[order_type]": "points_tally", "sort[order_direction]": "desc",
                                               "pagination[page]": str(n)})["data"]]
    assert sorted(seen) == sorted(all_ids)


@pytest.mark.parametrize(("query", "parameter"), [
    ({"sort[order_type]": "favourite_colour"}, "sort[order_type]"),
    ({"sort[order_type]": "email", "sort[order_direction]": "up"}, "sort[order_direction]"),
    ({"filters[email]": "a@example.com"}, "filters[email]"),
    ({"filter[email]": "a@example.com"}, "filter[email]"),
])
def test_unknown_sort_or_filter_is_422(big: ShopHandle, query: dict[str, str], parameter: str) -> None:
    assert_rivo_error(big.api.get("/customers", query_string=query), 422, parameter=parameter)


@pytest.mark.parametrize("path", ["/points_events", "/points_redemptions", "/rewards", "/vip_tiers", "/referrals",
                                  "/webhooks", "/earning_rules", "/widget_events"])
def test_every_collection_has_offset_links_and_caps(shop: ShopHandle, path: str) -> None:
    body = page(shop, path)
    assert set(body) == {"links", "data"} and set(body["links"]) == {"self", "next", "last"}
    assert_rivo_error(shop.api.get(path, query_string={"pagination[per_page]": "251"}), 422,
                      parameter="pagination[per_page]")
    assert_rivo_error(shop.api.get(path, query_string={"sort[order_type]": "nope"}), 422,
                      parameter="sort[order_type]")
    cursor = page(shop, path, **{"pagination[since_id]": "0"})
    assert set(cursor["links"]) == {"since_id", "limit", "next_since_id"}


@pytest.fixture
def populated(shop: ShopHandle, member: dict[str, Any]) -> ShopHandle:
    """A shop with at least two items in every collection."""
    other = shop.add_customer(email="zed@example.com")
    shop.give(member["id"], 900)
    shop.give(other["id"], 600)
    reward = shop.reward_named("$5 off coupon")
    for cid in (member["id"], other["id"]):
        assert shop.api.post("/points_redemptions", json={"customer_identifier": cid,
                                                          "reward_id": reward["id"]}).status_code == 201
        shop.control("POST", f"/customers/{cid}/actions", json={"action": "widget_open"})
    code = shop.customer(member["id"])["referral_code"]
    for email in ("f1@example.com", "f2@example.com"):
        created = shop.api.post("/referrals", json={"email": email, "referral_code": code, "remote_ip": "10.1.1.1"})
        assert created.status_code == 201
    shop.api.post(f"/referrals/{created.get_json()['data']['id']}/complete")
    for topic in ("referral/completed", "points_event/created"):
        shop.api.post("/webhooks", json={"event_type": topic, "url": "https://hooks.example.com/x"})
    return shop


@pytest.mark.parametrize("path", ["/customers", "/points_events", "/points_redemptions", "/rewards", "/vip_tiers",
                                  "/referrals", "/webhooks", "/earning_rules", "/widget_events"])
def test_every_advertised_sort_field_sorts(populated: ShopHandle, path: str) -> None:
    # The 422 for an unknown field lists the accepted ones; each of them must work both ways.
    err = assert_rivo_error(populated.api.get(path, query_string={"sort[order_type]": "?"}), 422)
    fields = [f.strip() for f in err["detail"].split("must be one of", 1)[1].split(",")]
    assert "id" in fields
    for field in fields:
        for direction in ("asc", "desc"):
            data = page(populated, path, **{"sort[order_type]": field, "sort[order_direction]": direction})["data"]
            assert len(data) >= 2, (path, field)
            values = [d["attributes"].get(field) for d in data]
            if all(v is not None for v in values):
                assert values == sorted(values, reverse=direction == "desc"), (path, field, direction)
