"""Fuzzing the three APIs (Rivo, Shopify Admin, control) with hostile bodies, numbers and headers: no request is
ever a 5xx without an injected fault, and a refused write changes nothing. One request per example, each on a
fresh world (examples are bounded by the hypothesis profile in tests/conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rivosim import Simulator, create_app
from rivosim.wire.state import snapshot

DOMAIN = "fuzz.myshopify.com"
SHOPIFY = "/admin/api/2025-10"

ROUTES: dict[str, list[tuple[str, str]]] = {
    "rivo": [("POST", "/merchant_api/v1/points_events"), ("POST", "/merchant_api/v1/customers"),
             ("PUT", "/merchant_api/v1/customers/{cid}"), ("POST", "/merchant_api/v1/webhooks"),
             ("POST", "/merchant_api/v1/redemptions"), ("GET", "/merchant_api/v1/customers"),
             ("POST", "/merchant_api/v1/referrals")],
    "shopify": [("POST", f"{SHOPIFY}/customers.json"), ("PUT", f"{SHOPIFY}/customers/{{sid}}.json"),
                ("POST", f"{SHOPIFY}/orders.json"), ("POST", f"{SHOPIFY}/webhooks.json"),
                ("POST", f"{SHOPIFY}/graphql.json"), ("GET", f"{SHOPIFY}/customers.json")],
    "control": [("POST", "/_rivosim/shops"), ("PATCH", f"/_rivosim/shops/{DOMAIN}"),
                ("POST", f"/_rivosim/shops/{DOMAIN}/customers"), ("POST", "/_rivosim/clock/advance"),
                ("POST", "/_rivosim/faults"), ("POST", "/_rivosim/webhooks/trigger"), ("GET", "/_rivosim/journal")],
}
FIELDS = ["email", "points_amount", "credits_amount", "customer_identifier", "source", "event_type", "url", "topic",
          "address", "customer", "webhook", "order", "seconds", "duration", "domain", "first_name", "tags", "query",
          "variables", "line_items", "price", "reward_id", "vip_tier_id", "status", "api", "faults", "id"]
WEIRD = ["١٢", " 5", "5 ", "1e999", "NaN", "-0", "9" * 40, "\ud800", "\x00", "http://127.0.0.1:1/_rivosim/reset",
         "customers/create", "points_event/created", "a@b.co", "P30D", "", "true"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False), st.text(max_size=20), st.sampled_from(WEIRD))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4)),
                      max_leaves=12)
documents = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6)


def _encode(doc: Any) -> bytes:
    try:
        return json.dumps(doc).encode()
    except (ValueError, UnicodeEncodeError):
        return b"{}"


bodies = st.one_of(
    documents.map(lambda d: (_encode(d), "application/json")),
    values.map(lambda v: (_encode(v), "application/json")),
    st.integers(min_value=1, max_value=200).map(lambda n: (b"[" * n + b"]" * n, "application/json")),
    st.binary(max_size=64).map(lambda b: (b, "application/json")),
    st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(WEIRD), max_size=4).map(
        lambda d: ("&".join(f"{k}={v}" for k, v in d.items()).encode("utf-8", "surrogatepass"),
                   "application/x-www-form-urlencoded")),
    st.binary(max_size=32).map(lambda b: (b, "text/plain")),
)
queries = st.dictionaries(st.sampled_from(["per_page", "page", "limit", "since_id", "cursor", "email"]),
                          st.sampled_from([*(w for w in WEIRD if w != "\ud800"), "10", "0", "-1"]), max_size=3)


class World:
    def __init__(self) -> None:
        self.sim = Simulator(seed=1)
        self.client = create_app(self.sim).test_client()

    def fresh(self) -> dict[str, str]:
        self.sim.reset()
        shop = self.sim.create_shop({"domain": DOMAIN, "rate_limits": {"rivo": {"enabled": False}}})
        customer = shop.shopify.create_customer(email="known@example.com")
        self.ids = {"cid": str(customer.id), "sid": str(customer.id)}
        return {"Authorization": shop.credentials.rivo_api_key,
                "X-Shopify-Access-Token": shop.credentials.shopify_access_token}

    def state(self) -> str:
        shops = {domain: snapshot(shop) for domain, shop in self.sim.shops.items()}
        for shot in shops.values():
            shot.pop("now", None)
        return json.dumps([shops, [r.id for r in self.sim.faults.rules], self.sim.now().isoformat()],
                          sort_keys=True, default=str)


@pytest.fixture(scope="module")
def world() -> World:
    return World()


@pytest.mark.parametrize("api", sorted(ROUTES))
def test_no_5xx_and_a_refused_write_changes_nothing(world: World, api: str) -> None:
    @given(route=st.sampled_from(ROUTES[api]), body=bodies, query=queries)
    def check(route: tuple[str, str], body: tuple[bytes, str], query: dict[str, str]) -> None:
        headers = world.fresh()
        method, template = route
        path = template.format(**world.ids)
        before = world.state()
        r = world.client.open(path, method=method, data=body[0] if method != "GET" else None,
                              content_type=body[1], headers=headers, query_string=query)
        assert r.status_code < 500, (method, path, body, r.get_data()[:500])
        assert not world.sim.bugs, world.sim.bugs
        if method != "GET" and r.status_code >= 400:
            assert world.state() == before, (method, path, body, r.status_code)
        assert world.client.get("/_rivosim/journal").status_code == 200

    check()
