"""Determinism (DESIGN.md rule 1): the same seed and the same requests give byte-identical responses; another
seed gives other ids and keys; one shop's traffic never changes another shop's ids, codes or keys."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from rivosim import Simulator, create_app

from .conftest import BASE, NO_RATE_LIMIT

B_DOMAIN = "second-store.myshopify.com"


class Recorder:
    """Sends requests to a fresh simulator and keeps every response body, byte for byte."""

    def __init__(self, seed: int) -> None:
        self.sim = Simulator(seed=seed)
        self.client: FlaskClient = create_app(self.sim).test_client()
        self.bodies: list[bytes] = []

    def send(self, method: str, path: str, key: str | None = None, expect: int | None = None,
             **kwargs: Any) -> Any:
        headers = {"Authorization": key} if key else {}
        resp = self.client.open(path, method=method, headers=headers, **kwargs)
        if expect is not None:
            assert resp.status_code == expect, (method, path, resp.get_data(as_text=True))
        self.bodies.append(resp.get_data())
        return resp.get_json()


def shop_traffic(rec: Recorder, domain: str | None = None, customers: int = 8, rounds: int = 3) -> dict[str, Any]:
    """Create a shop and drive it: seeded and signed-up customers, orders, points, redemptions, referrals,
    webhooks, a rewards change and the lists that show it all."""
    doc: dict[str, Any] = {**NO_RATE_LIMIT, "customers": customers}
    if domain:
        doc["domain"] = domain
    shop = rec.send("POST", "/_rivosim/shops", json=doc, expect=201)
    d, key = shop["domain"], shop["rivo_api_key"]
    seeded = rec.send("GET", f"{BASE}/customers", key, expect=200)["data"]
    rewards = rec.send("GET", f"{BASE}/rewards", key, expect=200)["data"]
    for n in range(rounds):
        cust = rec.send("POST", f"/_rivosim/shops/{d}/customers", expect=201,
                        json={"email": f"buyer{n}@example.com", "first_name": f"Buyer{n}", "visibility_delay": 0})
        order = rec.send("POST", f"/_rivosim/shops/{d}/orders", expect=201, json={
            "customer_id": cust["id"], "paid": n % 2 == 0,
            "line_items": [{"title": "Hoodie", "price": "60.00", "quantity": n + 1, "product_id": 1001}]})
        if n % 2:
            rec.send("POST", f"/_rivosim/shops/{d}/orders/{order['id']}/pay", expect=200)
        rec.send("POST", f"{BASE}/points_events", key, expect=201, json={
            "customer_identifier": cust["id"], "source": "manual", "points_amount": 900, "credits_amount": "1.5"})
        rec.send("POST", f"{BASE}/points_events/batch", key, expect=201, json={"points_events": [
            {"customer_identifier": seeded[n]["id"], "source": "manual", "points_amount": 600, "credits_amount": 0},
            {"customer_identifier": seeded[n]["id"], "source": "instagram_follow"}]})
        rec.send("POST", f"{BASE}/points_redemptions", key, expect=201,
                 json={"customer_identifier": cust["id"], "reward_id": rewards[0]["id"]})
        rec.send("POST", f"{BASE}/points_redemptions", key, expect=201,
                 json={"customer_identifier": seeded[n]["id"], "reward_id": rewards[0]["id"]})
        rec.send("POST", f"{BASE}/points_redemptions", key, expect=422,
                 json={"customer_identifier": seeded[n]["id"], "reward_id": rewards[1]["id"]})
        code = rec.send("GET", f"{BASE}/customers/{cust['id']}", key, expect=200)["data"]["attributes"]["referral_code"]
        referral = rec.send("POST", f"{BASE}/referrals", key, expect=201,
                            json={"email": f"friend{n}@example.com", "referral_code": code, "remote_ip": "10.0.0.1"})
        rec.send("POST", f"{BASE}/referrals/{referral['data']['id']}/complete", key, expect=200)
        rec.send("POST", "/_rivosim/clock/advance", json={"duration": "PT1H"}, expect=200)
    rec.send("POST", f"{BASE}/webhooks", key, expect=201,
             json={"event_type": "points_event/created", "url": "https://hooks.example.com/p"})
    rec.send("POST", f"{BASE}/rewards", key, expect=201, json={"name": "Mystery box", "points_amount": 50})
    for path in ("/customers?pagination[per_page]=250", "/points_events?pagination[per_page]=250",
                 "/points_redemptions?pagination[per_page]=250", "/referrals", "/webhooks", "/vip_tiers",
                 "/earning_rules", "/shop"):
        rec.send("GET", BASE + path, key, expect=200)
    return shop  # type: ignore[no-any-return]


def run(seed: int) -> Recorder:
    rec = Recorder(seed)
    shop_traffic(rec)
    shop_traffic(rec, domain=B_DOMAIN, customers=3, rounds=2)
    rec.send("GET", "/_rivosim/state", query_string={"shop": B_DOMAIN}, expect=200)
    assert rec.sim.bugs == []
    return rec


def test_same_seed_gives_byte_identical_responses() -> None:
    first, second = run(7), run(7)
    assert len(first.bodies) == len(second.bodies) > 80
    for n, (a, b) in enumerate(zip(first.bodies, second.bodies, strict=True)):
        assert a == b, f"response {n} differs"


def test_different_seed_gives_different_ids_and_keys() -> None:
    a, b = Recorder(7), Recorder(8)
    shop_a, shop_b = shop_traffic(a, domain=B_DOMAIN), shop_traffic(b, domain=B_DOMAIN)
    assert shop_a["rivo_api_key"] != shop_b["rivo_api_key"]
    assert shop_a["webhook_secret"] != shop_b["webhook_secret"]
    customers_a = a.send("GET", f"{BASE}/customers", shop_a["rivo_api_key"])["data"]
    customers_b = b.send("GET", f"{BASE}/customers", shop_b["rivo_api_key"])["data"]
    assert {c["id"] for c in customers_a}.isdisjoint({c["id"] for c in customers_b})
    codes_a = [r["attributes"]["code"] for r in a.send("GET", f"{BASE}/points_redemptions",
                                                       shop_a["rivo_api_key"])["data"]]
    codes_b = [r["attributes"]["code"] for r in b.send("GET", f"{BASE}/points_redemptions",
                                                       shop_b["rivo_api_key"])["data"]]
    assert len(codes_a) == len(codes_b) == 6 and set(codes_a).isdisjoint(codes_b)


def test_another_shops_traffic_does_not_change_a_shop() -> None:
    quiet, busy = Recorder(11), Recorder(11)
    # In the busy world shop A is driven hard (6 rounds, each moving the clock an hour) before shop B is
    # used; in the quiet world shop A exists but sees no traffic, and only the clock moves as far.
    quiet.send("POST", "/_rivosim/shops", json={**NO_RATE_LIMIT, "customers": 40}, expect=201)
    quiet.send("POST", "/_rivosim/clock/advance", json={"duration": "PT6H"}, expect=200)
    shop_traffic(busy, customers=40, rounds=6)
    marker_quiet, marker_busy = len(quiet.bodies), len(busy.bodies)
    b_quiet = shop_traffic(quiet, domain=B_DOMAIN, customers=5, rounds=3)
    b_busy = shop_traffic(busy, domain=B_DOMAIN, customers=5, rounds=3)
    assert b_quiet == b_busy  # keys, secrets, tokens
    # Every response about shop B is the same, byte for byte: ids, codes, referral codes, timestamps.
    quiet_b, busy_b = quiet.bodies[marker_quiet:], busy.bodies[marker_busy:]
    assert len(quiet_b) == len(busy_b) > 40
    for n, (q, b) in enumerate(zip(quiet_b, busy_b, strict=True)):
        assert q == b, f"response {n} about shop B differs"


def test_shop_b_ids_do_not_depend_on_creation_order() -> None:
    alone, second = Recorder(5), Recorder(5)
    b_alone = shop_traffic(alone, domain=B_DOMAIN, customers=4, rounds=1)
    second.send("POST", "/_rivosim/shops", json={**NO_RATE_LIMIT, "customers": 9}, expect=201)
    b_second = shop_traffic(second, domain=B_DOMAIN, customers=4, rounds=1)
    assert b_alone == b_second
    ids_alone = [c["id"] for c in alone.send("GET", f"{BASE}/customers", b_alone["rivo_api_key"])["data"]]
    ids_second = [c["id"] for c in second.send("GET", f"{BASE}/customers", b_second["rivo_api_key"])["data"]]
    assert ids_alone == ids_second
