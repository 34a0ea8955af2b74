"""A wrong URL stays cheap (issue 14): the nearest-route hints are ranked once per path shape, over the routes of
the path's own API, with the input bounded, so a client hammering wrong URLs cannot eat the server; the refusal
still names the nearest routes."""

from __future__ import annotations

import random
import string
import time

import pytest

from rivosim import Simulator, create_app
from rivosim.http import unmatched


@pytest.fixture
def app_and_headers() -> tuple[object, dict[str, str], int]:
    sim = Simulator(seed=3)
    shop = sim.create_shop({"domain": "wrong.myshopify.com", "customers": 5,
                            "rate_limits": {"rivo": {"enabled": False}}})
    return create_app(sim), {"Authorization": shop.credentials.rivo_api_key}, next(iter(shop.rivo.members))


def test_a_typo_still_names_the_nearest_route_first(app_and_headers: tuple) -> None:
    app, headers, _ = app_and_headers
    client = app.test_client()
    cases = {
        ("POST", "/merchant_api/v1/points-events"): "POST /merchant_api/v1/points_events",
        ("GET", "/merchant_api/v1/custmers/123"): "GET /merchant_api/v1/customers/<identifier>",
        ("GET", "/admin/api/2025-10/custmers.json"): "GET /admin/api/<version>/customers.json",
        ("POST", "/_rivosim/clock/advanc"): "POST /_rivosim/clock/advance",
        ("GET", "/merchant-api/v1/rewards"): "GET /merchant_api/v1/rewards",  # a near miss of the API prefix too
    }
    for (method, path), first in cases.items():
        resp = client.open(path, method=method, headers=headers)
        assert resp.status_code == 404
        journal = client.get("/_rivosim/journal", query_string={"limit": 1}).get_json()
        entry = journal["entries"][-1] if isinstance(journal, dict) else journal[-1]
        assert f"{entry['nearest'][0]['method']} {entry['nearest'][0]['path']}" == first, (path, entry["nearest"])


def test_the_hints_depend_on_the_shape_of_the_path_and_are_ranked_once_per_shape(
        app_and_headers: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    app, headers, _ = app_and_headers
    client = app.test_client()
    ranked: list[tuple[str, ...]] = []
    rank = unmatched._Index._rank

    def counting(self: unmatched._Index, method: str, shape: tuple[str, ...]) -> object:
        ranked.append(shape)
        return rank(self, method, shape)

    monkeypatch.setattr(unmatched._Index, "_rank", counting)
    details = set()
    for customer in (1234, 98765, 5550001):  # different ids, one shape
        err = client.get(f"/merchant_api/v1/custmers/{customer}/histroy", headers=headers).get_json()
        details.add(err["error"].partition("; nearest: ")[2])
    assert len(details) == 1 and details != {""}
    assert len(ranked) == 1


def test_a_huge_wrong_path_is_refused_briefly(app_and_headers: tuple) -> None:
    app, headers, _ = app_and_headers
    path = "/merchant_api/v1/" + "/".join("x" * 30 for _ in range(250))
    resp = app.test_client().get(path, headers=headers)
    assert resp.status_code == 404
    detail = resp.get_json()["error"]
    assert len(detail) < 600 and "…" in detail  # the path is echoed in part, and no hints for 252 segments


def test_a_wrong_url_costs_about_what_a_routed_one_costs(app_and_headers: tuple) -> None:
    """Generous bound (the target is <= ~3x, `make bench` prints the figure): difflib over every route cost ~50x."""
    app, headers, customer = app_and_headers
    client = app.test_client()
    rnd = random.Random(7)

    def word() -> str:
        return "".join(rnd.choice(string.ascii_lowercase + "-_") for _ in range(rnd.randint(4, 14)))

    wrong = [f"/merchant_api/v1/{word()}" if i % 3 == 0 else f"/admin/api/2025-10/{word()}/{word()}.json"
             if i % 3 == 1 else f"/_rivosim/shops/wrong.myshopify.com/{word()}" for i in range(150)]
    right = [f"/merchant_api/v1/customers/{customer}"] * 150

    def cost(paths: list[str]) -> float:
        started = time.perf_counter()
        for path in paths:
            client.get(path, headers=headers)
        return time.perf_counter() - started

    cost(right[:20] + wrong[:5])  # warm up (the route index is built on the first miss)
    ratios = []
    for _ in range(3):  # interleaved, best of three: a shared machine is noisy
        ratios.append(cost(wrong) / cost(right))
    assert min(ratios) <= 10, ratios
