"""The list page's caches (``http/rivo/shapes.py``: customer shapes, and whole pages by the shop's change stamp)
never serve stale data: whatever changes a customer's shape — a write through any API route, a change made in
Python, an in-place change to a member's sets, a tier or reward it embeds, the shop's plan, time passing — changes
the next page, which always equals a fresh ``wire.customer``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient

from rivosim.domain.shop import Shop
from rivosim.engine import Simulator
from rivosim.http.app import RivosimFlask, create_app
from rivosim.http.rivo.customers import SHAPES_KEY
from rivosim.http.rivo.shapes import CustomerShapes, page_stamp
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
    assert shapes(app).page_hits == 1  # the whole page, once stored
    client.get(PAGE + "&sort[order_type]=id", headers={"Authorization": shop.credentials.rivo_api_key})
    assert shapes(app).hits >= 25  # another page of the same customers: their shapes
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


def test_every_write_route_moves_the_page_stamp(world: Any) -> None:
    """The one choke point for HTTP: every request other than GET/HEAD/OPTIONS is journaled after its view ran, and
    journaling it moves the stamp whole pages are cached by — whatever the route, its API, or whether it succeeded.
    A route added later is covered without knowing of the cache."""
    sim, app, shop = world
    client = app.test_client()
    key = shop.credentials.rivo_api_key
    writes = [spec for spec in app.routes if spec.method not in ("GET", "HEAD", "OPTIONS")]
    assert len(writes) > 40
    at_once = {"api": {"new_customer_visibility_delay": "PT0S"}}  # no hidden customer: every stamp is a stamp
    sim.patch_shop(shop.domain, at_once)
    for spec in writes:
        live = sim.shops.get(shop.domain) or sim.create_shop({"domain": shop.domain, "customers": 3, **at_once})
        before = page_stamp(sim.journal, live, None)
        assert before is not None
        path = re.sub(r"<(?:\w+:)?domain>", live.domain, spec.rule)
        path = re.sub(r"<(?:\w+:)?\w+>", "1", path)
        resp = client.open(path, method=spec.method, json={},
                           headers={"Authorization": key, "X-Shopify-Access-Token": "x"})
        assert resp.status_code < 500, (spec.name, resp.get_data(as_text=True)[:300])
        assert sim.journal.entries()[-1].route == spec.name  # the request reached that very route
        assert page_stamp(sim.journal, sim.shops.get(shop.domain) or live, None) != before, spec.name


def test_a_change_published_in_the_domain_or_made_by_a_timer_moves_the_shops_revision(world: Any) -> None:
    """Changes made in Python through the backends, and those timers make (an expiry), move ``RivoBackend.revision``
    (every domain event of the shop, every mutator call), so a page cached before them is not served after."""
    sim, app, shop = world
    client = app.test_client()
    sim.patch_shop(shop.domain, {"program": {"expiry": {"enabled": True, "mode": "inactivity", "months": 1}}})
    member = next(iter(shop.rivo.members.values()))
    revision = shop.rivo.revision
    shop.rivo.create_points_event({"customer_identifier": str(member.id), "points_amount": 70, "source": "manual",
                                   "credits_amount": 0})
    assert shop.rivo.revision != revision
    shop.shopify.create_customer(email="new.one@example.com")  # a Shopify-side event reaches Rivo
    served = page(client, shop)
    revision = shop.rivo.revision
    sim.advance("P40D")  # the inactive member's points expire (a timer)
    assert shop.rivo.revision != revision
    assert page(client, shop) == fresh(shop, served)


def test_a_page_is_not_cached_while_a_new_customer_is_hidden(world: Any) -> None:
    """A hidden customer appears by time passing alone (no event, no write): until then no page is stored."""
    sim, app, shop = world
    shop.shopify.create_customer(email="late@example.com")  # hidden for the default 30 s
    assert shop.rivo.member_book.hidden_until
    assert page_stamp(sim.journal, shop, None) is None
    client = app.test_client()
    last = "/merchant_api/v1/customers?pagination[page]=2&pagination[per_page]=25"
    auth = {"Authorization": shop.credentials.rivo_api_key}
    assert "late@example.com" not in client.get(last, headers=auth).get_data(as_text=True)
    sim.advance("PT31S")
    assert "late@example.com" in client.get(last, headers=auth).get_data(as_text=True)
    assert page_stamp(sim.journal, shop, None) is not None
