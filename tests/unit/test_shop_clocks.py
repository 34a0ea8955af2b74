"""Every shop its own clock: a shop's advance moves only its time, timers, retries, sync windows and rate
limits; the global advance moves every shop (interleaving their timers as one shared clock did); a shop's reset
leaves the others untouched; the control API's per-shop clock and reset routes refuse bad input, changing
nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rivosim import Simulator, create_app
from rivosim.domain.integrations import INTEGRATIONS
from rivosim.domain.shop import Shop
from rivosim.kernel.clock import VirtualClock, WallClock
from rivosim.kernel.timeline import Timeline
from rivosim.webhooks.senders import AttemptResult, OutgoingRequest

START = datetime(2026, 1, 1, tzinfo=UTC)
A, B = "a.myshopify.com", "b.myshopify.com"
INTEGRATION = next(iter(INTEGRATIONS))


class Recorder:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.sent: list[OutgoingRequest] = []

    def send(self, request: OutgoingRequest, done: Callable[[AttemptResult], None]) -> None:
        self.sent.append(request)
        done(AttemptResult(self.status, None if self.status else "refused", 0.5))

    def close(self) -> None:
        pass


def world(**docs: dict[str, Any]) -> tuple[Simulator, Shop, Shop]:
    sim = Simulator(seed=11)
    base = {"api": {"new_customer_visibility_delay": 0}}
    a = sim.create_shop({"domain": A, **base, **docs.get("a", {})})
    b = sim.create_shop({"domain": B, **base, **docs.get("b", {})})
    return sim, a, b


# -- the document ------------------------------------------------------------------------------------------------
def test_a_shop_clock_starts_where_its_document_says_or_at_the_simulators_now() -> None:
    sim = Simulator()
    sim.advance("P3D")
    christmas = sim.create_shop({"clock": {"start": "2026-12-24T00:00:00Z"}})
    default = sim.create_shop()
    wall = sim.create_shop({"clock": "wall"})
    assert christmas.clock.now() == datetime(2026, 12, 24, tzinfo=UTC) and christmas.settings.clock == "virtual"
    assert default.clock.now() == START + timedelta(days=3) and isinstance(default.clock, VirtualClock)
    assert isinstance(wall.clock, WallClock) and wall.settings.clock == "wall"
    # What the shop answers runs on its time: a new customer's created_at is Christmas Eve.
    customer = christmas.shopify.create_customer(email="x@example.com")
    assert customer.created_at == datetime(2026, 12, 24, tzinfo=UTC)


@pytest.mark.parametrize(("clock", "field"), [
    ({"start": "not an instant"}, "clock.start"),
    ({"start": "2026-12-24T00:00:00Z", "extra": 1}, "clock"),
    ("sundial", "clock"),
    ({}, "clock"),
])
def test_a_bad_clock_in_the_document_is_a_422_and_creates_nothing(clock: Any, field: str) -> None:
    sim = Simulator()
    client = create_app(sim).test_client()
    res = client.post("/_rivosim/shops", json={"domain": A, "clock": clock})
    assert res.status_code == 422, res.json
    assert res.json["error"]["field"].startswith(field)
    assert sim.shops == {}


def test_a_shops_clock_cannot_be_patched_only_reset() -> None:
    sim, a, _ = world()
    client = create_app(sim).test_client()
    res = client.patch(f"/_rivosim/shops/{A}", json={"clock": {"start": "2030-01-01T00:00:00Z"}})
    assert res.status_code == 422 and "reset" in res.json["error"]["message"]
    assert a.clock.now() == START


# -- isolation -------------------------------------------------------------------------------------------------
def test_a_shops_advance_moves_only_its_time_and_timers() -> None:
    sim, a, b = world()
    b_timers = [t.to_dict() for t in b.clock.pending()]
    a.advance("P40D")
    assert a.clock.now() == START + timedelta(days=40)
    assert b.clock.now() == START and sim.now() == START
    assert [t.to_dict() for t in b.clock.pending()] == b_timers  # b's daily tick has not fired


def test_a_shops_advance_leaves_another_shops_retries_for_its_own_time() -> None:
    sim, a, b = world()
    failing = Recorder(status=500)
    sim.use_sender(failing)
    for shop in (a, b):
        shop.rivo.create_subscription({"event_type": "customer/joined", "url": f"https://hooks.example/{shop.domain}"})
        shop.shopify.create_customer(email=f"c@{shop.domain}")
    sim.advance(0)  # both first attempts fail, at the shared instant
    assert len(failing.sent) == 2
    a.advance("PT4H")  # a's 8 retries, over 4 hours of a's time
    urls = [r.url for r in failing.sent]
    assert urls.count(f"https://hooks.example/{A}") == 9 and urls.count(f"https://hooks.example/{B}") == 1
    (b_delivery,) = sim.outbox.list(shop=B)
    assert b_delivery.status == "pending" and b_delivery.next_attempt_at == START + timedelta(minutes=1)


def test_a_shops_advance_leaves_another_shops_sync_window_and_rate_limit() -> None:
    doc = {"integrations": [{"name": INTEGRATION}]}
    sim, a, b = world(a=doc, b=doc)
    a.integrations.request_sync(INTEGRATION)
    b.integrations.request_sync(INTEGRATION)
    a.advance("PT1H")
    a.integrations.request_sync(INTEGRATION)  # a's hour has passed
    with pytest.raises(Exception, match="once per hour"):
        b.integrations.request_sync(INTEGRATION)  # b's has not
    client = create_app(sim).test_client()
    key = b.credentials.rivo_api_key
    statuses = [client.get("/merchant_api/v1/shop", headers={"Authorization": key}).status_code for _ in range(16)]
    assert statuses[-1] == 429  # b's bucket is empty (15 per second) …
    a.advance("PT10S")
    assert client.get("/merchant_api/v1/shop", headers={"Authorization": key}).status_code == 429  # … still
    b.advance("PT1S")
    assert client.get("/merchant_api/v1/shop", headers={"Authorization": key}).status_code == 200


def test_the_global_advance_moves_every_shop_and_interleaves_their_timers_by_due_then_seq() -> None:
    sim, a, b = world(b={"clock": {"start": "2026-06-01T00:00:00Z"}})
    recorder = Recorder()
    sim.use_sender(recorder)
    for shop in (a, b):
        shop.rivo.create_subscription({"event_type": "customer/joined", "url": f"https://hooks.example/{shop.domain}"})
    a.shopify.create_customer(email="1@a.example")
    b.shopify.create_customer(email="1@b.example")
    a.shopify.create_customer(email="2@a.example")
    sim.advance("P2D")
    assert a.clock.now() == START + timedelta(days=2)
    assert b.clock.now() == datetime(2026, 6, 3, tzinfo=UTC) and sim.now() == START + timedelta(days=2)
    # Queued at the same offset, the deliveries go out in the order they were queued, across shops.
    assert [r.url.rsplit("/", 1)[1] for r in recorder.sent] == [A, B, A]


def test_a_shop_advance_to_an_instant_and_never_backwards() -> None:
    sim, a, _ = world()
    client = create_app(sim).test_client()
    res = client.post(f"/_rivosim/shops/{A}/clock/advance", json={"to": "2026-03-01T00:00:00Z"})
    assert res.status_code == 200 and res.json["now"] == "2026-03-01T00:00:00+00:00" and res.json["shop"] == A
    res = client.post(f"/_rivosim/shops/{A}/clock/advance", json={"to": "2026-02-01T00:00:00Z"})
    assert res.status_code == 422 and res.json["error"]["field"] == "to"
    assert "backwards" in res.json["error"]["message"] and a.clock.now() == datetime(2026, 3, 1, tzinfo=UTC)
    for body in ({}, {"seconds": 1, "duration": "P1D"}, {"seconds": "x"}, {"duration": "soon"}, {"to": 5},
                 {"seconds": 1, "stop_on_delivery": "yes"}, {"seconds": 1, "other": 1}):
        res = client.post(f"/_rivosim/shops/{A}/clock/advance", json=body)
        assert res.status_code == 422, body
    assert a.clock.now() == datetime(2026, 3, 1, tzinfo=UTC)
    assert client.get(f"/_rivosim/shops/{A}/clock").json["now"] == "2026-03-01T00:00:00+00:00"
    assert client.post("/_rivosim/shops/nope.myshopify.com/clock/advance", json={"seconds": 1}).status_code == 404
    assert sim.now() == START


def test_stop_on_delivery_stops_one_shops_advance_at_its_delivery() -> None:
    sim, a, _ = world()
    sim.use_sender(Recorder())
    a.rivo.create_subscription({"event_type": "customer/joined", "url": "https://hooks.example/a"})
    a.advance("PT1H")
    a.shopify.create_customer(email="x@a.example")
    client = create_app(sim).test_client()
    res = client.post(f"/_rivosim/shops/{A}/clock/advance", json={"duration": "P1D", "stop_on_delivery": True})
    assert res.json["stopped_on_delivery"] is True and res.json["now"] == "2026-01-01T01:00:00+00:00"


# -- reset -----------------------------------------------------------------------------------------------------
def test_a_shop_reset_restores_it_and_leaves_every_other_shop_untouched() -> None:
    sim = Simulator(seed=4)
    a = sim.create_shop({"domain": A}, customers=20)
    b = sim.create_shop({"domain": B}, customers=5)
    client = create_app(sim).test_client()
    keys = a.credentials_dict()
    fresh_customers = sorted(c.email or "" for c in a.shopify.customers.values())
    sim.use_sender(Recorder())
    for shop in (a, b):
        shop.rivo.create_subscription({"event_type": "customer/joined", "url": f"https://hooks.example/{shop.domain}"})
        shop.shopify.create_customer(email=f"late@{shop.domain}")
        client.get("/merchant_api/v1/shop", headers={"Authorization": shop.credentials.rivo_api_key})
    sim.advance("P10D")
    b_state = (b.clock.now(), len(b.shopify.customers), len(sim.outbox.list(shop=B)),
               len(sim.journal.calls(shop=B)), [t.to_dict() for t in b.clock.pending()])
    res = client.post(f"/_rivosim/shops/{A}/reset", json={})
    assert res.status_code == 200
    a = sim.shop(A)
    assert a.clock.now() == START and a.credentials_dict() == keys
    assert sorted(c.email or "" for c in a.shopify.customers.values()) == fresh_customers
    assert a.rivo.subscriptions == {} and sim.outbox.list(shop=A) == []
    assert [e.route for e in sim.journal.calls(shop=A)] == ["control.shop.reset"]  # only the reset itself
    assert (b.clock.now(), len(b.shopify.customers), len(sim.outbox.list(shop=B)),
            len(sim.journal.calls(shop=B)), [t.to_dict() for t in b.clock.pending()]) == b_state
    assert list(sim.shops) == [A, B]
    # The old key still works (same keys); a new start and seed are taken when asked.
    assert client.get("/merchant_api/v1/shop", headers={"Authorization": keys["rivo_api_key"]}).status_code == 200
    res = client.post(f"/_rivosim/shops/{A}/reset", json={"clock": {"start": "2027-05-01T00:00:00Z"}, "seed": 9,
                                                          "keep_keys": False})
    assert res.json["clock"]["now"] == "2027-05-01T00:00:00+00:00" and res.json["seed"] == 9
    assert res.json["credentials"]["rivo_api_key"] != keys["rivo_api_key"]


@pytest.mark.parametrize("body", [{"clock": {"start": "nope"}}, {"clock": "wall"}, {"seed": -1}, {"seed": "1"},
                                  {"keep_keys": 1}, {"other": 1}])
def test_a_bad_reset_is_a_422_and_changes_nothing(body: dict[str, Any]) -> None:
    sim, a, _ = world()
    a.advance("P1D")
    client = create_app(sim).test_client()
    res = client.post(f"/_rivosim/shops/{A}/reset", json=body)
    assert res.status_code == 422 and "error" in res.json
    assert sim.shop(A) is a and a.clock.now() == START + timedelta(days=1)


# -- the timeline ------------------------------------------------------------------------------------------------
def test_the_tick_runs_only_clocks_whose_work_is_due() -> None:
    real = [1_000_000.0]
    default = WallClock(source=lambda: real[0])
    timeline = Timeline(default, real=lambda: real[0])
    fired: list[str] = []
    clocks = {}
    for key in ("x", "y"):
        clock = timeline.add(key, WallClock(source=lambda: real[0]))
        clock.handle("note", lambda k=key: fired.append(k))
        clocks[key] = clock
    clocks["x"].schedule(clocks["x"].now() + timedelta(seconds=5), "note")
    clocks["y"].advance(3600)  # y runs an hour ahead
    clocks["y"].schedule(clocks["y"].now() + timedelta(seconds=10), "note")
    assert timeline.run_due() == 0
    real[0] += 6
    assert timeline.run_due() == 1 and fired == ["x"]
    real[0] += 5
    assert timeline.run_due() == 1 and fired == ["x", "y"]
    assert len(timeline._wake) <= 4 * (2 + 16)  # bounded, whatever happens
