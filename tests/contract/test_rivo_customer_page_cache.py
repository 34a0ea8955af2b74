"""The list page's cache of customer shapes (``http/rivo/shapes.py``) never serves stale data: whatever changes a
customer's shape — a write through the API, a change made in Python, an in-place change to a member's sets, a tier
or reward it embeds, the shop's plan — changes the next page, which always equals a fresh ``wire.customer``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient

from rivosim.domain.shop import Shop
from rivosim.engine import Simulator
from rivosim.http.app import RivosimFlask, create_app
from rivosim.http.rivo.customers import SHAPES_KEY
from rivosim.http.rivo.shapes import CustomerShapes
from rivosim.wire import rivo as wire

PAGE = "/merchant_api/v1/customers?pagination[per_page]=25"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Simulator, RivosimFlask, Shop]]:
    monkeypatch.setenv("RIVOSIM_CHECK_CACHES", "0")  # the cache alone, without the suite's double check
    sim = Simulator(seed=7)
    shop = sim.create_shop({"domain": "cache.myshopify.com", "customers": 30, "plan": "scale",
                            "rate_limits": {"rivo": {"enabled": False}}})
    yield sim, create_app(sim), shop


def page(client: FlaskClient, shop: Shop) -> list[dict[str, Any]]:
    resp = client.get(PAGE, headers={"Authorization": shop.credentials.rivo_api_key})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data: list[dict[str, Any]] = orjson.loads(resp.get_data())["data"]
    return data


def fresh(shop: Shop, served: list[dict[str, Any]]) -> list[dict[str, Any]]:
    members = [shop.rivo.members[item["id"]] for item in served]
    return [wire.envelope("customer", m.id, orjson.loads(orjson.dumps(wire.customer(m, shop)))) for m in members]


def shapes(app: RivosimFlask) -> CustomerShapes:
    cache: CustomerShapes = app.extensions[SHAPES_KEY]
    assert cache.check is False
    return cache


def test_a_repeated_page_is_served_from_the_cache_with_the_same_bytes(world: Any) -> None:
    _, app, shop = world
    client = app.test_client()
    first = client.get(PAGE, headers={"Authorization": shop.credentials.rivo_api_key}).get_data()
    second = client.get(PAGE, headers={"Authorization": shop.credentials.rivo_api_key}).get_data()
    assert first == second
    assert shapes(app).hits >= 25
    assert page(client, shop) == fresh(shop, page(client, shop))


def test_a_change_to_the_member_changes_the_next_page(world: Any) -> None:
    _, app, shop = world
    client = app.test_client()
    before = page(client, shop)
    target = before[3]
    key = {"Authorization": shop.credentials.rivo_api_key}
    resp = client.post("/merchant_api/v1/points_events", headers=key, json={
        "customer_identifier": str(target["id"]), "points_amount": 500, "credits_amount": 0,
        "source": "manual"})
    assert resp.status_code == 201
    after = page(client, shop)
    assert after[3]["attributes"]["points_tally"] == target["attributes"]["points_tally"] + 500
    assert after == fresh(shop, after)
    # A change made in Python, not through the API, shows as well.
    shop.rivo.update_member(target["id"], {"first_name": "Renamed"})
    assert page(client, shop)[3]["attributes"]["first_name"] == "Renamed"


def test_an_in_place_change_to_a_members_set_shows(world: Any) -> None:
    _, app, shop = world
    client = app.test_client()
    first = page(client, shop)[0]
    member = shop.rivo.members[first["id"]]
    if member.completed_rule_ids is None:
        member.completed_rule_ids = set()
        page(client, shop)  # cached with the empty set
    member.completed_rule_ids.add(424242)
    assert 424242 in page(client, shop)[0]["attributes"]["completed_earning_rule_ids"]


def test_tiers_rewards_and_the_plan_it_embeds_change_the_next_page(world: Any) -> None:
    sim, app, shop = world
    client = app.test_client()
    before = page(client, shop)
    with_tier = [item for item in before if item["attributes"]["vip_tier"] is not None]
    assert with_tier, "the seeded shop has members in a tier"
    tier = shop.rivo.tiers[with_tier[0]["attributes"]["vip_tier"]["id"]]
    tier.name = "Renamed tier"
    after = page(client, shop)
    assert {item["attributes"]["vip_tier"]["name"] for item in after if item["attributes"]["vip_tier"]
            and item["attributes"]["vip_tier"]["id"] == tier.id} == {"Renamed tier"}
    sim.patch_shop(shop.domain, {"plan": "plus"})  # below Scale: no VIP program
    assert all(item["attributes"]["vip_tier"] is None for item in page(client, shop))
    assert page(client, shop) == fresh(shop, page(client, shop))


def test_a_new_shop_of_the_same_name_does_not_see_the_old_shapes(world: Any) -> None:
    sim, app, shop = world
    client = app.test_client()
    page(client, shop)
    sim.reset(8)
    again = sim.create_shop({"domain": shop.domain, "customers": 30, "rate_limits": {"rivo": {"enabled": False}}})
    served = page(client, again)
    assert served == fresh(again, served)
