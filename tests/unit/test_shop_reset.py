"""Resetting one shop (issue 15): a reset shop is the shop its document and seed give, answering byte for byte as
a freshly created one — the first reset (which seeds it anew) and every later one (a copy of the template the
first one kept) alike — and the copy shares nothing mutable with its template or with the shop it replaced.
Speed is a benchmark's business (``benchmarks/shop_clocks.py``), not these tests'."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from rivosim import Simulator, create_app
from rivosim.engine import _TEMPLATES
from rivosim.kernel.templates import GraphTemplate
from rivosim.webhooks.senders import AttemptResult, OutgoingRequest

A, B = "a.myshopify.com", "b.myshopify.com"
DOC = {"domain": A, "plan": "plus", "program": {
    "earning_rules": [{"trigger": "customer_birthday", "points_amount": 200},
                      {"trigger": "customer_anniversary", "points_amount": 300},
                      {"trigger": "order_placed", "points_amount": 1}],
    "expiry": {"enabled": True, "months": 6}}}


class Recorder:
    """Every delivery attempt, answered 500 for one URL (so retries, on the shop's clock, are compared too)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, list[tuple[str, str]]]] = []

    def send(self, request: OutgoingRequest, done: Callable[[AttemptResult], None]) -> None:
        self.sent.append((request.url, request.body, sorted(request.headers.items())))
        done(AttemptResult(500 if "failing" in request.url else 200, None, 0.5))

    def close(self) -> None:
        pass


def _world(customers: int = 100) -> Simulator:
    sim = Simulator(seed=5)
    sim.use_sender(Recorder())
    sim.create_shop({**DOC, "clock": {"start": "2026-03-01T00:00:00Z"}}, customers=customers)
    sim.create_shop({"domain": B}, customers=10)
    return sim


def _mess_up(sim: Simulator) -> None:
    """What a test does to a shop before resetting it: time, customers, subscriptions, deliveries, faults."""
    shop = sim.shop(A)
    shop.rivo.create_subscription({"event_type": "customer/joined", "url": "https://hooks.example/old"})
    shop.shopify.create_customer(email="gone@example.com")
    sim.faults.add({"match": {"shop": A, "route": "rivo.rewards.list"}, "action": {"type": "latency", "ms": 10}})
    sim.advance_shop(A, "P45D")


def _script(sim: Simulator) -> dict[str, Any]:
    """The same actions on shop A, and everything they show: API answers (bytes), deliveries with their headers,
    the trigger log, journal entries and the timers left."""
    client = create_app(sim).test_client()
    shop = sim.shop(A)
    h = {"Authorization": shop.credentials.rivo_api_key}
    answers: list[tuple[int, bytes]] = []

    def call(method: str, path: str, **kw: Any) -> Any:
        res = client.open(f"/merchant_api/v1{path}", method=method, headers=h, **kw)
        answers.append((res.status_code, res.data))
        return res

    call("POST", "/webhooks", json={"event_type": "points_event/created", "url": "https://hooks.example/ok"})
    call("POST", "/webhooks", json={"event_type": "customer/birthday", "url": "https://hooks.example/failing"})
    first = call("GET", "/customers").get_json()["data"][0]["id"]
    call("POST", "/points_events", json={"customer_identifier": first, "source": "manual", "points_amount": 40,
                                         "credits_amount": "0"})
    shop.shopify.create_customer(email="new@example.com")
    sim.advance_shop(A, "P400D")
    call("GET", "/customers", query_string={"page[size]": 50})
    call("GET", "/points_events")
    call("GET", f"/customers/{first}")
    recorder = sim.outbox.sender
    assert isinstance(recorder, Recorder)
    return {
        "answers": answers,
        "sent": [s for s in recorder.sent if A in s[0] or "hooks.example/ok" in s[0] or "failing" in s[0]],
        "deliveries": [(d.id, d.topic, d.url, d.body, d.status, [(a.number, a.at, a.status_code) for a in d.attempts])
                       for d in sim.outbox.list(shop=A)],
        "log": [t.to_dict() for t in sim.triggers.log(A).items],
        # The journal's seq and the timers' are the simulator's counters, across shops (and wall time is wall
        # time): what is compared is everything else, in order.
        "journal": [{k: v for k, v in e.to_dict().items() if k not in ("duration_ms", "seq")}
                    for e in sim.journal.calls(shop=A) if not e.route.startswith("control.")],
        "timers": [(t.due, t.action, t.args) for t in sim.shop(A).clock.pending()],
        "now": sim.shop(A).now(),
        "credentials": sim.shop(A).credentials_dict(),
    }


def test_a_reset_shop_answers_byte_for_byte_as_a_fresh_one_first_reset_and_template_copies_alike() -> None:
    fresh = _script(_world())
    sim = _world()
    recorder = sim.outbox.sender
    for round_ in range(3):  # the first reset seeds anew and keeps a template; the others copy it
        _mess_up(sim)
        sim.reset_shop(A)
        assert sim.faults.list() == []  # the rule added since is gone with the reset
        assert isinstance(recorder, Recorder)
        recorder.sent.clear()
        assert (A in _TEMPLATES[sim]._kept) is True, round_
        before = {B: (sim.shop(B).now(), len(sim.outbox.list(shop=B)),
                      [t.to_dict() for t in sim.shop(B).clock.pending()])}
        seen = _script(sim)
        assert seen == fresh, f"reset number {round_ + 1} differs from a fresh shop"
        assert before == {B: (sim.shop(B).now(), len(sim.outbox.list(shop=B)),
                              [t.to_dict() for t in sim.shop(B).clock.pending()])}


def test_a_reset_drops_what_was_added_since_and_keeps_the_listing_and_the_keys() -> None:
    sim = _world(customers=30)
    sim.reset_shop(A)  # keeps the template
    seed_keys = sim.shop(A).credentials_dict()
    new_key = sim.regenerate_api_key(A)
    _mess_up(sim)
    a = sim.shop(A)
    a.rivo.create_subscription({"event_type": "points_event/created", "url": "https://hooks.example/x"})
    a.rivo.create_points_event({"customer_identifier": next(iter(a.rivo.members)), "source": "manual",
                                "points_amount": 5, "credits_amount": "0"})
    assert sim.faults.list() and sim.outbox.list(shop=A)
    shop = sim.reset_shop(A)
    assert list(sim.shops) == [A, B]
    assert shop.credentials.rivo_api_key == new_key and sim.shop_for_rivo_key(new_key) is shop
    assert sim.faults.list() == [] and sim.outbox.list(shop=A) == [] and shop.rivo.subscriptions == {}
    assert "gone@example.com" not in {c.email for c in shop.shopify.customers.values()}
    assert shop.now() == datetime(2026, 3, 1, tzinfo=UTC) and len(shop.rivo.members) == 30
    # keep_keys=False gives the keys the seed gives (the template's), and the kept key stops working.
    other = sim.reset_shop(A, keep_keys=False)
    assert other.credentials_dict() == seed_keys
    assert sim.shop_for_rivo_key(new_key) is None and sim.shop_for_rivo_key(seed_keys["rivo_api_key"]) is other


def test_copies_share_nothing_mutable_with_each_other() -> None:
    sim = _world(customers=20)
    first = sim.reset_shop(A)
    second = sim.reset_shop(A)
    assert first is not second and first.rivo is not second.rivo and first.clock is not second.clock
    member_id = next(iter(second.rivo.members))
    assert first.rivo.members[member_id] is not second.rivo.members[member_id]
    second.rivo.members[member_id].first_name = "Changed"
    assert sim.reset_shop(A).rivo.members[member_id].first_name != "Changed"
    # The copy's closures capture the copy, not the template's original.
    assert sim.shop(A).ctx.settings() is sim.shop(A).settings
    # Its own backend: the customer page cache keeps one cache per backend object (http/rivo/shapes.py).
    assert sim.shop(A).rivo is not second.rivo


def test_a_new_start_or_seed_or_a_changed_document_makes_a_new_template() -> None:
    sim = _world(customers=10)
    one = sim.reset_shop(A)
    names = sorted(c.email or "" for c in one.shopify.customers.values())
    seeded = sim.reset_shop(A, seed=99)
    assert seeded.seed == 99 and sorted(c.email or "" for c in seeded.shopify.customers.values()) != names
    later = sim.reset_shop(A, start=datetime(2027, 1, 1, tzinfo=UTC))
    assert later.now() == datetime(2027, 1, 1, tzinfo=UTC)
    sim.patch_shop(A, {"plan": "scale"})
    assert sim.reset_shop(A).plan == "scale"


def test_a_wall_clock_shop_is_seeded_anew_at_each_reset() -> None:
    sim = Simulator(seed=2, clock="wall")
    sim.create_shop({"domain": A}, customers=5)
    sim.reset_shop(A)
    sim.reset_shop(A)
    assert A not in _TEMPLATES.get(sim, type("Empty", (), {"_kept": {}})())._kept
    assert len(sim.shop(A).rivo.members) == 5


def test_deleting_a_shop_drops_its_template_and_a_global_reset_all_of_them() -> None:
    sim = _world(customers=5)
    sim.reset_shop(A)
    sim.reset_shop(B)
    assert set(_TEMPLATES[sim]._kept) == {A, B}
    sim.delete_shop(A)
    assert set(_TEMPLATES[sim]._kept) == {B}
    sim.reset()
    assert sim not in _TEMPLATES


@pytest.mark.parametrize("value", [lambda: 1, [1, {2: (3,)}], datetime(2026, 1, 1, tzinfo=UTC)])
def test_a_graph_template_copies_closures_and_containers_and_keeps_externals(value: Any) -> None:
    shared = object()
    box: list[Any] = []
    make = lambda: (box, shared, value)  # noqa: E731  (a closure over box, shared and value)
    box.append(make)
    copy = GraphTemplate({"make": make, "box": box}, [shared]).build()
    got_box, got_shared, _ = copy["make"]()
    assert got_box is copy["box"] and got_box is not box and got_shared is shared
    assert copy["box"][0] is copy["make"]
