"""Admin REST customers (shopify-api.md §1.2, §1.6, §1.7, §5): shapes, create/update/delete, tags, search,
count, filters, cursor pagination with the ``Link`` header, the errors, and the Rivo mirror's visibility delay."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from flask.testing import FlaskClient

from rivosim import Simulator

from .conftest import assert_rivo_error
from .shopify_support import (
    OFFSET_RE,
    AdminApi,
    ShopifyShop,
    assert_shopify_error,
)

PAGINATION_400 = ("{name} cannot be passed when page_info is present. See "
                  "https://shopify.dev/api/usage/pagination-rest for more information.")

pytest_plugins = ["tests.contract.shopify_fixtures"]  # the Shopify fixtures


def links(header: str | None) -> dict[str, str]:
    """Parse ``Link`` the way app-js does: split on ", ", then ``<url>; rel="name"``."""
    out: dict[str, str] = {}
    for part in (header or "").split(", "):
        match = re.match(r'<([^<]+)>; rel="([^"]+)"', part)
        if match:
            out[match.group(2)] = match.group(1)
    return out


# -- shapes ----------------------------------------------------------------------------------------------------------
def test_create_returns_201_and_shopifys_customer_shape(admin: AdminApi) -> None:
    c = admin.create_customer(email="bob.norman@mail.example.com", first_name="Bob", last_name="Norman",
                              tags="Noël, Léon , noël", note="vip", phone="+16135551111")
    assert c["id"] > 0 and c["admin_graphql_api_id"] == f"gid://shopify/Customer/{c['id']}"
    assert c["tags"] == "Léon, Noël"  # one string, trimmed, de-duplicated case-insensitively, sorted
    assert c["total_spent"] == "0.00" and c["orders_count"] == 0 and c["currency"] == "USD"
    assert c["email_marketing_consent"] == {"state": "not_subscribed", "opt_in_level": None,
                                            "consent_updated_at": None}
    assert c["state"] == "disabled" and c["verified_email"] is True
    assert OFFSET_RE.match(c["created_at"]) and OFFSET_RE.match(c["updated_at"])
    assert c["addresses"] == [] and c["default_address"] is None
    got = admin.ok("GET", f"customers/{c['id']}.json")["customer"]
    assert got == c


def test_timestamps_carry_the_shops_utc_offset(make_shopify: Callable[..., ShopifyShop]) -> None:
    admin = make_shopify(timezone="America/New_York").admin
    c = admin.create_customer(email="ny@example.com")
    assert c["created_at"] == "2025-12-31T19:00:00-05:00"


def test_fields_limits_the_keys(admin: AdminApi) -> None:
    c = admin.create_customer(email="a@example.com")
    assert admin.ok("GET", f"customers/{c['id']}.json?fields=id,email")["customer"] == {"id": c["id"],
                                                                                      "email": "a@example.com"}
    listed = admin.ok("GET", "customers.json?fields=id,tags")["customers"]
    assert listed == [{"id": c["id"], "tags": ""}]


def test_email_marketing_consent_sets_accepts_marketing(admin: AdminApi) -> None:
    c = admin.create_customer(email="m@example.com", email_marketing_consent={"state": "subscribed"})
    assert c["accepts_marketing"] is True and c["email_marketing_consent"]["state"] == "subscribed"
    assert c["email_marketing_consent"]["opt_in_level"] == "single_opt_in"


# -- create errors ---------------------------------------------------------------------------------------------------
def test_a_taken_email_is_422_in_shopifys_field_shape(admin: AdminApi) -> None:
    admin.create_customer(email="Taken@Example.com")
    resp = admin.post("customers.json", json={"customer": {"email": "taken@example.com"}})
    assert_shopify_error(resp, 422, {"email": ["has already been taken"]})
    assert len(admin.ok("GET", "customers.json")["customers"]) == 1


@pytest.mark.parametrize(("body", "errors"), [
    ({}, {"customer": "Required parameter missing or invalid"}),
    ({"customer": "x"}, {"customer": "Required parameter missing or invalid"}),
    ({"customers": {"email": "a@example.com"}}, {"customer": "Required parameter missing or invalid"}),
])
def test_a_missing_root_object_is_400(admin: AdminApi, body: dict[str, Any], errors: Any) -> None:
    assert_shopify_error(admin.post("customers.json", json=body), 400, errors)


def test_unreadable_json_is_400(admin: AdminApi) -> None:
    resp = admin.post("customers.json", data=b'{"customer": {', content_type="application/json")
    assert_shopify_error(resp, 400, {"customer": "Required parameter missing or invalid"})


@pytest.mark.parametrize(("fields", "key"), [
    ({"email": "not-an-email"}, "email"),
    ({"email": "a@example.com", "tags": "x" * 256}, "tags"),
    ({"email": "a@example.com", "tags": [f"t{i}" for i in range(251)]}, "tags"),
    ({"email": "a@example.com", "first_name": 5}, "first_name"),
    ({"email": "a@example.com", "verified_email": "yes"}, "verified_email"),
    ({"email": "a@example.com", "email_marketing_consent": {"state": "maybe"}}, "email_marketing_consent"),
    ({"email": "a@example.com", "metafields": [{"namespace": "x", "key": "kk", "value": "v",
                                                "type": "single_line_text_field"}]}, "metafields.namespace"),
])
def test_invalid_customers_are_422_and_change_nothing(admin: AdminApi, fields: dict[str, Any], key: str) -> None:
    errors = assert_shopify_error(admin.post("customers.json", json={"customer": fields}), 422)
    assert list(errors) == [key] and isinstance(errors[key], list) and errors[key][0]
    assert admin.ok("GET", "customers/count.json") == {"count": 0}


def test_create_with_metafields_writes_them(admin: AdminApi) -> None:
    c = admin.create_customer(email="mf@example.com", metafields=[
        {"namespace": "loyalty", "key": "tier", "value": "Gold", "type": "single_line_text_field"}])
    got = admin.ok("GET", f"customers/{c['id']}/metafields.json?namespace=loyalty")["metafields"]
    assert [(m["key"], m["value"], m["owner_resource"]) for m in got] == [("tier", "Gold", "customer")]


# -- update and delete -----------------------------------------------------------------------------------------------
def test_put_tags_replaces_the_whole_set(admin: AdminApi) -> None:
    c = admin.create_customer(email="t@example.com", tags="Old, Keep")
    # The official example: {"customer":{"id":207119551,"tags":"New Customer, Repeat Customer"}}
    got = admin.ok("PUT", f"customers/{c['id']}.json",
                   json={"customer": {"id": c["id"], "tags": "New Customer, Repeat Customer"}})["customer"]
    assert got["tags"] == "New Customer, Repeat Customer"
    assert admin.ok("PUT", f"customers/{c['id']}.json", json={"customer": {"tags": ""}})["customer"]["tags"] == ""


def test_a_whole_object_sent_back_is_accepted_read_only_fields_ignored(admin: AdminApi) -> None:
    c = admin.create_customer(email="round@example.com", first_name="Round", tags="a")
    c["first_name"] = "Trip"
    c["tags"] = "a, b"
    c["orders_count"] = 99  # read-only: ignored, as ActiveResource clients send everything back
    got = admin.ok("PUT", f"customers/{c['id']}.json", json={"customer": c})["customer"]
    assert (got["first_name"], got["tags"], got["orders_count"]) == ("Trip", "a, b", 0)
    assert got["updated_at"] == c["updated_at"] or OFFSET_RE.match(got["updated_at"])


def test_an_update_refused_changes_nothing(admin: AdminApi) -> None:
    a = admin.create_customer(email="a@example.com", first_name="A")
    admin.create_customer(email="b@example.com")
    resp = admin.put(f"customers/{a['id']}.json", json={"customer": {"first_name": "Changed",
                                                                     "email": "b@example.com"}})
    assert_shopify_error(resp, 422, {"email": ["has already been taken"]})
    assert admin.ok("GET", f"customers/{a['id']}.json")["customer"]["first_name"] == "A"
    assert_shopify_error(admin.put("customers/424242.json", json={"customer": {"note": "x"}}), 404, "Not Found")


def test_delete_then_not_found_and_a_customer_with_orders_cannot_be_deleted(admin: AdminApi) -> None:
    c = admin.create_customer(email="gone@example.com")
    assert admin.ok("DELETE", f"customers/{c['id']}.json") == {}
    assert_shopify_error(admin.get(f"customers/{c['id']}.json"), 404, "Not Found")
    buyer = admin.create_customer(email="buyer@example.com")
    admin.create_order(customer={"id": buyer["id"]})
    assert_shopify_error(admin.delete(f"customers/{buyer['id']}.json"), 422, ["Error deleting customer"])
    assert admin.get(f"customers/{buyer['id']}.json").status_code == 200


# -- list, filters, count --------------------------------------------------------------------------------------------
def test_list_filters_ids_since_id_and_dates(sim: Simulator, admin: AdminApi) -> None:
    first = admin.create_customer(email="c0@example.com")
    sim.advance("P1D")
    rest = [admin.create_customer(email=f"c{i}@example.com") for i in range(1, 4)]
    ids = [first["id"]] + [c["id"] for c in rest]

    def listed(query: str) -> list[int]:
        return [c["id"] for c in admin.ok("GET", f"customers.json?{query}")["customers"]]

    assert listed("") == ids
    assert listed(f"ids={ids[2]},{ids[0]}") == [ids[0], ids[2]]
    assert listed(f"since_id={ids[1]}") == ids[2:]
    assert listed("created_at_min=2026-01-01T12:00:00%2B00:00") == ids[1:]
    assert listed("created_at_max=2026-01-01T12:00:00Z") == ids[:1]
    assert listed("updated_at_min=2026-01-02") == ids[1:]
    assert admin.ok("GET", "customers/count.json") == {"count": 4}
    assert admin.ok("GET", "customers/count.json?created_at_min=2026-01-01T12:00:00Z") == {"count": 3}


@pytest.mark.parametrize(("query", "param"), [("limit=0", "limit"), ("limit=abc", "limit"), ("since_id=x", "since_id"),
                                              ("ids=1,x", "ids"), ("created_at_min=yesterday", "created_at_min"),
                                              ("page=2", "page")])
def test_bad_list_parameters_are_400_naming_the_parameter(admin: AdminApi, query: str, param: str) -> None:
    errors = assert_shopify_error(admin.get(f"customers.json?{query}"), 400)
    assert list(errors) == [param]


def test_limit_above_250_is_capped(admin: AdminApi) -> None:
    assert admin.get("customers.json?limit=1000").status_code == 200


# -- pagination ------------------------------------------------------------------------------------------------------
def test_cursor_pagination_walks_forward_and_back_with_the_link_header(admin: AdminApi) -> None:
    ids = [admin.create_customer(email=f"p{i}@example.com")["id"] for i in range(7)]
    first = admin.get("customers.json?limit=3")
    assert [c["id"] for c in first.get_json()["customers"]] == ids[:3]
    rel = links(first.headers["Link"])
    assert set(rel) == {"next"}  # the first page has only rel="next"
    query = parse_qs(urlparse(rel["next"]).query)
    assert set(query) == {"limit", "page_info"} and query["limit"] == ["3"]
    second = admin.get(rel["next"])
    assert [c["id"] for c in second.get_json()["customers"]] == ids[3:6]
    rel2 = links(second.headers["Link"])
    assert set(rel2) == {"previous", "next"}
    assert second.headers["Link"].index('rel="previous"') < second.headers["Link"].index('rel="next"')
    last = admin.get(rel2["next"])
    assert [c["id"] for c in last.get_json()["customers"]] == ids[6:]
    assert set(links(last.headers["Link"])) == {"previous"}  # the last page has only rel="previous"
    back = admin.get(links(last.headers["Link"])["previous"])
    assert [c["id"] for c in back.get_json()["customers"]] == ids[3:6]


def test_no_link_header_when_everything_fits(admin: AdminApi) -> None:
    admin.create_customer(email="one@example.com")
    assert "Link" not in admin.get("customers.json").headers


def test_the_cursor_keeps_the_original_filters(admin: AdminApi) -> None:
    ids = [admin.create_customer(email=f"f{i}@example.com")["id"] for i in range(6)]
    page = admin.get(f"customers.json?limit=2&since_id={ids[1]}")
    nxt = admin.get(links(page.headers["Link"])["next"])
    assert [c["id"] for c in nxt.get_json()["customers"]] == ids[4:6]


@pytest.mark.parametrize("extra", ["updated_at_min=2024-01-01", "status=open", "since_id=1", "ids=1"])
def test_a_filter_with_page_info_is_the_documented_400(admin: AdminApi, extra: str) -> None:
    for i in range(3):
        admin.create_customer(email=f"x{i}@example.com")
    nxt = links(admin.get("customers.json?limit=1").headers["Link"])["next"]
    name = extra.split("=")[0]
    assert_shopify_error(admin.get(f"{nxt}&{extra}"), 400, {name: PAGINATION_400.format(name=name)})
    # limit and fields may come along
    assert admin.get(f"{nxt}&fields=id").status_code == 200


FOREIGN_CURSOR = "eyJyIjoic2hvcGlmeS5vcmRlcnNfX2xpc3QiLCJkIjoibmV4dCIsImEiOjEsImYiOnt9fQ"  # the orders list's


@pytest.mark.parametrize("token", ["garbage", "e30", FOREIGN_CURSOR])
def test_a_bad_or_foreign_page_info_is_400(admin: AdminApi, token: str) -> None:
    assert_shopify_error(admin.get(f"customers.json?page_info={token}"), 400, {"page_info": "Invalid value."})


# -- search ----------------------------------------------------------------------------------------------------------
@pytest.fixture
def people(admin: AdminApi) -> dict[str, int]:
    made = {
        "bob": admin.create_customer(email="bob.norman@mail.example.com", first_name="Bob", last_name="Norman",
                                     tags="New Customer, VIP"),
        "ann": admin.create_customer(email="ann@shop.example.org", first_name="Ann", last_name="Lee", tags="VIP"),
        "cat": admin.create_customer(email="cat@mail.example.com", first_name="Cat", last_name="Norman"),
    }
    return {k: v["id"] for k, v in made.items()}


@pytest.mark.parametrize(("query", "who"), [
    ("email:bob.norman@mail.example.com", ["bob"]),
    ("email:*@mail.example.com", ["bob", "cat"]),
    ("last_name:Norman", ["bob", "cat"]),
    ("customer_tag:New Customer", ["bob"]),
    ("tag:vip", ["bob", "ann"]),
    ("tag:VIP last_name:Lee", ["ann"]),
    ("first_name:Bob OR first_name:Cat", ["bob", "cat"]),
    ("-tag:VIP", ["cat"]),
    ("norman", ["bob", "cat"]),
    ("email:nobody@example.com", []),
    ("country:United States", []),
    ("", ["bob", "ann", "cat"]),
])
def test_search_terms(admin: AdminApi, people: dict[str, int], query: str, who: list[str]) -> None:
    found = admin.ok("GET", "customers/search.json", query_string={"query": query})["customers"]
    assert [c["id"] for c in found] == [people[w] for w in who]


def test_search_pages_with_its_query_in_the_cursor(admin: AdminApi, people: dict[str, int]) -> None:
    first = admin.get("customers/search.json", query_string={"query": "email:*@mail.example.com", "limit": "1"})
    assert [c["id"] for c in first.get_json()["customers"]] == [people["bob"]]
    second = admin.get(links(first.headers["Link"])["next"])
    assert [c["id"] for c in second.get_json()["customers"]] == [people["cat"]]
    assert "next" not in links(second.headers.get("Link"))


# -- Rivo's view of customers made here ------------------------------------------------------------------------------
def test_a_customer_created_here_reaches_rivo_after_the_visibility_delay(sim: Simulator, shopify: ShopifyShop,
                                                                          client: FlaskClient) -> None:
    c = shopify.admin.create_customer(email="late@example.com")
    api = shopify.handle.api
    assert_rivo_error(api.get(f"/customers/{c['id']}"), 404)
    sim.advance(29)
    assert api.get(f"/customers/{c['id']}").status_code == 404
    sim.advance(1)
    got = api.data(f"/customers/{c['id']}")["attributes"]
    assert got["email"] == "late@example.com" and got["points_tally"] == 100  # the sign-up rule


def test_a_tag_change_here_reaches_rivo(sim: Simulator, shopify: ShopifyShop) -> None:
    c = shopify.admin.create_customer(email="excluded@example.com")
    sim.advance(30)
    shopify.admin.ok("PUT", f"customers/{c['id']}.json", json={"customer": {"tags": "Rivo Excluded"}})
    assert shopify.handle.customer(c["id"])["shopify_tags"] == ["Rivo Excluded"]
