"""The strategies produce what the simulator accepts, and two whole-world properties: one seed replays a run
byte for byte, and traffic to one shop never changes another shop's ids (what server mode relies on)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from rivosim import Simulator, create_app
from rivosim.domain.config import validate_config
from rivosim.domain.seeding import name_pools
from rivosim.testing import strategies as rs

DOMAIN = "prop.myshopify.com"


_SHARED: list[tuple[Simulator, FlaskClient]] = []


def world(config: dict[str, Any] | None = None, seed: int = 1) -> tuple[Simulator, FlaskClient, dict[str, Any]]:
    """A fresh world with one shop. One simulator and app serve every example (building an app compiles every
    route); ``reset`` gives each example a clean one."""
    if not _SHARED:
        sim = Simulator()
        _SHARED.append((sim, create_app(sim).test_client()))
    sim, client = _SHARED[0]
    sim.reset(seed)
    r = client.post("/_rivosim/shops", json={**(config or {}), "domain": DOMAIN})
    assert r.status_code == 201, r.get_json()
    return sim, client, r.get_json()


@given(rs.shop_configs())
def test_shop_configs_are_valid_documents(config: dict[str, Any]) -> None:
    validate_config({**config, "domain": DOMAIN})
    sim = Simulator()
    shop = sim.create_shop({**config, "domain": DOMAIN})
    assert [t.threshold for t in shop.rivo.tier_order] == sorted(t["threshold"] for t in config["program"]["vip"]
                                                                 ["tiers"])


@given(rs.fault_plans(shop=DOMAIN))
def test_fault_plans_are_valid_rules(plan: list[dict[str, Any]]) -> None:
    sim = Simulator()
    rules = sim.faults.add_all(plan)
    assert [r.id for r in rules] == [f"plan-{i + 1}" for i in range(len(plan))]
    assert all(r.match["shop"] == DOMAIN and r.match["api"] == "rivo" for r in rules)


@given(rs.customers(joins_program=st.booleans()), rs.orders(paid=st.just(True)))
def test_customers_and_orders_are_accepted(customer: dict[str, Any], order: dict[str, Any]) -> None:
    firsts, lasts = name_pools()
    assert customer["first_name"] in firsts and customer["last_name"] in lasts
    _, client, _ = world({"rate_limits": {"rivo": {"enabled": False}}})
    r = client.post(f"/_rivosim/shops/{DOMAIN}/customers", json={**customer, "visibility_delay": 0})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["loyalty"]["loyalty_status"] == ("member" if customer["joins_program"] else "guest")
    r = client.post(f"/_rivosim/shops/{DOMAIN}/orders", json={**order, "customer_id": r.get_json()["id"]})
    assert r.status_code == 201, r.get_json()
    total = sum(Decimal(li["price"]) * li["quantity"] for li in order["line_items"])
    assert Decimal(r.get_json()["total_price"]) == total


@given(rs.points_events(), rs.refunds(Decimal("50.00")))
def test_points_events_and_refunds_are_well_formed(event: dict[str, Any], refund: dict[str, Any]) -> None:
    _, client, created = world({"api": {"allow_negative_balance": True},
                                  "program": {"earning_rules": [
                                      {"trigger": "custom_action", "custom_action_name": "quiz", "points_amount": 5},
                                      {"trigger": "instagram_follow", "points_amount": 5},
                                      {"trigger": "facebook_share", "points_amount": 5},
                                      {"trigger": "twitter_follow", "points_amount": 5}]}})
    cid = client.post(f"/_rivosim/shops/{DOMAIN}/customers",
                      json={"email": "a@example.com", "visibility_delay": 0}).get_json()["id"]
    r = client.post("/merchant_api/v1/points_events", headers={"Authorization": created["rivo_api_key"]},
                    json={**event, "customer_identifier": cid})
    assert r.status_code == 201, r.get_json()
    order = client.post(f"/_rivosim/shops/{DOMAIN}/orders", json={
        "customer_id": cid, "paid": True, "line_items": [{"title": "x", "price": "50.00"}]}).get_json()
    r = client.post(f"/_rivosim/shops/{DOMAIN}/orders/{order['id']}/refund", json=refund)
    assert r.status_code == 200, r.get_json()


@given(st.lists(rs.time_steps(max_days=40), min_size=1, max_size=4))
def test_time_steps_move_the_clock_forward(steps: list[int | str]) -> None:
    sim, client, _ = world()
    before = sim.now()
    for step in steps:
        body = {"seconds": step} if isinstance(step, int) else {"duration": step}
        r = client.post("/_rivosim/clock/advance", json=body)
        assert r.status_code == 200, r.get_json()
        assert sim.now() > before
        before = sim.now()


ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("sign_up"), rs.customers()),
    st.tuples(st.just("order"), rs.orders()),
    st.tuples(st.just("grant"), rs.manual_points_events(limit=300)),
    st.tuples(st.just("advance"), rs.time_steps(max_days=30)),
), max_size=12)


def replay(seed: int, actions: list[tuple[str, Any]], *, noise: bool = False) -> tuple[bytes, list[Any]]:
    """Run ``actions`` on a fresh world; ``noise`` also drives a second shop in between."""
    _, client, created = world({"rate_limits": {"rivo": {"enabled": False}}}, seed=seed)
    if noise:
        client.post("/_rivosim/shops", json={"domain": "noise.myshopify.com"})
    auth = {"Authorization": created["rivo_api_key"]}
    customers: list[int] = []
    for n, (kind, body) in enumerate(actions):
        if noise:
            client.post("/_rivosim/shops/noise.myshopify.com/customers", json={"email": f"n{n}@example.com"})
        if kind == "sign_up":
            r = client.post(f"/_rivosim/shops/{DOMAIN}/customers",
                            json={**body, "email": f"{n}.{body['email']}", "visibility_delay": 0})
            customers.append(r.get_json()["id"])
        elif kind == "order" and customers:
            client.post(f"/_rivosim/shops/{DOMAIN}/orders", json={**body, "customer_id": customers[-1]})
        elif kind == "grant" and customers:
            client.post("/merchant_api/v1/points_events", headers=auth,
                        json={**body, "customer_identifier": customers[0]})
        elif kind == "advance" and not noise:
            client.post("/_rivosim/clock/advance",
                        json={"seconds": body} if isinstance(body, int) else {"duration": body})
    client.post("/_rivosim/run_until_idle")
    state = client.get("/_rivosim/state", query_string={"shop": DOMAIN}).get_data()
    triggers = client.get(f"/_rivosim/shops/{DOMAIN}/triggers").get_json()["triggers"]
    return state, [(t["topic"], t["customer_id"], t["payload"].get("id")) for t in triggers]


@given(st.integers(0, 2**32 - 1), ACTIONS)
def test_one_seed_replays_a_run_byte_for_byte(seed: int, actions: list[tuple[str, Any]]) -> None:
    assert replay(seed, actions) == replay(seed, actions)


@given(st.integers(0, 2**32 - 1), ACTIONS.map(lambda a: [x for x in a if x[0] != "advance"]))
def test_another_shops_traffic_changes_nothing_here(seed: int, actions: list[tuple[str, Any]]) -> None:
    assert replay(seed, actions) == replay(seed, actions, noise=True)
