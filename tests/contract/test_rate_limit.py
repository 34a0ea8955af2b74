"""The Rivo rate limit: per API key, on by default at 15 requests/s with a burst of 15, refilled on the simulator
clock; over it a 429 in Rivo's error shape with ``Retry-After`` in whole seconds. Two properties: a client that
honours ``Retry-After`` is never refused twice in a row, and the accepted requests in any window never exceed
``burst + rate * window``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rivosim import Simulator

from .conftest import SEED, RivoApi, ShopHandle, assert_rivo_error, unchanged

LIMITED: dict[str, Any] = {"rate_limits": {"rivo": {"enabled": True}}}


def test_on_by_default_at_15_per_second(client: FlaskClient) -> None:
    created = client.post("/_rivosim/shops", json={}).get_json()
    api = RivoApi(client, created["rivo_api_key"])
    statuses = [api.get("/rewards").status_code for _ in range(16)]
    assert statuses == [200] * 15 + [429]


def test_refusal_shape_and_retry_after(make_shop: Callable[..., ShopHandle], sim: Simulator) -> None:
    shop = make_shop(LIMITED)
    for _ in range(15):
        assert shop.api.get("/rewards").status_code == 200
    resp = shop.api.get("/rewards")
    err = assert_rivo_error(resp, 429, code="rate_limited")
    assert "15 requests per second" in err["detail"]
    assert resp.headers["Retry-After"] == "1"  # 1/15 s, rounded up to whole seconds
    entry = sim.journal.calls("rivo.rewards.list", status=429)[-1]
    assert entry.limit is not None and entry.limit.startswith("rivo 15/s burst 15")
    sim.advance(1 / 15)
    assert shop.api.get("/rewards").status_code == 200
    assert shop.api.get("/rewards").status_code == 429


def test_a_refused_request_changes_nothing(make_shop: Callable[..., ShopHandle], client: FlaskClient) -> None:
    shop = make_shop(LIMITED)
    member = shop.add_customer(email="a@example.com")
    for _ in range(15):
        shop.api.get("/rewards")
    with unchanged(shop):
        resp = shop.api.post("/points_events", json={"customer_identifier": member["id"], "source": "manual",
                                                      "points_amount": 5, "credits_amount": 0})
    assert_rivo_error(resp, 429)


def test_configurable_and_off(make_shop: Callable[..., ShopHandle], sim: Simulator) -> None:
    shop = make_shop({"rate_limits": {"rivo": {"enabled": True, "rate": 2, "burst": 4}}})
    assert [shop.api.get("/rewards").status_code for _ in range(5)] == [200] * 4 + [429]
    resp = shop.api.get("/rewards")
    assert resp.headers["Retry-After"] == "1"
    shop.patch({"rate_limits": {"rivo": {"rate": 0.1, "burst": 1}}})  # a new spec starts a full bucket
    assert [shop.api.get("/rewards").status_code for _ in range(2)] == [200, 429]
    assert shop.api.get("/rewards").headers["Retry-After"] == "10"
    shop.patch({"rate_limits": {"rivo": {"enabled": False}}})
    assert all(shop.api.get("/rewards").status_code == 200 for _ in range(50))


def test_per_api_key_and_never_on_the_control_api(make_shop: Callable[..., ShopHandle], client: FlaskClient) -> None:
    a, b = make_shop(LIMITED), make_shop(LIMITED)
    for _ in range(15):
        a.api.get("/rewards")
    assert a.api.get("/rewards").status_code == 429
    assert b.api.get("/rewards").status_code == 200
    assert all(client.get("/_rivosim/clock").status_code == 200 for _ in range(40))
    new_key = a.control("POST", "/api_key/regenerate").get_json()["rivo_api_key"]
    assert RivoApi(client, new_key).get("/rewards").status_code == 200  # a new key, a new bucket


def test_auth_failures_do_not_spend_tokens(make_shop: Callable[..., ShopHandle], client: FlaskClient) -> None:
    shop = make_shop(LIMITED)
    for _ in range(30):
        assert RivoApi(client, "wrong").get("/rewards").status_code == 401
    assert [shop.api.get("/rewards").status_code for _ in range(15)] == [200] * 15


# -- properties ----------------------------------------------------------------------------------------------------
def _fresh(world: tuple[Simulator, Flask], rate: float, burst: int) -> tuple[Simulator, RivoApi]:
    sim, app = world
    sim.reset(SEED)
    client = app.test_client()
    created = client.post("/_rivosim/shops", json={"rate_limits": {"rivo": {"rate": rate, "burst": burst}}})
    return sim, RivoApi(client, created.get_json()["rivo_api_key"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rate=st.sampled_from([0.5, 1, 2, 15]), burst=st.integers(1, 20),
       gaps=st.lists(st.floats(0, 0.5, allow_nan=False), min_size=1, max_size=60))
def test_a_client_honouring_retry_after_is_never_refused_twice_in_a_row(
        _shared_world: tuple[Simulator, Flask], rate: float, burst: int, gaps: list[float]) -> None:
    sim, api = _fresh(_shared_world, rate, burst)
    for gap in gaps:
        sim.advance(gap)
        resp = api.get("/rewards")
        if resp.status_code == 429:
            sim.advance(int(resp.headers["Retry-After"]))
            assert api.get("/rewards").status_code == 200


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rate=st.sampled_from([1, 3, 15]), burst=st.integers(1, 20),
       gaps=st.lists(st.floats(0, 0.3, allow_nan=False), min_size=1, max_size=80))
def test_accepted_requests_in_any_window_stay_within_burst_plus_rate_times_window(
        _shared_world: tuple[Simulator, Flask], rate: float, burst: int, gaps: list[float]) -> None:
    sim, api = _fresh(_shared_world, rate, burst)
    start = sim.now()
    accepted: list[float] = []
    for gap in gaps:
        sim.advance(gap)
        if api.get("/rewards").status_code == 200:
            accepted.append((sim.now() - start).total_seconds())
    for i, t0 in enumerate(accepted):
        for j in range(i, len(accepted)):
            window = accepted[j] - t0
            assert j - i + 1 <= burst + rate * window + 1e-6
